"""Timing of (case, tile) pairs (sim/gpu/timing.py; docs/GPU.md, "Formulas") by hand: a full wave
plus a tail wave of one CTA, whose L2 time runs at the one active SM's share of the L2 rate, and
the bound naming of GemmTime.

The GPU is a toy copy of accel/presets/h100.yaml with round rates: 4 SMs, 52 KiB of shared memory
per SM (48 KiB and CUDA's 1 KiB per block for four blocks), compute capability 8.0 (no stream-K), HBM 1e11 B/s, L2 1e12 B/s, fp16 tensor cores
1e14 FLOP/s. The tile 32x64x64 with 3 stages holds 3 x (32x64 + 64x64) x 2 B = 36 KiB of shared
memory: one CTA per SM, 4 CTAs per wave.
"""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import CtaTile, GemmCase, geometry
from nmsim.sim.gpu import timing as tm
from nmsim.sim.gpu.params import default_params

KIB = 1024
H100 = load_arch("h100").gpu
TOY = H100.model_copy(update={"sms": 4, "smem_bytes_per_sm": 52 * KIB, "compute_capability": 8.0,
                              "hbm_bytes_per_s": 1e11, "l2_bytes_per_s": 1e12, "l2_bytes": 384 * KIB,
                              "dense_tensor_flops": {"fp16": 1e14}, "cuda_core_flops": {"fp32": 1e13}})
TILE = CtaTile(32, 64, 64, 4, 3, group_m=2)


def one(case: GemmCase, params: dict) -> tuple[dict, dict]:
    geo = geometry(TOY, [case])
    g = {f: float(np.asarray(getattr(geo, f))[0]) for f in ("ctas", "occupancy", "steps", "l2_bytes", "hbm_bytes",
                                                             "l2_cta_s", "hbm_cta_s", "t_tensor_s")}
    return g, {k: float(np.asarray(v)[0]) for k, v in tm.pair_times(geo, params).items()}


def test_a_full_wave_and_a_tail_of_one_cta_by_hand():
    params = default_params(TOY)
    # M=160, N=64 with 32x64 tiles: 5 x 1 = 5 CTAs; 4 per wave: one full wave and a tail of 1 CTA
    g, pt = one(GemmCase("cublas", 160, 64, 256, tile=TILE), params)
    assert (g["ctas"], g["occupancy"], g["steps"]) == (5, 1, 4)
    # l2_cta_s = a CTA's L2 bytes / one SM's share of the L2 rate (1e12 / 4 B/s)
    l2c = g["l2_bytes"] / 5 / (1e12 / 4)
    assert g["l2_cta_s"] == pytest.approx(l2c)
    # full wave: 4 CTAs over 4 active SMs -> 4 l2c / 4 = l2c; tail: 1 CTA on 1 active SM -> l2c / 1
    # (idle SMs leave their share of the L2 rate unused); the waves add up
    assert pt["l2_s"] == pytest.approx(2 * l2c)
    # HBM is shared by whatever runs: 4 + 1 CTAs' shares at mem_eff
    assert pt["hbm_s"] == pytest.approx(5 * g["hbm_cta_s"] / params["mem_eff"])
    assert pt["memory_s"] == pytest.approx(max(pt["hbm_s"], pt["l2_s"]))
    assert pt["waves"] == 2
    # each wave: max(compute, memory) + one K step of the shorter (module docstring); a CTA computes
    # t_tensor / tensor_eff + cta_fixed_s (cuBLAS: no expansion); the family's overhead once
    t_cta = g["t_tensor_s"] / params["tensor_eff_cublas"] + params["cta_fixed_s"]
    full_mem = max(4 * g["hbm_cta_s"] / params["mem_eff"], l2c)
    tail_mem = max(1 * g["hbm_cta_s"] / params["mem_eff"], l2c)
    wave = [max(t_cta, m) + min(t_cta, m) / 4 for m in (full_mem, tail_mem)]
    assert pt["compute_s"] == pytest.approx(2 * t_cta)
    assert pt["total_s"] == pytest.approx(sum(wave) + params["overhead_s_cublas"])
    assert pt["overhead_s"] == params["overhead_s_cublas"]


