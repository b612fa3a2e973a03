"""The fast analytic cost model of a GEMM on a systolic array, vectorized over candidates.

`gemm_cost(hw, gemm, candidates)` costs one executed GEMM (`problem.Gemm`) under a batch of
candidate mappings (`mapping.Candidates`: parallel arrays of dataflow and loop-order codes, tile
sizes per on-chip level and the spatial split), so the same function costs one layer for
`nmsim simulate` and thousands of candidates for the mappers: one cost function, not two copies.
It reads as docs/MODEL.md's section 3: tiling over the levels (3.1, 3.9), spatial extents (3.7),
compute (3.2), array traffic (3.3), traffic between levels and DRAM (3.4, 3.9), overlap (3.5), work
and energy (3.6, 3.8), one function each.

Conventions: a GEMM is out[M,N] = A[M,K] . B[K,N]; B holds the weights, executed with `n` of
every `m` weights along K kept (n == m: dense). Numeric HwParams fields and the Gemm's N:M
fields may be `[designs, 1]` arrays (dse), broadcasting with `[designs, candidates]` tiles.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nmsim.mapping import LOOP_ORDERS, Candidates
from nmsim.problem import COLS, ROWS, TIME, Gemm, PerDataflow, cdiv, tile_bytes, whole_accesses
from nmsim.problem.spatial import block_shape, dim_extents

from .dram import page_changes, transfer_cycles
from .hw import HwParams
from .schedule import (Nesting, array_traffic, fill_bytes, fill_cycles, fill_exposure, fold_cycles,
                       level_multiplicity, nest_classes, operand_array_bytes, output_stationary, per_pe_array_bytes,
                       RELEVANT, tier0_multiplicities)

# POS[order, dim] = nesting depth (0 = outermost) of dim (0 = m, 1 = n, 2 = k) in that order.
POS = np.array([[o.index(d) for d in "mnk"] for o in LOOP_ORDERS])
OPERAND_OF = {"A": "inputs", "B": "weights", "out": "outputs"}


class DimTiling(NamedTuple):
    """One dimension cut into the innermost tier's tiles (MODEL.md 3.1, 3.9), as classes of equal
    tiles: `counts[i]` tiles of `units[i]` units each (K units: nonzeros per PE multiplier group);
    `level_counts[j]` = tiles along the dimension at tier j (0 = outermost)."""

    counts: list
    units_of: list
    level_counts: list
    nest: Nesting

    @property
    def units(self):
        """Units summed over the tiles."""
        out = self.counts[0] * self.units_of[0]
        for c, u in zip(self.counts[1:], self.units_of[1:]):
            out = out + c * u
        return out

    @property
    def count(self):
        """Tiles of the innermost level along the dimension."""
        return self.level_counts[-1]

    def folds(self, extent):
        """Folds of this dimension's tiles over a spatial extent, summed over the tiles."""
        out = self.counts[0] * cdiv(self.units_of[0], extent)
        for c, u in zip(self.counts[1:], self.units_of[1:]):
            out = out + c * cdiv(u, extent)
        return out


def level_tiles(c: Candidates):
    """Per tier of levels (outermost first) the tile arrays (m, n, k) of the candidates."""
    return [(c.tile_m, c.tile_n, c.tile_k)] + [tuple(lv[:3]) for lv in c.levels]


