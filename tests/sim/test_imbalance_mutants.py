"""Load imbalance of unstructured masks (sim/imbalance.py, docs/MODEL.md 2.1): the corners the broad
tests leave open, against a brute-force oracle written here straight from the definition.

Definition (module docstring): lanes are grouped per N tile (groups restart at every N-tile
boundary, the last tile may be partial), `lanes` at a time; within a group, each window of
`window` adjacent lanes is balanced evenly (its load is ceil(nonzeros / its lanes)); per K tile
the group waits for its busiest window; the total sums that over batches, groups and K tiles.
"""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.sim.imbalance import busiest_nonzeros, busy_k_scale, lane_prefix_counts


def oracle(mask: np.ndarray, tile_n: int, tile_k: int, lanes: int, window: int) -> tuple[int, int]:
    """(busiest total, groups) counted from the mask itself (no prefix sums)."""
    m3 = mask[None] if mask.ndim == 2 else mask
    nb, nn, nk = m3.shape
    total = groups = 0
    for b in range(nb):
        for n0 in range(0, nn, tile_n):
            tile = list(range(n0, min(n0 + tile_n, nn)))            # lanes of this N tile only
            for gi in range(0, len(tile), lanes):
                group = tile[gi:gi + lanes]
                groups += 1
                for k0 in range(0, nk, tile_k):
                    ks = slice(k0, min(k0 + tile_k, nk))
                    loads = []
                    for wi in range(0, len(group), window):
                        win = group[wi:wi + window]
                        nz = int(sum(m3[b, lane, ks].sum() for lane in win))
                        loads.append(-(-nz // len(win)))
                    total += max(loads)
    return total, groups


@pytest.mark.parametrize("shape, tile_n, tile_k, lanes, window", [
    ((6, 10), 4, 3, 3, 2),      # N tiles 4 + 2 (partial), groups 3 + 1 / 2, K tiles 3,3,3,1
    ((7, 9), 3, 4, 2, 1),       # three N tiles, the last one lane wide
    ((2, 5, 8), 2, 8, 2, 2),    # batched mask, partial last N tile
    ((9, 6), 9, 2, 4, 3),       # one N tile, windows clipped at the group end
])
def test_busiest_matches_bruteforce_on_partial_tiles(shape, tile_n, tile_k, lanes, window):
    rng = np.random.default_rng(7)
    mask = rng.random(shape) < 0.4
    got = busiest_nonzeros(lane_prefix_counts(mask), tile_n, tile_k, lanes, window)
    assert got == oracle(mask, tile_n, tile_k, lanes, window)


def test_empty_k_tiles_cost_nothing():
    # an all-zero mask: no lane has a nonzero in any K tile, so the busiest lane has 0 every time
    mask = np.zeros((4, 8), dtype=bool)
    assert busiest_nonzeros(lane_prefix_counts(mask), 4, 4, 2, 1) == (0, 2)
    # nonzeros only in the first K tile: the second tile (all zero) adds nothing
    mask[:, 0] = True
    cum = lane_prefix_counts(mask)
    assert busiest_nonzeros(cum, 4, 4, 2, 1) == (2 * 1, 2)     # 2 groups x 1 nonzero x 1 tile
    assert busy_k_scale(cum, 4, 4, 2, 1) == pytest.approx(1 / 8)


@pytest.mark.parametrize("bad", [dict(window=-1), dict(lanes=-2), dict(tile_k=-4), dict(tile_n=-1)])
def test_non_positive_parameters_refused(bad):
    # a negative step would make the loops empty (a total of 0, silently): refused instead
    args = dict(tile_n=2, tile_k=2, lanes=2, window=1) | bad
    cum = lane_prefix_counts(np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="must be positive"):
        busiest_nonzeros(cum, **args)
