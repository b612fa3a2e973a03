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
  cycles (used by the detailed engine). tests/sim/test_engine.py checks that its sums equal the
  fast model's totals.

The GEMM (dims, executed N:M, densities) is a `problem.Gemm`; which dimension the rows,
columns and time carry is the dataflow table of `problem.dataflow`. Every function accepts
numpy arrays (broadcast together) unless it says otherwise.
Units: dimensions and tiles in elements of the dense GEMM, "units" are K nonzeros per PE
multiplier group (MODEL.md 3.1), cycles of the array clock, bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmsim.mapping import Mapping
from nmsim.problem import (COLS, DATAFLOW_CODES, ROWS, TIME, Gemm, PerDataflow, cdiv, stream_of, tile_bytes,
                           whole_accesses)

from .dram import page_changes, transfer_cycles
from .hw import HwParams


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


def fill_cycles(rows, cols, is_os, preload_overlap=False):
    """Fill + drain cycles of one fold (MODEL.md 3.2): 2R + C - 2 for WS/IS, R + C - 2 for OS.

    WS and IS shift the stationary operand in (R cycles) before the skewed stream; OS has
    nothing to preload and drains outputs under the next fold (SCALE-Sim's OS timing). With
    `preload_overlap` the PEs double-buffer the stationary operand and the preload hides under
    the previous fold's stream: R + C - 2 for every dataflow (the stream then lasts >= R).
    """
    return np.where(np.asarray(is_os) | np.asarray(preload_overlap), rows + cols - 2, 2 * rows + cols - 2)


def output_stationary(sel: PerDataflow):
    """Per candidate: the outputs stay in the PEs (OS), so no operand is preloaded (bool)."""
    return sel.flag(lambda df: df == "os")


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


def operand_array_bytes(hw: HwParams, sel: PerDataflow, traffic, act_per_unit, w_bytes):
    """Array-side bytes (MODEL.md 3.3): (A read, B read, out elements written), from the
    (stationary, row, col) stream totals of `array_traffic`, each operand taking the stream the
    dataflow table gives it.

    A is activations (dense, `act_per_unit` elements per K unit), B the compressed weights
    (P nonzeros per unit), out partial sums (elements; x acc_bytes for bytes).
    """
    streams = dict(zip(("stationary", "row", "col"), traffic))
    a_units = sel.stream("A", streams)
    b_units = sel.stream("B", streams)
    c_elems = sel.stream("out", streams)
    return (a_units * act_per_unit * hw.operand_bytes, b_units * hw.macs_per_pe * w_bytes, c_elems)


def fill_exposure(hw: HwParams, sel: PerDataflow, reads, beats, folds, fill) -> list:
    """Per level, read-port cycles that the folds' fill and drain cannot hide (MODEL.md 3.3).

    The streamed operands' reader runs ahead of the array by at most `prefetch_steps` beats of its
    level: while a fold fills and drains (no beats consumed) the port works only that far ahead.
    When the level's streamed reads take c > 1 port cycles per beat (the port, not the array, sets
    the pace), a fold lasts T c + max(0, fill - steps c): each fold exposes max(0, fill - steps c)
    on top of the port's work. `reads` = array read bytes of (A, B, out); `beats` and `folds` over
    the same tiles (sums, or one tile). Levels without a limit expose nothing (as before the field).
    """
    nlev = len(hw.level_names)
    steps = hw.level_prefetch_steps or (np.inf,) * nlev
    streamed = [0.0] * nlev
    for operand, op_reads, holder in (("A", reads[0], "inputs"), ("B", reads[1], "weights"),
                                      ("out", reads[2], "outputs")):
        lv = hw.level_of[holder]
        if np.any(np.isfinite(steps[lv])):
            is_streamed = sel.flag(lambda df, o=operand: stream_of(df, o) != "stationary")
            streamed[lv] = streamed[lv] + np.where(is_streamed, op_reads, 0.0)
    out = [0.0] * nlev
    for lv in range(nlev):
        if not np.any(np.isfinite(steps[lv])):
            continue
        per_beat = streamed[lv] / hw.read_bpc[lv] / np.maximum(beats, 1)
        limit = np.where(np.isfinite(steps[lv]), steps[lv], 0.0)
        out[lv] = np.where(np.isfinite(steps[lv]) & (per_beat > 1),
                           folds * np.maximum(0.0, fill - limit * per_beat), 0.0)
    return out


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
    moves at on-chip level l for tile i. Cycles in `compute_cycles` and in `*_cycles`, the DRAM
    interface's time for each transfer (sim/dram.py); bytes in the rest.
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
    port_extra_cycles: np.ndarray  # [level, tile]: read-port cycles the fill cannot hide
    a_load_cycles: np.ndarray
    b_load_cycles: np.ndarray
    c_read_cycles: np.ndarray
    c_store_cycles: np.ndarray
    c_store_switch_cycles: np.ndarray  # the read/write switches a store costs when loads are waiting

    def __len__(self) -> int:
        return len(self.compute_cycles)

    @property
    def dram_cycles(self) -> float:
        """Total DRAM interface time of all transfers (cycles)."""
        return float(self.a_load_cycles.sum() + self.b_load_cycles.sum() + self.c_read_cycles.sum()
                     + self.c_store_cycles.sum() + self.c_store_switch_cycles.sum())

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


