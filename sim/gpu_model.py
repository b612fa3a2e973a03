"""Tile-level cost model of one GPU GEMM kernel on the `h100`, `a100`, `t4` presets
(docs/GPU.md, "GPU cost model"; formulas there, with units and sources).

A kernel computes out[M, N] = x[M, K] @ W^T in CTA tiles of BLOCK_M x BLOCK_N, walking K in
steps of BLOCK_K. The model counts CTAs, packs them into waves over the SMs (occupancy from
shared memory and threads), and costs each wave as a software pipeline of K steps:
max(compute, memory) + one step of the shorter of the two (the prologue/epilogue that cannot
overlap). Compute is the tensor-core time of whole (padded) tiles at the dense or 2:4 sparse
rate, plus, for our `triton_nm` kernel, the CUDA-core work of expanding compressed weights.
Memory is the larger of HBM time and L2 time; an operand re-read by many CTAs comes from HBM
once per wave that touches it, or once in all when it stays in L2 (rule in `_geometry`). The
decode kernel is a bandwidth kernel that reads nonzeros, packed indices and gathered
activations. A fixed overhead per kernel family is added. Kernels without a recorded tile (cuBLAS, cuSPARSELt, CUTLASS) are modelled as
picking their fastest tile (and split-K) from `LIBRARY_TILE_MENU`, as their heuristics aim to;
our Triton kernels without a recorded config at their fastest tile of sim/gpu_tiles.py's menus
(the ones they autotune over).

A few efficiencies (`PARAMS`) are the model's free parameters: `assumed:` defaults, calibrated by
`calibrate` (least squares on log time) against measured rows (gpu_kernels/validate.py).
`gpu_op_cost` is what `sim.simulate` uses for GPU presets (default parameters).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nmsim.accel import Arch
from nmsim.accel.spec import GPU
from nmsim.mapping import executed_gemm, plan_sparsity
from nmsim.specfile import SpecError
from nmsim.workloads import Op

from .gpu_tiles import GEMM_GROUP_M, GEMM_TILES, decode_tiles_for
from .results import LayerResult

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "tf32": 4, "int8": 1, "fp8": 1}

# Kernel names are those of the measurement files (gpu_kernels.measurements.KERNELS; sim cannot
# import gpu_kernels, tests/test_gpu_model.py checks the two agree).
KERNEL_FAMILY = {"cublas": "cublas", "cusparselt": "sparse_lib", "cutlass": "sparse_lib",
                 "triton_dense": "triton", "triton_nm": "triton", "triton_nm_decode": "decode"}
SPARSE_TC_KERNELS = ("cusparselt", "cutlass")      # run on the 2:4 sparse tensor cores
LIBRARY_KERNELS = ("cublas", "cusparselt", "cutlass")
NM_KERNELS = ("triton_nm", "triton_nm_decode")      # read our compressed format (gpu_kernels/formats.py)
DECODE_KERNEL = "triton_nm_decode"
FAMILIES = ("cublas", "sparse_lib", "triton", "decode")

# assumed: CTA tiles (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) of the kind cuBLAS, CUTLASS and
# cuSPARSELt use on Ampere/Hopper: the model's own guess at the libraries' tiles, which are not
# recorded (BLOCK_M = 16 is the smallest tensor-core MMA height). Our Triton kernels' tiles are
# not guessed: they are sim/gpu_tiles.py's menus, the ones the kernels autotune over.
LIBRARY_TILE_MENU = ((256, 128, 64, 8, 3), (128, 256, 64, 8, 3), (128, 128, 64, 8, 3), (128, 64, 64, 4, 4),
                     (64, 128, 64, 4, 4), (64, 64, 64, 4, 4), (32, 128, 64, 4, 4), (16, 128, 128, 4, 4),
                     (16, 64, 128, 4, 4))
# assumed: libraries may split K over CTAs (cuBLAS, CUTLASS and cuSPARSELt all offer split-K) to
# fill the SMs when M x N has few tiles; Triton kernels here never split (grid = tiles of M x N).
SPLIT_K_MENU = (1, 2, 4, 8, 16)
DEFAULT_GROUP_M = GEMM_GROUP_M    # CTA swizzle of 8 row tiles (our Triton kernels' GROUP_M; assumed: libraries alike)
L2_SHARE = 0.5         # assumed: an operand stays in L2 when it fits in half of it (the rest: the other operands)
SPLIT_PARTIAL_BYTES = 4  # fp32 partial sums of split-K, written once and read once


@dataclass(frozen=True)
class Param:
    """A calibrated parameter: default (a number, or 'launch' = the preset's launch_overhead_s), bounds, users."""

    name: str
    default: float | str
    lo: float
    hi: float
    kernels: tuple[str, ...]
    why: str


_GEMMS = ("cublas", "cusparselt", "cutlass", "triton_dense", "triton_nm")
PARAMS: tuple[Param, ...] = (
    Param("tensor_eff_cublas", 0.75, 0.02, 2.0, ("cublas",),
          "assumed: large cuBLAS GEMMs commonly sustain 70-80% of the datasheet tensor rate"),
    Param("tensor_eff_sparse_lib", 0.6, 0.02, 2.0, SPARSE_TC_KERNELS,
          "assumed: 2:4 libraries usually gain well under the 2x of the sparse rate over dense"),
    Param("tensor_eff_triton", 0.65, 0.02, 2.0, ("triton_dense", "triton_nm"),
          "assumed: Triton tiles reach somewhat less of the tensor peak than cuBLAS"),
    Param("mem_eff", 0.8, 0.02, 2.0, _GEMMS,
          "assumed: streaming kernels reach about 80% of peak HBM bandwidth"),
    Param("decode_eff", 0.6, 0.02, 2.0, (DECODE_KERNEL,),
          "assumed: gathers and per-row index decoding keep the decode kernel below streaming rate"),
    Param("expand_ops", 2.0, 0.01, 50.0, ("triton_nm",),
          "assumed: one compare and one select per stored slot per expanded dense weight element "
          "(gpu_kernels/nm_matmul.py expands with tl.where)"),
    Param("overhead_s_cublas", "launch", 1e-8, 1e-3, ("cublas",),
          "assumed: the preset's launch_overhead_s"),
    Param("overhead_s_sparse_lib", "launch", 1e-8, 1e-3, SPARSE_TC_KERNELS,
          "assumed: the preset's launch_overhead_s"),
    Param("overhead_s_triton", "launch", 1e-8, 1e-3, ("triton_dense", "triton_nm", DECODE_KERNEL),
          "assumed: the preset's launch_overhead_s"),
)
PARAM_NAMES = tuple(p.name for p in PARAMS)


def default_params(gpu: GPU) -> dict[str, float]:
    """The uncalibrated parameters (fractions, ops per slot, seconds) for `gpu`."""
    return {p.name: gpu.launch_overhead_s if p.default == "launch" else float(p.default) for p in PARAMS}


@dataclass(frozen=True)
class Tile:
    """A CTA tile: BLOCK_M x BLOCK_N outputs, BLOCK_K reduction columns per step (decode:
    BLOCK_N rows x BLOCK_J stored values per step), warps, pipeline stages, swizzle, split-K."""

    block_m: int
    block_n: int
    block_k: int
    num_warps: int = 4
    num_stages: int = 3
    group_m: int = DEFAULT_GROUP_M
    split_k: int = 1

    def text(self) -> str:
        """'128x128x64 w8 s3' (+ ' splitK4')."""
        s = f"{self.block_m}x{self.block_n}x{self.block_k} w{self.num_warps} s{self.num_stages}"
        return s + (f" splitK{self.split_k}" if self.split_k > 1 else "")


@dataclass(frozen=True)
class GemmCase:
    """One kernel call: kernel name (KERNEL_FAMILY), M tokens, N outputs, K inputs, dtype, the N:M
    pattern as n, m and index bits per nonzero (n == m == 1: dense), batch, tile (None: the kernel's
    fastest of the menu)."""

    kernel: str
    M: int
    N: int
    K: int
    dtype: str = "fp16"
    n: int = 1
    m: int = 1
    index_bits: int = 0
    batch: int = 1
    tile: Tile | None = None


def parse_pattern(pattern: str) -> tuple[int, int, int]:
    """'dense' -> (1, 1, 0); 'N:M' -> (n, m, ceil(log2 m) index bits per nonzero)."""
    if pattern == "dense":
        return 1, 1, 0
    try:
        n, m = (int(v) for v in pattern.split(":"))
    except ValueError:
        raise SpecError(f"pattern {pattern!r} is neither 'dense' nor 'N:M' (for example 2:4)") from None
    if not 1 <= n < m:
        raise SpecError(f"pattern {pattern!r}: need 1 <= N < M")
    return n, m, max(1, math.ceil(math.log2(m)))


def parse_config(kernel: str, config: str, M: int) -> Tile | None:
    """The tile of a measurement row's `config` ('BLOCK_M=64,BLOCK_N=128,BLOCK_K=64,GROUP_M=8,
    num_warps=4,num_stages=3'; decode: 'BLOCK_N=..,BLOCK_J=..,...'); None for '' (library kernels)."""
    if not config.strip():
        return None
    try:
        kv = {k.strip(): int(v) for k, v in (part.split("=") for part in config.split(","))}
    except ValueError:
        raise SpecError(f"config {config!r}: expected comma-separated KEY=integer pairs") from None
    need = ("BLOCK_N", "BLOCK_J") if kernel == DECODE_KERNEL else ("BLOCK_M", "BLOCK_N", "BLOCK_K")
    missing = [k for k in need if k not in kv]
    if missing:
        raise SpecError(f"config {config!r} of a {kernel} row lacks {', '.join(missing)}")
    if any(v <= 0 for v in kv.values()):
        raise SpecError(f"config {config!r}: every value must be positive")
    warps, stages = kv.get("num_warps", 4), kv.get("num_stages", 3)
    if kernel == DECODE_KERNEL:
        return Tile(_pow2_at_least(M), kv["BLOCK_N"], kv["BLOCK_J"], warps, stages, 1, 1)
    return Tile(kv["BLOCK_M"], kv["BLOCK_N"], kv["BLOCK_K"], warps, stages, kv.get("GROUP_M", DEFAULT_GROUP_M), 1)


def _pow2_at_least(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def _candidates(gpu: GPU, case: GemmCase) -> list[Tile]:
    """The tiles a case may run with: its own, else the kernel's menu (module docstring), each
    menu tile with as many of its pipeline stages as the SM's shared memory holds."""
    if case.tile is not None:
        return [case.tile]
    if case.kernel == DECODE_KERNEL:
        bt = _pow2_at_least(case.M)
        return [Tile(bt, bn, bj, w, stages, 1, 1) for bn, bj, w, stages in decode_tiles_for(bt)]
    library = case.kernel in LIBRARY_KERNELS
    splits = SPLIT_K_MENU if library else (1,)
    out = []
    for bm, bn, bk, w, stages in (LIBRARY_TILE_MENU if library else GEMM_TILES):
        per_stage = _stage_bytes(case.kernel in NM_KERNELS + SPARSE_TC_KERNELS, DTYPE_BYTES[case.dtype],
                                 case.n, case.m, case.index_bits, bm, bn, bk)
        stages = min(stages, int(gpu.smem_bytes_per_sm // per_stage))
        if stages >= 1:
            out += [Tile(bm, bn, bk, w, stages, DEFAULT_GROUP_M, sk) for sk in splits
                    if sk == 1 or -(-case.K // sk) >= 2 * bk]
    return out


def _stage_bytes(compressed, e, n, m, b, bm, bn, bk):
    """Shared memory of one pipeline stage of a prefill tile (B): the x tile and the weight tile as
    stored (dense: e bytes per element; compressed: (n/m)(e + b/8)); scalars or numpy arrays."""
    return bm * bk * e + bn * bk * np.where(compressed, (n / m) * (e + b / 8), e)


def _rates(gpu: GPU, case: GemmCase) -> tuple[float, float]:
    """(compute FLOP/s, CUDA-core FLOP/s) of `case` on `gpu`; SpecError if the GPU cannot run it."""
    if case.kernel not in KERNEL_FAMILY:
        raise SpecError(f"kernel {case.kernel!r} is not one of {', '.join(KERNEL_FAMILY)}")
    if case.dtype not in DTYPE_BYTES:
        raise SpecError(f"dtype {case.dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    simt = gpu.cuda_core_flops["fp32"]
    if case.kernel == DECODE_KERNEL:
        return simt, simt      # fp32 FMAs on CUDA cores, whatever the storage dtype
    # fp32 rows are true fp32 (TF32 off in the bench): CUDA cores, except the 2:4 libraries, whose
    # fp32 path is the TF32 sparse tensor core (assumed: torch's semi-structured fp32 kernels).
    if case.kernel in SPARSE_TC_KERNELS:
        key = "tf32" if case.dtype == "fp32" else case.dtype
        if key not in gpu.sparse_tensor_flops:
            raise SpecError(f"{case.kernel} runs on 2:4 sparse tensor cores, which this GPU preset has no "
                            f"{key} rate for (sparse_tensor_flops); use a preset with sparse tensor cores")
        return gpu.sparse_tensor_flops[key], simt
    if case.dtype == "fp32":
        return simt, simt
    if case.dtype not in gpu.dense_tensor_flops:
        raise SpecError(f"dtype {case.dtype} has no dense_tensor_flops entry in this GPU preset; add its rate")
    return gpu.dense_tensor_flops[case.dtype], simt


@dataclass
class Geometry:
    """Parameter-free quantities of every (case, candidate tile) pair, as numpy arrays over pairs;
    `row` maps pairs to cases (pairs of one case are contiguous, `starts` their first index)."""

    row: np.ndarray
    starts: np.ndarray
    tiles: list[Tile]
    family: np.ndarray          # index into FAMILIES
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


def geometry(gpu: GPU, cases: list[GemmCase]) -> Geometry:
    """Build the `Geometry` of `cases` on `gpu` (every candidate tile of cases without one)."""
    rows, tiles, per_case = [], [], []
    for i, c in enumerate(cases):
        per_case.append((c, *_rates(gpu, c)))       # checks kernel and dtype first
        cand = _candidates(gpu, c)
        rows += [i] * len(cand)
        tiles += cand
    row = np.asarray(rows, dtype=np.int64)
    col = {f: np.asarray([getattr(per_case[r][0], f) for r in rows], dtype=np.float64)
           for f in ("M", "N", "K", "n", "m", "index_bits", "batch")}
    kernels = [per_case[r][0].kernel for r in rows]
    rate = np.asarray([per_case[r][1] for r in rows])
    simt = np.asarray([per_case[r][2] for r in rows])
    e = np.asarray([DTYPE_BYTES[per_case[r][0].dtype] for r in rows], dtype=np.float64)
    t = {f: np.asarray([getattr(tl, f) for tl in tiles], dtype=np.float64)
         for f in ("block_m", "block_n", "block_k", "num_warps", "num_stages", "group_m", "split_k")}
    g = _geometry(gpu, kernels, col, t, e, rate, simt)
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    return Geometry(row=row, starts=starts, tiles=tiles, sms=gpu.sms, **g)


def _geometry(gpu: GPU, kernels: list[str], c: dict, t: dict, e, rate, simt) -> dict:
    """Vectorized tile geometry (docs/GPU.md, "GPU cost model" has the formulas)."""
    M, N, K, n, m, b, batch = (c[k] for k in ("M", "N", "K", "n", "m", "index_bits", "batch"))
    BM, BN, BK, warps, stages, G, split = (t[k] for k in ("block_m", "block_n", "block_k", "num_warps",
                                                          "num_stages", "group_m", "split_k"))
    fam = np.asarray([FAMILIES.index(KERNEL_FAMILY[k]) for k in kernels])
    decode = np.asarray([k == DECODE_KERNEL for k in kernels])
    nm_prefill = np.asarray([k == "triton_nm" for k in kernels])
    ours = np.asarray([k in NM_KERNELS for k in kernels])
    sparse_lib = np.asarray([k in SPARSE_TC_KERNELS for k in kernels])
    stored = np.ceil(K / m) * n                        # stored values per weight row (K padded to groups)
    # weight bytes: dense; our format (values + b-bit indices in int32 words per row); the 2:4
    # libraries (values + b bits of metadata per nonzero)
    w_bytes = np.where(ours, N * (stored * e + np.ceil(stored * b / 32) * 4),
                       np.where(sparse_lib, N * stored * (e + b / 8), N * K * e))
    a_bytes, o_bytes = M * K * e, M * N * e
    tm, tn = np.ceil(M / BM), np.ceil(N / BN)

    decode_smem = 0.0                                  # the decode kernel has no tl.dot operands to stage
    smem = np.where(decode, decode_smem, stages * _stage_bytes(ours | sparse_lib, e, n, m, b, BM, BN, BK))
    by_threads = np.floor(gpu.max_threads_per_sm / (32 * warps))
    by_smem = np.where(smem > 0, np.floor(gpu.smem_bytes_per_sm / np.maximum(smem, 1.0)), np.inf)
    occupancy = np.maximum(1.0, np.minimum(by_threads, by_smem))

    # prefill GEMMs: CTAs over (M tiles, N tiles, K splits, batch)
    k_cta = np.ceil(K / split)
    steps_mm = np.ceil(k_cta / BK)
    ctas_mm = tm * tn * split * batch
    t_tensor_mm = 2 * BM * BN * steps_mm * BK / (rate / gpu.sms)       # whole padded tiles on the tensor cores
    t_expand = np.where(nm_prefill, BN * steps_mm * BK * n / (simt / 2 / gpu.sms), 0.0)  # ops at 1 op/lane/clock
    partial = np.where(split > 1, 2 * split * M * N * SPLIT_PARTIAL_BYTES, 0.0)
    l2_mm = batch * (a_bytes * tn + w_bytes * tm + o_bytes + partial)
    # HBM: shared panels are fetched once per wave (the wave's CTAs read them at about the same K,
    # so L2 serves the other readers); an operand that fits L2_SHARE of L2 (or a problem that fits
    # L2) stays there across waves, otherwise each wave fetches the panels it touches again. A wave
    # holds `conc` output tiles swizzled as min(G, tm) row tiles x the column tiles that fill it.
    conc = np.maximum(1.0, gpu.sms * occupancy / split)
    wave_rows = np.minimum(np.minimum(G, tm), conc)
    wave_cols = np.minimum(tn, np.ceil(conc / wave_rows))
    waves_mn = tm * tn / conc
    fits_all = a_bytes + w_bytes + o_bytes <= gpu.l2_bytes
    hbm_mm = batch * (_refetched(a_bytes, waves_mn * wave_rows / tm, tn, fits_all, gpu.l2_bytes)
                      + _refetched(w_bytes, waves_mn * wave_cols / tn, tm, fits_all, gpu.l2_bytes)
                      + o_bytes + partial)

    # decode: programs of BLOCK_N weight rows stream stored values BLOCK_J at a time; each
    # program gathers the activations (x rows, L2-resident) of every token
    bt = BM                                            # BLOCK_T = tokens rounded up to a power of two
    steps_dec = np.ceil(stored / BK)
    ctas_dec = tn * batch
    t_simt_dec = 2 * bt * BN * steps_dec * BK / (simt / gpu.sms)
    l2_dec = batch * (w_bytes + tn * a_bytes + o_bytes)
    hbm_dec = batch * (w_bytes + a_bytes + o_bytes)

    ctas = np.where(decode, ctas_dec, ctas_mm)
    hbm = np.where(decode, hbm_dec, hbm_mm)
    l2b = np.where(decode, l2_dec, l2_mm)
    return dict(
        family=fam,
        steps=np.where(decode, steps_dec, steps_mm),
        t_tensor_s=np.where(decode, t_simt_dec, t_tensor_mm),
        t_expand_s=t_expand,
        hbm_cta_s=hbm / ctas / gpu.hbm_bytes_per_s,
        l2_cta_s=l2b / ctas / (gpu.l2_bytes_per_s / gpu.sms),
        ctas=ctas, occupancy=occupancy, hbm_bytes=hbm, l2_bytes=l2b,
    )


def _refetched(op_bytes, fetches, readers, fits_all, l2_bytes: int):
    """HBM bytes of an operand read by `readers` tiles of the other dimension, which all waves
    together fetch `fetches` times over unless it stays in L2 (it fits L2_SHARE of it, or the whole
    problem fits); within [once, once per reader]."""
    stays = fits_all | (op_bytes <= L2_SHARE * l2_bytes)
    return np.where(stays, op_bytes, op_bytes * np.clip(fetches, 1.0, readers))

def _family_values(params: dict, fam: np.ndarray, names: tuple[str, str, str, str]) -> np.ndarray:
    return np.asarray([params[x] for x in names])[fam]


def pair_times(geo: Geometry, params: dict) -> dict[str, np.ndarray]:
    """Per (case, tile) pair: total_s and its parts (compute_s, memory_s, hbm_s, l2_s summed over
    waves; overhead_s; waves) under `params`."""
    eff_c = _family_values(params, geo.family, ("tensor_eff_cublas", "tensor_eff_sparse_lib",
                                                "tensor_eff_triton", "decode_eff"))
    eff_m = np.where(geo.family == FAMILIES.index("decode"), params["decode_eff"], params["mem_eff"])
    overhead = _family_values(params, geo.family, ("overhead_s_cublas", "overhead_s_sparse_lib",
                                                   "overhead_s_triton", "overhead_s_triton"))
    t_cta = geo.t_tensor_s / eff_c + geo.t_expand_s * params["expand_ops"]
    slots = geo.sms * geo.occupancy
    full = np.floor(geo.ctas / slots)
    tail = geo.ctas - full * slots

    def wave(n_cta, per_sm, active_sms):
        comp = per_sm * t_cta
        hbm = n_cta * geo.hbm_cta_s / eff_m
        # idle SMs leave their share of L2 bandwidth unused; the L2 rate is taken as given (the
        # presets' figure is already a sustained-rate assumption), only HBM has a calibrated efficiency
        l2 = n_cta * geo.l2_cta_s / np.maximum(active_sms, 1)
        mem = np.maximum(hbm, l2)
        return np.maximum(comp, mem) + np.minimum(comp, mem) / geo.steps, comp, hbm, l2

    wf, cf, hf, lf = wave(slots, geo.occupancy, geo.sms)
    wt, ct, ht, lt = wave(tail, np.ceil(tail / geo.sms), np.minimum(tail, geo.sms))
    has_tail = tail > 0
    total = full * wf + np.where(has_tail, wt, 0.0) + overhead
    hbm_s = full * hf + np.where(has_tail, ht, 0.0)
    l2_s = full * lf + np.where(has_tail, lt, 0.0)
    return {"total_s": total, "compute_s": full * cf + np.where(has_tail, ct, 0.0), "hbm_s": hbm_s, "l2_s": l2_s,
            "memory_s": np.maximum(hbm_s, l2_s), "overhead_s": overhead, "waves": full + has_tail}


def best_pairs(geo: Geometry, params: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(index of the fastest pair of every case, pair_times); cases with a given tile have one pair."""
    pt = pair_times(geo, params)
    order = np.lexsort((pt["total_s"], geo.row))               # by case, then time: first of each case is its best
    first = np.flatnonzero(np.r_[True, geo.row[order][1:] != geo.row[order][:-1]])
    return order[first], pt


def predict_s(geo: Geometry, params: dict) -> np.ndarray:
    """Predicted time (s) of every case: its tile's, or the fastest of its menu."""
    return np.minimum.reduceat(pair_times(geo, params)["total_s"], geo.starts)


def used_params(kernels: set[str]) -> list[str]:
    """Names of the parameters that cases of these kernels depend on."""
    return [p.name for p in PARAMS if set(p.kernels) & kernels]


def calibrate(geo: Geometry, measured_s: np.ndarray, params: dict, free: list[str]) -> tuple[dict, dict]:
    """Least squares on log(predicted / measured) over the `free` parameters (others fixed at
    `params`), in log-parameter space within each Param's bounds; returns (params, fit info)."""
    from scipy.optimize import least_squares

    if not free:
        return dict(params), {"free": [], "cost": None, "nfev": 0, "status": "nothing to calibrate"}
    bounds = {p.name: (p.lo, p.hi) for p in PARAMS}
    lo = np.log([bounds[f][0] for f in free])
    hi = np.log([bounds[f][1] for f in free])
    x0 = np.clip(np.log([params[f] for f in free]), lo + 1e-9, hi - 1e-9)
    log_meas = np.log(measured_s)

    def residuals(x):
        p = dict(params, **{f: float(np.exp(v)) for f, v in zip(free, x)})
        return np.log(predict_s(geo, p)) - log_meas

    # kinks (max, min over tiles) make the objective piecewise smooth: a coarse difference step
    # sees across them instead of reading a zero slope on one side
    fit = least_squares(residuals, x0, bounds=(lo, hi), method="trf", diff_step=1e-3, x_scale=1.0)
    out = dict(params, **{f: float(np.exp(v)) for f, v in zip(free, fit.x)})
    return out, {"free": list(free), "cost": float(fit.cost), "nfev": int(fit.nfev), "status": fit.message}


@dataclass(frozen=True)
class GemmTime:
    """The model's answer for one case: seconds in total and by part, bytes, tile, waves, bound."""

    total_s: float
    compute_s: float
    memory_s: float
    hbm_s: float
    l2_s: float
    overhead_s: float
    hbm_bytes: float
    l2_bytes: float
    tile: Tile
    ctas: int
    waves: int
    occupancy: int

    @property
    def bound(self) -> str:
        """'compute', 'dram' (HBM) or 'buffer' (L2): the largest of the summed wave terms."""
        return bound_of(self.compute_s, self.hbm_s, self.l2_s)


def bound_of(compute_s: float, hbm_s: float, l2_s: float) -> str:
    """'compute', 'dram' (HBM) or 'buffer' (L2): which summed wave term (s) is largest."""
    if compute_s >= max(hbm_s, l2_s):
        return "compute"
    return "dram" if hbm_s >= l2_s else "buffer"


def gemm_times(gpu: GPU, cases: list[GemmCase], params: dict | None = None) -> list[GemmTime]:
    """Model every case on `gpu` with `params` (default: `default_params(gpu)`)."""
    params = params or default_params(gpu)
    geo = geometry(gpu, cases)
    best, pt = best_pairs(geo, params)
    out = []
    for i in best:
        out.append(GemmTime(**{k: float(pt[k][i]) for k in ("total_s", "compute_s", "memory_s", "hbm_s", "l2_s",
                                                             "overhead_s")},
                            hbm_bytes=float(geo.hbm_bytes[i]), l2_bytes=float(geo.l2_bytes[i]), tile=geo.tiles[i],
                            ctas=int(geo.ctas[i]), waves=int(pt["waves"][i]), occupancy=int(geo.occupancy[i])))
    return out


def gpu_op_cost(arch: Arch, op: Op) -> LayerResult:
    """Latency (s), bytes from HBM and L2, and TDP-bound energy (pJ) of one op on a GPU preset:
    cuBLAS for dense ops, cuSPARSELt on the 2:4 sparse tensor cores when the op's weights execute
    as N:M (mapping.plan_sparsity) and the preset rates its dtype; default parameters."""
    g = arch.gpu
    plan = plan_sparsity(arch, op)
    use_sparse = plan.kind == "nm" and g.dtype in g.sparse_tensor_flops
    case = GemmCase("cusparselt" if use_sparse else "cublas", op.M, op.N, op.K, g.dtype,
                    plan.n if use_sparse else 1, plan.m if use_sparse else 1,
                    plan.index_bits if use_sparse else 0, op.batch)
    r = gemm_times(g, [case])[0]
    t = r.total_s
    k_eff = int(executed_gemm(op, plan).k_nnz(op.K)) if use_sparse else op.K
    rate = g.sparse_tensor_flops[g.dtype] if use_sparse else g.dense_tensor_flops[g.dtype]
    flops = 2.0 * op.M * op.N * op.K * op.batch
    tl = r.tile
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(op.weight_sparsity), executed_sparsity=plan.label if use_sparse else "dense",
        cycles=int(round(t * g.boost_clock_hz)), latency_s=t, utilization=flops / (t * rate),
        macs_dense=op.macs, macs_effective=op.M * op.N * k_eff * op.batch,
        bytes={"hbm": r.hbm_bytes, "l2": r.l2_bytes}, energy_pj=g.tdp_w * t * 1e12,
        energy_breakdown_pj={"tdp_bound": g.tdp_w * t * 1e12},
        cycle_breakdown={"compute_s": r.compute_s, "memory_s": r.memory_s, "launch_s": r.overhead_s,
                         "ctas": r.ctas, "waves": r.waves, "block_m": tl.block_m, "block_n": tl.block_n,
                         "block_k": tl.block_k, "split_k": tl.split_k},
        notes=[plan.note] if plan.note else [], bottleneck=r.bound,
    )