def tile_dims(hw: HwParams, gemm: Gemm, c: Candidates, k_nnz=None) -> dict[str, DimTiling]:
    """Tiling of M, N and K per candidate through every level (MODEL.md 3.1, 3.9); `k_nnz` overrides
    the kept-K count (the busiest lane's, for compute cycles under a mask)."""
    exact_zero = k_nnz is None and gemm.k_scale is None  # then K's units of an empty tile are 0
    k_nnz = k_nnz or gemm.k_nnz
    P = hw.macs_per_pe
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    tiles = level_tiles(c)
    units = {"M": lambda x: x, "N": lambda x: x, "K": lambda x: cdiv(k_nnz(x), P)}
    out = {}
    for i, (d, D) in enumerate((("M", M), ("N", N), ("K", K))):
        nest = nest_classes(D, [t[i] for t in tiles])
        # an empty class (size 0) has count 0, so its units never count; with one tier the edge
        # class's units are 0 exactly when it is empty (unless unstructured K keeps one nonzero per
        # tile), so its count can stay 1 (no bool product)
        one_tier = len(tiles) == 1 and (d != "K" or exact_zero)
        counts = [nest.counts[0][0], 1] if one_tier else nest.counts[-1]
        out[d] = DimTiling(counts, [units[d](s) for s in nest.sizes[-1]], nest.level_counts, nest)
    return out


class ArrayLayout(NamedTuple):
    """The tiling as the array sees it (MODEL.md 3.1-3.3, 3.7): per role (rows, cols, time), units
    summed over tiles, folds over the role's spatial extent, the time dimension's tile count and its
    stream length per block (`t_steps`; the units themselves unless the time dimension is split)."""

    u_rows: np.ndarray
    u_cols: np.ndarray
    t_units: np.ndarray
    f_rows: np.ndarray
    f_cols: np.ndarray
    t_tiles: np.ndarray
    t_steps: np.ndarray


def cost_split(c: Candidates):
    """The candidates' spatial split as problem.spatial takes it (-1 for an unsplit axis's dimension),
    or None when no candidate is split."""
    if c.split is None:
        return None
    sr, dr, sc, dc = (np.asarray(a) for a in c.split)
    if not ((sr > 1).any() or (sc > 1).any()):
        return None
    return sr, np.where(sr > 1, dr, -1), sc, np.where(sc > 1, dc, -1)


def array_layout(hw: HwParams, sel: PerDataflow, dims: dict[str, DimTiling], split=None) -> ArrayLayout:
    """Which dimension's tiling each array role carries (the dataflow table), and its folds over the
    spatial extents (the whole array's R and C, or a split's, MODEL.md 3.7)."""
    units = lambda role: sel.dim(role, lambda d: dims[d].units)  # noqa: E731
    if split is None:
        t_units = units(TIME)
        return ArrayLayout(units(ROWS), units(COLS), t_units, sel.dim(ROWS, lambda d: dims[d].folds(hw.rows)),
                           sel.dim(COLS, lambda d: dims[d].folds(hw.cols)), sel.dim(TIME, lambda d: dims[d].count),
                           t_units)
    ext = dim_extents(hw.rows, hw.cols, sel, split)
    folds = lambda role: sel.dim(role, lambda d: dims[d].folds(ext[d]))  # noqa: E731
    return ArrayLayout(units(ROWS), units(COLS), units(TIME), folds(ROWS), folds(COLS),
                       sel.dim(TIME, lambda d: dims[d].count), folds(TIME))


def compute_cycles(hw: HwParams, gemm: Gemm, c: Candidates, sel: PerDataflow, lay: ArrayLayout, split=None, *,
                   dims: dict[str, DimTiling] | None = None):
    """Compute cycles (MODEL.md 3.2): folds x (fill + T) per tile, summed over the tiles; the fill of
    one block of the array (MODEL.md 3.7).

    Under a mask's imbalance (MODEL.md 2.1) lanes wait for the busiest one: only the fold count
    and stream length along K grow; traffic keeps the balanced units (idle multipliers move no data).
    With `preload_overlap` a WS/IS fold's preload hides under the previous fold's stream, which
    therefore lasts at least R cycles.
    """
    rows, cols = block_shape(hw.rows, hw.cols, split)
    os_ = np.asarray(output_stationary(sel))
    fill = fill_cycles(rows, cols, os_, hw.preload_overlap)
    f_rows, t_steps = lay.f_rows, lay.t_steps
    if gemm.has_busy_lanes:
        dims = tile_dims(hw, gemm, c, gemm.k_nnz_busy)
        busy = array_layout(hw, sel, dims, split)
        f_rows, t_steps = busy.f_rows, busy.t_steps
    if np.any(hw.preload_overlap) and dims is not None:
        # a WS/IS fold streams at least the R cycles of the next fold's preload
        ext = dim_extents(hw.rows, hw.cols, sel, split)

        def stretched(d):
            t = dims[d]
            out = 0
            for n, u in zip(t.counts, t.units_of):
                out = out + n * np.where(u > 0, np.maximum(cdiv(u, ext[d]), rows), 0)
            return out
        t_steps = np.where(hw.preload_overlap & ~os_, sel.dim(TIME, stretched), t_steps)
    return fold_cycles(f_rows, lay.f_cols, lay.t_tiles, t_steps, fill)


