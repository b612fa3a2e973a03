"""Every Verilog file is Verilog-2005 that Icarus (-g2005) and Verilator (--lint-only -Wall)
accept without a warning, at parameter sets spanning dense, N:M, 1-row/1-column and odd widths."""
from __future__ import annotations

import subprocess

import pytest

from nmsim.rtl_models.runner import RTL_DIR, SOURCES, ensure_simulator

PARAMS = {
    "nm_pe": [dict(N=2, M=4, W=8, ACC=32), dict(N=4, M=4, W=8, ACC=32), dict(N=1, M=8, W=16, ACC=24),
              dict(N=1, M=1, W=3, ACC=5)],
    "nm_systolic_array": [dict(R=4, C=6, N=2, M=4, W=8, ACC=32), dict(R=1, C=1, N=1, M=16, W=6, ACC=12),
                          dict(R=3, C=5, N=4, M=4, W=8, ACC=20)],
    "topn_selector": [dict(N=2, M=4, W=8), dict(N=1, M=16, W=6), dict(N=4, M=4, W=8), dict(N=1, M=2, W=1)],
    "nm_decoder": [dict(N=2, M=4, W=8), dict(N=1, M=16, W=6), dict(N=8, M=8, W=2)],
    "nm_os_array": [dict(R=4, C=4, N=2, M=4, W=8, ACC=32), dict(R=1, C=1, N=1, M=8, W=8, ACC=16),
                    dict(R=3, C=5, N=4, M=4, W=8, ACC=20), dict(R=8, C=8, N=2, M=16, W=8, ACC=32)],
    # The SoC as the rtl-soc preset builds it (its feeders assume 32-B buffer rows: C x ACC = 256).
    "nm_soc": [dict(R=8, C=8, NP=2, LANES=16, ACC=32, BAW=9), dict(R=4, C=8, NP=1, LANES=8, ACC=32, BAW=7)],
}
CASES = [(top, p) for top, ps in PARAMS.items() for p in ps]


def _id(case) -> str:
    top, p = case
    return top + "-" + "-".join(f"{k}{v}" for k, v in p.items())


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_icarus_2005_no_warnings(case, tmp_path):
    top, params = case
    ensure_simulator("icarus")
    cmd = ["iverilog", "-g2005", "-Wall", "-o", str(tmp_path / "a.vvp"), "-s", top,
           *[f"-P{top}.{k}={v}" for k, v in params.items()], *[str(RTL_DIR / s) for s in SOURCES[top]]]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0 and not run.stdout + run.stderr, run.stdout + run.stderr


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_verilator_lint_wall_clean(case):
    top, params = case
    ensure_simulator("verilator")
    cmd = ["verilator", "--lint-only", "-Wall", "--default-language", "1364-2005", "--top-module", top,
           *[f"-G{k}={v}" for k, v in params.items()], *[str(RTL_DIR / s) for s in SOURCES[top]]]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0 and "%Warning" not in run.stderr, run.stderr
