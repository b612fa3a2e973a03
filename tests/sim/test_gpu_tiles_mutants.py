"""sim/gpu/tiles.py against constraints that do not come from the menus themselves.

Expected values are derived from hardware and compiler rules, the documented formulas (docs/GPU.md)
or primary sources (cited where used), never copied from the module:

* Triton: every `tl.arange` length (BLOCK_M, BLOCK_N, BLOCK_K, the whole-group K step KT,
  BLOCK_J) must be a power of two, `tl.dot` needs each side >= 16, and num_warps is a power of two
  (Triton lays a CTA's warps out as a power-of-two grid); a CUDA block has at most 1024 threads.
* Tensor-core MMA shapes (PTX ISA, `mma.sync`): dense fp16 m16n8k16, sparse fp16 m16n8k32, so a
  CUTLASS/cuBLAS CTA tile is a multiple of 16 x 8 x 16 (dense) or 16 x 8 x 32 (2:4).
* Shared memory: library tiles `smem_cta = stages * (BM*BK*e + BN*BK*w_e)`, `w_e = e` dense,
  `(n/m)(e + b/8)` compressed (docs/GPU.md "Formulas"), dropping stages until one CTA fits the
  block limit; our Triton kernels as the compiler allocates them (`triton_smem_bytes`, checked
  against the compiler's own figures in test_gpu_tiles_compiler.py), a config that does not fit
  dropped as Triton's autotuner drops it. CUDA's block limit: the SM's shared memory less 1 KB from
  compute capability 8.0 on (CUDA C++ Programming Guide: 163 of 164 KB on 8.0, 227 of 228 on 9.0).
* The decode register budget: at most 32 fp32 gather values per thread (docs/GPU.md "Compile check"),
  32 threads per warp (CUDA).

No torch or triton import: the menus live in sim so that both stay optional.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import tiles
from nmsim.sim.gpu.kernels import GemmCase
from nmsim.specfile import SpecError

REPO = Path(__file__).resolve().parents[2]
GPU_PRESETS = ("a100-40gb", "a100", "a30", "h100", "h200", "l40s", "rtx3060", "rtx4070-ti-super", "t4")
# the N:M group sizes the Triton kernels run: gpu_kernels/bench.py DEFAULT_PATTERNS (2:4 1:4 2:8 1:8
# 1:16 1:32) and tests/gpu_kernels/helpers.py PATTERNS (m in 4, 8, 16, 32)
KERNEL_GROUP_SIZES = (4, 8, 16, 32)
E_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "int8": 1}


def pow2(x: int) -> bool:
    return x >= 1 and x & (x - 1) == 0


def gpu(name: str):
    return load_arch(name).gpu


def menu_of(kernel: str, **kw) -> tuple:
    """The tiles `kernel` chooses from, as tiles.kernel_menu gives them to the model."""
    return tiles.kernel_menu(GemmCase(kernel, 64, 1024, 1024, **kw))[0]


# --- Triton menus: what the compiler and the kernels require -------------------------------------

def test_gemm_tiles_are_legal_triton_tiles():
    assert menu_of("triton_nm") == menu_of("triton_dense")          # one menu, both kernels (docs/GPU.md)
    for bm, bn, bk, warps, stages in menu_of("triton_nm"):
        # tl.arange(0, BLOCK_*) and tl.dot: powers of two, each side >= 16
        assert all(pow2(v) and v >= 16 for v in (bm, bn, bk)), (bm, bn, bk)
        assert pow2(warps) and 32 * warps <= 1024
        assert stages >= 1


@pytest.mark.parametrize("m", KERNEL_GROUP_SIZES)
def test_gemm_block_k_holds_whole_groups(m):
    # nm_matmul walks K in KT = ceil(BLOCK_K / m) * m columns (tl.arange(0, KT), tl.arange(0, BLOCK_G)):
    # both powers of two, and KT == BLOCK_K (the K step the model and the smem formula assume)
    # exactly when BLOCK_K holds whole groups
    for bm, bn, bk, _, _ in menu_of("triton_nm", n=1, m=m, index_bits=1):
        groups = -(-bk // m)
        assert pow2(groups) and pow2(groups * m)
        assert groups * m == bk, (bk, m)


def test_gemm_menu_shape_documented():
    # docs/GPU.md: tall/wide tiles for many tokens, BLOCK_M = 16/32 for few; 8 warps wherever the
    # expanded weight tile is large: 4-warp tiles of 64x128 and larger spilled ("Compile check")
    menu = menu_of("triton_dense")
    bms = {t[0] for t in menu}
    assert min(bms) == 16 and 32 in bms
    assert any(bm > bn for bm, bn, *_ in menu) and any(bn > bm for bm, bn, *_ in menu)
    for bm, bn, bk, warps, _ in menu:
        if bm * bn >= 64 * 128:
            assert warps == 8, (bm, bn)
    assert len(set(menu)) == len(menu)


@pytest.mark.parametrize("preset", ["h100", "h200"])
@pytest.mark.parametrize("kernel,n,m,b", [("triton_dense", 1, 1, 0), ("triton_nm", 2, 4, 2), ("triton_nm", 1, 8, 3),
                                          ("triton_nm", 3, 32, 5)])
def test_gemm_tiles_fit_the_compile_check_target_at_their_stages(preset, kernel, n, m, b):
    # the menu was trimmed for sm_90a: in fp16, dense and the compressed patterns of the compile
    # check, every tile keeps all its stages within a Hopper block's 227 KiB (232448 B)
    g = gpu(preset)
    assert g.smem_bytes_per_block == 232448
    case = GemmCase(kernel, 64, 1024, 1024, n=n, m=m, index_bits=b)
    assert [(t.block_m, t.block_n, t.block_k, t.num_warps, t.num_stages) for t in tiles.candidate_tiles(g, case)] \
        == list(tiles.GEMM_TILES)


def test_decode_tiles_are_legal_triton_tiles():
    menu = tiles.decode_tiles_for(1)            # docs/GPU.md: at one token the autotuner keeps all of them
    assert menu == list(tiles.DECODE_TILES)
    for bn, bj, warps, stages in menu:
        assert pow2(bn) and pow2(bj), (bn, bj)        # tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_J)
        assert pow2(warps) and 32 * warps <= 1024
        assert stages >= 1
    assert len(set(menu)) == len(menu)


def test_decode_menu_serves_every_token_block_within_budget():
    # decode runs 1..16 tokens (BLOCK_T = 1, 2, 4, 8, 16); docs/GPU.md: all 14 configs fit at one
    # token, 5 at sixteen; every token block has at least one tile within 32 values per thread,
    # so the fallback (a spilling tile) is never needed on the kernel's range
    assert len(tiles.DECODE_TILES) == 14
    for bt in (1, 2, 4, 8, 16):
        kept = tiles.decode_tiles_for(bt)
        assert kept and all(bt * bn * bj / (32 * w) <= 32 for bn, bj, w, _ in kept)
        assert kept == [t for t in tiles.DECODE_TILES if bt * t[0] * t[1] <= 1024 * t[2]]
    assert len(tiles.decode_tiles_for(1)) == 14 and len(tiles.decode_tiles_for(16)) == 5


def test_decode_elems_per_thread_by_hand():
    # 32 threads per warp (CUDA): a 1 x 32 x 32 gather tile over one warp is 32 values per thread,
    # 4 x 16 x 64 over 2 warps = 4096 / 64 = 64
    assert tiles.decode_elems_per_thread(1, 32, 32, 1) == 32
    assert tiles.decode_elems_per_thread(4, 16, 64, 2) == 64
    assert tiles.decode_elems_per_thread(1, 2, 8, 1) == 0.5


def test_fit_decode_tiles_budget_is_32_values_per_thread():
    # (BLOCK_N, BLOCK_J, warps): 33 x 32 / 32 = 33 values per thread is over the budget of 32;
    # 32 x 32 / 32 = 32 is within it (docs/GPU.md: more than 32 are pruned)
    over, at = (33, 32, 1, 3), (32, 32, 1, 3)
    assert tiles.fit_decode_tiles([over, at], 1) == [at]
    # with 2 tokens both are over: the single smallest (32 x 32 x 2 / 32 = 64) stays
    assert tiles.fit_decode_tiles([over, at], 2) == [at]
    assert tiles.fit_decode_tiles([at, over], 2) == [at]


def test_fit_decode_tiles_fallback_is_the_smallest_and_shape_is_used():
    # none fits 16 tokens: 16*64*256/(32*4) = 2048, 16*32*256/(32*8) = 512, 16*64*128/(32*8) = 512,
    # 16*8*64/(32*1) = 256 values per thread: the smallest (the last) alone
    menu = [(64, 256, 4, 3), (32, 256, 8, 3), (8, 64, 1, 3), (64, 128, 8, 3)]
    assert tiles.fit_decode_tiles(menu, 16) == [(8, 64, 1, 3)]
    # shape(): configs as dicts, as the autotuner passes triton.Configs with its own accessor
    cfgs = [{"n": 4, "j": 64, "w": 4}, {"n": 64, "j": 256, "w": 4}]
    kept = tiles.fit_decode_tiles(cfgs, 8, lambda c: (c["n"], c["j"], c["w"]))
    assert kept == [cfgs[0]]                                     # 8*4*64/128 = 16; 8*64*256/128 = 1024


# --- library menus: tensor-core MMA shapes, documented ranges, the primary source ---------------

def test_library_tiles_are_mma_multiples():
    # dense fp16 MMA m16n8k16; "BLOCK_M = 16 is the smallest tensor-core MMA height"; the warp
    # layout of a CTA is a power of two (2x2, 2x4 ... warp tiles)
    menu = menu_of("cublas")
    assert menu == menu_of("cutlass_dense")
    for bm, bn, bk, warps, stages in menu:
        assert all(pow2(v) for v in (bm, bn, bk)), (bm, bn, bk)
        assert bm % 16 == 0 and bn % 8 == 0 and bk % 16 == 0
        assert pow2(warps) and 32 * warps <= 1024 and stages >= 2   # a multistage pipeline
    assert min(t[0] for t in menu) == 16
    assert len(set(menu)) == len(menu)


def test_sparse_tiles_are_sparse_mma_multiples_of_64_to_256():
    # sparse MMA m16n8k32 (fp16/bf16); "CTA tiles of 64 to 256 per side"
    menu = menu_of("cusparselt", n=2, m=4, index_bits=2)
    assert menu == menu_of("cutlass_spgemm", n=2, m=4, index_bits=2)
    for bm, bn, bk, warps, stages in menu:
        assert all(pow2(v) for v in (bm, bn, bk)), (bm, bn, bk)
        assert 64 <= bm <= 256 and 64 <= bn <= 256 and bk % 32 == 0
        assert pow2(warps) and 32 * warps <= 1024 and stages >= 2
    assert min(min(t[0], t[1]) for t in menu) == 64
    assert len(set(menu)) == len(menu)


# source: pytorch/pytorch@09bfdd9 aten/src/ATen/native/sparse/cuda/SparseSemiStructuredOps.cu,
# sparse_semi_structured_mad_op: (ThreadblockShape, WarpShape) per dtype; spgemm_cutlass:
# `constexpr int NumStages = 3` for all of them
TORCH_SOURCE = {"int8": ((128, 128, 128), (64, 64, 128)), "fp16": ((128, 128, 64), (64, 64, 64)),
                "bf16": ((128, 128, 64), (64, 64, 64)), "fp32": ((128, 64, 32), (64, 32, 32))}


@pytest.mark.parametrize("dtype", sorted(TORCH_SOURCE))
def test_torch_cutlass_tile_matches_the_pytorch_source(dtype):
    block, warp = TORCH_SOURCE[dtype]
    warps = math.prod(b // w for b, w in zip(block, warp))     # one warp per warp tile of the CTA tile
    assert menu_of("cutlass", dtype=dtype, n=2, m=4, index_bits=2) == ((*block, warps, 3),)


@pytest.mark.parametrize("preset", ["a100-40gb", "a100", "a30", "l40s", "rtx3060", "rtx4070-ti-super"])
@pytest.mark.parametrize("dtype", ["fp16", "bf16", "int8", "fp32"])
def test_torch_cutlass_runs_its_one_compiled_tile_on_every_sm8x_preset(preset, dtype):
    # compiled with NumStages = 3 and no split-K: on every compute capability 8.x preset (where the
    # backend runs) its tile must keep 3 stages: 2:4 weight (n/m)(e + 2/8), dense x
    g = gpu(preset)
    assert int(g.compute_capability) == 8
    case = GemmCase("cutlass", 64, 1024, 1024, dtype, n=2, m=4, index_bits=2)
    bm, bn, bk = TORCH_SOURCE[dtype][0]
    e = E_BYTES[dtype]
    assert 3 * (bm * bk * e + bn * bk * 0.5 * (e + 0.25)) <= g.smem_bytes_per_sm - 1024
    # GemmIdentityThreadblockSwizzle<> (pytorch@09bfdd9 spgemm_cutlass): CUTLASS's default width N = 1
    assert tiles.candidate_tiles(g, case) == [tiles.CtaTile(bm, bn, bk, 4, 3, 1, 1)]
    menu, splits = tiles.kernel_menu(case)
    assert menu == ((bm, bn, bk, 4, 3),) and splits == (1,)


def test_torch_cutlass_other_dtypes_take_the_fp16_tile():
    menu, splits = tiles.kernel_menu(GemmCase("cutlass", 64, 1024, 1024, "fp8", n=2, m=4, index_bits=2))
    assert menu == ((128, 128, 64, 4, 3),) and splits == (1,)


def test_kernel_menu_per_kernel():
    dense = dict(M=64, N=1024, K=1024)
    for k in ("cublas", "cutlass_dense"):
        assert tiles.kernel_menu(GemmCase(k, **dense)) == (tiles.LIBRARY_TILE_MENU, tiles.SPLIT_K_MENU)
    for k in ("cusparselt", "cutlass_spgemm"):     # docs/GPU.md: 2:4 libraries run without split-K
        assert tiles.kernel_menu(GemmCase(k, **dense, n=2, m=4, index_bits=2)) == (tiles.SPARSE_TILE_MENU, (1,))
    for k in ("triton_nm", "triton_dense"):        # our kernels never split K
        assert tiles.kernel_menu(GemmCase(k, **dense)) == (tiles.GEMM_TILES, (1,))
    assert 1 in tiles.SPLIT_K_MENU and tiles.SPLIT_K_MENU == tuple(sorted(set(tiles.SPLIT_K_MENU)))


def test_docs_describe_the_menus_as_they_are():
    """docs/GPU.md states the menus' sizes and ends; keep it and the code in step (read, not copied)."""
    doc = re.sub(r"\s+", " ", (REPO / "docs" / "GPU.md").read_text())
    gemm, _ = tiles.kernel_menu(GemmCase("triton_nm", 64, 1024, 1024))
    library, splits_menu = tiles.kernel_menu(GemmCase("cublas", 64, 1024, 1024))
    sparse, _ = tiles.kernel_menu(GemmCase("cusparselt", 64, 1024, 1024, n=2, m=4, index_bits=2))

    def grab(pattern):
        hit = re.search(pattern, doc)
        assert hit, f"docs/GPU.md no longer says {pattern!r}"
        return hit.groups()

    assert int(grab(r"GROUP_M = (\d+) row tiles")[0]) == tiles.GEMM_GROUP_M == tiles.DEFAULT_GROUP_M
    assert int(grab(r"CUTLASS 2:4 kernel, which launches unswizzled, `G = (\d+)`")[0]) == tiles.TORCH_CUTLASS_SPARSE_GROUP_M
    assert int(grab(r"Autotuned over (\d+) tile configs")[0]) == len(gemm)
    first, last = grab(r"from (\d+x\d+x\d+ \(\d+ warps, \d+ stages\)) down to (\d+x\d+x\d+)")
    bm, bn, bk, w, s = gemm[0]
    assert first == f"{bm}x{bn}x{bk} ({w} warps, {s} stages)"
    assert last == "x".join(map(str, gemm[-1][:3]))
    assert int(grab(r"Autotuned over (\d+) \(BLOCK_N, BLOCK_J, warps\) configs")[0]) == len(tiles.decode_tiles_for(1))
    splits = grab(r"each with split-K ([\d, ]*\d)")[0]
    assert tuple(int(v) for v in splits.split(", ")) == splits_menu
    for name, menu in (("LIBRARY_TILE_MENU", library), ("SPARSE_TILE_MENU", sparse)):
        hi, lo = grab(rf"`{name}` \((\d+x\d+) \.\.\. (\d+x\d+)")
        assert (hi, lo) == (f"{menu[0][0]}x{menu[0][1]}", f"{menu[-1][0]}x{menu[-1][1]}")


