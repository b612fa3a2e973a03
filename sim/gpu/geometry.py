"""Tile geometry: the parameter-free quantities of every (kernel call, candidate tile) pair, as
numpy arrays over pairs: CTAs, occupancy, K steps, per-CTA compute time at full rate, and HBM and
L2 bytes (docs/GPU.md, "GPU cost model", "Formulas"). The parameters (params.py) enter only in
timing.py, so calibration builds the geometry once and re-times it at every step.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from nmsim.accel.spec import GPU
from nmsim.specfile import SpecError

from .calls import CallTerms, call_path, call_terms, padded_rows
from .kernels import (DECODE_KERNEL, DTYPE_BYTES, FAMILIES, KERNEL_FAMILY, NM_KERNELS, NM_PREFILL_KERNEL,
                      SPARSE_TC_KERNELS, GemmCase, eight_bit_tensor, kernel_rates)
from .tiles import CtaTile, candidate_tiles, smem_bytes

# assumed: dense library GEMMs on Hopper and later run persistent kernels whose tile scheduler
# (stream-K, CUTLASS 3's sm90 StreamKScheduler) splits the work evenly over the SMs, so a small
# problem does not pay a quantized last wave; earlier architectures are modelled wave by wave
STREAM_K_MIN_CC = 9.0
L2_SHARE = 0.5         # assumed: an operand stays in L2 when it fits in half of it (the rest: the other operands)
SPLIT_PARTIAL_BYTES = 4  # fp32 partial sums of split-K, written once and read once
# source: CUDA C++ Programming Guide, "Arithmetic Instructions" throughput table: 32-bit integer add,
# compare, min/max, shift and bitwise operations, 64 results per clock per SM on compute capability
# 7.5, 8.0, 8.6, 8.9 and 9.0 (the FP32 rate is 128 on 8.6-9.0): the expansion's compares, selects,
# shifts and masks issue at this rate, not at the FP32 FMA rate
INT32_OPS_PER_SM_PER_CLOCK = 64
_CASE_FIELDS = ("M", "N", "K", "n", "m", "index_bits", "batch")
_TILE_FIELDS = ("block_m", "block_n", "block_k", "num_warps", "num_stages", "group_m", "split_k")


@dataclass
class Geometry:
    """Parameter-free quantities of every (case, candidate tile) pair, as numpy arrays over pairs;
    `row` maps pairs to cases (pairs of one case are contiguous, `starts` their first index);
    `calls` the per-case terms of the call around the kernel (calls.CallTerms). Times in seconds,
    bytes in B, the rest counts."""

    row: np.ndarray
    starts: np.ndarray
    tiles: list[CtaTile]
    family: np.ndarray          # index into FAMILIES
    stream_k: np.ndarray        # bool: the kernel balances its work over the SMs (no wave quantization)
    eight_bit: np.ndarray       # bool: 1-byte operands (int8, fp8) on the tensor cores (params.py: tensor_eff_8bit)
    steps: np.ndarray           # K steps per CTA (pipeline depth)
    t_tensor_s: np.ndarray      # per CTA at 100% of the compute rate
    t_expand_s: np.ndarray      # per CTA per unit of `expand_ops`
    hbm_cta_s: np.ndarray       # per CTA: its share of HBM bytes / HBM bandwidth
    l2_cta_s: np.ndarray        # per CTA: its L2 bytes / one SM's share of L2 bandwidth
    ctas: np.ndarray
    occupancy: np.ndarray       # resident CTAs per SM
    hbm_bytes: np.ndarray
    l2_bytes: np.ndarray
    sms: int
    calls: CallTerms
    sm_ghz: float               # SMs x boost clock (GHz): what tensor-core power scales with (timing.power_scale)
    tdp_w: float                # the board's power limit (W, > 0: accel.spec.GPU)


def geometry(gpu: GPU, cases: list[GemmCase]) -> Geometry:
    """The `Geometry` (seconds, bytes, counts per pair) of `cases` on `gpu`, over every candidate
    tile of cases without one; SpecError if the GPU cannot run a case."""
    rows, tiles, per_case = [], [], []
    for i, c in enumerate(cases):
        rates = kernel_rates(gpu, c)                       # checks kernel and dtype before tiles need them
        # the kernel runs on the rows its call path pads the activation to
        c = replace(c, M=padded_rows(c.M, c.dtype, call_path(c.kernel, c.variant)))
        per_case.append((c, *rates))
        cand = candidate_tiles(gpu, c)
        if not cand:
            raise SpecError(f"gpu.smem_bytes_per_sm: no CTA tile of kernel {c.kernel} fits {gpu.smem_bytes_per_block:,.0f} "
                            "bytes of shared memory per block (GPUs have 64 KiB per SM or more)")
        rows += [i] * len(cand)
        tiles += cand
    row = np.asarray(rows, dtype=np.int64)
    col = {f: np.asarray([getattr(per_case[r][0], f) for r in rows], dtype=np.float64) for f in _CASE_FIELDS}
    kernels = [per_case[r][0].kernel for r in rows]
    rate = np.asarray([per_case[r][1] for r in rows])
    simt = np.asarray([per_case[r][2] for r in rows])
    e = np.asarray([DTYPE_BYTES[per_case[r][0].dtype] for r in rows], dtype=np.float64)
    t = {f: np.asarray([getattr(tl, f) for tl in tiles], dtype=np.float64) for f in _TILE_FIELDS}
    g = _geometry(gpu, kernels, col, t, e, rate, simt)
    g["eight_bit"] = np.asarray([eight_bit_tensor(per_case[r][0].kernel, per_case[r][0].dtype) for r in rows], dtype=bool)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    return Geometry(row=row, starts=starts, tiles=tiles, sms=gpu.sms, calls=call_terms(cases, DTYPE_BYTES),
                    sm_ghz=gpu.sms * gpu.boost_clock_hz / 1e9, tdp_w=gpu.tdp_w, **g)


def _geometry(gpu: GPU, kernels: list[str], c: dict, t: dict, e, rate, simt) -> dict:
    """Vectorized tile geometry: `Geometry`'s fields but row, starts, tiles, sms and eight_bit."""
    kind = _kernel_kinds(kernels)
    ops = _operand_bytes(c, e, kind)
    occupancy = _occupancy(gpu, c, t, e, kind)
    mm = _prefill_terms(gpu, c, t, ops, occupancy=occupancy, rate=rate, nm_prefill=kind["nm_prefill"])
    dec = _decode_terms(gpu, c, t, ops, simt=simt)
    decode = kind["decode"]
    ctas = np.where(decode, dec["ctas"], mm["ctas"])
    hbm = np.where(decode, dec["hbm"], mm["hbm"])
    l2b = np.where(decode, dec["l2"], mm["l2"])
    return dict(
        family=kind["family"],
        stream_k=(kind["family"] == FAMILIES.index("cublas")) & (gpu.compute_capability >= STREAM_K_MIN_CC),
        steps=np.where(decode, dec["steps"], mm["steps"]),
        t_tensor_s=np.where(decode, dec["t_compute"], mm["t_tensor"]),
        t_expand_s=mm["t_expand"],
        hbm_cta_s=hbm / ctas / gpu.hbm_bytes_per_s,
        l2_cta_s=l2b / ctas / (gpu.l2_bytes_per_s / gpu.sms),
        ctas=ctas, occupancy=occupancy, hbm_bytes=hbm, l2_bytes=l2b,
    )


