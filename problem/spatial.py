"""Spatial mapping: how far each GEMM dimension is spread over the array (docs/MODEL.md 3.7).

A fixed systolic array carries the dataflow table's dimensions (problem.dataflow): the rows' dimension
over R PEs, the columns' over C, the time dimension one step per cycle. A flexible array may cut its
rows into `s_r` blocks of R/s_r rows, each block taking a different slice of a second dimension
`d_r`, and its columns likewise (`s_c`, `d_c`). Every dimension D then has a spatial *extent*
E_D, the number of its units processed side by side:

    E_D = (R / s_r if D is the rows' dimension, C / s_c if the columns', 1 for time)
          x (s_r if D = d_r) x (s_c if D = d_c)

Folds of D over the array are ceil(units / E_D); for the time dimension that is the stream length.
A split whose blocks take slices of K puts partial sums of the same outputs in different blocks,
which only an adder tree across blocks (`block_reduction`) can sum.

Codes: dimensions are 0 = M, 1 = N, 2 = K (DIM_CODES); a split of 1 block carries no dimension.
"""
from __future__ import annotations

from itertools import product

import numpy as np

from .dataflow import COLS, ROWS, SPATIAL, PerDataflow

DIMS = ("M", "N", "K")
DIM_CODES = {d: i for i, d in enumerate(DIMS)}
REDUCTION = "K"


def valid_splits(dataflow: str, row_blocks, col_blocks, block_reduction: bool) -> list[tuple[int, str | None, int, str | None]]:
    """The spatial splits `(s_r, d_r, s_c, d_c)` an interconnect allows under `dataflow`: a block count
    of 1 carries no dimension (None); blocks carry a dimension other than their own axis's, and K
    only with `block_reduction`. The unsplit array comes first."""
    rows, cols, _ = SPATIAL[dataflow]

    def options(blocks, own):
        out = []
        for s in sorted(set(blocks)):
            if s == 1:
                out.append((1, None))
                continue
            out += [(s, d) for d in DIMS if d != own and (d != REDUCTION or block_reduction)]
        return out

    return [(sr, dr, sc, dc) for (sr, dr), (sc, dc) in product(options(row_blocks, rows), options(col_blocks, cols))]


def split_codes(split) -> tuple | None:
    """A split (s_r, d_r, s_c, d_c) with dimension names or None as the code tuple `dim_extents` takes:
    dimension codes, -1 where an axis is not split; None for the unsplit array."""
    s_r, d_r, s_c, d_c = split
    if s_r == 1 and s_c == 1:
        return None
    return (np.int64(s_r), np.int64(DIM_CODES[d_r] if s_r > 1 else -1),
            np.int64(s_c), np.int64(DIM_CODES[d_c] if s_c > 1 else -1))


def dim_extents(rows: int, cols: int, sel: PerDataflow, split=None) -> dict[str, np.ndarray | int]:
    """Spatial extent E_D of each dimension per candidate (see module doc). `split` is None (the
    dataflow table's array) or per-candidate arrays (s_r, d_r, s_c, d_c) with dimension codes
    (-1 for an axis that is not split)."""
    ext = {}
    for d in DIMS:
        on_rows = sel.flag(lambda df, d=d: SPATIAL[df][ROWS] == d)
        on_cols = sel.flag(lambda df, d=d: SPATIAL[df][COLS] == d)
        if split is None:
            ext[d] = np.where(on_rows, rows, np.where(on_cols, cols, 1)) if not np.isscalar(on_rows) else \
                (rows if on_rows else cols if on_cols else 1)
            continue
        s_r, d_r, s_c, d_c = split
        code = DIM_CODES[d]
        base = np.where(on_rows, rows // s_r, np.where(on_cols, cols // s_c, 1))
        ext[d] = base * np.where(d_r == code, s_r, 1) * np.where(d_c == code, s_c, 1)
    return ext


def block_shape(rows: int, cols: int, split=None):
    """(rows, cols) of one block of the array: R / s_r x C / s_c (the whole array without a split)."""
    if split is None:
        return rows, cols
    s_r, _, s_c, _ = split
    return rows // s_r, cols // s_c