@dataclass
class _Grid:
    """Tile indices in loop order (batch GEMMs one after another) and each tile's extents."""

    im: np.ndarray
    in_: np.ndarray
    ik: np.ndarray
    start: np.ndarray  # a GEMM of the batch starts here: it shares no operand with the previous tile
    sm: np.ndarray
    sn: np.ndarray
    sk: np.ndarray
    k_tiles: int


def _tile_grid(gemm: Gemm, mapping: Mapping) -> _Grid:
    sizes = {"m": _dim_sizes(gemm.M, mapping.tile_m), "n": _dim_sizes(gemm.N, mapping.tile_n),
             "k": _dim_sizes(gemm.K, mapping.tile_k)}
    order = mapping.loop_order
    grid = np.indices(tuple(len(sizes[d]) for d in order)).reshape(3, -1)
    idx = {d: np.tile(grid[i], gemm.batch) for i, d in enumerate(order)}
    per_gemm = grid.shape[1]
    start = np.zeros(per_gemm * gemm.batch, dtype=bool)
    start[::per_gemm] = True
    im, in_, ik = idx["m"], idx["n"], idx["k"]
    return _Grid(im, in_, ik, start, sizes["m"][im], sizes["n"][in_], sizes["k"][ik], len(sizes["k"]))


def _tile_compute(hw: HwParams, gemm: Gemm, sel: PerDataflow, g: _Grid):
    """Per tile: (compute cycles, units on rows, units on cols, units in time, row folds, col folds)."""
    R, C, P = hw.rows, hw.cols, hw.macs_per_pe
    u = {"M": g.sm, "N": g.sn, "K": cdiv(gemm.k_nnz(g.sk), P)}
    u_r, u_c, u_t = (sel.dim(role, u.__getitem__) for role in (ROWS, COLS, TIME))
    f_r, f_c = cdiv(u_r, R), cdiv(u_c, C)
    fill = fill_cycles(R, C, output_stationary(sel))
    compute = fold_cycles(f_r, f_c, 1, u_t, fill)
    if gemm.has_busy_lanes:
        busy = {**u, "K": cdiv(gemm.k_nnz_busy(g.sk), P)}
        compute = fold_cycles(cdiv(sel.dim(ROWS, busy.__getitem__), R), f_c, 1, sel.dim(TIME, busy.__getitem__), fill)
    return compute, u_r, u_c, u_t, f_r, f_c


def _tile_array_bytes(hw: HwParams, gemm: Gemm, sel: PerDataflow, g: _Grid, units):
    """Per level and tile, the bytes the array reads and writes (MODEL.md 3.3), and the read-port
    cycles the folds' fill cannot hide (`fill_exposure`)."""
    _, u_r, u_c, u_t, f_r, f_c = units
    traffic = array_traffic(u_r, u_c, u_t, f_r, f_c, 1)
    a_read, b_read, c_elems = operand_array_bytes(hw, sel, traffic, gemm.acts_per_unit(hw.macs_per_pe),
                                                  gemm.weight_bytes(hw.operand_bytes))
    # Each output's first write needs no read of a previous partial sum (MODEL.md 3.3).
    c_read = (c_elems - np.where(g.ik == 0, g.sm * g.sn, 0)) * hw.acc_bytes
    nlev = len(hw.level_names)
    rd = np.zeros((nlev, len(g.im)))
    wr = np.zeros((nlev, len(g.im)))
    rd[hw.level_of["inputs"]] += a_read
    rd[hw.level_of["weights"]] += b_read
    rd[hw.level_of["outputs"]] += c_read
    wr[hw.level_of["outputs"]] += c_elems * hw.acc_bytes
    # Fill the streamed readers cannot hide: read-port cycles on top of the bytes (MODEL.md 3.3).
    fill = fill_cycles(hw.rows, hw.cols, output_stationary(sel), hw.preload_overlap)
    exposed = fill_exposure(hw, sel, (a_read, b_read, c_read), f_r * f_c * u_t, f_r * f_c, fill)
    extra = np.zeros((nlev, len(g.im)))
    for lv in range(nlev):
        extra[lv] += exposed[lv]
    return rd, wr, extra