def array_bytes(hw: HwParams, gemm: Gemm, sel: PerDataflow, lay: ArrayLayout):
    """Array <-> innermost keeper traffic (MODEL.md 3.3; per MAC at a PE's own register file, 3.9),
    bytes: (A read, B read, partial sums read, written)."""
    traffic = array_traffic(lay.u_rows, lay.u_cols, lay.t_units, lay.f_rows, lay.f_cols, lay.t_tiles)
    arr = operand_array_bytes(hw, sel, traffic, gemm.acts_per_unit(hw.macs_per_pe), gemm.weight_bytes(hw.operand_bytes))
    macs = np.int64(gemm.M) * np.int64(gemm.N) * gemm.k_nnz(np.int64(gemm.K))
    a_read, b_read, c_elems = per_pe_array_bytes(hw, gemm, macs, arr)
    # Each output's first write reads no earlier partial sum (MODEL.md 3.3).
    c_read = np.maximum(c_elems - np.int64(gemm.M) * np.int64(gemm.N), 0) * hw.acc_bytes
    return a_read, b_read, c_read, c_elems * hw.acc_bytes


class DramTraffic(NamedTuple):
    """Buffer <-> DRAM traffic of one GEMM of the batch (MODEL.md 3.4)."""

    a: np.ndarray          # activation loads (bytes)
    b: np.ndarray          # weight loads
    out_write: np.ndarray  # final outputs plus spilled partial sums
    out_read: np.ndarray   # spilled partial sums read back
    pages: np.ndarray = 0.0  # DRAM page changes of all the transfers (MODEL.md 3.4, DRAM efficiency)

    @property
    def total(self):
        """All bytes moved (bytes)."""
        return self.a + self.b + self.out_write + self.out_read


class LevelTraffic(NamedTuple):
    """Per operand ("A", "B", "out") and per keeper (outermost first): bytes entering the keeper
    from its parent (`fill`; DRAM for the first) and, for outputs, leaving it for its parent
    (`drain`), and the DRAM page changes of the transfers with DRAM (`pages`). MODEL.md 3.4, 3.9."""

    fill: dict
    drain: dict
    pages: np.ndarray = 0.0

    @property
    def dram(self) -> DramTraffic:
        """What crosses the DRAM interface."""
        return DramTraffic(self.fill["A"][0], self.fill["B"][0], self.drain["out"][0], self.fill["out"][0],
                           self.pages)


def _whole(access_bytes):
    """bytes -> bytes in whole accesses of `access_bytes` (problem.whole_accesses); the identity for
    single-byte accesses, kept out of the hot path."""
    if not isinstance(access_bytes, np.ndarray) and access_bytes <= 1:
        return lambda x: x
    return lambda x: whole_accesses(x, access_bytes)


