"""The per-commit fuzz run: every input kind of tests/fuzz/kinds.py, mutated by hypothesis, through
`nmsim`; every case must end in a SpecError line (exit 2) or a valid result, within the time
limit, leaving its outputs all or nothing (tests/fuzz/harness.py). The long run (`make fuzz`)
uses the same kinds with 100,000+ seeded cases on a process pool."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import check_figures, run_case
from .kinds import KINDS, make_case

# About 17 s on the 2-core development machine for all kinds together (docs/PERFORMANCE.md, "Fuzzing").
PER_KIND = {"sweep": 10, "flags": 50, "measurements": 10}
DEFAULT_PER_KIND = 25


def _check(name: str, rng: random.Random) -> None:
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as d:
        outcome = run_case(make_case(name, rng, Path(d)))
    assert outcome.finding is None, f"{name}: {outcome.finding}; nmsim {' '.join(map(str, outcome.argv or []))}"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind(name):
    @settings(max_examples=PER_KIND.get(name, DEFAULT_PER_KIND), deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(rng=st.randoms(use_true_random=False))
    def run(rng):
        _check(name, rng)
    run()


def test_oracle_catches_impossible_figures():
    # the oracle itself: a negative cycle count, a NaN and a utilization above 1 are findings
    assert check_figures({"layers": [{"cycles": -1}]})
    assert check_figures({"total": {"energy_pj": float("nan")}})
    assert check_figures({"total": {"utilization": 1.19}})
    assert check_figures({"total": {"utilization": 0.5, "bytes": {"dram": 3.0}}}) is None


def test_mutations_leave_the_value_pools_alone():
    """Edits of one case's tree must not reach the pools the next case draws from (the long run once
    grew a shared list past the recursion limit, and a case was no longer reproduced by its number)."""
    import copy

    from . import mutate
    before = copy.deepcopy(mutate.OTHER_VALUES)
    rng = random.Random(0)
    tree = {"a": [1, 2], "b": {"c": [3]}}
    for _ in range(3000):
        tree = mutate.mutate_tree(rng, tree)
        if not isinstance(tree, (dict, list)) or len(str(tree)) > 2000:
            tree = {"a": [1, 2], "b": {"c": [3]}}
    assert mutate.OTHER_VALUES == before