# --- CtaTile and parse_config ---------------------------------------------------------------------

def test_cta_tile_defaults_and_text():
    # Triton's own defaults (triton.Config: num_warps=4, num_stages=3), no split-K, GROUP_M 8
    t = tiles.CtaTile(64, 128, 32)
    assert (t.num_warps, t.num_stages, t.group_m, t.split_k) == (4, 3, 8, 1)
    assert t.text() == "64x128x32 w4 s3"
    assert tiles.CtaTile(128, 128, 64, 8, 3, 8, 2).text() == "128x128x64 w8 s3 splitK2"
    assert tiles.CtaTile(16, 64, 128, 4, 4, 8, 16).text() == "16x64x128 w4 s4 splitK16"


def gemm_config(bm, bn, bk, w, s, g=8) -> str:
    """The bench's `config` column as gpu_kernels/nm_matmul.config_text writes it."""
    return f"BLOCK_M={bm},BLOCK_N={bn},BLOCK_K={bk},GROUP_M={g},num_warps={w},num_stages={s}"


@pytest.mark.parametrize("kernel", ["triton_nm", "triton_dense"])
def test_parse_config_round_trips_the_gemm_menu(kernel):
    for bm, bn, bk, w, s in tiles.GEMM_TILES:
        t = tiles.parse_config(kernel, gemm_config(bm, bn, bk, w, s), M=4096)
        assert t == tiles.CtaTile(bm, bn, bk, w, s, 8, 1)
    # spaces around keys, and an explicit GROUP_M
    t = tiles.parse_config(kernel, " BLOCK_M=32 , BLOCK_N=64,BLOCK_K=64,GROUP_M=4", M=7)
    assert t == tiles.CtaTile(32, 64, 64, 4, 3, 4, 1)