def _tile_rows(hw: HwParams, gemm: Gemm, access_bytes=1) -> dict:
    """Per operand, (dim of its rows, dim of its contiguous runs, bytes of a run of `size` elements along
    that dim), runs rounded to whole DRAM accesses with `access_bytes` > 1 (problem.tile_bytes): A is
    rows of m with runs along k, B columns of n with their kept k, out rows of m with runs along n
    ("final": at operand width)."""
    ob, wb, ab = hw.operand_bytes, gemm.weight_bytes(hw.operand_bytes), hw.acc_bytes
    w = _whole(access_bytes)
    return {"A": ("m", "k", lambda k: w(k * ob)), "B": ("n", "k", lambda k: w(gemm.k_nnz(k) * wb)),
            "out": ("m", "n", lambda n: w(n * ab)), "final": ("m", "n", lambda n: w(n * ob))}


def _tile_fn(rows_of: tuple, operand: str):
    """A tile's bytes as schedule.fill_bytes takes them: f(size_a, size_b) in RELEVANT order."""
    row_dim, _, run = rows_of
    first_is_rows = "mnk"[RELEVANT[operand][0]] == row_dim
    return (lambda x, y: x * run(y)) if first_is_rows else (lambda x, y: y * run(x))


def _tiled_total(nests: dict, level: int, rows_of: tuple, dims: dict):
    """Bytes of a tensor moved once in the tiles of tier `level` (`rows_of` from _tile_rows): every
    run of every tile in whole accesses, the rows' dimension `dims[row_dim]` elements in all."""
    row_dim, run_dim, run = rows_of
    nest = nests[run_dim]
    runs = 0
    for cnt, size in zip(nest.counts[level], nest.sizes[level]):
        runs = runs + cnt * run(size)  # an empty class (size 0) has count 0 (nest_classes)
    return dims[row_dim] * runs


def level_traffic(hw: HwParams, gemm: Gemm, c: Candidates, dims: dict[str, DimTiling]) -> LevelTraffic:
    """Traffic between every keeper and its parent from the tile-loop orders of all levels above it
    (MODEL.md 3.4, 3.9): an operand's tile at a keeper is re-filled once per iteration of its
    irrelevant loop when that loop sits outside the innermost iterating relevant loop above it.
    Transfers with DRAM move whole accesses per tile row (MODEL.md 3.4.1)."""
    counts = [np.stack(np.broadcast_arrays(*(dims[d].level_counts[j] for d in "MNK")), axis=-1)
              for j in range(len(dims["M"].level_counts))]
    orders = [c.loop_order] + [lv[3] for lv in c.levels]
    pos = [np.broadcast_to(POS[np.asarray(o)], counts[j].shape) for j, o in enumerate(orders)]
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    a_all, b_all, partial_all = tile_bytes(gemm, M, N, K, hw.operand_bytes, hw.acc_bytes)
    final_all = tile_bytes(gemm, M, N, K, hw.operand_bytes, hw.operand_bytes)[2]
    nests = {d.lower(): dims[d].nest for d in "MNK"}
    rows = _tile_rows(hw, gemm)
    tile = {op: _tile_fn(rows[op], op) for op in ("A", "B", "out")}
    if gemm.k_scale is not None:
        # unstructured kept K rounds up per tile (Gemm.k_nnz), so B moved once is the sum over the
        # tier-0 tiles, not the whole tensor's count (N:M tiles hold whole groups: the same sum)
        b_all = _tiled_total(nests, 0, rows["B"], {"m": M, "n": N, "k": K})
    whole = {"A": a_all, "B": b_all, "out": partial_all, "final": final_all}
    tier = hw.tier_of
    mult0 = tier0_multiplicities(counts, pos)  # shared by every keeper of tier 0
    gran = hw.dram_access_bytes
    if (gran > 1) if not isinstance(gran, np.ndarray) else np.any(gran > 1):  # DRAM-side tiles and tensors in whole accesses
        rows = _tile_rows(hw, gemm, gran)
        dram_tile = {op: _tile_fn(rows[op], op) for op in ("A", "B", "out")}
        outer = {"A": "inputs", "B": "weights", "out": "outputs", "final": "outputs"}
        extent = {"m": M, "n": N, "k": K}
        dram_whole = {op: _tiled_total(nests, tier[hw.outer_of[keeper]], rows[op], extent)
                      for op, keeper in outer.items()}
    else:
        dram_tile, dram_whole = tile, whole

    def moved(operand, lv, at_dram):  # bytes of every tile of the keeper x its fills
        tl, wh = (dram_tile, dram_whole) if at_dram else (tile, whole)
        if tier[lv] == 0:
            return wh[operand] * mult0[operand]
        return fill_bytes(nests, counts, pos, operand, tier[lv], tl[operand], wh[operand])

    fill, drain = {}, {}
    # A moves as stored (pixels on chip, coded off chip; MODEL.md 3.11); B as it is
    scale = {"A": (gemm.a_dram_scale, gemm.a_unique), "B": (1.0, 1.0)}
    for operand in ("A", "B"):
        fill[operand] = []
        for i, lv in enumerate(hw.keepers[OPERAND_OF[operand]]):
            f = scale[operand][0 if i == 0 else 1]
            fill[operand].append(moved(operand, lv, i == 0) if f == 1.0 else moved(operand, lv, i == 0) * f)
        if operand in gemm.resident:  # kept on chip between ops: no DRAM load (MODEL.md 3.10)
            fill[operand][0] = fill[operand][0] * 0
    fill["out"], drain["out"] = [], []
    final_all = dram_whole["final"]
    final_out = final_all * 0 if "out" in gemm.resident else \
        final_all if gemm.out_dram_scale == 1.0 else final_all * gemm.out_dram_scale
    for i, lv in enumerate(hw.keepers["outputs"]):
        visits = moved("out", lv, i == 0)  # partial-sum bytes x visits
        # every visit after the first reads back, and spills before it
        spilled = visits - (dram_whole if i == 0 else whole)["out"]
        fill["out"].append(spilled)
        # final outputs leave the chip at operand width (unless kept on chip); on chip every level
        # holds accumulator width
        drain["out"].append(final_out + spilled if i == 0 else visits)
    return LevelTraffic(fill, drain, _page_changes(hw, gemm, c, counts, pos))


