"""CTA tile menus of our Triton kernels: the one definition shared by the kernels' autotuners
(gpu_kernels/nm_matmul.py, dense_matmul.py, nm_decode.py) and the GPU cost model
(sim/gpu_model.py), which predicts a Triton row without a recorded config at the best of these.
Units: BLOCK_* in elements (M tokens, N output rows, K reduction columns; decode BLOCK_J stored
nonzeros), num_warps and num_stages counts; the decode budget in fp32 values per thread.

Plain data, no torch or triton: `sim` stays importable without them and never imports
`gpu_kernels`; `gpu_kernels` (after `sim` in docs/ARCHITECTURE.md's table) imports the menus from here.
"""
from __future__ import annotations

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