def test_parse_config_defaults_are_tritons():
    # a config text without num_warps/num_stages/GROUP_M ran with triton.Config's defaults (4 warps,
    # 3 stages) and the kernels' swizzle of 8 row tiles (docs/GPU.md)
    t = tiles.parse_config("triton_nm", "BLOCK_M=64,BLOCK_N=64,BLOCK_K=64", M=64)
    assert (t.num_warps, t.num_stages, t.group_m, t.split_k) == (4, 3, 8, 1)
    # one stage (the interpreter's tile) is a legal value
    t = tiles.parse_config("triton_dense", gemm_config(16, 16, 32, 4, 1), M=3)
    assert t.num_stages == 1 and t.text() == "16x16x32 w4 s1"


@pytest.mark.parametrize("M,bt", [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (8, 8), (9, 16), (16, 16), (17, 32)])
def test_parse_config_decode_pads_tokens_to_a_power_of_two(M, bt):
    # BLOCK_T = triton.next_power_of_2(M) (gpu_kernels/nm_decode.py); one program per BLOCK_N rows:
    # no row-tile swizzle (group 1), no split-K
    t = tiles.parse_config("triton_nm_decode", "BLOCK_N=16,BLOCK_J=128,num_warps=8,num_stages=2", M)
    assert t == tiles.CtaTile(bt, 16, 128, 8, 2, 1, 1)
    assert t.text() == f"{bt}x16x128 w8 s2"
    t = tiles.parse_config("triton_nm_decode", "BLOCK_N=4,BLOCK_J=256", M)
    assert (t.block_m, t.num_warps, t.num_stages, t.group_m, t.split_k) == (bt, 4, 3, 1, 1)