def _page_changes(hw: HwParams, gemm: Gemm, c: Candidates, counts, pos):
    """Page changes of all DRAM transfers (sim/dram.py): per operand, at the tier of the level DRAM
    fills, its transfers (tiles x fills) and rows moved, full-tile runs, and the tensor's row pitch in
    DRAM. Exact at tier 0; deeper tiers take level_multiplicity's count of fills."""
    if not np.any(np.asarray(hw.dram_page_bytes) > 0):
        return 0.0
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    ob, acc = hw.operand_bytes, hw.acc_bytes
    wb = gemm.weight_bytes(ob)
    w = _whole(hw.dram_access_bytes)
    tiles = level_tiles(c)

    def at(operand, keeper):  # (tiles along m, n, k; full tile m, n, k; fills per tile) at the keeper's tier
        j = hw.tier_of[hw.outer_of[keeper]]
        t = (M, N, K)
        for lv in tiles[:j + 1]:
            t = tuple(np.minimum(x, y) for x, y in zip(lv[:3], t))
        cnt = counts[j]
        return (cnt[..., 0], cnt[..., 1], cnt[..., 2]), t, level_multiplicity(counts, pos, operand, j)

    kept = gemm.resident
    (tm, _, kk), (_, _, t_k), mult = at("A", "inputs")
    pages = page_changes(hw, mult * tm * kk, mult * kk * M, w(t_k * ob), w(K * ob)) * ("A" not in kept)
    (_, tn, kk), (_, _, t_k), mult = at("B", "weights")
    pages = pages + page_changes(hw, mult * kk * tn, mult * kk * N, w(gemm.k_nnz(t_k) * wb),
                                 w(gemm.k_nnz(K) * wb)) * ("B" not in kept)
    (tm, tn, _), (_, t_n, _), visits = at("out", "outputs")
    pages = pages + page_changes(hw, tm * tn, tn * M, w(t_n * ob), w(N * ob)) * ("out" not in kept)
    # Spilled partial sums: written and read back as often.
    n_spill = visits - 1
    return pages + 2 * page_changes(hw, n_spill * tm * tn, n_spill * tn * M, w(t_n * acc), w(N * acc))


