"""The fast analytic cost model of a GEMM on a systolic array, vectorized over candidates.

Every input may be a numpy array (broadcast together), so the same function costs one layer
for `nmsim simulate` and a batch of thousands of candidate mappings for the mappers: one cost
function, not two copies. Formulas and derivations: docs/MODEL.md (section numbers in comments).

Conventions: a GEMM is out[M,N] = A[M,K] . B[K,N]; B holds the weights, executed with `n` of
every `m` weights along K kept (n == m: dense). Dataflow codes: 0 = WS, 1 = OS, 2 = IS.
Loop-order codes index mapping.LOOP_ORDERS (outermost first).
"""
from __future__ import annotations

import numpy as np

from nmsim.mapping import DATAFLOW_CODES, LOOP_ORDERS

from .hw import HwParams
from .schedule import (a_tile_bytes, array_traffic, b_tile_bytes, dim_folds, dim_tiles, fill_cycles, fold_cycles,
                       k_nnz_fn, operand_array_bytes, out_tile_bytes, reuse_factors, weight_bytes_per_nonzero)

# POS[order, dim] = nesting depth (0 = outermost) of dim (0 = m, 1 = n, 2 = k) in that order.
POS = np.array([[o.index(d) for d in "mnk"] for o in LOOP_ORDERS])


