"""CTA tiles: the tile record (`CtaTile`), the menus a kernel picks its tile from, the candidate
tiles of one kernel call, and the tile of a measurement row's `config` text.

Units: BLOCK_* in elements (M tokens, N output rows, K reduction columns; decode BLOCK_J stored
nonzeros), num_warps, num_stages and split-K counts, shared memory in bytes, the decode register
budget in fp32 values per thread.

Our Triton kernels' menus (`GEMM_TILES`, `DECODE_TILES`, `fit_decode_tiles`) are the one
definition shared by the kernels' autotuners (gpu_kernels/nm_matmul.py, dense_matmul.py,
nm_decode.py) and the model, which predicts a Triton row without a recorded config at the best of
them. This module imports no torch or triton: `sim` stays importable without them and never
imports `gpu_kernels`; `gpu_kernels` (after `sim` in docs/ARCHITECTURE.md's table) imports the
menus from here. The libraries' tiles are not recorded, so `LIBRARY_TILE_MENU` is the model's own
guess at them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nmsim.accel.spec import GPU
from nmsim.specfile import SpecError

from .kernels import (DECODE_KERNEL, DTYPE_BYTES, KERNEL_FAMILY, LIBRARY_KERNELS, NM_PREFILL_KERNEL,
                      SPARSE_TC_KERNELS, GemmCase)

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) of the prefill (`triton_nm`) and dense
# (`triton_dense`) kernels: tall/wide tiles for large token counts, BLOCK_M = 16/32 for small ones.
# assumed: a Triton-tutorial-like menu, trimmed to tiles that compile for sm_90a (Triton 3.9)
# without register spills for 2:4, 1:8 and 3:32 fp16 (8 warps where the expanded weight tile is
# large; derived: ptxas -v on the kernels' PTX, docs/GPU.md "Compile check", where the dense
# kernel's 16x256 tile spills 16 bytes). The autotuner picks per (M, N, K, n, m) and drops tiles
# whose shared memory does not fit the device.
GEMM_TILES: tuple[tuple[int, int, int, int, int], ...] = (
    (128, 128, 64, 8, 3),
    (128, 64, 64, 8, 3),
    (64, 128, 64, 8, 3),
    (64, 64, 64, 4, 3),
    (32, 128, 64, 8, 3),
    (32, 64, 64, 4, 3),
    (16, 256, 64, 8, 3),
    (16, 128, 64, 4, 3),
    (16, 64, 64, 4, 3),
)
GEMM_GROUP_M = 8  # CTA swizzle: 8 row tiles share a weight panel in L2

# (BLOCK_N, BLOCK_J, num_warps, num_stages) of the decode kernel (`triton_nm_decode`): BLOCK_N
# weight rows x BLOCK_J stored nonzeros per step. assumed: from narrow-and-deep (few rows, long
# stretches of nonzeros: streaming) to wide (more rows per program for small K), plus small tiles
# for 8-16 tokens.
DECODE_TILES: tuple[tuple[int, int, int, int], ...] = (
    (4, 256, 4, 3),
    (8, 128, 4, 3),
    (16, 64, 4, 3),
    (16, 128, 4, 3),
    (32, 128, 4, 3),
    (64, 64, 4, 3),
    (16, 256, 8, 3),
    (32, 256, 8, 3),
    (64, 128, 8, 3),
    (2, 128, 4, 3),
    (4, 64, 4, 3),
    (8, 32, 4, 3),
    (8, 64, 8, 3),
    (16, 32, 8, 3),
)
# derived: compiled for sm_90a with Triton 3.9, decode gather tiles [BLOCK_T, BLOCK_N, BLOCK_J] of up
# to 32 fp32 values per thread used <= 197 registers and never spilled, while 128 per thread
# spilled in most configs (ptxas -v on the kernel's PTX, docs/GPU.md).
MAX_DECODE_ELEMS_PER_THREAD = 32
THREADS_PER_WARP = 32

# assumed: CTA tiles (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) of the kind cuBLAS, CUTLASS and
# cuSPARSELt use on Ampere/Hopper: the model's own guess at the libraries' tiles, which are not
# recorded (BLOCK_M = 16 is the smallest tensor-core MMA height).
LIBRARY_TILE_MENU = ((256, 128, 64, 8, 3), (128, 256, 64, 8, 3), (128, 128, 64, 8, 3), (128, 64, 64, 4, 4),
                     (64, 128, 64, 4, 4), (64, 64, 64, 4, 4), (32, 128, 64, 4, 4), (16, 128, 128, 4, 4),
                     (16, 64, 128, 4, 4))
# assumed: libraries may split K over CTAs (cuBLAS, CUTLASS and cuSPARSELt all offer split-K) to
# fill the SMs when M x N has few tiles; Triton kernels here never split (grid = tiles of M x N).
SPLIT_K_MENU = (1, 2, 4, 8, 16)
# source for the CUTLASS library kernels (the profiler's cutlass_dense and cutlass_spgemm):
# NVIDIA/cutlass@751eb9a python/cutlass_library/generator.py, DefaultSwizzlingFunctor() returns
# Identity8 and CreateSparseGemmOperator defaults to it (8 tiles of the non-weight side per band, our
# group of 8 token tiles); assumed for cuBLAS and cuSPARSELt, whose launch order is not published
DEFAULT_GROUP_M = GEMM_GROUP_M
# assumed: the 2:4 kernels of cuSPARSELt and of CUTLASS's library: sparse MMA (m16n8k32) CTA tiles of
# 64 to 256 per side, the smallest of which still pads a few tokens to 64 rows (tile quantization);
# no split-K: torch calls cuSPARSELt's default plan (alg_id 0, no cusparseLtMatmulSearch) and the
# CUTLASS profiler's default is one K slice. The 2:4 operand is the weight (W rows on one tile side).
SPARSE_TILE_MENU = ((256, 128, 64, 8, 3), (128, 256, 64, 8, 3), (128, 128, 64, 4, 3), (128, 64, 64, 4, 4),
                    (64, 128, 64, 4, 4), (64, 64, 64, 4, 4))
# source: pytorch/pytorch@09bfdd9 aten/src/ATen/native/sparse/cuda/SparseSemiStructuredOps.cu: torch's
# CUTLASS 2:4 backend instantiates one kernel per dtype, ThreadblockShape 128x128x64 with WarpShape
# 64x64x64 (4 warps) for fp16/bf16, 128x128x128 for int8, 128x64x32 for fp32, `NumStages = 3` and no
# split-K
TORCH_CUTLASS_SPARSE_TILE = {"fp16": (128, 128, 64, 4, 3), "bf16": (128, 128, 64, 4, 3),
                             "int8": (128, 128, 128, 4, 3), "fp32": (128, 64, 32, 4, 3)}
# source: the same file (spgemm_cutlass): `SwizzleThreadBlock = GemmIdentityThreadblockSwizzle<>`, whose
# default swizzle width is 1 (CUTLASS include/cutlass/gemm/threadblock/threadblock_swizzle.h: `template
# <int N = 1>`, log tile 0 for N = 1): blockIdx.x walks the tiles of the sparse operand's rows (the
# weight's, `length_m = tensor_a.size(0)`) for one tile of tokens, no grouping. A wave holds one token
# tile against `conc` weight tiles, so a weight too big to stay in L2 is fetched again for every token
# tile (geometry._prefill_terms), where a group of 8 would fetch it an eighth as often.
TORCH_CUTLASS_SPARSE_GROUP_M = 1


def decode_elems_per_thread(block_t: int, block_n: int, block_j: int, num_warps: int) -> float:
    """fp32 values per thread of the decode kernel's gather tile for `block_t` tokens (count)."""
    return block_t * block_n * block_j / (THREADS_PER_WARP * num_warps)