def test_parse_config_empty_is_a_library_row():
    assert tiles.parse_config("cublas", "", 64) is None
    assert tiles.parse_config("triton_nm", "   ", 64) is None


@pytest.mark.parametrize("kernel,config,needle", [
    ("triton_nm", "BLOCK_M=64,BLOCK_N", "KEY=integer"),
    ("triton_nm", "BLOCK_M=64,BLOCK_N=x,BLOCK_K=64", "KEY=integer"),
    ("triton_nm", "BLOCK_M=64=2,BLOCK_N=64,BLOCK_K=64", "KEY=integer"),
    ("triton_nm", "BLOCK_M=64;BLOCK_N=64", "KEY=integer"),
    ("triton_nm", "BLOCK_M=64,BLOCK_N=64", "lacks BLOCK_K"),
    ("triton_dense", "BLOCK_N=64", "lacks BLOCK_M, BLOCK_K"),
    ("triton_nm_decode", "BLOCK_M=16,BLOCK_N=16,BLOCK_K=64", "lacks BLOCK_J"),
    ("triton_nm", "BLOCK_M=0,BLOCK_N=64,BLOCK_K=64", "positive"),
    ("triton_nm", "BLOCK_M=64,BLOCK_N=64,BLOCK_K=64,num_stages=0", "positive"),
    ("triton_nm_decode", "BLOCK_N=16,BLOCK_J=-128", "positive"),
])
def test_parse_config_errors_are_one_clear_line(kernel, config, needle):
    with pytest.raises(SpecError) as err:
        tiles.parse_config(kernel, config, 4)
    msg = str(err.value)
    assert "\n" not in msg and needle in msg and repr(config) in msg


