"""Non-dominated (Pareto) fronts, vectorized.

A point dominates another when it is no worse in every objective and better in at least one;
the front is the set of points nothing dominates (identical points do not dominate each other,
so duplicates on the front all stay). Objectives are minimized; `maximize` flips chosen columns.

Two objectives: O(n log n). Sort the distinct points lexicographically; a point is dominated
exactly when some lexicographically smaller point has a second objective <= its own, i.e. when
the running minimum of the second objective over the points before it is <= its own.
More objectives: blocks of distinct points in the same order are compared with the front found
so far and with each other (memory bounded by `max_cells`).
"""
from __future__ import annotations

import numpy as np

from .spec import DSE_OBJECTIVES


def pareto_mask(values, maximize=None, max_cells: int = 1 << 24) -> np.ndarray:
    """Boolean mask of the non-dominated rows of `values` ([n, k], k >= 1; NaN rows never on
    the front). `maximize`: k booleans, True where larger is better. `max_cells` bounds the
    comparison block (booleans held at once) for three or more objectives."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be [points, objectives] (got shape {v.shape})")
    n, k = v.shape
    if maximize is not None:
        flip = np.asarray(maximize, dtype=bool)
        if flip.shape != (k,):
            raise ValueError(f"maximize needs {k} entries (got {flip.shape})")
        v = np.where(flip, -v, v)
    ok = ~np.isnan(v).any(axis=1)
    out = np.zeros(n, dtype=bool)
    if not ok.any():
        return out
    uniq, inverse = np.unique(v[ok], axis=0, return_inverse=True)  # lexicographically sorted
    inverse = inverse.reshape(-1)
    if k == 1:
        front_u = uniq[:, 0] == uniq[0, 0]
    elif k == 2:
        before = np.minimum.accumulate(np.concatenate([[np.inf], uniq[:-1, 1]]))
        front_u = before > uniq[:, 1]
    else:
        front_u = _front_blocks(uniq, max_cells)
    out[np.flatnonzero(ok)] = front_u[inverse]
    return out


def _dominated_by(cand: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each distinct row of `cand`, whether some row of `others` (distinct from it) is <= it
    everywhere, i.e. dominates it."""
    leq = (others[None, :, :] <= cand[:, None, :]).all(axis=2)
    same = (others[None, :, :] == cand[:, None, :]).all(axis=2)
    return (leq & ~same).any(axis=1)


def _front_blocks(uniq: np.ndarray, max_cells: int) -> np.ndarray:
    """Front of lexicographically sorted distinct rows, a block at a time. A dominator always
    sorts earlier, and following dominators from any point ends on a front point, so a point is
    dominated iff a front point found so far, or a row of its own block, dominates it."""
    n, k = uniq.shape
    on_front = np.zeros(n, dtype=bool)
    front = uniq[:0]
    block = 1
    s = 0
    while s < n:
        block = max(1, min(256, max_cells // ((len(front) + block + 1) * k)))
        cand = uniq[s:s + block]
        dom = _dominated_by(cand, front) | _dominated_by(cand, cand)
        on_front[s:s + len(cand)] = ~dom
        front = np.concatenate([front, cand[~dom]])
        s += len(cand)
    return on_front


def objective_matrix(table, objectives: list[str]) -> tuple[np.ndarray, list[bool]]:
    """([rows, k] objective values of a ResultTable, which ones are maximized) for objective names."""
    unknown = [o for o in objectives if o not in DSE_OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective '{unknown[0]}' (choices: {', '.join(DSE_OBJECTIVES)})")
    cols = [np.asarray(table[DSE_OBJECTIVES[o][0]], dtype=np.float64) for o in objectives]
    return np.stack(cols, axis=1) if cols else np.zeros((len(table), 0)), [DSE_OBJECTIVES[o][1] == "max"
                                                                             for o in objectives]


def pareto_front(table, objectives: list[str]) -> np.ndarray:
    """Indices of a ResultTable's rows on the Pareto front of `objectives` (names of
    spec.DSE_OBJECTIVES, e.g. ['latency', 'energy']), sorted by the first objective."""
    vals, maxi = objective_matrix(table, objectives)
    idx = np.flatnonzero(pareto_mask(vals, maxi))
    return idx[np.argsort(vals[idx, 0], kind="stable")]
