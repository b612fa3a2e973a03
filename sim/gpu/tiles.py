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

from .kernels import DECODE_KERNEL, DTYPE_BYTES, LIBRARY_KERNELS, NM_KERNELS, SPARSE_TC_KERNELS, GemmCase

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
DEFAULT_GROUP_M = GEMM_GROUP_M    # assumed: the libraries swizzle like our Triton kernels
# assumed: the 2:4 kernels of cuSPARSELt and of CUTLASS's library: sparse MMA (m16n8k32) CTA tiles of
# 64 to 256 per side, the smallest of which still pads a few tokens to 64 rows (tile quantization);
# no split-K: torch calls cuSPARSELt's default plan (alg_id 0, no cusparseLtMatmulSearch) and the
# CUTLASS profiler's default is one K slice. The 2:4 operand is the weight (W rows on one tile side).
SPARSE_TILE_MENU = ((256, 128, 64, 8, 3), (128, 256, 64, 8, 3), (128, 128, 64, 4, 3), (128, 64, 64, 4, 4),
                    (64, 128, 64, 4, 4), (64, 64, 64, 4, 4))
# source: pytorch/pytorch@09bfdd9 aten/src/ATen/native/sparse/cuda/SparseSemiStructuredOps.cu: torch's
# CUTLASS 2:4 backend instantiates one kernel per dtype, ThreadblockShape 128x128x64 with WarpShape
# 64x64x64 (4 warps) for fp16/bf16, 128x128x128 for int8, 128x64x32 for fp32, and no split-K
# (stages: assumed 3, CUTLASS's sm80 default)
TORCH_CUTLASS_SPARSE_TILE = {"fp16": (128, 128, 64, 4, 3), "bf16": (128, 128, 64, 4, 3),
                             "int8": (128, 128, 128, 4, 3), "fp32": (128, 64, 32, 4, 3)}


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
    """Shared memory of one pipeline stage of a prefill tile (B): the x tile and the weight tile as
    stored (dense: e bytes per element; compressed: (n/m)(e + index_bits/8)); scalars or numpy arrays."""
    return block_m * block_k * e + block_n * block_k * np.where(compressed, (n / m) * (e + index_bits / 8), e)


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
    factors that leave each CTA two K steps), each menu tile with as many of its pipeline stages
    as the SM's shared memory holds."""
    if case.tile is not None:
        return [case.tile]
    if case.kernel == DECODE_KERNEL:
        bt = _pow2_at_least(case.M)
        return [CtaTile(bt, bn, bj, w, stages, 1, 1) for bn, bj, w, stages in decode_tiles_for(bt)]
    menu, splits = kernel_menu(case)
    out = []
    for bm, bn, bk, w, stages in menu:
        per_stage = stage_bytes(case.kernel in NM_KERNELS + SPARSE_TC_KERNELS, DTYPE_BYTES[case.dtype],
                                n=case.n, m=case.m, index_bits=case.index_bits, block_m=bm, block_n=bn, block_k=bk)
        stages = min(stages, int(gpu.smem_bytes_per_sm // per_stage))
        if stages >= 1:
            out += [CtaTile(bm, bn, bk, w, stages, DEFAULT_GROUP_M, sk) for sk in splits
                    if sk == 1 or -(-case.K // sk) >= 2 * bk]
    return out
