"""The tile geometry of the GPU model (sim/gpu/geometry.py; docs/GPU.md, "Formulas") term by term:
CTAs, K steps, occupancy, per-CTA compute and expansion time, L2 and HBM bytes (the L2 rule with
its wave swizzle, the half-of-L2 and whole-problem-fits rules, split-K partials), the decode kernel.

Expected values are derived by hand in the comments from the documented formulas. Most cases run on
a toy GPU (the h100 preset with 4 SMs, 48 KiB of shared memory per SM and round rates) so that
waves, swizzle groups and L2 fits can be placed by hand; the rest use the datasheet fields of
accel/presets/h100.yaml (132 SMs, 2048 threads and 233472 B of shared memory per SM).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import CtaTile, GemmCase, geometry, tiles

H100 = load_arch("h100").gpu
KIB, MIB = 1024, 1024 * 1024
# 4 SMs, 2048 threads per SM, 50 KiB of shared memory per SM (48 KiB for CTAs and CUDA's 1 KiB per
# resident block for two of them); HBM 1e11 B/s, L2 1e12 B/s, fp16 tensor cores 1e14 FLOP/s, CUDA
# cores 1e13 FLOP/s; compute capability 8.0 (no stream-K). l2_bytes per test.
TOY = H100.model_copy(update={"sms": 4, "smem_bytes_per_sm": 50 * KIB, "compute_capability": 8.0,
                              "hbm_bytes_per_s": 1e11, "l2_bytes_per_s": 1e12, "l2_bytes": 384 * KIB,
                              "dense_tensor_flops": {"fp16": 1e14}, "cuda_core_flops": {"fp32": 1e13}})
# 32 x 64 outputs, K step 64, 4 warps, 3 stages: a stage holds 32*64*2 + 64*64*2 = 12 KiB (fp16),
# 3 stages 36 KiB: one CTA per toy SM (50 KiB), so a wave holds 4 tiles
T32x64 = CtaTile(32, 64, 64, 4, 3, group_m=2)


def toy(**fields):
    return TOY.model_copy(update=fields)


def one_pair(gpu, case: GemmCase) -> dict:
    """The geometry of a case with an explicit tile (one pair) as scalars."""
    g = geometry(gpu, [case])
    assert len(g.row) == 1
    return {f: float(np.asarray(getattr(g, f))[0]) for f in
            ("steps", "t_tensor_s", "t_expand_s", "hbm_cta_s", "l2_cta_s", "ctas", "occupancy", "hbm_bytes",
             "l2_bytes")}


# --- prefill: CTAs, steps, bytes -----------------------------------------------------------------

def test_golden_prefill_case_on_the_toy_gpu():
    # cuBLAS fp16, M=512, N=1024, K=256, tile 32x64x64, group 2, one CTA per SM:
    # tm = 16, tn = 16, 256 CTAs, S = 256/64 = 4 steps
    # A = 512*256*2 = 256 KiB, W = 1024*256*2 = 512 KiB, O = 512*1024*2 = 1 MiB; L2 = 384 KiB: neither
    # A nor W fits half of it (192 KiB), the problem (1.75 MiB) does not fit it
    # a wave: c = 4 tiles as r = min(2, 16, 4) = 2 rows x k = min(16, ceil(4/2)) = 2 columns;
    # 256/4 = 64 waves fetch A 64*2/16 = 8 times (in [1, tn=16]) and W 64*2/16 = 8 times (in [1, tm=16])
    g = one_pair(TOY, GemmCase("cublas", 512, 1024, 256, tile=T32x64))
    assert (g["ctas"], g["steps"], g["occupancy"]) == (256, 4, 1)
    hbm = 8 * 256 * KIB + 8 * 512 * KIB + 1 * MIB                  # 7 MiB
    assert g["hbm_bytes"] == hbm
    l2 = 256 * KIB * 16 + 512 * KIB * 16 + 1 * MIB                  # A*tn + W*tm + O = 13 MiB
    assert g["l2_bytes"] == l2
    # per CTA: 2*32*64*4*64 FLOP at 1e14/4 FLOP/s per SM; its share of the bytes over HBM / one SM's L2 share
    assert g["t_tensor_s"] == pytest.approx(2 * 32 * 64 * 4 * 64 / (1e14 / 4), rel=1e-12)
    assert g["t_expand_s"] == 0.0                                   # a dense kernel expands nothing
    assert g["hbm_cta_s"] == pytest.approx(hbm / 256 / 1e11, rel=1e-12)
    assert g["l2_cta_s"] == pytest.approx(l2 / 256 / (1e12 / 4), rel=1e-12)


def test_split_k_batch_and_occupancy_two():
    # 2 stages: 24 KiB per CTA (+ 1 KiB reserved), two CTAs per toy SM (50 KiB); split-K 2, batch 3
    # M=512, N=1024, K=512: tm = tn = 16, CTAs 16*16*2*3 = 1536; a CTA reduces ceil(512/2) = 256 -> 4 steps
    # A = 512 KiB, W = 1 MiB, O = 1 MiB, partials Q = 2*2*512*1024*4 B = 8 MiB; L2 384 KiB: nothing stays
    # c = 4 SMs * 2 / split 2 = 4 tiles: r = 2, k = 2, 64 waves: A and W fetched 8 times each
    tile = CtaTile(32, 64, 64, 4, 2, group_m=2, split_k=2)
    g = one_pair(TOY, GemmCase("cublas", 512, 1024, 512, batch=3, tile=tile))
    assert (g["ctas"], g["steps"], g["occupancy"]) == (1536, 4, 2)
    q = 2 * 2 * 512 * 1024 * 4
    assert q == 8 * MIB
    assert g["hbm_bytes"] == 3 * (8 * 512 * KIB + 8 * MIB + 1 * MIB + q)                 # 63 MiB
    assert g["l2_bytes"] == 3 * (512 * KIB * 16 + 1 * MIB * 16 + 1 * MIB + q)            # 99 MiB
    assert g["t_tensor_s"] == pytest.approx(2 * 32 * 64 * 4 * 64 / (1e14 / 4), rel=1e-12)


def test_split_two_writes_partials_and_split_one_none():
    # the same problem without a split: 512 CTAs of 8 steps, no partials; c = 4*2 = 8 tiles: r = 2,
    # k = min(16, ceil(8/2)) = 4, 256/8 = 32 waves: A fetched 32*2/16 = 4 times, W 32*4/16 = 8 times
    tile = CtaTile(32, 64, 64, 4, 2, group_m=2, split_k=1)
    g = one_pair(TOY, GemmCase("cublas", 512, 1024, 512, tile=tile))
    assert (g["ctas"], g["steps"], g["occupancy"]) == (256, 8, 2)
    assert g["hbm_bytes"] == 4 * 512 * KIB + 8 * MIB + 1 * MIB
    assert g["l2_bytes"] == 512 * KIB * 16 + 1 * MIB * 16 + 1 * MIB


def test_fewer_slots_than_splits_keep_one_tile_per_wave():
    # split-K 8 over 4 one-CTA SMs: c = max(1, 4/8) = 1 tile per wave (r = k = 1)
    # M=64, N=128, K=4096: tm = tn = 2, 4 waves: A fetched 4*1/2 = 2 times, W 4*1/2 = 2 times
    # A = 64*4096*2 = 512 KiB, W = 1 MiB, O = 16 KiB, Q = 2*8*64*128*4 = 512 KiB; L2 384 KiB: nothing stays
    tile = CtaTile(32, 64, 64, 4, 3, group_m=8, split_k=8)
    g = one_pair(TOY, GemmCase("cublas", 64, 128, 4096, tile=tile))
    assert (g["ctas"], g["steps"]) == (2 * 2 * 8, 4096 / 8 / 64)
    assert g["hbm_bytes"] == 2 * 512 * KIB + 2 * MIB + 16 * KIB + 512 * KIB


# --- the L2 rules ----------------------------------------------------------------------------------

def test_an_operand_that_fits_half_of_l2_is_read_once():
    # the golden case (A 256 KiB, W 512 KiB, O 1 MiB, 1.75 MiB in all) with 768 KiB of L2: A fits half
    # (384 KiB) and is read once although 64 waves touch it 8 times; W (512 KiB) does not: 8 fetches
    g = one_pair(toy(l2_bytes=768 * KIB), GemmCase("cublas", 512, 1024, 256, tile=T32x64))
    assert g["hbm_bytes"] == 256 * KIB + 8 * 512 * KIB + 1 * MIB
    # with 1 MiB of L2 both fit half of it (512 KiB each): every byte once
    g = one_pair(toy(l2_bytes=1 * MIB), GemmCase("cublas", 512, 1024, 256, tile=T32x64))
    assert g["hbm_bytes"] == 256 * KIB + 512 * KIB + 1 * MIB


def test_a_problem_that_fits_l2_is_read_once():
    # M=64, N=1024, K=2048, tile 32x64 group 1: tm = 2, tn = 16; A = 256 KiB, W = 4 MiB, O = 128 KiB
    # c = 4 tiles: r = min(1, 2, 4) = 1, k = min(16, 4) = 4; 32/4 = 8 waves fetch W 8*4/16 = 2 times
    # (in [1, tm = 2]); W never fits half of the L2 sizes below, so only the whole-problem rule keeps it
    tile = CtaTile(32, 64, 64, 4, 3, group_m=1)
    case = GemmCase("cublas", 64, 1024, 2048, tile=tile)
    a, w, o = 256 * KIB, 4 * MIB, 128 * KIB
    assert one_pair(toy(l2_bytes=a + w + o), case)["hbm_bytes"] == a + w + o        # fits exactly: once
    # 128 KiB short of the problem: W is fetched twice (A fits half of L2: once)
    assert one_pair(toy(l2_bytes=a + w), case)["hbm_bytes"] == a + 2 * w + o


def test_torch_cutlass_streams_a_big_weight_once_per_token_tile():
    # torch's CUTLASS 2:4 kernel launches its CTAs unswizzled (GemmIdentityThreadblockSwizzle<>,
    # pytorch@09bfdd9 SparseSemiStructuredOps.cu): blockIdx.x walks the weight's row tiles for one
    # token tile. RTX 4070 Ti SUPER (66 SMs, 48 MiB L2), bf16 M = N = 8192, K = 10240, tile 128x128x64
    # with 3 stages: 3 * (128*64*2 + 128*32*(2 + 2/8)) = 76,800 B + 1 KiB reserved of 100 KiB per SM,
    # one CTA per SM, a wave of 66 tiles. tm = tn = 64; W = 8192 * 5120 * 2.25 B (94 MB) does not fit
    # half of L2, A = 8192*10240*2 and O = 8192*8192*2 are read and written once.
    g = load_arch("rtx4070-ti-super").gpu
    M = N = 8192
    K = 10240
    a, w, o = M * K * 2, N * (K // 2) * (2 + 2 / 8), M * N * 2
    assert w > g.l2_bytes / 2
    waves = 64 * 64 / 66
    # a wave is one token tile x 64 weight tiles (the weight's whole height): W once per wave
    ident = one_pair(g, GemmCase("cutlass", M, N, K, "bf16", n=2, m=4, index_bits=2))
    assert ident["occupancy"] == 1
    assert ident["hbm_bytes"] == pytest.approx(a + waves * w + o, rel=1e-12)
    # the same tile swizzled in groups of 8 token tiles: a wave is 8 x ceil(66/8) = 9 tiles; the
    # waves fetch W 9/64 as often and A (168 MB, beyond half of L2 too) 8/64 times per wave
    grouped = one_pair(g, GemmCase("cutlass", M, N, K, "bf16", n=2, m=4, index_bits=2,
                                   tile=CtaTile(128, 128, 64, 4, 3, group_m=8)))
    assert grouped["hbm_bytes"] == pytest.approx(waves * 8 / 64 * a + waves * 9 / 64 * w + o, rel=1e-12)


# --- occupancy ---------------------------------------------------------------------------------------

def test_occupancy_limited_by_threads():
    # 16x64x64, 8 warps, 1 stage: 16*64*2 + 64*64*2 = 10 KiB -> 22 CTAs by shared memory on an H100,
    # 2048 / (32*8) = 8 by threads
    g = one_pair(H100, GemmCase("cublas", 16, 64, 64, tile=CtaTile(16, 64, 64, 8, 1)))
    assert g["occupancy"] == 8
    # 4 warps: 16 by threads, 22 by shared memory
    assert one_pair(H100, GemmCase("cublas", 16, 64, 64, tile=CtaTile(16, 64, 64, 4, 1)))["occupancy"] == 16


@pytest.mark.parametrize("kernel,n,m,b,occ", [
    # x tile 128*64*2 = 16 KiB; dense W tile 256*64*2 = 32 KiB: 3 stages 144 KiB -> 1 CTA per H100 SM
    ("triton_dense", 1, 1, 0, 1), ("cublas", 1, 1, 0, 1),
    # our 1:8 kernel as Triton allocates it on sm_90a: 3 x tiles (wgmma) 49152 B, and per weight column
    # 2 stages x 8 stored values x (two int32 index words + the 2-byte value) + the 64 x 2 B expanded
    # column: 256 * 288 = 73728 B; 122880 + 1024 reserved -> 1: its index words cost the occupancy
    # the packed format would have won
    ("triton_nm", 1, 8, 3, 1),
    # 2:4 values + 2-bit metadata: 256*64*(1/2)*(2 + 2/8) = 18432 B; 3*(16384 + 18432) = 104448;
    # floor(233472 / (104448 + 1024)) = 2
    ("cusparselt", 2, 4, 2, 2),
])
def test_staged_bytes_set_the_occupancy_by_kernel(kernel, n, m, b, occ):
    g = one_pair(H100, GemmCase(kernel, 4096, 4096, 4096, n=n, m=m, index_bits=b, tile=CtaTile(128, 256, 64, 8, 3)))
    assert g["occupancy"] == occ


def _occupancy_oracle(gpu, case: GemmCase) -> int:
    # smem_cta: our Triton kernels as the compiler allocates them (tiles.triton_smem_bytes, checked
    # against the compiler in test_gpu_tiles_compiler.py); CUDA reserves 1 KB more per resident block
    # from compute capability 8.0 on (CUDA C++ Programming Guide)
    t, e = case.tile, {"fp16": 2, "int8": 1}[case.dtype]
    smem = float(tiles.triton_smem_bytes(case.kernel == "triton_nm", e, n=case.n, m=case.m,
                                         cc=gpu.compute_capability, block_m=t.block_m, block_n=t.block_n,
                                         block_k=t.block_k, stages=t.num_stages))
    by_smem = math.floor(gpu.smem_bytes_per_sm / (smem + (1024 if gpu.compute_capability >= 8 else 0)))
    return max(1, min(by_smem, gpu.max_threads_per_sm // (32 * t.num_warps)))


def test_occupancy_matches_the_documented_formula_on_any_tile():
    # occ = max(1, min(floor(smem_per_sm / (smem_cta + reserve)), floor(threads / (32 warps)))), on
    # tiles, shared memories and compute capabilities from tiny to large
    cases = []
    for blocks, warps, stages, smem, cc, (dtype, n, m, b) in itertools.product(
            [(1, 1, 1), (16, 16, 16), (64, 128, 64), (256, 128, 64)], [1, 4, 8], [1, 3],
            [3, 100, 48 * KIB, 233472], [7.5, 8.0, 9.0], [("int8", 1, 8, 3), ("fp16", 2, 4, 2), ("fp16", 1, 1, 0)]):
        kernel = "triton_nm" if m > 1 else "triton_dense"
        cases.append((toy(smem_bytes_per_sm=smem, compute_capability=cc, dense_tensor_flops={"fp16": 1e14, "int8": 2e14}),
                      GemmCase(kernel, 64, 64, 64, dtype=dtype, n=n, m=m, index_bits=b,
                               tile=CtaTile(*blocks, warps, stages))))
    occ = set()
    for gpu, case in cases:
        got = one_pair(gpu, case)["occupancy"]
        assert got == _occupancy_oracle(gpu, case), (gpu.smem_bytes_per_sm, gpu.compute_capability, case)
        occ.add(got)
    assert len(occ) > 5                       # the cases reach many occupancies, not only the floor of 1


def test_the_block_reservation_can_cost_a_resident_cta():
    # a library 64x64x64 fp16 tile, 3 stages: 3 * (64*64*2 + 64*64*2) = 49152 B; an SM of 98304 B holds
    # 2 of them without the reservation (7.5), floor(98304 / 50176) = 1 with 1 KB each (8.0)
    tile = CtaTile(64, 64, 64, 4, 3)
    for cc, occ in ((8.0, 1), (7.5, 2)):
        gpu = toy(smem_bytes_per_sm=98304, compute_capability=cc)
        assert one_pair(gpu, GemmCase("cublas", 64, 64, 64, tile=tile))["occupancy"] == occ


@pytest.mark.parametrize("smem,occ", [(233472, 16), (48 * KIB, 9), (5 * KIB, 1)])
def test_decode_occupancy_from_threads_and_its_reduction_buffer(smem, occ):
    # the decode kernel's only shared memory is its fp32 reduction buffer, 4 * min(BN*BJ, 256 warps) =
    # 4096 B at 16 x 128, 4 warps: 2048 / (32*4) = 16 by threads; floor(49152 / (4096 + 1024)) = 9
    tile = CtaTile(1, 16, 128, 4, 3, 1, 1)
    g = one_pair(H100.model_copy(update={"smem_bytes_per_sm": smem}),
                 GemmCase("triton_nm_decode", 1, 256, 512, n=2, m=4, index_bits=2, tile=tile))
    assert g["occupancy"] == occ


# --- compute terms -----------------------------------------------------------------------------------

def test_nm_prefill_expansion_time():
    # triton_nm 2:4 on the toy GPU, tile 32x64x64, K=256: S = 4 steps; expansion of BN*S*BK dense weight
    # elements, per unit of expand_ops (instructions per dense element, whatever the pattern: the
    # compiler's count, docs/GPU.md), at one 32-bit integer op per lane and clock: 64 a clock per SM
    # (CUDA C++ Programming Guide, arithmetic instruction throughput), not the CUDA cores' FP32 rate
    for n, m, b in ((2, 4, 2), (1, 8, 3), (3, 32, 5)):
        for fp32 in (1e13, 4e13):
            gpu = toy(cuda_core_flops={"fp32": fp32})
            g = one_pair(gpu, GemmCase("triton_nm", 512, 1024, 256, n=n, m=m, index_bits=b, tile=T32x64))
            assert g["t_expand_s"] == pytest.approx(64 * 4 * 64 / (64 * TOY.boost_clock_hz), rel=1e-12)
    # and tensor cores compute whole dense tiles at the dense rate
    assert g["t_tensor_s"] == pytest.approx(2 * 32 * 64 * 4 * 64 / (1e14 / 4), rel=1e-12)


def test_golden_decode_case():
    # triton_nm_decode on an H100: M=3 tokens padded to BT = 4, N=1000, K=512, 2:4 with 2-bit indices, batch 2
    # tile BLOCK_N=16, BLOCK_J=128, 4 warps: stored J = ceil(512/4)*2 = 256 per row, S = 256/128 = 2 steps,
    # ceil(1000/16) = 63 programs per batch entry, 126 in all
    tile = CtaTile(4, 16, 128, 4, 3, 1, 1)
    g = one_pair(H100, GemmCase("triton_nm_decode", 3, 1000, 512, n=2, m=4, index_bits=2, batch=2, tile=tile))
    assert (g["ctas"], g["steps"], g["occupancy"]) == (126, 2, 16)
    # our format: N*(J*e + 4*ceil(J*b/32)) = 1000*(512 + 64) B; x = 3*512*2 B; out = 3*1000*2 B
    w, a, o = 1000 * (256 * 2 + 4 * 16), 3 * 512 * 2, 3 * 1000 * 2
    assert g["hbm_bytes"] == 2 * (w + a + o)
    assert g["l2_bytes"] == 2 * (w + 63 * a + o)           # every program gathers the x rows
    # 2 BT BLOCK_N S BLOCK_J FLOP per program on one SM's share of the CUDA cores
    assert g["t_tensor_s"] == pytest.approx(2 * 4 * 16 * 2 * 128 / (H100.cuda_core_flops["fp32"] / 132), rel=1e-12)
    assert g["t_expand_s"] == 0.0
    assert g["hbm_cta_s"] == pytest.approx(2 * (w + a + o) / 126 / H100.hbm_bytes_per_s, rel=1e-12)
    assert g["l2_cta_s"] == pytest.approx(2 * (w + 63 * a + o) / 126 / (H100.l2_bytes_per_s / 132), rel=1e-12)


def test_one_wave_reads_each_operand_once():
    # M=64, N=128, K=4096 on the toy GPU, no split: tm = tn = 2, 4 CTAs = one wave of c = 4 tiles
    # (r = min(2, 2, 4) = 2 rows x k = min(2, ceil(4/2)) = 2 columns): A and W fetched 1*2/2 = 1 time each
    # although neither fits half of the 384 KiB L2 (A = 512 KiB, W = 1 MiB, O = 64*128*2 = 16 KiB)
    g = one_pair(TOY, GemmCase("cublas", 64, 128, 4096, tile=T32x64))
    assert g["ctas"] == 4
    assert g["hbm_bytes"] == 512 * KIB + 1 * MIB + 16 * KIB


@pytest.mark.parametrize("kernel,n,m,b,w", [
    # 2:4 libraries: J = 4096/4*2 = 2048 values of 2 B + 2 bits of metadata each per row
    ("cusparselt", 2, 4, 2, 1024 * 2048 * (2 + 2 / 8)),
    # our format, 1:8 with 3-bit indices: J = 512 values of 2 B + ceil(512*3/32) = 48 int32 words per row
    ("triton_nm", 1, 8, 3, 1024 * (512 * 2 + 48 * 4)),
    # 3:32 (5-bit indices), K padded to whole groups: ceil(4000/32) = 125 groups, J = 375, ceil(375*5/32) = 59 words
    ("triton_nm", 3, 32, 5, 1024 * (375 * 2 + 59 * 4)),
])
def test_weight_bytes_as_stored(kernel, n, m, b, w):
    # a 1 GiB L2 holds the whole problem: HBM bytes = A + W + O, each once
    K = 4000 if m == 32 else 4096
    g = one_pair(toy(l2_bytes=1 << 30), GemmCase(kernel, 64, 1024, K, n=n, m=m, index_bits=b, tile=T32x64))
    assert g["hbm_bytes"] == pytest.approx(64 * K * 2 + w + 64 * 1024 * 2, rel=1e-12)


@pytest.mark.parametrize("kernel,arch,stream_k", [
    ("cublas", "h100", True), ("cutlass_dense", "h100", True),           # dense libraries on CC 9.0
    ("cusparselt", "h100", False), ("triton_dense", "h100", False), ("cutlass_spgemm", "h100", False),
    ("cublas", "a100", False), ("cutlass_dense", "a100", False),         # CC 8.0: wave by wave
])
def test_stream_k_for_dense_libraries_from_hopper_on(kernel, arch, stream_k):
    sparse = kernel in ("cusparselt", "cutlass_spgemm")
    case = GemmCase(kernel, 256, 256, 256, n=2 if sparse else 1, m=4 if sparse else 1, index_bits=2 if sparse else 0,
                    tile=CtaTile(64, 64, 64, 4, 3))
    assert geometry(load_arch(arch).gpu, [case]).stream_k.tolist() == [stream_k]


def test_pairs_of_a_case_are_contiguous_from_its_start():
    # menu cases: every candidate tile is a pair; `starts` holds the first pair of each case
    from nmsim.sim.gpu import candidate_tiles

    cases = [GemmCase("cublas", 256, 768, 3072), GemmCase("triton_dense", 64, 256, 256),
             GemmCase("cublas", 16, 64, 64, tile=T32x64)]
    sizes = [len(candidate_tiles(H100, c)) for c in cases]
    assert sizes[0] > 1 and sizes[1] > 1 and sizes[2] == 1
    g = geometry(H100, cases)
    assert g.starts.tolist() == [0, sizes[0], sizes[0] + sizes[1]]
    assert g.row.tolist() == [0] * sizes[0] + [1] * sizes[1] + [2]
    assert len(g.tiles) == len(g.ctas) == sum(sizes)