def level_port_bytes(hw: HwParams, arr, traffic: LevelTraffic) -> tuple[list, list]:
    """(read, write) bytes per on-chip level (lists indexed like hw.level_names): the array side at
    each operand's innermost keeper, plus every fill and drain between keepers and with DRAM."""
    a_read, b_read, c_read, c_write = arr
    nlev = len(hw.level_names)
    rd, wr = [0.0] * nlev, [0.0] * nlev
    array_side = {"A": (a_read, 0.0), "B": (b_read, 0.0), "out": (c_read, c_write)}
    for operand, (arr_rd, arr_wr) in array_side.items():
        keep = hw.keepers[OPERAND_OF[operand]]
        drains = traffic.drain.get(operand)
        for i, lv in enumerate(keep):
            wr[lv] = wr[lv] + traffic.fill[operand][i]
            if i > 0:
                rd[keep[i - 1]] = rd[keep[i - 1]] + traffic.fill[operand][i]
            if drains is not None:
                rd[lv] = rd[lv] + drains[i]
                if i > 0:
                    wr[keep[i - 1]] = wr[keep[i - 1]] + drains[i]
        rd[keep[-1]] = rd[keep[-1]] + arr_rd
        wr[keep[-1]] = wr[keep[-1]] + arr_wr
    return rd, wr


def edge_transfers(hw: HwParams, gemm: Gemm, c: Candidates):
    """DRAM cycles of the first A+B tile loaded and of the last output tile stored, at the levels DRAM
    fills: the exposed ends of the pipeline (MODEL.md 3.5), full tiles with DRAM efficiency
    (whole accesses, page changes, refresh; sim/dram.py)."""
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    tiles = level_tiles(c)

    def first(keeper):  # (m, n, k) of the first tile of the keeper's tier, clipped to its parents
        t = (M, N, K)
        for lv in tiles[:hw.tier_of[hw.outer_of[keeper]] + 1]:
            t = tuple(np.minimum(x, y) for x, y in zip(lv[:3], t))
        return t

    ob = hw.operand_bytes
    wb = gemm.weight_bytes(ob)
    w = _whole(hw.dram_access_bytes)
    kept = gemm.resident  # resident operands are on chip already (MODEL.md 3.10)
    in_a, in_b, out = ("A" not in kept), ("B" not in kept), ("out" not in kept)
    am, _, ak = first("inputs")
    _, bn, bk = first("weights")
    om, on, _ = first("outputs")
    first_bytes = am * w(ak * ob) * gemm.a_dram_scale * in_a + bn * w(gemm.k_nnz(bk) * wb) * in_b
    pages_in = (page_changes(hw, 1, am, w(ak * ob), w(K * ob)) * in_a
                + page_changes(hw, 1, bn, w(gemm.k_nnz(bk) * wb), w(gemm.k_nnz(K) * wb)) * in_b)
    last_bytes = om * w(on * ob) * gemm.out_dram_scale * out
    pages_out = page_changes(hw, 1, om, w(on * ob), w(N * ob)) * out
    # The last store runs alone: no reads left to switch with.
    return transfer_cycles(hw, first_bytes, pages_in, 0.0), transfer_cycles(hw, last_bytes, pages_out, 0.0)