def gemm_cost(hw: HwParams, M, N, K, dataflow, tile_m, tile_n, tile_k, loop_order,
              n=1, m=1, index_bits=0, batch=1, act_density=1.0, k_scale=None,
              k_scale_busy=None) -> dict[str, np.ndarray]:
    """Cycles, bytes per level and energy of (batched) GEMMs under given mappings.

    Arguments are scalars or broadcastable int/float arrays: dims in elements, `dataflow` and
    `loop_order` as codes, (n, m) the executed N:M, `index_bits` per nonzero weight,
    `act_density` the fraction of nonzero activations. `k_scale`, when given, replaces n/m as the
    fraction of K kept (used for unstructured density). `k_scale_busy`, when given, is the fraction
    of K the busiest lane of a fold processes (mask-driven imbalance, MODEL.md 2.1): it sets the K
    units of compute cycles only; bytes and MACs keep `k_scale`. Returns arrays keyed by:
    cycles, compute_cycles, buffer_cycles, dram_cycles, macs_effective, utilization,
    bytes_<level>, bytes_dram, energy_pj (+ energy_<part>_pj), latency_s.
    """
    M, N, K = (np.asarray(x, dtype=np.int64) for x in (M, N, K))
    df = np.asarray(dataflow)
    order = np.asarray(loop_order)
    n = np.asarray(n, dtype=np.int64)
    m = np.asarray(m, dtype=np.int64)
    R, C, P = hw.rows, hw.cols, hw.macs_per_pe
    tm, tn, tk = (np.asarray(x, dtype=np.int64) for x in (tile_m, tile_n, tile_k))

    # K is carried in "PE units": nonzeros a PE row (or a PE, over time) handles per step.
    # Per-tile formulas live in schedule.py; here they take per-dimension sums (MODEL.md 3.1).
    k_nnz = k_nnz_fn(n, m, k_scale)

    def k_units(x):
        return -(-k_nnz(x) // P)

    dims = {
        "M": dim_tiles(M, tm, lambda x: x),
        "N": dim_tiles(N, tn, lambda x: x),
        "K": dim_tiles(K, tk, k_units),
    }
    usum = {d: v[0] * v[1] + v[2] for d, v in dims.items()}
    ntiles = {d: v[3] for d, v in dims.items()}

    is_ws, is_os = df == 0, df == 1

    def pick(ws, os_, is_):
        return np.where(is_ws, ws, np.where(is_os, os_, is_))

    def folds(d, extent):
        nf, uf, ur, _ = dims[d]
        return dim_folds(nf, uf, ur, extent)

    # --- compute (MODEL.md 3.2): folds x (fill + T) per tile -------------------------
    f_rows = pick(folds("K", R), folds("M", R), folds("K", R))
    f_cols = pick(folds("N", C), folds("N", C), folds("M", C))
    t_tiles = pick(ntiles["M"], ntiles["K"], ntiles["N"])
    t_sum = pick(usum["M"], usum["K"], usum["N"])
    if k_scale_busy is None:
        compute = fold_cycles(f_rows, f_cols, t_tiles, t_sum, fill_cycles(R, C, is_os))
    else:
        # Lanes wait for the busiest one (MODEL.md 2.1): only the fold count / stream length
        # along K grows; traffic below keeps the balanced units (idle multipliers move no data).
        busy = k_nnz_fn(n, m, k_scale_busy)
        kb_full, kb_ufull, kb_urem, _ = dim_tiles(K, tk, lambda x: -(-busy(x) // P))
        kb_folds = dim_folds(kb_full, kb_ufull, kb_urem, R)
        f_rows_c = pick(kb_folds, folds("M", R), kb_folds)
        t_sum_c = pick(usum["M"], kb_full * kb_ufull + kb_urem, usum["N"])
        compute = fold_cycles(f_rows_c, f_cols, t_tiles, t_sum_c, fill_cycles(R, C, is_os))

    # --- array <-> buffer traffic (MODEL.md 3.3), in elements/units ------------------------
    u_r = pick(usum["K"], usum["M"], usum["K"])
    u_c = pick(usum["N"], usum["N"], usum["M"])
    stationary, row_stream, col_stream = array_traffic(u_r, u_c, t_sum, f_rows, f_cols, t_tiles)
    act_per_unit = P * m / n if k_scale is None else P / np.asarray(k_scale)
    w_bytes = weight_bytes_per_nonzero(hw, index_bits)
    a_read, b_read, c_write_elems = operand_array_bytes(hw, df, stationary, row_stream, col_stream,
                                                        act_per_unit, w_bytes)
    c_write = c_write_elems * hw.acc_bytes
    c_read = np.maximum(c_write_elems - M * N, 0) * hw.acc_bytes

    # --- buffer <-> DRAM traffic from the tile-loop order (MODEL.md 3.4) -------------------
    trips = np.stack(np.broadcast_arrays(ntiles["M"], ntiles["N"], ntiles["K"]), axis=-1)
    pos = POS[order]
    pos = np.broadcast_to(pos, trips.shape)
    a_mult, b_mult, c_spill = reuse_factors(trips, pos)
    a_dram = a_tile_bytes(hw, M, K) * a_mult
    b_dram = b_tile_bytes(k_nnz(K), N, w_bytes) * b_mult
    spills = np.where(c_spill, trips[..., 2] - 1, 0)
    c_dram_r = out_tile_bytes(hw, M, N, False) * spills
    c_dram_w = out_tile_bytes(hw, M, N, True) + c_dram_r
    dram_bytes = a_dram + b_dram + c_dram_w + c_dram_r

    # --- per-level port time: array side plus the DRAM fills/drains of the same level ------
    nlev = len(hw.level_names)
    lev_read = [0.0] * nlev
    lev_write = [0.0] * nlev
    for operand, rd, wr in (("inputs", a_read, a_dram), ("weights", b_read, b_dram),
                            ("outputs", c_read + c_dram_w, c_write + c_dram_r)):
        i = hw.level_of[operand]
        lev_read[i] = lev_read[i] + rd
        lev_write[i] = lev_write[i] + wr
    buffer_cycles = port_cycles(hw, lev_read, lev_write)
    dram_cycles = dram_bytes / hw.dram_bpc

    # --- overlap (MODEL.md 3.5) ------------------------------------------------------------
    tm_c, tn_c, tk_c = np.minimum(tm, M), np.minimum(tn, N), np.minimum(tk, K)
    first_in = (a_tile_bytes(hw, tm_c, tk_c) + b_tile_bytes(k_nnz(tk_c), tn_c, w_bytes)) / hw.dram_bpc
    last_out = out_tile_bytes(hw, tm_c, tn_c, True) / hw.dram_bpc
    lat = hw.dram_latency_cycles + max(hw.level_latency_cycles)
    batch = np.asarray(batch, dtype=np.int64)
    if hw.all_double_buffered:
        # The batch's GEMMs form one stream of tiles: only the first load and the last store
        # are exposed; every other transfer overlaps compute (MODEL.md 3.5).
        hidden = np.maximum(batch * dram_cycles - first_in - last_out, 0.0)
        steady = np.maximum(np.maximum(batch * compute, batch * buffer_cycles), hidden)
        cycles = first_in + steady + last_out + 2 * lat
    else:
        n_tiles = ntiles["M"] * ntiles["N"] * ntiles["K"]
        cycles = batch * (np.maximum(compute, buffer_cycles) + dram_cycles + n_tiles * lat)
    cycles = np.ceil(cycles).astype(np.int64)

    macs_eff = batch * M * N * k_nnz(K)
    sparse = (n < m) if k_scale is None else np.ones_like(macs_eff, dtype=bool)
    out = {"compute_cycles": batch * compute, "buffer_cycles": batch * buffer_cycles,
           "dram_cycles": batch * dram_cycles}
    out.update(work_and_energy(hw, cycles, macs_eff, [batch * (lev_read[i] + lev_write[i]) for i in range(nlev)],
                               batch * dram_bytes, sparse, act_density))
    return out


def port_cycles(hw: HwParams, lev_read, lev_write):
    """Busiest on-chip level's port time (cycles): reads / read B/cycle + writes / write B/cycle,
    with byte counts per level (lists indexed like hw.level_names)."""
    busy = [np.asarray(lev_read[i] / hw.read_bpc[i] + lev_write[i] / hw.write_bpc[i], dtype=np.float64)
            for i in range(len(hw.level_names))]
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