def test_two_full_waves_and_a_tail_add_their_l2_times():
    params = default_params(TOY)
    # M=288: 9 CTAs = 2 full waves of 4 + a tail of 1: l2 = 2 x (4 l2c / 4) + 1 x l2c / 1 = 3 l2c
    g, pt = one(GemmCase("cublas", 288, 64, 256, tile=TILE), params)
    assert g["ctas"] == 9 and pt["waves"] == 3
    l2c = g["l2_bytes"] / 9 / (1e12 / 4)
    assert pt["l2_s"] == pytest.approx(3 * l2c)
    # a tail of 2 CTAs on 2 SMs: 2 l2c / 2 = l2c, as one of 1 CTA; 6 CTAs -> 2 l2c as well
    g6, pt6 = one(GemmCase("cublas", 192, 64, 256, tile=TILE), params)
    assert g6["ctas"] == 6 and pt6["l2_s"] == pytest.approx(2 * g6["l2_bytes"] / 6 / (1e12 / 4))


def test_bound_names_the_largest_summed_term():
    assert tm.bound_of(3.0, 5.0, 1.0) == "dram"
    assert tm.bound_of(3.0, 1.0, 5.0) == "buffer"
    assert tm.bound_of(6.0, 5.0, 1.0) == "compute"
    assert tm.bound_of(4.0, 5.0, 3.0) == "dram"           # compute above the smaller memory term only
    assert tm.bound_of(4.0, 3.0, 5.0) == "buffer"


def test_gemm_time_bound_agrees_with_its_terms():
    for case in (GemmCase("cublas", 160, 64, 256, tile=TILE), GemmCase("cublas", 4096, 4096, 4096),
                 GemmCase("cublas", 1, 4096, 4096)):
        t = tm.gemm_times(TOY, [case])[0]
        terms = {"compute": t.compute_s, "dram": t.hbm_s, "buffer": t.l2_s}
        assert t.bound == max(terms, key=terms.get)


def test_exact_full_waves_have_no_tail():
    params = default_params(TOY)
    # M=256: 8 CTAs = 2 full waves of 4, no tail: l2 = 2 x l2c, compute = 2 x t_cta, total 2 waves
    g, pt = one(GemmCase("cublas", 256, 64, 256, tile=TILE), params)
    assert g["ctas"] == 8 and pt["waves"] == 2
    l2c = g["l2_bytes"] / 8 / (1e12 / 4)
    t_cta = g["t_tensor_s"] / params["tensor_eff_cublas"] + params["cta_fixed_s"]
    mem = max(4 * g["hbm_cta_s"] / params["mem_eff"], l2c)
    assert pt["l2_s"] == pytest.approx(2 * l2c)
    assert pt["hbm_s"] == pytest.approx(8 * g["hbm_cta_s"] / params["mem_eff"])
    assert pt["compute_s"] == pytest.approx(2 * t_cta)
    assert pt["total_s"] == pytest.approx(2 * (max(t_cta, mem) + min(t_cta, mem) / 4) + params["overhead_s_cublas"])


def test_several_ctas_per_sm_share_a_wave():
    params = default_params(TOY)
    # 32x64x32, 2 stages: 2 x (32x32 + 64x32) x 2 B = 12 KiB + 1 KiB reserved: 4 CTAs per SM, 16 per wave; 5 CTAs are
    # one (tail) wave on 4 SMs, the busiest running ceil(5/4) = 2 CTAs one after the other
    g, pt = one(GemmCase("cublas", 160, 64, 256, tile=CtaTile(32, 64, 32, 4, 2, group_m=2)), params)
    assert (g["ctas"], g["occupancy"], pt["waves"]) == (5, 4, 1)
    t_cta = g["t_tensor_s"] / params["tensor_eff_cublas"] + params["cta_fixed_s"]
    assert pt["compute_s"] == pytest.approx(2 * t_cta)
    assert pt["l2_s"] == pytest.approx(5 * g["l2_cta_s"] / 4)


