"""The fast analytic cost model of a GEMM on a systolic array, vectorized over candidates.

`gemm_cost(hw, gemm, candidates)` costs one executed GEMM (`problem.Gemm`) under a batch of
candidate mappings (`mapping.Candidates`: parallel arrays of dataflow and loop-order codes and
tile sizes), so the same function costs one layer for `nmsim simulate` and thousands of
candidates for the mappers: one cost function, not two copies. It reads as docs/MODEL.md's
section 3: tiling (3.1), compute (3.2), array traffic (3.3), DRAM traffic (3.4), overlap (3.5),
work and energy (3.6), one function each.

Conventions: a GEMM is out[M,N] = A[M,K] . B[K,N]; B holds the weights, executed with `n` of
every `m` weights along K kept (n == m: dense). Numeric HwParams fields and the Gemm's N:M
fields may be `[designs, 1]` arrays (dse), broadcasting with `[designs, candidates]` tiles.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nmsim.mapping import LOOP_ORDERS, Candidates
from nmsim.problem import COLS, ROWS, TIME, Gemm, PerDataflow, cdiv, tile_bytes, whole_accesses

from .dram import page_changes, transfer_cycles
from .hw import HwParams
from .schedule import (array_traffic, dim_folds, dim_tiles, fill_cycles, fill_exposure, fold_cycles,
                       operand_array_bytes, output_stationary, reuse_factors)

# POS[order, dim] = nesting depth (0 = outermost) of dim (0 = m, 1 = n, 2 = k) in that order.
POS = np.array([[o.index(d) for d in "mnk"] for o in LOOP_ORDERS])


class DimTiling(NamedTuple):
    """One dimension cut into tiles (MODEL.md 3.1), in units (K: nonzeros per PE multiplier group)."""

    full: np.ndarray     # full tiles
    u_full: np.ndarray   # units of a full tile
    u_rem: np.ndarray    # units of the edge tile, 0 when the tile divides the dimension
    count: np.ndarray    # tiles

    @property
    def units(self):
        """Units summed over the tiles."""
        return self.full * self.u_full + self.u_rem

    def folds(self, extent):
        """Folds of this dimension's tiles over an array extent, summed over the tiles."""
        return dim_folds(self.full, self.u_full, self.u_rem, extent)


def tile_dims(hw: HwParams, gemm: Gemm, c: Candidates, k_nnz=None) -> dict[str, DimTiling]:
    """Tiling of M, N and K per candidate (MODEL.md 3.1); `k_nnz` overrides the kept-K count
    (the busiest lane's, for compute cycles under a mask)."""
    k_nnz = k_nnz or gemm.k_nnz
    P = hw.macs_per_pe
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    return {"M": DimTiling(*dim_tiles(M, c.tile_m, lambda x: x)),
            "N": DimTiling(*dim_tiles(N, c.tile_n, lambda x: x)),
            "K": DimTiling(*dim_tiles(K, c.tile_k, lambda x: cdiv(k_nnz(x), P)))}


class ArrayLayout(NamedTuple):
    """The tiling as the array sees it (MODEL.md 3.1-3.3): per role (rows, cols, time), units
    summed over tiles, folds over the array extent, and the time dimension's tile count."""

    u_rows: np.ndarray
    u_cols: np.ndarray
    t_units: np.ndarray
    f_rows: np.ndarray
    f_cols: np.ndarray
    t_tiles: np.ndarray


def array_layout(hw: HwParams, sel: PerDataflow, dims: dict[str, DimTiling]) -> ArrayLayout:
    """Which dimension's tiling each array role carries (the dataflow table), and its folds."""
    return ArrayLayout(sel.dim(ROWS, lambda d: dims[d].units), sel.dim(COLS, lambda d: dims[d].units),
                       sel.dim(TIME, lambda d: dims[d].units), sel.dim(ROWS, lambda d: dims[d].folds(hw.rows)),
                       sel.dim(COLS, lambda d: dims[d].folds(hw.cols)), sel.dim(TIME, lambda d: dims[d].count))