def fit_decode_tiles(tiles, block_t: int, shape=lambda t: t[:3]) -> list:
    """Those of `tiles` whose gather tile for a token block of `block_t` (count, power of two >=
    tokens) is within MAX_DECODE_ELEMS_PER_THREAD fp32 values per thread, else the single smallest.
    `shape(tile)` gives (BLOCK_N, BLOCK_J, num_warps): tuples here, triton.Configs in the autotuner."""
    def per_thread(t):
        return decode_elems_per_thread(block_t, *shape(t))

    fit = [t for t in tiles if per_thread(t) <= MAX_DECODE_ELEMS_PER_THREAD]
    return fit or [min(tiles, key=per_thread)]


def decode_tiles_for(block_t: int) -> list[tuple[int, int, int, int]]:
    """The DECODE_TILES the decode autotuner keeps for a token block of `block_t` (count)."""
    return fit_decode_tiles(DECODE_TILES, block_t)


@dataclass(frozen=True)
class CtaTile:
    """A CTA tile: BLOCK_M x BLOCK_N outputs, BLOCK_K reduction columns per step (decode:
    BLOCK_N rows x BLOCK_J stored values per step), all in elements; warps, pipeline stages,
    swizzle group (row tiles) and split-K factor, all counts."""

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


def parse_config(kernel: str, config: str, M: int) -> CtaTile | None:
    """The tile of a measurement row's `config` ('BLOCK_M=64,BLOCK_N=128,BLOCK_K=64,GROUP_M=8,
    num_warps=4,num_stages=3'; decode: 'BLOCK_N=..,BLOCK_J=..,...'); None for '' (library kernels).
    A decode tile's BLOCK_M is the token block the kernel pads M tokens to."""
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
        return CtaTile(_pow2_at_least(M), kv["BLOCK_N"], kv["BLOCK_J"], warps, stages, 1, 1)
    return CtaTile(kv["BLOCK_M"], kv["BLOCK_N"], kv["BLOCK_K"], warps, stages, kv.get("GROUP_M", DEFAULT_GROUP_M), 1)