def test_stream_k_spreads_the_ctas_without_waves():
    params = default_params(TOY)
    sk = TOY.model_copy(update={"compute_capability": 9.0})      # cuBLAS on Hopper: stream-K
    geo = geometry(sk, [GemmCase("cublas", 160, 64, 256, tile=TILE)])
    pt = {k: float(np.asarray(v)[0]) for k, v in tm.pair_times(geo, params).items()}
    # 5 CTAs over 4 slots: 1.25 "waves" of work, no tail; 2 waves counted
    l2c, hc = float(geo.l2_cta_s[0]), float(geo.hbm_cta_s[0])
    assert pt["l2_s"] == pytest.approx(1.25 * l2c)
    assert pt["hbm_s"] == pytest.approx(1.25 * 4 * hc / params["mem_eff"])
    assert pt["waves"] == 2


def test_our_nm_kernel_pays_the_expansion_and_decode_no_cta_fixed_time():
    params = {**default_params(TOY), "expand_ops": 3.0, "tensor_eff_triton": 0.5, "cta_fixed_s": 1e-6}
    case = GemmCase("triton_nm", 160, 64, 256, n=2, m=4, index_bits=2, tile=TILE)
    geo = geometry(TOY, [case])
    pt = tm.pair_times(geo, params)
    t_cta = float(geo.t_tensor_s[0]) / 0.5 + float(geo.t_expand_s[0]) * 3.0 + 1e-6
    assert float(geo.t_expand_s[0]) > 0
    assert float(pt["compute_s"][0]) == pytest.approx(2 * t_cta)         # a full wave and a tail of 1
    # the decode kernel has no MMA pipeline to fill: its time does not move with cta_fixed_s
    dec = geometry(TOY, [GemmCase("triton_nm_decode", 1, 64, 256, n=2, m=4, index_bits=2)])
    a = tm.pair_times(dec, params)["total_s"]
    b = tm.pair_times(dec, {**params, "cta_fixed_s": 1e-3})["total_s"]
    assert np.array_equal(a, b)
    # and it is microseconds: ~16 KiB of weights at 1e11 B/s is ~0.2 us, plus a few-us launch
    assert float(a.min()) < 2e-5


def test_best_pairs_pick_each_cases_fastest_tile():
    params = default_params(TOY)
    geo = geometry(TOY, [GemmCase("cublas", 160, 64, 256), GemmCase("cublas", 64, 640, 512)])
    best, pt = tm.best_pairs(geo, params)
    for c, i in enumerate(best):
        rows = np.flatnonzero(geo.row == c)
        assert geo.row[i] == c and pt["total_s"][i] == pt["total_s"][rows].min()
    assert len(best) == 2


def test_eight_bit_operands_take_their_own_efficiency_factor():
    # stop 27 (docs/GPU.md "Formulas"): a CTA of 1-byte operands computes t_tensor / (tensor_eff x
    # tensor_eff_8bit); 16-bit operands ignore the factor; the geometry flags the 1-byte cases
    toy = TOY.model_copy(update={"dense_tensor_flops": {"fp16": 1e14, "int8": 2e14, "fp8": 2e14}})
    params = default_params(toy) | {"tensor_eff_cublas": 0.8, "tensor_eff_8bit": 0.5, "cta_fixed_s": 0.0}
    for dtype, factor in (("int8", 0.5), ("fp8", 0.5), ("fp16", 1.0)):
        geo = geometry(toy, [GemmCase("cublas", 160, 64, 256, dtype, tile=TILE)])
        assert bool(geo.eight_bit[0]) == (factor != 1.0), dtype
        pt = tm.pair_times(geo, params)
        # one full wave of 4 CTAs (one per SM) and a tail of 1: two CTA times of compute
        assert float(pt["compute_s"][0]) == pytest.approx(2 * float(geo.t_tensor_s[0]) / (0.8 * factor)), dtype
    # the decode kernel has no tensor work: never flagged, whatever its dtype
    dec = geometry(H100, [GemmCase("triton_nm_decode", 1, 4096, 4096, "int8", n=2, m=4, index_bits=2)])
    assert not dec.eight_bit.any()