def compute_cycles(hw: HwParams, gemm: Gemm, c: Candidates, sel: PerDataflow, lay: ArrayLayout,
                   dims: dict[str, DimTiling] | None = None):
    """Compute cycles (MODEL.md 3.2): folds x (fill + T) per tile, summed over the tiles.

    Under a mask's imbalance (MODEL.md 2.1) lanes wait for the busiest one: only the fold count
    and stream length along K grow; traffic keeps the balanced units (idle multipliers move no data).
    With `preload_overlap` a WS/IS fold's preload hides under the previous fold's stream, which
    therefore lasts at least R cycles.
    """
    os_ = output_stationary(sel)
    fill = fill_cycles(hw.rows, hw.cols, os_, hw.preload_overlap)
    f_rows, t_units = lay.f_rows, lay.t_units
    if gemm.has_busy_lanes:
        busy = array_layout(hw, sel, tile_dims(hw, gemm, c, gemm.k_nnz_busy))
        f_rows, t_units = busy.f_rows, busy.t_units
        dims = tile_dims(hw, gemm, c, gemm.k_nnz_busy)
    if np.any(hw.preload_overlap) and dims is not None:
        # Per tile along the time dimension: a fold streams max(T, R) cycles.
        def stretched(d):
            t = dims[d]
            return t.full * np.maximum(t.u_full, hw.rows) + np.where(t.u_rem > 0, np.maximum(t.u_rem, hw.rows), 0)
        t_units = np.where(hw.preload_overlap & ~np.asarray(os_), sel.dim(TIME, stretched), t_units)
    return fold_cycles(f_rows, lay.f_cols, lay.t_tiles, t_units, fill)


def array_bytes(hw: HwParams, gemm: Gemm, sel: PerDataflow, lay: ArrayLayout):
    """Array <-> buffer traffic (MODEL.md 3.3), bytes: (A read, B read, partial sums read, written)."""
    traffic = array_traffic(lay.u_rows, lay.u_cols, lay.t_units, lay.f_rows, lay.f_cols, lay.t_tiles)
    a_read, b_read, c_elems = operand_array_bytes(hw, sel, traffic, gemm.acts_per_unit(hw.macs_per_pe),
                                                  gemm.weight_bytes(hw.operand_bytes))
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


def _tiled_sum(D, t, run):
    """Sum of run(size) over the tiles of a dimension D cut into tiles of t (edge tile included)."""
    n_full, size, rem, _ = dim_tiles(D, t, lambda x: x)
    return n_full * run(size) + np.where(rem > 0, run(np.maximum(rem, 1)), 0)


def dram_bytes(hw: HwParams, gemm: Gemm, c: Candidates, dims: dict[str, DimTiling]) -> DramTraffic:
    """DRAM traffic from the tile-loop order (MODEL.md 3.4): an operand is re-fetched once per
    iteration of an irrelevant loop outside its innermost iterating relevant loop. Each row of a
    transfer moves whole DRAM accesses; page changes are counted per transfer (sim/dram.py)."""
    trips = np.stack(np.broadcast_arrays(dims["M"].count, dims["N"].count, dims["K"].count), axis=-1)
    pos = np.broadcast_to(POS[np.asarray(c.loop_order)], trips.shape)
    a_mult, b_mult, c_spill = reuse_factors(trips, pos)
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    ob, acc, g = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    wb = gemm.weight_bytes(ob)
    if np.all(np.asarray(g) <= 1):
        a_all, b_all, partial_all = tile_bytes(gemm, M, N, K, ob, acc)
        final_all = tile_bytes(gemm, M, N, K, ob, ob)[2]
    else:
        a_all = M * _tiled_sum(K, c.tile_k, lambda x: whole_accesses(x * ob, g))
        b_all = N * _tiled_sum(K, c.tile_k, lambda x: whole_accesses(gemm.k_nnz(x) * wb, g))
        partial_all = M * _tiled_sum(N, c.tile_n, lambda x: whole_accesses(x * acc, g))
        final_all = M * _tiled_sum(N, c.tile_n, lambda x: whole_accesses(x * ob, g))
    n_spill = np.where(c_spill, trips[..., 2] - 1, 0)
    spilled = partial_all * n_spill
    pages = _page_changes(hw, gemm, c, trips, (a_mult, b_mult, n_spill))
    return DramTraffic(a_all * a_mult, b_all * b_mult, final_all + spilled, spilled, pages)


