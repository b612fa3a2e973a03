"""Load imbalance of unstructured weight sparsity, measured from the op's actual mask.

The fast model's ideal-balance rule gives every output channel (lane) `ceil(t_k * density)`
nonzeros per K tile. A real mask does not: the lanes that advance in lockstep through one fold
(the array columns for WS and OS, the whole N tile for IS) wait for the busiest one. The
hardware may redistribute nonzeros among `window` adjacent lanes (accel spec
`sparsity.unstructured.window`). Definitions and formulas: docs/MODEL.md, section 2.1.

Masks are boolean `[N, K]` (or `[batch, N, K]`), True = nonzero kept, as workloads store them.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from nmsim.problem import COLS, SPATIAL


def lane_prefix_counts(mask: np.ndarray) -> np.ndarray:
    """Per-lane running nonzero counts along K: int32 `[batch, N, K + 1]`, entry k = nonzeros in
    columns `[0, k)` of that lane. Computed once per mask; every tiling reads it."""
    m3 = np.asarray(mask, dtype=bool)
    if m3.ndim == 2:
        m3 = m3[None]
    if m3.ndim != 3:
        raise ValueError(f"mask must be [N, K] or [batch, N, K] (got shape {m3.shape})")
    out = np.zeros((m3.shape[0], m3.shape[1], m3.shape[2] + 1), dtype=np.int32)
    np.cumsum(m3, axis=2, dtype=np.int32, out=out[:, :, 1:])
    return out


@njit(cache=True)
def _busiest_total(cum, tile_n, tile_k, lanes, window):
    # Sum, over (batch, lane group, K tile), of the busiest lane's nonzeros after balancing each
    # window of lanes evenly (a window's load is ceil(its nonzeros / its lanes)). Lane groups
    # restart at every N-tile boundary: lanes of different tiles never share a fold.
    nb, nn, kp1 = cum.shape
    nk = kp1 - 1
    total = 0
    groups = 0
    for b in range(nb):
        for n0 in range(0, nn, tile_n):
            n_end = min(n0 + tile_n, nn)
            for g0 in range(n0, n_end, lanes):
                g_end = min(g0 + lanes, n_end)
                groups += 1
                for k0 in range(0, nk, tile_k):
                    k_end = min(k0 + tile_k, nk)
                    busiest = 0
                    for w0 in range(g0, g_end, window):
                        w_end = min(w0 + window, g_end)
                        s = 0
                        for lane in range(w0, w_end):
                            s += cum[b, lane, k_end] - cum[b, lane, k0]
                        width = w_end - w0
                        load = (s + width - 1) // width
                        if load > busiest:
                            busiest = load
                    total += busiest
    return total, groups


def busiest_nonzeros(cum: np.ndarray, tile_n: int, tile_k: int, lanes: int, window: int) -> tuple[int, int]:
    """(Σ busiest-lane nonzeros over every lane group and K tile, number of lane groups).

    `cum` from `lane_prefix_counts`; `tile_n`, `tile_k` the buffer tile (elements), `lanes` the
    lanes that share one fold, `window` the balancing window (lanes, clipped to the group).
    """
    if min(tile_n, tile_k, lanes, window) < 1:
        raise ValueError("tile_n, tile_k, lanes and window must be positive")
    total, groups = _busiest_total(cum, int(tile_n), int(tile_k), int(lanes), int(window))
    return int(total), int(groups)


def busy_k_scale(cum: np.ndarray, tile_n: int, tile_k: int, lanes: int, window: int) -> float:
    """Effective fraction of K one lane group spends compute on (dimensionless): the busiest
    lane's nonzeros summed over K tiles, divided by K, averaged over lane groups. Equals the
    density under perfect balance; the ratio to the density is the imbalance factor."""
    total, groups = busiest_nonzeros(cum, tile_n, tile_k, lanes, window)
    return total / (groups * (cum.shape[2] - 1))


def fold_lanes(dataflow: str, cols: int, tile_n: int) -> int:
    """Lanes (output channels) that advance in lockstep through one fold (lanes): the array
    columns when the dataflow puts N on the columns (WS, OS); the whole N tile when N streams in
    time (IS), because the stationary block must hold the K rows of every n streamed past it."""
    return int(cols) if SPATIAL[dataflow][COLS] == "N" else int(tile_n)