def build_schedule(hw: HwParams, gemm: Gemm, mapping: Mapping) -> TileSchedule:
    """The tiles of a (batched) GEMM in loop order with their compute cycles and DRAM transfers.

    Scalars only (one design, one mapping). Reload rule: a tile of A is loaded when its (m, k)
    index differs from the previous tile's, B when (k, n) differs; consecutive tiles with the
    same (m, n) index accumulate in place. This equals the closed form of MODEL.md 3.4
    (`reuse_factors`); tests/sim check that the schedule's sums equal the fast model's totals.
    """
    sel = PerDataflow(DATAFLOW_CODES[mapping.dataflow])
    g = _tile_grid(gemm, mapping)
    units = _tile_compute(hw, gemm, sel, g)
    arr_rd, arr_wr, port_extra = _tile_array_bytes(hw, gemm, sel, g, units)
    a_new = _changed(g.im, g.ik, start=g.start)
    b_new = _changed(g.ik, g.in_, start=g.start)
    c_first = _changed(g.im, g.in_, start=g.start)
    c_last = np.append(c_first[1:], True)
    final = g.ik == g.k_tiles - 1
    ob, acc, gran = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    a_bytes, b_bytes, partial = tile_bytes(gemm, g.sm, g.sn, g.sk, ob, acc, gran)
    out_width = np.where(final, ob, acc)
    out_bytes = tile_bytes(gemm, g.sm, g.sn, g.sk, ob, out_width, gran)[2]
    a_load = np.where(a_new, a_bytes, 0.0)
    b_load = np.where(b_new, b_bytes, 0.0)
    c_read = np.where(c_first & (g.ik > 0), partial, 0.0)
    c_store = np.where(c_last, out_bytes, 0.0)
    pages = _tile_pages(hw, gemm, g, out_width)
    return TileSchedule(
        im=g.im, in_=g.in_, ik=g.ik, compute_cycles=units[0].astype(np.float64),
        a_new=a_new, b_new=b_new, c_first=c_first, c_last=c_last,
        a_load_bytes=a_load, b_load_bytes=b_load, c_read_bytes=c_read, c_store_bytes=c_store,
        array_read_bytes=arr_rd, array_write_bytes=arr_wr, port_extra_cycles=port_extra,
        a_load_cycles=np.where(a_new, transfer_cycles(hw, a_load, pages[0], 0.0), 0.0),
        b_load_cycles=np.where(b_new, transfer_cycles(hw, b_load, pages[1], 0.0), 0.0),
        c_read_cycles=np.where(c_read > 0, transfer_cycles(hw, c_read, pages[2], 0.0), 0.0),
        c_store_cycles=np.where(c_last, transfer_cycles(hw, c_store, pages[3], 0.0), 0.0),
        c_store_switch_cycles=np.where(c_last, transfer_cycles(hw, 0.0, 0.0, c_store), 0.0),
    )


def _tile_pages(hw: HwParams, gemm: Gemm, g: _Grid, out_width):
    """Page changes of each tile's A load, B load, partial-sum read-back and store (sim/dram.py):
    one transfer of the tile's rows, runs of its row bytes, at the tensor's row pitch in DRAM."""
    ob, acc, gran = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    wb = gemm.weight_bytes(ob)
    w = lambda x: whole_accesses(x, gran)  # noqa: E731 - one-line helper
    return (page_changes(hw, 1, g.sm, w(g.sk * ob), w(gemm.K * ob)),
            page_changes(hw, 1, g.sn, w(gemm.k_nnz(g.sk) * wb), w(gemm.k_nnz(gemm.K) * wb)),
            page_changes(hw, 1, g.sm, w(g.sn * acc), w(gemm.N * acc)),
            page_changes(hw, 1, g.sm, w(g.sn * out_width), w(gemm.N * out_width)))
