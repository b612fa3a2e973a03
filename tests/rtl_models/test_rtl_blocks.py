"""RTL blocks under Icarus Verilog and Verilator, checked bit for bit against sim.functional.

Each test builds one block at all its parameter sets side by side (one cached build, see
rtl_models.runner) and runs its cocotb testbench (tests/rtl_models/tb_*.py) on random vectors; every
instance reports back how many vectors it checked. Per block and simulator that is at least
1,000 vectors, across N:M in {2:4, 1:4, 2:8, 1:8, 4:8, 1:16} (and dense), operand widths from 4
to 16 bits and accumulators narrow enough to overflow. A missing simulator fails the test.
"""
from __future__ import annotations

import pytest

from nmsim.rtl_models.runner import SIMULATORS, run_testbench

REQUIRED_NM = {(2, 4), (1, 4), (2, 8), (1, 8), (4, 8), (1, 16)}
# ACC below 2W truncates products; a small ACC with extreme operands wraps.
PE_PARAMS = [dict(N=2, M=4, W=8, ACC=32), dict(N=1, M=4, W=8, ACC=14), dict(N=2, M=8, W=4, ACC=9),
             dict(N=1, M=8, W=16, ACC=24), dict(N=4, M=8, W=8, ACC=18), dict(N=1, M=16, W=6, ACC=16),
             dict(N=4, M=4, W=8, ACC=20)]
PE_VECTORS = 150
# W = 4 with M = 8 (and 6 with M = 16) makes magnitude ties frequent.
GROUP_PARAMS = [dict(N=2, M=4, W=8), dict(N=1, M=4, W=8), dict(N=2, M=8, W=4), dict(N=1, M=8, W=16),
                dict(N=4, M=8, W=8), dict(N=1, M=16, W=6)]
GROUP_VECTORS = 200


def _records(module: str, params: list[dict], simulator: str, vectors: int, seed: int) -> list[dict]:
    recs = run_testbench(module, params, simulator, f"tests.rtl_models.tb_{module}", {"vectors": vectors, "seed": seed})
    # Instances finish in any order; each reports once.
    key = lambda r: (r["N"], r["M"], r["W"])  # noqa: E731
    assert sorted(map(key, recs)) == sorted(map(key, params)), "every instance must report once"
    assert all(r["vectors"] == vectors for r in recs)
    return recs


def test_vector_budget_and_coverage():
    assert len(PE_PARAMS) * PE_VECTORS >= 1000
    assert len(GROUP_PARAMS) * GROUP_VECTORS >= 1000
    assert REQUIRED_NM <= {(p["N"], p["M"]) for p in PE_PARAMS}
    assert REQUIRED_NM <= {(p["N"], p["M"]) for p in GROUP_PARAMS}
    assert any(p["N"] == p["M"] for p in PE_PARAMS), "the dense mode (N = M) is tested too"
    assert any(p["ACC"] < 2 * p["W"] for p in PE_PARAMS), "products wider than the accumulator"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_nm_pe(simulator):
    recs = _records("nm_pe", PE_PARAMS, simulator, PE_VECTORS, seed=11)
    assert all(r["loads"] > PE_VECTORS // 5 for r in recs), "weights must be reloaded often"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_topn_selector(simulator):
    recs = _records("topn_selector", GROUP_PARAMS, simulator, GROUP_VECTORS, seed=12)
    assert all(r["tied_groups"] >= GROUP_VECTORS // 5 for r in recs), "the tie-break must be exercised"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_nm_decoder(simulator):
    recs = _records("nm_decoder", GROUP_PARAMS, simulator, GROUP_VECTORS, seed=13)
    assert all(r["repeated_index_groups"] > 0 for r in recs if r["N"] > 1), "repeated lanes must be exercised"