# --- stage_bytes and candidate_tiles: the documented staging formula, by an independent oracle ---

def test_stage_bytes_by_hand():
    # dense fp16 64x128x64: 64*64*2 + 128*64*2 = 8192 + 16384
    assert tiles.stage_bytes(False, 2, n=1, m=1, index_bits=0, block_m=64, block_n=128, block_k=64) == 24576
    # 2:4 fp16, 2-bit indices: 8192 + 128*64 * (2/4)(2 + 2/8) = 8192 + 9216
    assert tiles.stage_bytes(True, 2, n=2, m=4, index_bits=2, block_m=64, block_n=128, block_k=64) == 17408
    # 1:8 fp32, 3-bit indices, 32x16x64: 32*64*4 + 16*64 * (1/8)(4 + 3/8) = 8192 + 560
    assert tiles.stage_bytes(True, 4, n=1, m=8, index_bits=3, block_m=32, block_n=16, block_k=64) == 8752
    # 3:32 fp16, 5-bit indices, 16x64x64: 2048 + 4096 * (3/32)(2 + 5/8) = 2048 + 1008
    assert tiles.stage_bytes(True, 2, n=3, m=32, index_bits=5, block_m=16, block_n=64, block_k=64) == 3056
    # elementwise over arrays
    got = tiles.stage_bytes(np.array([False, True]), 2, n=2, m=4, index_bits=2, block_m=64, block_n=128, block_k=64)
    assert got.tolist() == [24576, 17408]