def overlap_cycles(hw: HwParams, gemm: Gemm, c: Candidates, dims: dict[str, DimTiling], compute, buffer_cycles,
                   dram_cycles):
    """Cycles of the batch with transfers overlapped (MODEL.md 3.5), rounded up to whole cycles."""
    first_in, last_out = edge_transfers(hw, gemm, c)
    lat = hw.dram_latency_cycles + max(hw.level_latency_cycles)
    batch = np.asarray(gemm.batch, dtype=np.int64)
    if hw.all_double_buffered:
        # The batch's GEMMs form one stream of tiles: only the first load and the last store
        # are exposed; every other transfer overlaps compute.
        hidden = np.maximum(batch * dram_cycles - first_in - last_out, 0.0)
        steady = np.maximum(np.maximum(batch * compute, batch * buffer_cycles), hidden)
        cycles = first_in + steady + last_out + 2 * lat
    else:
        n_tiles = dims["M"].level_counts[0] * dims["N"].level_counts[0] * dims["K"].level_counts[0]
        cycles = batch * (np.maximum(compute, buffer_cycles) + dram_cycles + n_tiles * lat)
    return np.ceil(cycles).astype(np.int64)


def gemm_cost(hw: HwParams, gemm: Gemm, c: Candidates, *, detail: bool = True) -> dict[str, np.ndarray]:
    """Cycles, bytes per level and energy of a (batched) GEMM under each candidate mapping.

    Returns arrays (indexed like the candidates, or broadcast) keyed by: cycles, compute_cycles,
    buffer_cycles, dram_cycles, macs_effective, utilization, bytes_<level> (+ _read, _write),
    bytes_dram (+ _read, _write), energy_pj (+ energy_<part>_pj and energy_<level>_<read|write>_pj),
    latency_s. Cycles are of the array clock, bytes, pJ. Candidates with fewer tiles than the arch
    has tiers of levels repeat their innermost tile (those tiers split nothing). `detail=False`
    leaves out the reads, writes and energies per level (what a mapper's ranking does not need).
    """
    c = _with_all_levels(hw, c)
    sel = PerDataflow(c.dataflow)
    split = cost_split(c)
    dims = tile_dims(hw, gemm, c)
    lay = array_layout(hw, sel, dims, split)
    compute = compute_cycles(hw, gemm, c, sel, lay, split, dims=dims)
    arr = array_bytes(hw, gemm, sel, lay)
    traffic = level_traffic(hw, gemm, c, dims)
    dram = traffic.dram
    lev_read, lev_write = level_port_bytes(hw, arr, traffic)
    fill = fill_cycles(*block_shape(hw.rows, hw.cols, split), output_stationary(sel), hw.preload_overlap)
    exposed = fill_exposure(hw, sel, arr[:3], lay.f_rows * lay.f_cols * lay.t_steps,
                            lay.f_rows * lay.f_cols * lay.t_tiles, fill)
    buffer_cycles = port_cycles(hw, lev_read, lev_write, exposed)
    dram_cycles = transfer_cycles(hw, dram.total, dram.pages, dram.out_write)
    cycles = overlap_cycles(hw, gemm, c, dims, compute, buffer_cycles, dram_cycles)
    batch = np.asarray(gemm.batch, dtype=np.int64)
    out = {"compute_cycles": batch * compute, "buffer_cycles": batch * buffer_cycles,
           "dram_cycles": batch * dram_cycles}
    out.update(work_and_energy(hw, cycles, batch * np.int64(gemm.M) * np.int64(gemm.N) * gemm.k_nnz(np.int64(gemm.K)),
                               [batch * x for x in lev_read], [batch * x for x in lev_write],
                               batch * (dram.a + dram.b + dram.out_read), batch * dram.out_write,
                               sparse=gemm.sparse, act_density=gemm.act_density, detail=detail))
    return out


