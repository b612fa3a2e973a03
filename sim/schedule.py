"""The tile schedule of one GEMM under a Mapping: the one definition both cost models use.

A GEMM `out[M,N] = A[M,K] . B[K,N]` is cut into buffer tiles `(t_m, t_n, t_k)` (edge tiles
partial) that run in the Mapping's loop order. This module holds

* the per-tile formulas (units, folds, fill, compute cycles, array<->buffer traffic, the bytes
  of one operand tile) written so that they hold for one tile *and*, because the tile grid is a
  Cartesian product, for the per-dimension sums the fast model uses (docs/MODEL.md 3.1-3.4):
  `sim/analytic.py` calls them with sums, `sim/engine.py` with single tiles;
* the closed-form reuse rule of MODEL.md 3.4 (`reuse_factors`, used by the fast model);
* `build_schedule`, the explicit list of tiles in loop order with, for each tile, the operand
  tiles that must be (re)loaded from DRAM, partial sums spilled or read back, and its compute
  cycles (used by the detailed engine). tests/test_engine.py checks that its sums equal the
  fast model's totals.

Every function accepts numpy arrays (broadcast together) unless it says otherwise.
Units: dimensions and tiles in elements of the dense GEMM, "units" are K nonzeros per PE
multiplier group (MODEL.md 3.1), cycles of the array clock, bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hw import HwParams

WS, OS, IS = 0, 1, 2  # dataflow codes (mapping.DATAFLOW_CODES order)


def cdiv(a, b):
    """Ceiling division of integers (or integer arrays)."""
    return -(-a // b)


def k_nnz_fn(n, m, k_scale=None):
    """x dense K elements -> nonzero weights kept per output column (elements), after N:M padding.

    With `k_scale` (fraction of K kept, unstructured density) the count is ceil(x * k_scale), at least 1.
    """
    if k_scale is None:
        n = np.asarray(n, dtype=np.int64)
        m = np.asarray(m, dtype=np.int64)
        return lambda x: cdiv(x, m) * n
    ks = np.asarray(k_scale, dtype=np.float64)
    return lambda x: np.maximum(1, np.ceil(x * ks)).astype(np.int64)


def dim_tiles(D, t, units):
    """Tiling of one dimension (MODEL.md 3.1): (full tiles, units of a full tile, units of the
    edge tile or 0, number of tiles)."""
    t = np.minimum(t, D)
    n_full = D // t
    rem = D - n_full * t
    u_full = units(t)
    u_rem = np.where(rem > 0, units(np.maximum(rem, 1)), 0)
    return n_full, u_full, u_rem, n_full + (rem > 0)


def dim_folds(n_full, u_full, u_rem, extent):
    """Sum over the tiles of one dimension of ceil(units / extent): its folds over an array extent."""
    return n_full * cdiv(u_full, extent) + cdiv(u_rem, extent)


def fill_cycles(rows, cols, is_os):
    """Fill + drain cycles of one fold (MODEL.md 3.2): 2R + C - 2 for WS/IS, R + C - 2 for OS.

    WS and IS shift the stationary operand in (R cycles) before the skewed stream; OS has
    nothing to preload and drains outputs under the next fold (SCALE-Sim's OS timing).
    """
    return np.where(is_os, rows + cols - 2, 2 * rows + cols - 2)


def fold_cycles(f_rows, f_cols, time_tiles, time_units, fill):
    """Compute cycles (MODEL.md 3.2): folds x (fill + T) per tile.

    For one tile: f_rows = ceil(u_rows / R), f_cols = ceil(u_cols / C), time_tiles = 1,
    time_units = its T. For a whole op the same expression takes the per-dimension sums.
    """
    return f_rows * f_cols * (time_tiles * fill + time_units)


def array_traffic(u_rows, u_cols, time_units, f_rows, f_cols, time_tiles):
    """Array <-> buffer traffic in units (MODEL.md 3.3): (stationary, row_stream, col_stream).

    Per fold the array loads its stationary block once, reads the row-streamed operand
    (T x rows used) and moves the column-streamed one (T x cols used). One tile or sums, as
    `fold_cycles`.
    """
    return u_rows * u_cols * time_tiles, time_units * u_rows * f_cols, time_units * u_cols * f_rows


def pick(df, ws, os_, is_):
    """Select by dataflow code (0 WS, 1 OS, 2 IS)."""
    return np.where(df == WS, ws, np.where(df == OS, os_, is_))


def weight_bytes_per_nonzero(hw: HwParams, index_bits):
    """Bytes of one stored weight: the value plus its index metadata (bytes)."""
    return hw.operand_bytes + np.asarray(index_bits) / 8.0


def operand_array_bytes(hw: HwParams, df, stationary, row_stream, col_stream, act_per_unit, w_bytes):
    """Array-side bytes (MODEL.md 3.3): (A read, B read, out elements written).

    A is activations (dense, `act_per_unit` elements per K unit), B the compressed weights
    (P nonzeros per unit), out partial sums (elements; x acc_bytes for bytes).
    """
    a_units = pick(df, row_stream, row_stream, stationary)
    b_units = pick(df, stationary, col_stream, row_stream)
    c_elems = pick(df, col_stream, stationary, col_stream)
    return (a_units * act_per_unit * hw.operand_bytes, b_units * hw.macs_per_pe * w_bytes, c_elems)


def a_tile_bytes(hw: HwParams, m_elems, k_elems):
    """DRAM bytes of an A (activation) block of m x k elements."""
    return m_elems * k_elems * hw.operand_bytes


def b_tile_bytes(k_nnz_elems, n_elems, w_bytes):
    """DRAM bytes of a compressed B (weight) block: nonzeros x columns x (value + index) bytes."""
    return k_nnz_elems * n_elems * w_bytes


def out_tile_bytes(hw: HwParams, m_elems, n_elems, final):
    """DRAM bytes of an output block: operand width when final, accumulator width when a partial sum."""
    return m_elems * n_elems * np.where(final, hw.operand_bytes, hw.acc_bytes)


def reuse_factors(trips, pos):
    """Closed-form DRAM reuse of MODEL.md 3.4, for trip counts and loop depths `[..., (m, n, k)]`.

    Returns (A multiplier, B multiplier, whether partial sums spill): an operand is re-fetched
    once per iteration of its irrelevant loop when that loop sits outside the innermost
    iterating relevant loop.
    """
    def innermost_relevant(d1, d2):
        p1 = np.where(trips[..., d1] > 1, pos[..., d1], -1)
        p2 = np.where(trips[..., d2] > 1, pos[..., d2], -1)
        return np.maximum(p1, p2)

    a_mult = np.where(pos[..., 1] < innermost_relevant(0, 2), trips[..., 1], 1)
    b_mult = np.where(pos[..., 0] < innermost_relevant(2, 1), trips[..., 0], 1)
    c_spill = pos[..., 2] < innermost_relevant(0, 1)
    return a_mult, b_mult, c_spill


# --- the explicit schedule (detailed engine) ------------------------------------------------

@dataclass
class TileSchedule:
    """The buffer tiles of an op in execution order (the batch's GEMMs one after another).

    Arrays have one entry per tile. `a_new[i]` / `b_new[i]`: tile i needs a new A / B tile
    loaded from DRAM (`a_load_bytes` / `b_load_bytes`, 0 otherwise). Output tiles are
    accumulated in *runs* of consecutive tiles with the same (m, n) index: `c_first[i]` starts a
    run (reading back `c_read_bytes` of partial sums when it is not the run of the first k
    tile), `c_last[i]` ends it (storing `c_store_bytes`: operand width when final, accumulator
    width when spilled). `array_read_bytes[l, i]` / `array_write_bytes[l, i]`: bytes the array
    moves at on-chip level l for tile i. Cycles in `compute_cycles`; bytes in the rest.
    """

    im: np.ndarray
    in_: np.ndarray
    ik: np.ndarray
    compute_cycles: np.ndarray
    a_new: np.ndarray
    b_new: np.ndarray
    c_first: np.ndarray
    c_last: np.ndarray
    a_load_bytes: np.ndarray
    b_load_bytes: np.ndarray
    c_read_bytes: np.ndarray
    c_store_bytes: np.ndarray
    array_read_bytes: np.ndarray
    array_write_bytes: np.ndarray

    def __len__(self) -> int:
        return len(self.compute_cycles)

    @property
    def dram_bytes(self) -> float:
        """Total bytes moved between DRAM and the buffers (bytes)."""
        return float(self.a_load_bytes.sum() + self.b_load_bytes.sum() + self.c_read_bytes.sum()
                     + self.c_store_bytes.sum())

    def level_bytes(self, hw: HwParams) -> tuple[np.ndarray, np.ndarray]:
        """(read, write) bytes per on-chip level: array side plus the DRAM fills and drains."""
        rd = self.array_read_bytes.sum(axis=1)
        wr = self.array_write_bytes.sum(axis=1)
        rd[hw.level_of["outputs"]] += self.c_store_bytes.sum()
        wr[hw.level_of["outputs"]] += self.c_read_bytes.sum()
        wr[hw.level_of["inputs"]] += self.a_load_bytes.sum()
        wr[hw.level_of["weights"]] += self.b_load_bytes.sum()
        return rd, wr


def _dim_sizes(D: int, t: int) -> np.ndarray:
    t = min(t, D)
    sizes = np.full(cdiv(D, t), t, dtype=np.int64)
    sizes[-1] = D - t * (len(sizes) - 1)
    return sizes


def _changed(*idx: np.ndarray, start: np.ndarray) -> np.ndarray:
    """True where any index differs from the previous tile's, or where a GEMM starts."""
    ch = start.copy()
    for x in idx:
        ch[1:] |= x[1:] != x[:-1]
    return ch


def build_schedule(hw: HwParams, M: int, N: int, K: int, dataflow: int, tile_m: int, tile_n: int,
                   tile_k: int, loop_order: str, n: int = 1, m: int = 1, index_bits: int = 0,
                   batch: int = 1, k_scale: float | None = None,
                   k_scale_busy: float | None = None) -> TileSchedule:
    """The tiles of a (batched) GEMM in loop order with their compute cycles and DRAM transfers.

    Scalars only. `dataflow` is a code (0 WS, 1 OS, 2 IS), `loop_order` a string such as "nmk"
    (outermost first), (n, m, index_bits) the executed N:M, `k_scale` the kept fraction of K for
    unstructured density, `k_scale_busy` the busiest lane's fraction (compute cycles only,
    MODEL.md 2.1). Reload rule: a tile of A is loaded when its (m, k) index differs from
    the previous tile's, B when (k, n) differs; consecutive tiles with the same (m, n) index
    accumulate in place. This equals the closed form of MODEL.md 3.4 (`reuse_factors`).
    """
    R, C, P = hw.rows, hw.cols, hw.macs_per_pe
    k_nnz = k_nnz_fn(n, m, k_scale)
    sizes = {"m": _dim_sizes(M, tile_m), "n": _dim_sizes(N, tile_n), "k": _dim_sizes(K, tile_k)}
    grid = np.indices(tuple(len(sizes[d]) for d in loop_order)).reshape(3, -1)
    idx = {d: np.tile(grid[i], batch) for i, d in enumerate(loop_order)}
    per_gemm = grid.shape[1]
    start = np.zeros(per_gemm * batch, dtype=bool)
    start[::per_gemm] = True  # a new GEMM of the batch shares no operand with the previous one
    im, in_, ik = idx["m"], idx["n"], idx["k"]
    sm, sn, sk = sizes["m"][im], sizes["n"][in_], sizes["k"][ik]

    u = {"M": sm, "N": sn, "K": cdiv(k_nnz(sk), P)}
    rows_d, cols_d, time_d = {WS: ("K", "N", "M"), OS: ("M", "N", "K"), IS: ("K", "M", "N")}[int(dataflow)]
    u_r, u_c, u_t = u[rows_d], u[cols_d], u[time_d]
    f_r, f_c = cdiv(u_r, R), cdiv(u_c, C)
    compute = fold_cycles(f_r, f_c, 1, u_t, fill_cycles(R, C, dataflow == OS))
    if k_scale_busy is not None:
        u_busy = {**u, "K": cdiv(k_nnz_fn(n, m, k_scale_busy)(sk), P)}
        compute = fold_cycles(cdiv(u_busy[rows_d], R), f_c, 1, u_busy[time_d], fill_cycles(R, C, dataflow == OS))

    stationary, row_s, col_s = array_traffic(u_r, u_c, u_t, f_r, f_c, 1)
    act_per_unit = P * m / n if k_scale is None else P / k_scale
    w_bytes = weight_bytes_per_nonzero(hw, index_bits)
    a_read, b_read, c_elems = operand_array_bytes(hw, np.int64(dataflow), stationary, row_s, col_s,
                                                  act_per_unit, w_bytes)
    # Each output's first write needs no read of a previous partial sum (MODEL.md 3.3).
    c_read = (c_elems - np.where(ik == 0, sm * sn, 0)) * hw.acc_bytes
    nlev = len(hw.level_names)
    arr_rd = np.zeros((nlev, len(compute)))
    arr_wr = np.zeros((nlev, len(compute)))
    arr_rd[hw.level_of["inputs"]] += a_read
    arr_rd[hw.level_of["weights"]] += b_read
    arr_rd[hw.level_of["outputs"]] += c_read
    arr_wr[hw.level_of["outputs"]] += c_elems * hw.acc_bytes

    a_new = _changed(im, ik, start=start)
    b_new = _changed(ik, in_, start=start)
    c_first = _changed(im, in_, start=start)
    c_last = np.append(c_first[1:], True)
    final = ik == len(sizes["k"]) - 1
    return TileSchedule(
        im=im, in_=in_, ik=ik, compute_cycles=compute.astype(np.float64),
        a_new=a_new, b_new=b_new, c_first=c_first, c_last=c_last,
        a_load_bytes=np.where(a_new, a_tile_bytes(hw, sm, sk), 0.0),
        b_load_bytes=np.where(b_new, b_tile_bytes(k_nnz(sk), sn, w_bytes), 0.0),
        c_read_bytes=np.where(c_first & (ik > 0), out_tile_bytes(hw, sm, sn, False), 0.0),
        c_store_bytes=np.where(c_last, out_tile_bytes(hw, sm, sn, final), 0.0),
        array_read_bytes=arr_rd, array_write_bytes=arr_wr,
    )