def _kernel_kinds(kernels: list[str]) -> dict[str, np.ndarray]:
    # dtypes given: an empty list (no tile fits the shared memory) must stay boolean / integer
    return {"family": np.asarray([FAMILIES.index(KERNEL_FAMILY[k]) for k in kernels], dtype=np.int64),
            "decode": np.asarray([k == DECODE_KERNEL for k in kernels], dtype=bool),
            "nm_prefill": np.asarray([k == NM_PREFILL_KERNEL for k in kernels], dtype=bool),
            "ours": np.asarray([k in NM_KERNELS for k in kernels], dtype=bool),
            "sparse_lib": np.asarray([k in SPARSE_TC_KERNELS for k in kernels], dtype=bool)}


def _operand_bytes(c: dict, e, kind: dict) -> dict[str, np.ndarray]:
    """Stored values per weight row (count) and bytes (B) of weights, x and outputs of one batch entry."""
    M, N, K, n, m, b = (c[k] for k in ("M", "N", "K", "n", "m", "index_bits"))
    stored = np.ceil(K / m) * n                        # K padded to whole groups
    # our format stores b-bit indices packed in int32 words per row; the 2:4 libraries keep b bits
    # of metadata per nonzero
    w_bytes = np.where(kind["ours"], N * (stored * e + np.ceil(stored * b / 32) * 4),
                       np.where(kind["sparse_lib"], N * stored * (e + b / 8), N * K * e))
    return {"stored": stored, "w": w_bytes, "a": M * K * e, "o": M * N * e}


