"""The tile schedule of one GEMM under a Mapping: the one definition both cost models use.

A GEMM `out[M,N] = A[M,K] . B[K,N]` is cut into the outermost level's tiles `(t_m, t_n, t_k)`
(edge tiles partial), each of those into the next level's tiles, and so on (docs/MODEL.md 3.9); the
array runs the innermost tiles in the nested loop orders. This module holds

* the per-tile formulas (units, folds, fill, compute cycles, array<->buffer traffic, the bytes
  of one operand tile) written so that they hold for one tile *and*, because the tile grid is a
  Cartesian product, for the per-dimension sums the fast model uses (docs/MODEL.md 3.1-3.4):
  `sim/analytic.py` calls them with sums, `sim/engine.py` with single tiles;
* the nesting of tiles through the tiers per dimension (`nest_classes`) and the closed-form
  reuse rule of MODEL.md 3.4 and 3.9 (`level_multiplicity`, `fill_bytes`, used by the fast model);
* `build_schedule`, the explicit list of innermost tiles in loop order with, for each tile, the
  operand tiles that must be (re)loaded from DRAM, partial sums spilled or read back, the transfers
  between on-chip levels it triggers, and its compute cycles (used by the detailed engine).
  tests/sim/test_engine.py checks that its sums equal the fast model's totals.

The GEMM (dims, executed N:M, densities) is a `problem.Gemm`; which dimension the rows,
columns and time carry is the dataflow table of `problem.dataflow`. Every function accepts
numpy arrays (broadcast together) unless it says otherwise.
Units: dimensions and tiles in elements of the dense GEMM, "units" are K nonzeros per PE
multiplier group (MODEL.md 3.1), cycles of the array clock, bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from nmsim.mapping import Mapping
from nmsim.problem import (COLS, DATAFLOW_CODES, ROWS, TIME, Gemm, PerDataflow, cdiv, stream_of, tile_bytes,
                           whole_accesses)
from nmsim.problem.spatial import block_shape, dim_extents, split_codes

from .dram import page_changes, transfer_cycles
from .hw import HwParams


class Nesting(NamedTuple):
    """One dimension cut through the tiers (MODEL.md 3.1, 3.9): per tier j, its tiles as classes of
    `counts[j][i]` tiles of `sizes[j][i]` elements, whether the parent tile of class i was cut into
    more than one tile at tier j (`split[j][i]`: tier j's loop over this dimension iterates there;
    None at tier 0, whose parent is the whole dimension: `level_counts[0] > 1`), and the tiles
    along the dimension (`level_counts[j]`). Class i of tier j descends from class
    i >> 1 of tier j - 1 (every class splits into a full and an edge class)."""

    counts: list
    sizes: list
    split: list
    level_counts: list


def nest_classes(D, tiles) -> Nesting:
    """One dimension of extent D cut into the tiles of every tier, `tiles[j]` the tier-j tile
    (outermost first; each clipped to its parent's tiles). A full tile and the edge tile of every
    class split into a full and an edge class at the next tier, so sums over tiles stay closed form
    (MODEL.md 3.1, 3.9); empty classes have count 0."""
    t0 = np.minimum(tiles[0], D)
    full = D // t0
    rem = D - full * t0
    counts, sizes = [full, rem > 0], [t0, rem]
    total = full + counts[1]
    # tier 0's loop iterates for every class alike (its parent is the whole dimension)
    nest = Nesting([counts], [sizes], [None], [total])
    for t in tiles[1:]:
        new_counts, new_sizes, new_split = [], [], []
        for cnt, s in zip(counts, sizes):
            tc = np.minimum(t, np.maximum(s, 1))
            f = s // tc
            r = s - f * tc
            cut = f + (r > 0) > 1
            new_counts += [cnt * f, cnt * (r > 0)]
            new_sizes += [tc, r]
            new_split += [cut, cut]
        counts, sizes = new_counts, new_sizes
        total = counts[0]
        for cnt in counts[1:]:
            total = total + cnt
        nest.counts.append(counts)
        nest.sizes.append(sizes)
        nest.split.append(new_split)
        nest.level_counts.append(total)
    return nest


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


def per_pe_array_bytes(hw: HwParams, gemm: Gemm, macs, arr) -> tuple:
    """(A read, B read, out elements written) with the per-MAC counts of MODEL.md 3.9 for every operand
    whose innermost keeper has one instance per PE: its PE reads the operand (A, B) or read-modifies-
    writes the partial sum (out) at every MAC, as Timeloop counts the level next to the arithmetic;
    `arr` is operand_array_bytes' answer (kept where the operand is forwarded systolically instead)."""
    if not any(hw.level_per_pe):
        return arr
    a_read, b_read, c_elems = arr
    inner = hw.inner_of
    per_pe = {op: hw.level_per_pe[lv] for op, lv in inner.items()}
    return (macs * hw.operand_bytes if per_pe["inputs"] else a_read,
            macs * gemm.weight_bytes(hw.operand_bytes) if per_pe["weights"] else b_read,
            macs if per_pe["outputs"] else c_elems)


def fill_exposure(hw: HwParams, sel: PerDataflow, reads, beats, folds, fill) -> list:
    """Per level, read-port cycles that the folds' fill and drain cannot hide (MODEL.md 3.3).

    The streamed operands' reader runs ahead of the array by at most `prefetch_steps` beats of its
    level (per dataflow): while a fold fills and drains (no beats consumed) the port works only that
    far ahead, then waits for the array to free a slot, and the refilled data reach the array
    `prefetch_latency_cycles` L after the slot is freed. When the level's streamed reads take c > 1
    port cycles per beat (the port, not the array, sets the pace), a fold lasts
    T c + max(0, fill + L - steps c): each fold exposes max(0, fill + L - steps c) on top of the
    port's work. `reads` = array read bytes of (A, B, out) at their innermost keepers (the levels the
    array reads); `beats` and `folds` over the same tiles (sums, or one tile). Levels without a
    limit expose nothing (as before the fields).
    """
    nlev = len(hw.level_names)
    steps = hw.level_prefetch_steps or ((np.inf,) * len(DATAFLOW_CODES),) * nlev
    latency = hw.level_prefetch_latency or (0.0,) * nlev
    limited = [any(np.isfinite(s) for s in steps[lv]) for lv in range(nlev)]
    streamed = [0.0] * nlev
    for operand, op_reads, holder in (("A", reads[0], "inputs"), ("B", reads[1], "weights"),
                                      ("out", reads[2], "outputs")):
        lv = hw.inner_of[holder]
        if limited[lv]:
            is_streamed = sel.flag(lambda df, o=operand: stream_of(df, o) != "stationary")
            streamed[lv] = streamed[lv] + np.where(is_streamed, op_reads, 0.0)
    out = [0.0] * nlev
    for lv in range(nlev):
        if not limited[lv]:
            continue
        ahead = sel.value(lambda df, s=steps[lv]: s[DATAFLOW_CODES[df]])  # beats, per candidate
        per_beat = streamed[lv] / hw.read_bpc[lv] / np.maximum(beats, 1)
        limit = np.where(np.isfinite(ahead), ahead, 0.0)
        out[lv] = np.where(np.isfinite(ahead) & (per_beat > 1),
                           folds * np.maximum(0.0, fill + latency[lv] - limit * per_beat), 0.0)
    return out


RELEVANT = {"A": (0, 2), "B": (2, 1), "out": (0, 1)}  # dims (0 = m, 1 = n, 2 = k) each operand spans
IRRELEVANT = {"A": 1, "B": 0, "out": 2}


def level_multiplicity(counts, pos, operand: str, level: int):
    """How many times every tile of `operand` ("A", "B", "out") at tier `level` is filled (outputs:
    visited), when every loop of tiers 0..level over a dimension iterates wherever its tier has more
    tiles than the tier above: exact for tier 0, and for inner tiers whose tiles divide their
    parents' (`fill_bytes` handles the rest). `counts[j]` and `pos[j]` are `[..., 3]` arrays: tiles
    along (m, n, k) at tier j and each dim's depth in tier j's loop order.

    The loops above the level, outermost first, are tier 0's three, then tier 1's, ...; the operand
    is re-filled once per iteration of its irrelevant loop wherever that loop sits outside the
    innermost iterating relevant loop, so the multiplicity is the tile count along the irrelevant
    dim at the deepest such tier (1 if none; MODEL.md 3.4, 3.9).
    """
    rel, irr = RELEVANT[operand], IRRELEVANT[operand]
    inner = -1
    for j in range(level + 1):
        for r in rel:
            above = counts[j - 1][..., r] if j else 1
            inner = np.maximum(inner, np.where(counts[j][..., r] > above, 3 * j + pos[j][..., r], -1))
    return _irrelevant_count(counts, pos, irr, level, inner)


def tier0_multiplicities(counts, pos) -> dict:
    """level_multiplicity at tier 0 for "A", "B" and "out" at once (the loops' positions are shared)."""
    c0, p0 = counts[0], pos[0]
    depth = np.where(c0 > 1, p0, -1)  # an iterating loop's depth, -1 where it does not iterate
    out = {}
    for operand, (r1, r2) in RELEVANT.items():
        irr = IRRELEVANT[operand]
        out[operand] = np.where(p0[..., irr] < np.maximum(depth[..., r1], depth[..., r2]), c0[..., irr], 1)
    return out


def _irrelevant_count(counts, pos, irr: int, level: int, inner):
    mult = 1
    for j in range(level + 1):
        mult = np.where(3 * j + pos[j][..., irr] < inner, counts[j][..., irr], mult)
    return mult


def fill_bytes(nests: dict, counts, pos, operand: str, level: int, nbytes, total):
    """Σ over the tiles of `operand` at tier `level` of their bytes x how often each is filled
    (visited, for outputs), exact with edge tiles at every tier (MODEL.md 3.9). Whether a relevant
    loop iterates depends on the tile's ancestors (an edge tile may not be cut where a full one is),
    so the sum runs over the classes of the two relevant dims (`nests`: Nesting per "m", "n", "k");
    `nbytes(size_a, size_b)` gives a tile's bytes for sizes along the relevant dims in RELEVANT order;
    `total` is the whole tensor's bytes. Tier 0 takes the closed form total x level_multiplicity."""
    rel, irr = RELEVANT[operand], IRRELEVANT[operand]
    a, b = ("mnk"[r] for r in rel)
    if level == 0:
        return total * level_multiplicity(counts, pos, operand, 0)
    # The deepest iterating relevant loop is the later of each relevant dim's own, and a dim's
    # depends only on its class: computed once per class, not once per pair of classes. Classes
    # with no tile anywhere add nothing and are skipped (most edge classes of a scalar mapping).
    live_a = [(ca, sa, _class_inner(nests[a], pos, rel[0], ia, level))
              for ia, (ca, sa) in enumerate(zip(nests[a].counts[level], nests[a].sizes[level])) if _any(ca)]
    live_b = [(cb, sb, _class_inner(nests[b], pos, rel[1], ib, level))
              for ib, (cb, sb) in enumerate(zip(nests[b].counts[level], nests[b].sizes[level])) if _any(cb)]
    total = 0
    for ca, sa, inner_a in live_a:
        for cb, sb, inner_b in live_b:
            mult = _irrelevant_count(counts, pos, irr, level, np.maximum(inner_a, inner_b))
            total = total + ca * cb * nbytes(sa, sb) * mult
    return total


def _any(x) -> bool:
    """Whether any entry of a count (scalar or array) is nonzero; the array method skips np.any's
    dispatch, which costs more than the test on one mapping's scalars."""
    return bool(x.any()) if isinstance(x, np.ndarray) else bool(x)


def _class_inner(nest: Nesting, pos, r: int, i: int, level: int):
    """Depth (3 x tier + position) of the innermost loop over dim `r` that iterates above class `i`
    of tier `level` of `nest`, -1 if none: the relevant-loop half of fill_bytes' rule."""
    inner = -1
    for j in range(level + 1):
        iterates = nest.level_counts[0] > 1 if j == 0 else nest.split[j][i >> (level - j)]
        inner = np.maximum(inner, np.where(iterates, 3 * j + pos[j][..., r], -1))
    return inner


# --- the explicit schedule (detailed engine) ------------------------------------------------
@dataclass
class TileSchedule:
    """The innermost tiles of an op in execution order (the batch's GEMMs one after another).

    Arrays have one entry per tile. `a_new[i]` / `b_new[i]`: tile i needs a new A / B tile loaded
    from DRAM into the operand's outermost keeper (`a_load_bytes` / `b_load_bytes`, 0 otherwise).
    Output tiles of the outermost output keeper are accumulated in *runs* of consecutive tiles
    with the same (m, n) index there: `c_first[i]` starts a run (reading back `c_read_bytes` of
    partial sums when it is not the run of the first k tile), `c_last[i]` ends it (storing
    `c_store_bytes`: operand width when final, accumulator width when spilled).
    `array_read_bytes[l, i]` / `array_write_bytes[l, i]`: bytes moved through level l's ports for
    tile i: the array's traffic at the innermost keepers plus the fills and drains between on-chip
    levels that tile i triggers. Cycles in `compute_cycles` and in `*_cycles`, the DRAM interface's
    time for each transfer (sim/dram.py); bytes in the rest (DRAM transfers in whole accesses).
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
    def dram_read_bytes(self) -> float:
        """Bytes read from DRAM: operand loads and partial-sum read-backs (bytes)."""
        return float(self.a_load_bytes.sum() + self.b_load_bytes.sum() + self.c_read_bytes.sum())

    @property
    def dram_write_bytes(self) -> float:
        """Bytes written to DRAM: final outputs and spilled partial sums (bytes)."""
        return float(self.c_store_bytes.sum())

    @property
    def dram_cycles(self) -> float:
        """Total DRAM interface time of all transfers (cycles)."""
        return float(self.a_load_cycles.sum() + self.b_load_cycles.sum() + self.c_read_cycles.sum()
                     + self.c_store_cycles.sum() + self.c_store_switch_cycles.sum())

    @property
    def dram_bytes(self) -> float:
        """Total bytes moved between DRAM and the buffers (bytes)."""
        return self.dram_read_bytes + self.dram_write_bytes

    def level_bytes(self, hw: HwParams) -> tuple[np.ndarray, np.ndarray]:
        """(read, write) bytes per on-chip level: array side and on-chip transfers, plus the DRAM
        fills and drains of the outermost keepers."""
        rd = self.array_read_bytes.sum(axis=1)
        wr = self.array_write_bytes.sum(axis=1)
        outer = hw.outer_of
        rd[outer["outputs"]] += self.c_store_bytes.sum()
        wr[outer["outputs"]] += self.c_read_bytes.sum()
        wr[outer["inputs"]] += self.a_load_bytes.sum()
        wr[outer["weights"]] += self.b_load_bytes.sum()
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
class _Segments:
    """One dimension cut through the levels: per level, each tile's start, size and parent tile."""

    start: list
    size: list
    first_child: list  # per level j < last: index of the first child at level j + 1
    n_child: list


def _segments(D: int, tiles: list[int]) -> _Segments:
    starts, sizes = [np.cumsum(np.r_[0, _dim_sizes(D, tiles[0])[:-1]])], [_dim_sizes(D, tiles[0])]
    first, count = [], []
    for t in tiles[1:]:
        kids = [_dim_sizes(int(z), min(t, int(z))) for z in sizes[-1]]
        n = np.array([len(k) for k in kids], dtype=np.int64)
        first.append(np.cumsum(np.r_[0, n[:-1]]))
        count.append(n)
        size = np.concatenate(kids)
        offs = np.concatenate([s + np.cumsum(np.r_[0, k[:-1]]) for s, k in zip(starts[-1], kids)])
        starts.append(offs)
        sizes.append(size)
    return _Segments(starts, sizes, first, count)


@dataclass
class _Grid:
    """Innermost tiles in loop order (batch GEMMs one after another): per level j and dim, the index
    of the level-j tile each innermost tile lies in; `start` marks a GEMM of the batch starting."""

    idx: list      # idx[j][d] for d in "mnk"
    segs: dict     # d -> _Segments
    start: np.ndarray

    def size(self, level: int, d: str) -> np.ndarray:
        """Elements along `d` of the level-`level` tile of every tile."""
        return self.segs[d].size[level][self.idx[level][d]]

    def k_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last K element of every innermost tile."""
        s = self.segs["k"]
        i = self.idx[-1]["k"]
        return s.start[-1][i], s.start[-1][i] + s.size[-1][i]


def _tile_grid(gemm: Gemm, mapping: Mapping) -> _Grid:
    tiles = mapping.tiles()
    segs = {d: _segments(D, [t[i] for t in tiles]) for i, (d, D) in enumerate(zip("mnk", (gemm.M, gemm.N, gemm.K)))}
    orders = [mapping.loop_order] + [lv.loop_order for lv in mapping.levels]
    o0 = orders[0]
    grid = np.indices(tuple(len(segs[d].size[0]) for d in o0)).reshape(3, -1)
    idx = [{d: grid[i] for i, d in enumerate(o0)}]
    for j, order in enumerate(orders[1:]):
        parent = idx[-1]
        n = {d: segs[d].n_child[j][parent[d]] for d in "mnk"}
        total = n["m"] * n["n"] * n["k"]
        rep = np.repeat(np.arange(len(total)), total)
        local = np.arange(int(total.sum())) - np.repeat(np.cumsum(total) - total, total)
        child = {}
        for d in reversed(order):  # innermost loop first
            radix = n[d][rep]
            child[d] = segs[d].first_child[j][parent[d][rep]] + local % radix
            local = local // radix
        idx = [{d: lv[d][rep] for d in "mnk"} for lv in idx] + [child]
    per_gemm = len(idx[-1]["m"])
    idx = [{d: np.tile(lv[d], gemm.batch) for d in "mnk"} for lv in idx]
    start = np.zeros(per_gemm * gemm.batch, dtype=bool)
    start[::per_gemm] = True
    return _Grid(idx, segs, start)


def _tile_compute(hw: HwParams, gemm: Gemm, sel: PerDataflow, g: _Grid, split):
    """Per tile: (compute cycles, units on rows, units on cols, units in time, row folds, col folds)."""
    P = hw.macs_per_pe
    sm, sn, sk = (g.size(-1, d) for d in "mnk")
    u = {"M": sm, "N": sn, "K": cdiv(gemm.k_nnz(sk), P)}
    ext = dim_extents(hw.rows, hw.cols, sel, split)
    u_r, u_c, u_t = (sel.dim(role, u.__getitem__) for role in (ROWS, COLS, TIME))
    f_r, f_c = (cdiv(sel.dim(role, u.__getitem__), sel.dim(role, ext.__getitem__)) for role in (ROWS, COLS))
    rows, cols = block_shape(hw.rows, hw.cols, split)
    os_ = output_stationary(sel)
    fill = fill_cycles(rows, cols, os_, hw.preload_overlap)
    # with preload_overlap a WS/IS fold streams at least the R cycles of the next preload (MODEL.md 3.2)
    hidden = np.asarray(hw.preload_overlap) & ~np.asarray(os_)
    stream = lambda t: np.where(hidden & (t > 0), np.maximum(t, rows), t)  # noqa: E731 - one-line helper
    compute = fold_cycles(f_r, f_c, 1, stream(cdiv(u_t, sel.dim(TIME, ext.__getitem__))), fill)
    if gemm.has_busy_lanes:
        busy = {**u, "K": cdiv(gemm.k_nnz_busy(sk), P)}
        compute = fold_cycles(cdiv(sel.dim(ROWS, busy.__getitem__), sel.dim(ROWS, ext.__getitem__)), f_c, 1,
                              stream(cdiv(sel.dim(TIME, busy.__getitem__), sel.dim(TIME, ext.__getitem__))), fill)
    return compute, u_r, u_c, u_t, f_r, f_c


def _tile_array_bytes(hw: HwParams, gemm: Gemm, sel: PerDataflow, g: _Grid, units, split):
    """Per level and tile, the bytes the array reads and writes at the innermost keepers (MODEL.md 3.3),
    and the read-port cycles the folds' fill cannot hide there (`fill_exposure`)."""
    _, u_r, u_c, u_t, f_r, f_c = units
    traffic = array_traffic(u_r, u_c, u_t, f_r, f_c, 1)
    arr = operand_array_bytes(hw, sel, traffic, gemm.acts_per_unit(hw.macs_per_pe), gemm.weight_bytes(hw.operand_bytes))
    macs = g.size(-1, "m") * g.size(-1, "n") * gemm.k_nnz(g.size(-1, "k"))
    a_read, b_read, c_elems = per_pe_array_bytes(hw, gemm, macs, arr)
    # Each output's first write needs no read of a previous partial sum (MODEL.md 3.3).
    k_lo, _ = g.k_bounds()
    c_read = (c_elems - np.where(k_lo == 0, g.size(-1, "m") * g.size(-1, "n"), 0)) * hw.acc_bytes
    nlev = len(hw.level_names)
    rd = np.zeros((nlev, len(g.start)))
    wr = np.zeros((nlev, len(g.start)))
    inner = hw.inner_of
    rd[inner["inputs"]] += a_read
    rd[inner["weights"]] += b_read
    rd[inner["outputs"]] += c_read
    wr[inner["outputs"]] += c_elems * hw.acc_bytes
    # Fill the streamed readers cannot hide: read-port cycles on top of the bytes (MODEL.md 3.3).
    fill = fill_cycles(*block_shape(hw.rows, hw.cols, split), output_stationary(sel), hw.preload_overlap)
    exposed = fill_exposure(hw, sel, (a_read, b_read, c_read), f_r * f_c * u_t, f_r * f_c, fill)
    extra = np.zeros((nlev, len(g.start)))
    for lv in range(nlev):
        extra[lv] += exposed[lv]
    return rd, wr, extra


def _operand_bytes(hw: HwParams, gemm: Gemm, g: _Grid, level: int, out_bytes=None, *, access_bytes=1):
    """Bytes of the (A, B, out) tiles of tier `level` that each innermost tile lies in; with
    `access_bytes` > 1 as a DRAM transfer moves them (whole accesses per row, problem.tile_bytes)."""
    return tile_bytes(gemm, g.size(level, "m"), g.size(level, "n"), g.size(level, "k"), hw.operand_bytes,
                      hw.acc_bytes if out_bytes is None else out_bytes, access_bytes)


def _inner_transfers(hw: HwParams, gemm: Gemm, g: _Grid, rd: np.ndarray, wr: np.ndarray) -> None:
    """Add, per tile, the fills and drains between on-chip keepers (MODEL.md 3.9) to the port bytes
    of both levels involved: a keeper's tile is filled from its parent when its relevant indices
    change; an inner output keeper reads partial sums back when a run does not start at k = 0 and
    drains (at accumulator width) when a run ends."""
    k_lo, _ = g.k_bounds()
    tier = hw.tier_of
    for operand, dims, pos, scale in (("inputs", "mk", 0, gemm.a_unique), ("weights", "kn", 1, 1.0)):
        keep = hw.keepers[operand]
        for parent, lv in zip(keep, keep[1:]):
            new = _changed(*(g.idx[tier[lv]][d] for d in dims), start=g.start)
            nbytes = np.where(new, _operand_bytes(hw, gemm, g, tier[lv])[pos] * scale, 0.0)
            rd[parent] += nbytes
            wr[lv] += nbytes
    keep = hw.keepers["outputs"]
    for parent, lv in zip(keep, keep[1:]):
        first = _changed(g.idx[tier[lv]]["m"], g.idx[tier[lv]]["n"], start=g.start)
        last = np.append(first[1:], True)
        partial = _operand_bytes(hw, gemm, g, tier[lv])[2]
        back = np.where(first & (k_lo > 0), partial, 0.0)
        drain = np.where(last, partial, 0.0)
        rd[parent] += back
        wr[lv] += back
        rd[lv] += drain
        wr[parent] += drain


def build_schedule(hw: HwParams, gemm: Gemm, mapping: Mapping) -> TileSchedule:
    """The innermost tiles of a (batched) GEMM in loop order with their compute cycles, DRAM
    transfers and on-chip transfers. `mapping` has a tile for every tier of on-chip levels
    (Mapping.completed).

    Scalars only (one design, one mapping). Reload rule: a tile of A is loaded into a keeper when its
    (m, k) index at that keeper's level differs from the previous tile's, B when (k, n) differs;
    consecutive tiles with the same (m, n) index at an output keeper's level accumulate in place.
    This equals the closed form of MODEL.md 3.4 and 3.9 (`fill_bytes`); tests/sim check
    that the schedule's sums equal the fast model's totals.
    """
    sel = PerDataflow(DATAFLOW_CODES[mapping.dataflow])
    sp = mapping.spatial
    split = split_codes((sp.row_blocks, sp.row_dim, sp.col_blocks, sp.col_dim))
    g = _tile_grid(gemm, mapping)
    units = _tile_compute(hw, gemm, sel, g, split)
    arr_rd, arr_wr, port_extra = _tile_array_bytes(hw, gemm, sel, g, units, split)
    _inner_transfers(hw, gemm, g, arr_rd, arr_wr)
    la, lb, lc = (hw.tier_of[hw.outer_of[op]] for op in ("inputs", "weights", "outputs"))
    a_new = _changed(g.idx[la]["m"], g.idx[la]["k"], start=g.start)
    b_new = _changed(g.idx[lb]["k"], g.idx[lb]["n"], start=g.start)
    c_first = _changed(g.idx[lc]["m"], g.idx[lc]["n"], start=g.start)
    c_last = np.append(c_first[1:], True)
    k_lo, k_hi = g.k_bounds()
    final = k_hi == gemm.K
    gran, kept = hw.dram_access_bytes, gemm.resident
    # DRAM moves whole accesses per tile row (MODEL.md 3.4.1)
    partial = _operand_bytes(hw, gemm, g, lc, access_bytes=gran)[2]
    out_width = np.where(final, hw.operand_bytes, hw.acc_bytes)
    out_bytes = _operand_bytes(hw, gemm, g, lc, out_width, access_bytes=gran)[2]
    # final outputs stay on chip (MODEL.md 3.10), or leave coded (3.11); spills go out as they are
    out_bytes = np.where(final, out_bytes * (0.0 if "out" in kept else gemm.out_dram_scale), out_bytes)
    a_load = np.where(a_new & ("A" not in kept), _operand_bytes(hw, gemm, g, la, access_bytes=gran)[0]
                      * gemm.a_dram_scale, 0.0)
    b_load = np.where(b_new & ("B" not in kept), _operand_bytes(hw, gemm, g, lb, access_bytes=gran)[1], 0.0)
    c_read = np.where(c_first & (k_lo > 0), partial, 0.0)
    c_store = np.where(c_last, out_bytes, 0.0)
    pages = _tile_pages(hw, gemm, g, (la, lb, lc), out_width)
    inner = g.idx[-1]
    return TileSchedule(
        im=inner["m"], in_=inner["n"], ik=inner["k"], compute_cycles=units[0].astype(np.float64),
        a_new=a_new, b_new=b_new, c_first=c_first, c_last=c_last,
        a_load_bytes=a_load, b_load_bytes=b_load, c_read_bytes=c_read, c_store_bytes=c_store,
        array_read_bytes=arr_rd, array_write_bytes=arr_wr, port_extra_cycles=port_extra,
        a_load_cycles=np.where(a_load > 0, transfer_cycles(hw, a_load, pages[0], 0.0), 0.0),
        b_load_cycles=np.where(b_load > 0, transfer_cycles(hw, b_load, pages[1], 0.0), 0.0),
        c_read_cycles=np.where(c_read > 0, transfer_cycles(hw, c_read, pages[2], 0.0), 0.0),
        c_store_cycles=np.where(c_store > 0, transfer_cycles(hw, c_store, pages[3], 0.0), 0.0),
        c_store_switch_cycles=np.where(c_store > 0, transfer_cycles(hw, 0.0, 0.0, c_store), 0.0),
    )


def _tile_pages(hw: HwParams, gemm: Gemm, g: _Grid, tiers, out_width):
    """Page changes of each tile's A load, B load, partial-sum read-back and store (sim/dram.py):
    one transfer of the rows of the tile at the tier DRAM fills (`tiers`: of A, B, out), runs of its
    row bytes, at the tensor's row pitch in DRAM."""
    ob, acc, gran = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    wb = gemm.weight_bytes(ob)
    w = lambda x: whole_accesses(x, gran)  # noqa: E731 - one-line helper
    la, lb, lc = tiers
    return (page_changes(hw, 1, g.size(la, "m"), w(g.size(la, "k") * ob), w(gemm.K * ob)),
            page_changes(hw, 1, g.size(lb, "n"), w(gemm.k_nnz(g.size(lb, "k")) * wb), w(gemm.k_nnz(gemm.K) * wb)),
            page_changes(hw, 1, g.size(lc, "m"), w(g.size(lc, "n") * acc), w(gemm.N * acc)),
            page_changes(hw, 1, g.size(lc, "m"), w(g.size(lc, "n") * out_width), w(gemm.N * out_width)))