def ours_smem(g, case: GemmCase, bm, bn, bk, stages) -> float:
    """Shared memory of our Triton kernels' CTA: the compiler's rule (tiles.triton_smem_bytes, itself
    checked against the compiler's figures in test_gpu_tiles_compiler.py)."""
    return float(tiles.triton_smem_bytes(case.kernel == "triton_nm", E_BYTES[case.dtype], n=case.n, m=case.m,
                                         cc=g.compute_capability, block_m=bm, block_n=bn, block_k=bk, stages=stages))


def oracle(g, case: GemmCase) -> list[tuple]:
    """candidate tiles of `case` from docs/GPU.md, written out: (BM, BN, BK, warps, stages, G, s)."""
    if case.tile is not None:
        t = case.tile
        return [(t.block_m, t.block_n, t.block_k, t.num_warps, t.num_stages, t.group_m, t.split_k)]
    # CUDA C++ Programming Guide: one block may use the SM's shared memory less 1 KB from 8.0 on
    limit = g.smem_bytes_per_sm - (1024 if g.compute_capability >= 8 else 0)
    if case.kernel == "triton_nm_decode":
        bt = 1
        while bt < case.M:
            bt *= 2
        return [(bt, bn, bj, w, s, 1, 1) for bn, bj, w, s in tiles.DECODE_TILES if bt * bn * bj <= 32 * 32 * w]
    e = E_BYTES[case.dtype]
    reads_compressed = case.kernel in ("cusparselt", "cutlass", "cutlass_spgemm")
    w_e = (case.n / case.m) * (e + case.index_bits / 8) if reads_compressed else e
    if case.kernel in ("cusparselt", "cutlass_spgemm"):
        menu, splits = tiles.SPARSE_TILE_MENU, (1,)
    elif case.kernel in ("cublas", "cutlass_dense"):
        menu, splits = tiles.LIBRARY_TILE_MENU, tiles.SPLIT_K_MENU
    else:
        menu, splits = tiles.GEMM_TILES, (1,)
    out = []
    for bm, bn, bk, w, stages in menu:
        if case.kernel.startswith("triton"):
            if ours_smem(g, case, bm, bn, bk, stages) > limit:
                continue                      # Triton refuses the config; the autotuner drops it
        else:
            per_stage = bm * bk * e + bn * bk * w_e
            while stages >= 1 and stages * per_stage > limit:
                stages -= 1                   # drop stages until one CTA fits
            if stages == 0:
                continue
        for s in splits:                      # split-K only where each CTA keeps two K steps
            if s == 1 or math.ceil(case.K / s) >= 2 * bk:
                out.append((bm, bn, bk, w, stages, 8, s))
    return out


