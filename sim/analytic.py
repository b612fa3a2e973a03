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

from mapping import DATAFLOW_CODES, LOOP_ORDERS

from .hw import HwParams

# POS[order, dim] = nesting depth (0 = outermost) of dim (0 = m, 1 = n, 2 = k) in that order.
POS = np.array([[o.index(d) for d in "mnk"] for o in LOOP_ORDERS])


def _cdiv(a, b):
    return -(-a // b)


def _dim_tiles(D, t, units):
    """Per-dimension tiling facts: tiles, full units, remainder units (MODEL.md 3.1)."""
    t = np.minimum(t, D)
    n_full = D // t
    rem = D - n_full * t
    u_full = units(t)
    u_rem = np.where(rem > 0, units(np.maximum(rem, 1)), 0)
    return n_full, u_full, u_rem, n_full + (rem > 0)


def _folds(n_full, u_full, u_rem, extent):
    """Sum over tiles of ceil(units / extent): folds of this dim over an array extent."""
    return n_full * _cdiv(u_full, extent) + _cdiv(u_rem, extent)


def gemm_cost(hw: HwParams, M, N, K, dataflow, tile_m, tile_n, tile_k, loop_order,
              n=1, m=1, index_bits=0, batch=1, act_density=1.0, k_scale=None) -> dict[str, np.ndarray]:
    """Cycles, bytes per level and energy of (batched) GEMMs under given mappings.

    Arguments are scalars or broadcastable int/float arrays: dims in elements, `dataflow` and
    `loop_order` as codes, (n, m) the executed N:M, `index_bits` per nonzero weight,
    `act_density` the fraction of nonzero activations. `k_scale`, when given, replaces n/m as the
    fraction of K kept (used for unstructured density). Returns arrays keyed by:
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
    if k_scale is None:
        def k_nnz(x):
            return _cdiv(x, m) * n
    else:
        ks = np.asarray(k_scale, dtype=np.float64)

        def k_nnz(x):
            return np.maximum(1, np.ceil(x * ks)).astype(np.int64)

    def k_units(x):
        return _cdiv(k_nnz(x), P)

    dims = {
        "M": _dim_tiles(M, tm, lambda x: x),
        "N": _dim_tiles(N, tn, lambda x: x),
        "K": _dim_tiles(K, tk, k_units),
    }
    usum = {d: v[0] * v[1] + v[2] for d, v in dims.items()}
    ntiles = {d: v[3] for d, v in dims.items()}

    is_ws, is_os = df == 0, df == 1

    def pick(ws, os_, is_):
        return np.where(is_ws, ws, np.where(is_os, os_, is_))

    def folds(d, extent):
        nf, uf, ur, _ = dims[d]
        return _folds(nf, uf, ur, extent)

    # --- compute (MODEL.md 3.2): folds x (fill + T) per tile -------------------------
    f_rows = pick(folds("K", R), folds("M", R), folds("K", R))
    f_cols = pick(folds("N", C), folds("N", C), folds("M", C))
    t_tiles = pick(ntiles["M"], ntiles["K"], ntiles["N"])
    t_sum = pick(usum["M"], usum["K"], usum["N"])
    # WS and IS shift the stationary operand in (R cycles) before the skewed stream; OS has
    # nothing to preload and drains outputs under the next fold (SCALE-Sim's OS timing).
    fill = np.where(is_os, R + C - 2, 2 * R + C - 2)
    compute = f_rows * f_cols * (t_tiles * fill + t_sum)

    # --- array <-> buffer traffic (MODEL.md 3.3), in elements/units ------------------------
    u_r = pick(usum["K"], usum["M"], usum["K"])
    u_c = pick(usum["N"], usum["N"], usum["M"])
    stationary = u_r * u_c * t_tiles
    row_stream = t_sum * u_r * f_cols
    col_stream = t_sum * u_c * f_rows
    act_per_unit = P * m / n if k_scale is None else P / np.asarray(k_scale)
    w_bytes = hw.operand_bytes + np.asarray(index_bits) / 8.0
    # A (activations): WS row-stream, OS row-stream, IS stationary; K counted in units.
    a_units = pick(row_stream, row_stream, stationary)
    a_read = a_units * act_per_unit * hw.operand_bytes
    b_units = pick(stationary, col_stream, row_stream)
    b_read = b_units * P * w_bytes  # P nonzeros per K unit
    c_write_elems = pick(col_stream, stationary, col_stream)
    c_write = c_write_elems * hw.acc_bytes
    c_read = np.maximum(c_write_elems - M * N, 0) * hw.acc_bytes

    # --- buffer <-> DRAM traffic from the tile-loop order (MODEL.md 3.4) -------------------
    trips = np.stack(np.broadcast_arrays(ntiles["M"], ntiles["N"], ntiles["K"]), axis=-1)
    pos = POS[order]
    pos = np.broadcast_to(pos, trips.shape)

    def innermost_relevant(d1, d2):
        p1 = np.where(trips[..., d1] > 1, pos[..., d1], -1)
        p2 = np.where(trips[..., d2] > 1, pos[..., d2], -1)
        return np.maximum(p1, p2)

    a_mult = np.where(pos[..., 1] < innermost_relevant(0, 2), trips[..., 1], 1)
    b_mult = np.where(pos[..., 0] < innermost_relevant(2, 1), trips[..., 0], 1)
    c_spill = pos[..., 2] < innermost_relevant(0, 1)
    a_dram = M * K * hw.operand_bytes * a_mult
    b_total = k_nnz(K) * N * w_bytes
    b_dram = b_total * b_mult
    k_trips = trips[..., 2]
    c_dram_w = M * N * (hw.operand_bytes + np.where(c_spill, hw.acc_bytes * (k_trips - 1), 0))
    c_dram_r = M * N * np.where(c_spill, hw.acc_bytes * (k_trips - 1), 0)
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
    buf_cycles = [lev_read[i] / hw.read_bpc[i] + lev_write[i] / hw.write_bpc[i] for i in range(nlev)]
    buffer_cycles = np.maximum.reduce([np.asarray(b, dtype=np.float64) for b in buf_cycles]) if nlev > 1 \
        else np.asarray(buf_cycles[0], dtype=np.float64)
    dram_cycles = dram_bytes / hw.dram_bpc

    # --- overlap (MODEL.md 3.5) ------------------------------------------------------------
    tm_c, tn_c, tk_c = np.minimum(tm, M), np.minimum(tn, N), np.minimum(tk, K)
    first_in = (tm_c * tk_c * hw.operand_bytes + k_nnz(tk_c) * tn_c * w_bytes) / hw.dram_bpc
    last_out = tm_c * tn_c * hw.operand_bytes / hw.dram_bpc
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

    # --- work and energy (MODEL.md 3.6) ---------------------------------------------------
    macs_eff = batch * M * N * k_nnz(K)
    latency_s = cycles / hw.clock_hz
    gate = np.asarray(act_density) if hw.zero_skipping else 1.0
    sparse = (n < m) if k_scale is None else np.ones_like(macs_eff, dtype=bool)
    e_mac = macs_eff * hw.mac_pj * gate
    e_idx = np.where(sparse, macs_eff * hw.index_decode_pj, 0.0)
    out = {
        "cycles": cycles,
        "compute_cycles": batch * compute,
        "buffer_cycles": batch * buffer_cycles,
        "dram_cycles": batch * dram_cycles,
        "macs_effective": macs_eff,
        "utilization": macs_eff / (cycles * R * C * P),
        "latency_s": latency_s,
        "bytes_dram": batch * dram_bytes,
    }
    e_mem = 0.0
    for i, name in enumerate(hw.level_names):
        moved = batch * (lev_read[i] + lev_write[i])
        out[f"bytes_{name}"] = moved
        e_mem = e_mem + moved * hw.level_pj_per_byte[i]
    e_dram = out["bytes_dram"] * hw.dram_pj_per_byte
    e_static = hw.static_w * latency_s * 1e12
    out.update(energy_mac_pj=e_mac, energy_index_pj=e_idx, energy_buffer_pj=e_mem,
               energy_dram_pj=e_dram, energy_static_pj=e_static,
               energy_pj=e_mac + e_idx + e_mem + e_dram + e_static)
    return out
