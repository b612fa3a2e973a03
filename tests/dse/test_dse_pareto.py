"""Pareto fronts against a brute-force definition: ties, duplicates, NaN, maximize, blocks."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.dse.pareto import pareto_front, pareto_mask
from nmsim.dse.store import ResultTable


def brute(v: np.ndarray) -> np.ndarray:
    """Non-dominated rows by the definition (NaN rows are never on the front)."""
    ok = ~np.isnan(v).any(axis=1)
    out = ok.copy()
    for i in np.flatnonzero(ok):
        for j in np.flatnonzero(ok):
            if np.all(v[j] <= v[i]) and np.any(v[j] < v[i]):
                out[i] = False
                break
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_matches_brute_force_with_many_ties(k):
    rng = np.random.default_rng(k)
    for _ in range(40):
        v = rng.integers(0, 5, (int(rng.integers(1, 70)), k)).astype(float)
        assert np.array_equal(pareto_mask(v), brute(v))
        assert np.array_equal(pareto_mask(v, max_cells=7), brute(v))  # tiny comparison blocks


def test_continuous_three_objectives():
    v = np.random.default_rng(0).random((400, 3))
    assert np.array_equal(pareto_mask(v), brute(v))


def test_duplicates_on_the_front_all_stay_and_nan_rows_drop():
    v = np.array([[1, 2], [1, 2], [2, 1], [2, 2], [np.nan, 0], [0, 3]], dtype=float)
    assert pareto_mask(v).tolist() == [True, True, True, False, False, True]


def test_maximize_flips_a_column():
    v = np.array([[1.0, 10.0], [2.0, 20.0], [2.0, 5.0]])
    assert pareto_mask(v).tolist() == [True, False, True]
    assert pareto_mask(v, maximize=[False, True]).tolist() == [True, True, False]


def test_bad_shapes():
    with pytest.raises(ValueError):
        pareto_mask(np.zeros(5))
    with pytest.raises(ValueError):
        pareto_mask(np.zeros((5, 2)), maximize=[True])


def test_pareto_front_of_a_table_sorted_by_first_objective():
    t = ResultTable({"result_key": np.array(list("abcde"), dtype=object),
                     "latency_s": np.array([3.0, 1.0, 2.0, 2.5, 1.0]),
                     "energy_pj": np.array([1.0, 3.0, 2.0, 2.5, 4.0]),
                     "throughput_per_area": np.array([5.0, 1.0, 1.0, 9.0, 1.0])})
    assert pareto_front(t, ["latency", "energy"]).tolist() == [1, 2, 0]
    # throughput per area is maximized: row 3 joins the front
    assert sorted(pareto_front(t, ["latency", "energy", "throughput_per_area"]).tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        pareto_front(t, ["speed"])