CASES = [
    GemmCase("cublas", 64, 1024, 4096), GemmCase("cutlass_dense", 16, 768, 512, "fp32"),
    GemmCase("cublas", 16, 768, 100), GemmCase("cublas", 16, 768, 256, "bf16"),
    GemmCase("cusparselt", 256, 1024, 10240, n=2, m=4, index_bits=2),
    GemmCase("cutlass_spgemm", 64, 512, 512, "fp32", n=2, m=4, index_bits=2),
    GemmCase("triton_nm", 64, 1024, 1024, n=2, m=4, index_bits=2),
    GemmCase("triton_nm", 64, 1024, 1024, n=1, m=8, index_bits=3),
    GemmCase("triton_nm", 64, 1024, 1024, "fp32", n=3, m=32, index_bits=5),
    GemmCase("triton_dense", 64, 1024, 1024), GemmCase("triton_dense", 64, 1024, 1024, "fp32"),
    GemmCase("triton_nm_decode", 1, 1024, 1024, n=2, m=4, index_bits=2),
    GemmCase("triton_nm_decode", 3, 1024, 1024, n=1, m=8, index_bits=3),
    GemmCase("triton_nm_decode", 16, 1024, 1024, n=2, m=4, index_bits=2),
    GemmCase("cublas", 64, 64, 64, tile=tiles.CtaTile(32, 32, 32, 2, 5, 4, 3)),
]


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_candidate_tiles_follow_the_documented_rules(preset):
    g = gpu(preset)
    for case in CASES:
        got = [(t.block_m, t.block_n, t.block_k, t.num_warps, t.num_stages, t.group_m, t.split_k)
               for t in tiles.candidate_tiles(g, case)]
        assert got == oracle(g, case), (preset, case)


def test_candidate_stages_are_clipped_by_shared_memory_on_t4():
    t4 = gpu("t4")                                   # 64 KiB of shared memory per SM and per block (7.5)
    assert t4.smem_bytes_per_block == 65536
    # sm_75 has no cp.async: our fp32 Triton tiles hold one x and one weight tile whatever num_stages
    # says (compiler); fp32 dense 128x128x64: (128*64 + 128*64) * 4 = 65536 B, exactly the block limit:
    # kept, 3 stages; 16x256x64: (16*64 + 256*64) * 4 = 69632 B: dropped
    dense = {(t.block_m, t.block_n): t.num_stages for t in tiles.candidate_tiles(t4, GemmCase("triton_dense", 64, 512, 512, "fp32"))}
    assert dense[(128, 128)] == 3 and (16, 256) not in dense and len(dense) == len(tiles.GEMM_TILES) - 1
    # library fp32 256x128x64: (256 + 128) * 64 * 4 = 98304 B a stage: no stage fits, the tile is dropped;
    # fp16 128x256x64: 49152 B a stage: one of its 3 stages fits
    lib = {(t.block_m, t.block_n): t.num_stages for t in tiles.candidate_tiles(t4, GemmCase("cublas", 64, 512, 512, "fp32"))}
    assert (256, 128) not in lib and lib
    fp16 = {(t.block_m, t.block_n): t.num_stages for t in tiles.candidate_tiles(t4, GemmCase("cublas", 64, 512, 512))}
    assert fp16[(128, 256)] == 1 and fp16[(64, 64)] == 4


def test_triton_tiles_over_an_a100_block_are_dropped_not_shortened():
    # Triton refuses a config over the block limit (163 KB = 166912 B on an A100) and the autotuner
    # drops it: the fp16 2:4 16x256 tile takes 167936 B on sm_80 (compiler), the fp32 2:4 128x128
    # tile 196608 B (compiler) and 16x256 2*16*64*4 + 256*(2*32*(8 + 4) + 64*4) = 270336 B; the fp16
    # ones fit an H100 block (232448 B) at their 3 stages, so does fp32 128x128
    a100, h100 = gpu("a100"), gpu("h100")
    assert a100.smem_bytes_per_block == 166912
    for dtype, gone, on_hopper in (("fp16", {(16, 256)}, (16, 256)), ("fp32", {(128, 128), (16, 256)}, (128, 128))):
        case = GemmCase("triton_nm", 64, 4096, 4096, dtype, n=2, m=4, index_bits=2)
        on_a100 = {(t.block_m, t.block_n): t.num_stages for t in tiles.candidate_tiles(a100, case)}
        on_h100 = {(t.block_m, t.block_n): t.num_stages for t in tiles.candidate_tiles(h100, case)}
        assert not gone & set(on_a100) and len(on_a100) == len(tiles.GEMM_TILES) - len(gone)
        assert set(on_a100.values()) == {3} and on_h100[on_hopper] == 3
    # a library tile over the limit keeps the stages that fit instead: cuSPARSELt 256x128x64 fp32 2:4,
    # (256*64*4 + 128*64*0.5*(4 + 0.25)) = 82944 B a stage: 2 of its 3 stages fit an A100 block
    lib = tiles.candidate_tiles(a100, GemmCase("cusparselt", 64, 4096, 4096, "fp32", n=2, m=4, index_bits=2))
    assert {(t.block_m, t.block_n): t.num_stages for t in lib}[(256, 128)] == 2


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_candidate_tiles_fit_and_use_all_the_stages_that_fit(preset):
    g = gpu(preset)
    for case in CASES[:11]:
        menu = dict(((bm, bn, bk, w), s) for bm, bn, bk, w, s in tiles.kernel_menu(case)[0])
        for t in tiles.candidate_tiles(g, case):
            assert 1 <= t.num_stages and tiles.cta_smem_bytes(g, case, t) <= g.smem_bytes_per_block
            full = menu[(t.block_m, t.block_n, t.block_k, t.num_warps)]
            if t.num_stages < full:               # shortened: one more stage would not fit
                more = tiles.CtaTile(t.block_m, t.block_n, t.block_k, t.num_warps, t.num_stages + 1)
                assert not case.kernel.startswith("triton") and tiles.cta_smem_bytes(g, case, more) > g.smem_bytes_per_block