def _page_changes(hw: HwParams, gemm: Gemm, c: Candidates, trips, mults):
    """Page changes of all transfers (sim/dram.py): per operand, its transfers and rows moved,
    full-tile runs, and the tensor's row pitch in DRAM."""
    if not np.any(np.asarray(hw.dram_page_bytes) > 0):
        return 0.0
    a_mult, b_mult, n_spill = mults
    tm, tn, kk = trips[..., 0], trips[..., 1], trips[..., 2]
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    t_n, t_k = np.minimum(c.tile_n, N), np.minimum(c.tile_k, K)
    ob, acc, g = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    wb = gemm.weight_bytes(ob)
    w = lambda x: whole_accesses(x, g)  # noqa: E731 - one-line helper
    pages = page_changes(hw, a_mult * tm * kk, a_mult * kk * M, w(t_k * ob), w(K * ob))
    pages = pages + page_changes(hw, b_mult * kk * tn, b_mult * kk * N, w(gemm.k_nnz(t_k) * wb),
                                 w(gemm.k_nnz(K) * wb))
    pages = pages + page_changes(hw, tm * tn, tn * M, w(t_n * ob), w(N * ob))
    # Spilled partial sums: written and read back as often.
    return pages + 2 * page_changes(hw, n_spill * tm * tn, n_spill * tn * M, w(t_n * acc), w(N * acc))


def level_port_bytes(hw: HwParams, arr, dram: DramTraffic) -> tuple[list, list]:
    """(read, write) bytes per on-chip level (lists indexed like hw.level_names): the array side
    plus the DRAM fills and drains of the same level."""
    a_read, b_read, c_read, c_write = arr
    nlev = len(hw.level_names)
    lev_read, lev_write = [0.0] * nlev, [0.0] * nlev
    for operand, rd, wr in (("inputs", a_read, dram.a), ("weights", b_read, dram.b),
                            ("outputs", c_read + dram.out_write, c_write + dram.out_read)):
        i = hw.level_of[operand]
        lev_read[i] = lev_read[i] + rd
        lev_write[i] = lev_write[i] + wr
    return lev_read, lev_write


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
        n_tiles = dims["M"].count * dims["N"].count * dims["K"].count
        cycles = batch * (np.maximum(compute, buffer_cycles) + dram_cycles + n_tiles * lat)
    return np.ceil(cycles).astype(np.int64)


def edge_transfers(hw: HwParams, gemm: Gemm, c: Candidates):
    """DRAM cycles of the first tile's loads and the last tile's store (MODEL.md 3.5), the parts
    of the transfers that no compute can hide; full tiles, with DRAM efficiency (sim/dram.py)."""
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (gemm.M, gemm.N, gemm.K))
    tm, tn, tk = np.minimum(c.tile_m, M), np.minimum(c.tile_n, N), np.minimum(c.tile_k, K)
    ob, g = hw.operand_bytes, hw.dram_access_bytes
    a_t, b_t, out_t = tile_bytes(gemm, tm, tn, tk, ob, ob, g)
    wb = gemm.weight_bytes(ob)
    pages_in = (page_changes(hw, 1, tm, whole_accesses(tk * ob, g), whole_accesses(K * ob, g))
                + page_changes(hw, 1, tn, whole_accesses(gemm.k_nnz(tk) * wb, g),
                               whole_accesses(gemm.k_nnz(K) * wb, g)))
    pages_out = page_changes(hw, 1, tm, whole_accesses(tn * ob, g), whole_accesses(N * ob, g))
    # The last store runs alone: no reads left to switch with.
    return transfer_cycles(hw, a_t + b_t, pages_in, 0.0), transfer_cycles(hw, out_t, pages_out, 0.0)