def _occupancy(gpu: GPU, c: dict, t: dict, e, kind: dict) -> np.ndarray:
    """Resident CTAs per SM (count), limited by shared memory (each block's own and CUDA's
    per-block reservation) and threads, at least one."""
    smem = smem_bytes(gpu.compute_capability, triton=kind["family"] == FAMILIES.index("triton"),
                      nm=kind["nm_prefill"], decode=kind["decode"], sparse_lib=kind["sparse_lib"], e=e, n=c["n"],
                      m=c["m"], index_bits=c["index_bits"], block_m=t["block_m"], block_n=t["block_n"],
                      block_k=t["block_k"], num_warps=t["num_warps"], stages=t["num_stages"])
    by_threads = np.floor(gpu.max_threads_per_sm / (32 * t["num_warps"]))
    by_smem = np.floor(gpu.smem_bytes_per_sm / (smem + gpu.smem_reserved_per_block))
    return np.maximum(1.0, np.minimum(by_threads, by_smem))


def _prefill_terms(gpu: GPU, c: dict, t: dict, ops: dict, *, occupancy, rate, nm_prefill) -> dict:
    """Prefill GEMMs, CTAs over (M tiles, N tiles, K splits, batch): CTAs and K steps (counts),
    per-CTA tensor and expansion time (s), HBM and L2 bytes (B)."""
    M, N, K, batch = (c[k] for k in ("M", "N", "K", "batch"))
    BM, BN, BK, G, split = (t[k] for k in ("block_m", "block_n", "block_k", "group_m", "split_k"))
    a_bytes, w_bytes, o_bytes = ops["a"], ops["w"], ops["o"]
    tm, tn = np.ceil(M / BM), np.ceil(N / BN)
    k_cta = np.ceil(K / split)
    steps = np.ceil(k_cta / BK)
    t_tensor = 2 * BM * BN * steps * BK / (rate / gpu.sms)       # whole padded tiles on the tensor cores
    # per expanded dense weight element (params.py: expand_ops), at the SM's 32-bit integer rate
    t_expand = np.where(nm_prefill, BN * steps * BK / (INT32_OPS_PER_SM_PER_CLOCK * gpu.boost_clock_hz), 0.0)
    partial = np.where(split > 1, 2 * split * M * N * SPLIT_PARTIAL_BYTES, 0.0)
    l2 = batch * (a_bytes * tn + w_bytes * tm + o_bytes + partial)
    # HBM: shared panels are fetched once per wave (the wave's CTAs read them at about the same K,
    # so L2 serves the other readers); an operand that fits L2_SHARE of L2 (or a problem that fits
    # L2) stays there across waves, otherwise each wave fetches the panels it touches again. A wave
    # holds `conc` output tiles swizzled as min(G, tm) row tiles x the column tiles that fill it.
    conc = np.maximum(1.0, gpu.sms * occupancy / split)
    wave_rows = np.minimum(np.minimum(G, tm), conc)
    wave_cols = np.minimum(tn, np.ceil(conc / wave_rows))
    waves_mn = tm * tn / conc
    fits_all = a_bytes + w_bytes + o_bytes <= gpu.l2_bytes
    hbm = batch * (_refetched(a_bytes, waves_mn * wave_rows / tm, tn, fits_all, gpu.l2_bytes)
                   + _refetched(w_bytes, waves_mn * wave_cols / tn, tm, fits_all, gpu.l2_bytes)
                   + o_bytes + partial)
    return {"ctas": tm * tn * split * batch, "steps": steps, "t_tensor": t_tensor, "t_expand": t_expand,
            "l2": l2, "hbm": hbm}


def _decode_terms(gpu: GPU, c: dict, t: dict, ops: dict, *, simt) -> dict:
    """The decode kernel, programs of BLOCK_N weight rows streaming stored values BLOCK_J at a time,
    each gathering the activations (x rows, L2-resident) of every token: programs and steps
    (counts), per-program CUDA-core time (s), HBM and L2 bytes (B)."""
    N, batch = c["N"], c["batch"]
    bt, BN, BJ = t["block_m"], t["block_n"], t["block_k"]   # BLOCK_T: tokens rounded up to a power of two
    a_bytes, w_bytes, o_bytes = ops["a"], ops["w"], ops["o"]
    tn = np.ceil(N / BN)
    steps = np.ceil(ops["stored"] / BJ)
    return {"ctas": tn * batch, "steps": steps,
            "t_compute": 2 * bt * BN * steps * BJ / (simt / gpu.sms),
            "l2": batch * (w_bytes + tn * a_bytes + o_bytes),
            "hbm": batch * (w_bytes + a_bytes + o_bytes)}


def _refetched(op_bytes, fetches, readers, fits_all, l2_bytes: int):
    """HBM bytes of an operand read by `readers` tiles of the other dimension, which all waves
    together fetch `fetches` times over unless it stays in L2 (it fits L2_SHARE of it, or the whole
    problem fits); within [once, once per reader]."""
    stays = fits_all | (op_bytes <= L2_SHARE * l2_bytes)
    return np.where(stays, op_bytes, op_bytes * np.clip(fetches, 1.0, readers))
