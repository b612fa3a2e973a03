"""Shared fixtures: a tiny, fully specified systolic arch for hand-derived checks. Every result
JSON a test writes is validated against its schema (specfile/results.py, NMSIM_VALIDATE_RESULTS);
the session summary counts them."""
from __future__ import annotations

import copy
import os

import pytest
import yaml
from hypothesis import settings

from nmsim.accel.spec import Arch

# Property tests draw the same examples on every run (the project's tests are deterministic); a
# test's own @settings still sets its number of examples.
settings.register_profile("nmsim", derandomize=True, database=None)
settings.load_profile("nmsim")

os.environ["NMSIM_VALIDATE_RESULTS"] = "1"      # set before any test runs, inherited by subprocesses

TINY = yaml.safe_load("""
name: tiny
kind: systolic
compute: {rows: 4, cols: 4, macs_per_pe: 1, clock_hz: 1.0e+9, operand_bits: 8, accumulator_bits: 32,
          dataflows: [ws, os, is]}
sparsity: {nm: {patterns: ["2:4", "1:4", "2:8"]}}
memory:
  - {name: gbuf, size_bytes: 1048576, read_bytes_per_cycle: 1.0e+9, write_bytes_per_cycle: 1.0e+9}
dram: {bytes_per_s: 1.0e+18, latency_s: 0.0}
energy: {mac_pj: 1.0, index_decode_pj: 0.1, per_byte_pj: {gbuf: 2.0, dram: 100.0}}
""")


def make_arch(**overrides) -> Arch:
    """The tiny arch with dotted-path overrides, e.g. make_arch(**{'compute.rows': 8})."""
    spec = copy.deepcopy(TINY)
    for path, value in overrides.items():
        node = spec
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return Arch.model_validate(spec)


@pytest.fixture
def tiny() -> Arch:
    """4x4 array, 1 GHz, practically infinite bandwidth, 1 MiB buffer."""
    return make_arch()


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """Run `nmsim argv` in-process; returns (exit code, stdout, stderr). Other exceptions fail the test."""
    from nmsim.cli.main import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def scalesim_or_skip(jobs: list[dict]) -> dict[str, dict]:
    """SCALE-Sim 3.0.0's results for peer `jobs` (benchmarks/peers/scalesim.py: installs the peer venv if
    needed, caches by input); skips the test with pip's reason when SCALE-Sim cannot be installed."""
    from benchmarks.peers.scalesim import ScaleSimUnavailable, ensure_scalesim_venv, run_scalesim

    try:
        ensure_scalesim_venv()
    except ScaleSimUnavailable as exc:
        pytest.skip(f"SCALE-Sim peer not installable: {exc}")
    return run_scalesim(jobs)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line: how many result JSON files this process validated against their schemas, by kind."""
    from nmsim.specfile.results import VALIDATED

    if VALIDATED:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(VALIDATED.items()))
        terminalreporter.write_line(f"result JSON validated against specfile/schemas: {sum(VALIDATED.values())} "
                                    f"({kinds})")