def gemm_cost(hw: HwParams, gemm: Gemm, c: Candidates) -> dict[str, np.ndarray]:
    """Cycles, bytes per level and energy of a (batched) GEMM under each candidate mapping.

    Returns arrays (indexed like the candidates, or broadcast) keyed by: cycles, compute_cycles,
    buffer_cycles, dram_cycles, macs_effective, utilization, bytes_<level>, bytes_dram,
    energy_pj (+ energy_<part>_pj), latency_s. Cycles are of the array clock, bytes, pJ.
    """
    sel = PerDataflow(c.dataflow)
    dims = tile_dims(hw, gemm, c)
    lay = array_layout(hw, sel, dims)
    compute = compute_cycles(hw, gemm, c, sel, lay, dims)
    arr = array_bytes(hw, gemm, sel, lay)
    dram = dram_bytes(hw, gemm, c, dims)
    lev_read, lev_write = level_port_bytes(hw, arr, dram)
    fill = fill_cycles(hw.rows, hw.cols, output_stationary(sel), hw.preload_overlap)
    exposed = fill_exposure(hw, sel, arr[:3], lay.f_rows * lay.f_cols * lay.t_units,
                            lay.f_rows * lay.f_cols * lay.t_tiles, fill)
    buffer_cycles = port_cycles(hw, lev_read, lev_write, exposed)
    dram_cycles = transfer_cycles(hw, dram.total, dram.pages, dram.out_write)
    cycles = overlap_cycles(hw, gemm, c, dims, compute, buffer_cycles, dram_cycles)
    batch = np.asarray(gemm.batch, dtype=np.int64)
    out = {"compute_cycles": batch * compute, "buffer_cycles": batch * buffer_cycles,
           "dram_cycles": batch * dram_cycles}
    out.update(work_and_energy(hw, cycles, batch * np.int64(gemm.M) * np.int64(gemm.N) * gemm.k_nnz(np.int64(gemm.K)),
                               [batch * (lev_read[i] + lev_write[i]) for i in range(len(hw.level_names))],
                               batch * dram.total, gemm.sparse, gemm.act_density))
    return out


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


def work_and_energy(hw: HwParams, cycles, macs_eff, level_bytes, dram_bytes, sparse, act_density=1.0) -> dict:
    """Result fields from action counts (MODEL.md 3.6): cycles, utilization, latency_s, bytes per
    level and DRAM (bytes), energy parts (pJ). `level_bytes` lists bytes moved per on-chip level;
    `sparse` says whether index decode is paid. Shared by the fast model and the detailed engine."""
    latency_s = cycles / hw.clock_hz
    gate = np.asarray(act_density) if hw.zero_skipping else 1.0
    e_mac = macs_eff * hw.mac_pj * gate
    e_idx = np.where(sparse, macs_eff * hw.index_decode_pj, 0.0)
    out = {
        "cycles": cycles,
        "macs_effective": macs_eff,
        "utilization": macs_eff / (cycles * hw.rows * hw.cols * hw.macs_per_pe),
        "latency_s": latency_s,
        "bytes_dram": dram_bytes,
    }
    e_mem = 0.0
    for i, name in enumerate(hw.level_names):
        out[f"bytes_{name}"] = level_bytes[i]
        e_mem = e_mem + level_bytes[i] * hw.level_pj_per_byte[i]
    e_dram = dram_bytes * hw.dram_pj_per_byte
    e_static = hw.static_w * latency_s * 1e12
    out.update(energy_mac_pj=e_mac, energy_index_pj=e_idx, energy_buffer_pj=e_mem,
               energy_dram_pj=e_dram, energy_static_pj=e_static,
               energy_pj=e_mac + e_idx + e_mem + e_dram + e_static)
    return out
