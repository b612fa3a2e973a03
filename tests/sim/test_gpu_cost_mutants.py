"""One op of a workload on a GPU preset as a LayerResult (sim/gpu/cost.py, `gpu_op_cost`; docs/GPU.md,
"GPU cost model": cuBLAS for dense ops, cuSPARSELt when the weights execute as 2:4, default
parameters, TDP-bound energy).

The kernel's time itself is the tile model's (tests/sim/test_gpu_model.py checks it in closed
form); here every other field of the record is derived by hand from that time t and the a100
preset's datasheet fields (accel/presets/a100.yaml: 312 TFLOP/s dense and 624 TFLOP/s 2:4 sparse
fp16 tensor, 1.41 GHz boost clock, 400 W TDP):

    utilization  = 2 * M * N * K * batch / (t * rate)      (dense FLOPs over the rate the kernel runs at)
    cycles       = round(t * boost_clock)
    macs_effective = M * N * K_kept * batch                 (K_kept = ceil(K / 4) * 2 for 2:4)
    energy       = TDP * t (W * s = J; x 1e12 pJ)

Shapes have M, N, K, batch all different and > 1 so that each factor shows."""
from __future__ import annotations

import math

import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import GemmCase, gemm_times, gpu_op_cost
from nmsim.workloads import Op, Sparsity

A100 = load_arch("a100")
T4 = load_arch("t4")
DENSE_FP16, SPARSE_FP16, CLOCK_HZ, TDP_W = 3.12e14, 6.24e14, 1.41e9, 400.0
M, N, K, BATCH = 96, 320, 1026, 3


def test_preset_fields_the_derivations_use():
    g = A100.gpu
    assert (g.dense_tensor_flops["fp16"], g.sparse_tensor_flops["fp16"], g.boost_clock_hz, g.tdp_w) == (
        DENSE_FP16, SPARSE_FP16, CLOCK_HZ, TDP_W)
    assert g.dtype == "fp16"


def test_dense_op_runs_cublas_and_reports_by_hand():
    res = gpu_op_cost(A100, Op("fc", "gemm", M, N, K, BATCH))
    r = gemm_times(A100.gpu, [GemmCase("cublas", M, N, K, "fp16", batch=BATCH)])[0]
    t = r.total_s
    assert res.latency_s == t and res.bytes == {"hbm": r.hbm_bytes, "l2": r.l2_bytes}
    assert (res.M, res.N, res.K, res.batch) == (M, N, K, BATCH)
    assert res.executed_sparsity == "dense" and res.kernel["name"] == "cublas" and res.bottleneck == r.bound
    # 2 FLOPs per MAC: 2 * 96 * 320 * 1026 * 3 = 189,112,320 FLOPs at 312 TFLOP/s
    flops = 2 * M * N * K * BATCH
    assert flops == 189_112_320
    assert res.utilization == pytest.approx(flops / (t * DENSE_FP16), rel=1e-12)
    assert 0.0 < res.utilization < 1.0
    assert res.cycles == round(t * CLOCK_HZ) and res.cycles > 1000       # microseconds at 1.41 GHz
    assert res.macs_dense == res.macs_effective == M * N * K * BATCH
    assert res.energy_pj == pytest.approx(TDP_W * t * 1e12, rel=1e-12)
    assert res.energy_breakdown_pj == {"tdp_bound": pytest.approx(TDP_W * t * 1e12, rel=1e-12)}
    assert res.cycle_breakdown == {}                       # seconds live in `kernel`, not cycle terms


def test_two_four_op_runs_cusparselt_on_the_sparse_rate():
    op = Op("fc", "gemm", M, N, K, BATCH, weight_sparsity=Sparsity.parse("2:4"))
    res = gpu_op_cost(A100, op)
    r = gemm_times(A100.gpu, [GemmCase("cusparselt", M, N, K, "fp16", 2, 4, 2, BATCH)])[0]
    t = r.total_s
    assert res.latency_s == t and res.bytes == {"hbm": r.hbm_bytes, "l2": r.l2_bytes}
    assert res.executed_sparsity == "2:4" and res.kernel["name"] == "cusparselt"
    # K = 1026 pads to 257 groups of 4, 2 kept each: 514 MACs per output instead of 1026
    k_kept = math.ceil(K / 4) * 2
    assert k_kept == 514
    assert res.macs_dense == M * N * K * BATCH and res.macs_effective == M * N * k_kept * BATCH
    # dense-equivalent FLOPs over the 2:4 rate (the rate the kernel runs its tiles at)
    assert res.utilization == pytest.approx(2 * M * N * K * BATCH / (t * SPARSE_FP16), rel=1e-12)
    assert res.cycles == round(t * CLOCK_HZ)
    assert res.energy_pj == pytest.approx(TDP_W * t * 1e12, rel=1e-12)
    assert res.energy_breakdown_pj["tdp_bound"] == pytest.approx(TDP_W * t * 1e12, rel=1e-12)


def test_two_four_op_without_sparse_tensor_cores_runs_dense():
    # the T4 (Turing) has no 2:4 sparse tensor cores: cuBLAS on the whole dense weight
    op = Op("fc", "gemm", M, N, K, BATCH, weight_sparsity=Sparsity.parse("2:4"))
    res = gpu_op_cost(T4, op)
    g = T4.gpu
    r = gemm_times(g, [GemmCase("cublas", M, N, K, g.dtype, batch=BATCH)])[0]
    assert res.kernel["name"] == "cublas" and res.executed_sparsity == "dense"
    assert res.latency_s == r.total_s and res.macs_effective == res.macs_dense == M * N * K * BATCH
    assert res.utilization == pytest.approx(2 * M * N * K * BATCH / (r.total_s * g.dense_tensor_flops[g.dtype]),
                                            rel=1e-12)
    assert res.energy_pj == pytest.approx(g.tdp_w * r.total_s * 1e12, rel=1e-12)


def test_energy_and_cycles_scale_with_time():
    # a longer op (4x the M rows) takes longer; energy per second stays the TDP, cycles per second the clock
    small = gpu_op_cost(A100, Op("a", "gemm", 256, 1024, 1024, 2))
    big = gpu_op_cost(A100, Op("b", "gemm", 1024, 1024, 1024, 2))
    for res in (small, big):
        assert res.energy_pj / res.latency_s == pytest.approx(TDP_W * 1e12, rel=1e-12)
        assert abs(res.cycles - res.latency_s * CLOCK_HZ) <= 0.5
    assert big.latency_s > small.latency_s and big.energy_pj > small.energy_pj