def _with_all_levels(hw: HwParams, c: Candidates) -> Candidates:
    """`c` with a tile for every tier of on-chip levels: missing inner tiers repeat the innermost tile."""
    missing = hw.n_tiers - 1 - len(c.levels)
    if missing <= 0:
        return c
    last = c.levels[-1] if c.levels else (c.tile_m, c.tile_n, c.tile_k, c.loop_order)
    fill = (last[0], last[1], last[2], np.zeros_like(np.asarray(c.loop_order)))
    return Candidates(c.dataflow, c.tile_m, c.tile_n, c.tile_k, c.loop_order, split=c.split,
                      levels=tuple(c.levels) + (fill,) * missing)


def port_cycles(hw: HwParams, lev_read, lev_write, read_extra=None):
    """Busiest on-chip level's port time (cycles, MODEL.md 3.3): reads / read B/cycle plus writes /
    write B/cycle on a shared port, the longer of the two on separate ports; byte counts per level
    (lists indexed like hw.level_names), `read_extra` read-port cycles per level on top."""
    separate = hw.level_ports_separate or (False,) * len(hw.level_names)
    read_extra = read_extra or [0.0] * len(hw.level_names)
    busy = []
    for i in range(len(hw.level_names)):
        rd = np.asarray(lev_read[i] / hw.read_bpc[i] + read_extra[i], dtype=np.float64)
        wr = np.asarray(lev_write[i] / hw.write_bpc[i], dtype=np.float64)
        busy.append(np.where(separate[i], np.maximum(rd, wr), rd + wr))
    return np.maximum.reduce(busy) if len(busy) > 1 else busy[0]


def work_and_energy(hw: HwParams, cycles, macs_eff, level_read, level_write, dram_read, dram_write, *, sparse,
                    act_density=1.0, detail: bool = True) -> dict:
    """Result fields from action counts (MODEL.md 3.6, 3.8): cycles, utilization, latency_s, bytes per
    level and DRAM (bytes; with `detail` reads and writes apart), energy per action (pJ; with
    `detail` per level and DRAM read and write). `level_read` and `level_write` list bytes per
    on-chip level; `sparse` says whether index decode is paid. Shared by the fast model and the
    detailed engine."""
    latency_s = cycles / hw.clock_hz
    gate = np.asarray(act_density) if hw.zero_skipping else 1.0
    e_mac = macs_eff * hw.mac_pj * gate
    e_idx = np.where(sparse, macs_eff * hw.index_decode_pj, 0.0)
    out = {
        "cycles": cycles,
        "macs_effective": macs_eff,
        "utilization": macs_eff / (cycles * hw.rows * hw.cols * hw.macs_per_pe),
        "latency_s": latency_s,
        "bytes_dram": dram_read + dram_write,
    }
    e_mem = 0.0
    for i, name in enumerate(hw.level_names):
        out[f"bytes_{name}"] = level_read[i] + level_write[i]
        e_rd, e_wr = level_read[i] * hw.level_read_pj[i], level_write[i] * hw.level_write_pj[i]
        if detail:
            out[f"bytes_{name}_read"], out[f"bytes_{name}_write"] = level_read[i], level_write[i]
            out[f"energy_{name}_read_pj"], out[f"energy_{name}_write_pj"] = e_rd, e_wr
        e_mem = e_mem + e_rd + e_wr
    e_dram_rd, e_dram_wr = dram_read * hw.dram_read_pj, dram_write * hw.dram_write_pj
    e_static = hw.static_w * latency_s * 1e12
    if detail:
        out.update(bytes_dram_read=dram_read, bytes_dram_write=dram_write, energy_dram_read_pj=e_dram_rd,
                   energy_dram_write_pj=e_dram_wr)
    out.update(energy_mac_pj=e_mac, energy_index_pj=e_idx, energy_buffer_pj=e_mem, energy_dram_pj=e_dram_rd + e_dram_wr,
               energy_static_pj=e_static, energy_pj=e_mac + e_idx + e_mem + e_dram_rd + e_dram_wr + e_static)
    return out