def test_split_k_keeps_two_k_steps_per_cta():
    h100 = gpu("h100")
    # K = 512: BLOCK_K 64 tiles split 1, 2, 4 (ceil(512/4) = 128 = 2 * 64, the boundary), not 8;
    # BLOCK_K 128 tiles split 1, 2 (256 = 2 * 128), not 4
    got = {}
    for t in tiles.candidate_tiles(h100, GemmCase("cublas", 16, 768, 512)):
        got.setdefault(t.block_k, set()).add(t.split_k)
    assert got == {64: {1, 2, 4}, 128: {1, 2}}
    # K = 100 < 2 * 64: no split at all, but every tile still runs unsplit
    few = tiles.candidate_tiles(h100, GemmCase("cublas", 16, 768, 100))
    assert {t.split_k for t in few} == {1} and len(few) == len(tiles.LIBRARY_TILE_MENU)
    # K = 513: ceil(513/8) = 65 < 128 and ceil(513/4) = 129 >= 128
    got = {t.split_k for t in tiles.candidate_tiles(h100, GemmCase("cublas", 16, 768, 513)) if t.block_k == 64}
    assert got == {1, 2, 4}


def test_decode_candidates():
    h100 = gpu("h100")
    c = tiles.candidate_tiles(h100, GemmCase("triton_nm_decode", 5, 4096, 4096, n=2, m=4, index_bits=2))
    # 5 tokens -> BLOCK_T 8; kept: 8 * BLOCK_N * BLOCK_J <= 1024 * warps
    assert {t.block_m for t in c} == {8} and {(t.group_m, t.split_k) for t in c} == {(1, 1)}
    assert [(t.block_n, t.block_k, t.num_warps, t.num_stages) for t in c] == tiles.decode_tiles_for(8)
    assert all(8 * t.block_n * t.block_k <= 1024 * t.num_warps for t in c)


def test_decode_tiles_over_the_block_limit_are_dropped():
    # a toy 7.5 GPU (no reservation) with 4096 B of shared memory: at one token the decode tiles
    # whose reduction buffer takes more than 4096 B go, those at exactly 4096 B stay; a GPU with one
    # byte less keeps only the tiles below it
    def toy(smem):
        return gpu("t4").model_copy(update={"smem_bytes_per_sm": smem})

    case = GemmCase("triton_nm_decode", 1, 4096, 4096, n=2, m=4, index_bits=2)
    every = tiles.decode_tiles_for(1)
    size = {t: float(tiles.decode_smem_bytes(1, t[0], t[1], t[2])) for t in every}
    assert 4096 in size.values() and any(v > 4096 for v in size.values()) and any(v < 4096 for v in size.values())
    for smem in (4096, 4095):
        kept = [(t.block_n, t.block_k, t.num_warps, t.num_stages) for t in tiles.candidate_tiles(toy(smem), case)]
        assert kept == [t for t in every if size[t] <= smem]


def test_a_given_tile_is_the_only_candidate():
    own = tiles.CtaTile(16, 64, 128, 4, 4)
    assert tiles.candidate_tiles(gpu("t4"), GemmCase("cublas", 16, 64, 64, tile=own)) == [own]