def _pow2_at_least(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def stage_bytes(compressed, e, *, n, m, index_bits, block_m, block_n, block_k) -> float | np.ndarray:
    """Shared memory of one pipeline stage of a library prefill tile (B): the x tile and the weight
    tile as stored (dense: e bytes per element; compressed: (n/m)(e + index_bits/8)); scalars or
    numpy arrays."""
    return block_m * block_k * e + block_n * block_k * np.where(compressed, (n / m) * (e + index_bits / 8), e)


# derived: what Triton allocates for our prefill kernels (gpu_kernels/nm_matmul.py, dense_matmul.py),
# read from the compiler for sm_75, sm_80, sm_89 and sm_90a with Triton 3.9 and for sm_80 and sm_90a
# with Triton 3.6 (docs/GPU.md "Compile check"; every compile in tests/gpu_kernels/data/triton_smem.jsonl
# matches). From sm_80 on (cp.async):
# * the software pipeline holds stages - 1 x tiles, or `stages` for 16-bit tiles of 64 rows or more
#   on sm_90a (wgmma reads x from shared memory); dense weight tiles likewise;
# * the N:M kernel stages per stored value its two int32 index words (`unpack_positions` loads `lo`
#   and `hi`), the value itself only where a thread's run of values is 4 bytes or more (fp32, or
#   16-bit values of one per group with m <= 8, whose group index the compiler proves aligned), plus
#   one [KT, BLOCK_N] buffer for the expanded weight tile on its way into tl.dot;
# * the epilogue converts the BLOCK_M x BLOCK_N output through shared memory, reusing the pipeline's.
# On sm_75 (no cp.async) 16-bit tiles take max(2 x tiles, weight tiles: 2 dense, 1 expanded N:M) and
# fp32 tiles one x tile plus one weight tile, whatever num_stages says.
TRITON_INDEX_STAGE_BYTES = 8        # two int32 words per stored value
TRITON_RING_CC = 8.0                # cp.async: stages - 1 ring buffers from sm_80 on
TRITON_WGMMA_CC, TRITON_WGMMA_MIN_M = 9.0, 64


def triton_smem_bytes(compressed, e, *, n, m, cc, block_m, block_n, block_k, stages) -> float | np.ndarray:
    """Shared memory (B) Triton allocates for one CTA of our prefill kernel (compressed: triton_nm, else
    triton_dense) with `e`-byte operands at compute capability `cc`; scalars or numpy arrays."""
    groups = np.ceil(block_k / m)
    kt = np.where(compressed, groups * m, block_k)      # dense columns per K step (whole groups)
    x_tile, w_tile = block_m * kt * e, block_n * kt * e
    # sm_80 and later
    wgmma = (cc >= TRITON_WGMMA_CC) & (block_m >= TRITON_WGMMA_MIN_M) & (e == 2)
    x_bufs = np.where(wgmma, stages, stages - 1)
    value_staged = np.logical_or(e >= 4, (n == 1) & (m <= 8))
    staged_w = np.where(compressed, block_n * ((stages - 1) * groups * n * (TRITON_INDEX_STAGE_BYTES + e * value_staged))
                        + w_tile, x_bufs * w_tile)
    ring = np.maximum(x_bufs * x_tile + staged_w, block_m * block_n * e)
    # sm_75
    wide = e >= 4
    turing = np.where(wide, x_tile + w_tile, np.maximum(2 * x_tile, np.where(compressed, 1, 2) * w_tile))
    return np.where(cc >= TRITON_RING_CC, ring, turing)


def decode_smem_bytes(block_t, block_n, block_j, num_warps) -> float | np.ndarray:
    """Shared memory (B) of one decode-kernel CTA for a token block of `block_t`: its cross-warp
    reduction buffer over BLOCK_J, the largest the compilers allocate (derived: every tile of
    DECODE_TILES for 1, 4 and 16 tokens, Triton 3.9 and 3.6, sm_80 and sm_90a; docs/GPU.md "Compile
    check"): 4 B x min(BLOCK_N x BLOCK_J, 256 per warp) (3.9), and at one token up to 2 B x BLOCK_N x
    BLOCK_J (3.6, sm_80; its other figures are at most 3.9's)."""
    elems = block_n * block_j
    return np.maximum(4 * np.minimum(elems, 256 * num_warps), np.where(block_t == 1, 2 * elems, 0))


def smem_bytes(cc, *, triton, nm, decode, sparse_lib, e, n, m, index_bits, block_m, block_n, block_k, num_warps,
               stages) -> float | np.ndarray:
    """Shared memory (B) of one CTA at compute capability `cc`: our Triton prefill kernels (`triton`;
    `nm`: the N:M one) as the compiler allocates them, the decode kernel's reduction buffer, library
    kernels `stages` x `stage_bytes` (CUTLASS-style multistage; `sparse_lib`: the 2:4 operand
    compressed); scalars or numpy arrays."""
    lib = stages * stage_bytes(sparse_lib, e, n=n, m=m, index_bits=index_bits, block_m=block_m, block_n=block_n,
                               block_k=block_k)
    ours = triton_smem_bytes(nm, e, n=n, m=m, cc=cc, block_m=block_m, block_n=block_n, block_k=block_k, stages=stages)
    return np.where(decode, decode_smem_bytes(block_m, block_n, block_k, num_warps), np.where(triton, ours, lib))


def cta_smem_bytes(gpu: GPU, case: GemmCase, tile: CtaTile) -> float:
    """`smem_bytes` of one CTA of `case` at `tile` on `gpu` (B)."""
    return float(smem_bytes(gpu.compute_capability, triton=KERNEL_FAMILY[case.kernel] == "triton",
                            nm=case.kernel == NM_PREFILL_KERNEL, decode=case.kernel == DECODE_KERNEL,
                            sparse_lib=case.kernel in SPARSE_TC_KERNELS, e=DTYPE_BYTES[case.dtype], n=case.n, m=case.m,
                            index_bits=case.index_bits, block_m=tile.block_m, block_n=tile.block_n,
                            block_k=tile.block_k, num_warps=tile.num_warps, stages=tile.num_stages))


def kernel_menu(case: GemmCase) -> tuple[tuple, tuple[int, ...]]:
    """(tiles as (BLOCK_M, BLOCK_N, BLOCK_K elements, warps, stages), split-K factors) a kernel
    chooses from: dense libraries LIBRARY_TILE_MENU x SPLIT_K_MENU; cuSPARSELt and CUTLASS library
    2:4 kernels SPARSE_TILE_MENU without split-K; torch's CUTLASS 2:4 backend its one tile; our
    Triton kernels the menu they autotune over."""
    if case.kernel == "cutlass":
        return (TORCH_CUTLASS_SPARSE_TILE.get(case.dtype, TORCH_CUTLASS_SPARSE_TILE["fp16"]),), (1,)
    if case.kernel in SPARSE_TC_KERNELS:
        return SPARSE_TILE_MENU, (1,)
    if case.kernel in LIBRARY_KERNELS:
        return LIBRARY_TILE_MENU, SPLIT_K_MENU
    return GEMM_TILES, (1,)


def candidate_tiles(gpu: GPU, case: GemmCase) -> list[CtaTile]:
    """The tiles a case may run with: its own, else its kernel's menu (`kernel_menu`; split-K
    factors that leave each CTA two K steps; swizzle group DEFAULT_GROUP_M, torch's CUTLASS 2:4
    kernel TORCH_CUTLASS_SPARSE_GROUP_M) within the GPU's shared memory per block: our Triton
    kernels' autotuner drops a config that does not fit (Triton refuses to launch it), a library
    tile keeps as many of its pipeline stages as fit."""
    if case.tile is not None:
        return [case.tile]
    limit = gpu.smem_bytes_per_block
    if case.kernel == DECODE_KERNEL:
        bt = _pow2_at_least(case.M)
        out = [CtaTile(bt, bn, bj, w, stages, 1, 1) for bn, bj, w, stages in decode_tiles_for(bt)]
        return [t for t in out if cta_smem_bytes(gpu, case, t) <= limit]
    menu, splits = kernel_menu(case)
    triton = KERNEL_FAMILY[case.kernel] == "triton"
    group = TORCH_CUTLASS_SPARSE_GROUP_M if case.kernel == "cutlass" else DEFAULT_GROUP_M
    out = []
    for bm, bn, bk, w, stages in menu:
        while stages >= 1 and cta_smem_bytes(gpu, case, CtaTile(bm, bn, bk, w, stages)) > limit:
            stages = 0 if triton else stages - 1
        if stages >= 1:
            out += [CtaTile(bm, bn, bk, w, stages, group, sk) for sk in splits
                    if sk == 1 or -(-case.K // sk) >= 2 * bk]
    return out
