"""Non-GEMM operators on a GPU (sim/gpu/nongemm.py; docs/GPU.md, "Non-GEMM kernels") by hand:
which parameter values a GPU gets, where a kernel's bytes go (the L2 fit rule at its boundary), the
bytes of a fused run of ops, the seconds of the memory and arithmetic terms, and the layer result
(cycles at the boost clock, TDP-bound energy), from the datasheet fields of accel/presets/t4.yaml:
HBM 3.2e11 B/s, L2 1e12 B/s and 4194304 B, CUDA cores 8.1e12 FLOP/s fp32, 1.59 GHz, 70 W, fp16.

(The properties of NONGEMM_PARAMS' priors and bounds are in test_gpu_params_mutants.py.)
"""
from __future__ import annotations

import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import nongemm as ng
from nmsim.sim.gpu.calibrated import CALIBRATED
from nmsim.sim.gpu.params import default_params
from nmsim.workloads import NonGemmOp

T4 = load_arch("t4")
G = T4.gpu
ROWS, COLS = 128, 768
E = ROWS * COLS                          # 98304 output elements
HALF_L2 = 0.5 * 4194304                  # 2097152 B: the activations fit half of the T4's L2


def test_default_params_are_the_calibrated_any_values_else_the_prior():
    p = ng.nongemm_default_params(G)
    assert set(p) == set(ng.NONGEMM_PARAM_NAMES)                  # nothing else of CALIBRATED['any']
    prior = ng.nongemm_prior_params(default_params(G)["overhead_s_cublas"])
    for n in ng.NONGEMM_PARAM_NAMES:
        assert p[n] == CALIBRATED["any"].get(n, prior[n]), n
    # one launch model for every kernel: the GEMM model's per-kernel overhead
    assert p["nongemm_launch_s"] == default_params(G)["overhead_s_cublas"]
    assert any(n in CALIBRATED["any"] for n in ng.NONGEMM_PARAM_NAMES)       # the rule is exercised


def test_prior_params_take_the_launch_given():
    p = ng.nongemm_prior_params(7e-6)
    assert p["nongemm_launch_s"] == 7e-6
    for q in ng.NONGEMM_PARAMS:
        if q.default != "launch":
            assert p[q.name] == float(q.default)


def test_activations_that_exactly_fit_the_l2_share_stay_in_l2():
    # "stay in L2 when together they fit in l2_fraction of it": fitting includes equality
    assert ng.placed_bytes(G, HALF_L2, 10.0, 0.5) == (10.0, HALF_L2)
    assert ng.placed_bytes(G, HALF_L2 + 1, 10.0, 0.5) == (10.0 + HALF_L2 + 1, 0.0)
    assert ng.placed_bytes(G, 0.0, 10.0, 0.0) == (10.0, 0.0)            # no activation bytes: parameters only


def test_a_kernel_off_chip_by_default_moves_bytes():
    op = NonGemmOp("r", "relu", rows=ROWS, cols=COLS)
    w = ng.kernel_work(G, [op], "fp16", 0.5)                           # on_chip not given: its own kernel
    assert (w.hbm_bytes, w.l2_bytes) == (0.0, 2 * E * 2)                # x read + y written, fp16, in L2
    assert (w.alu_ops, w.special_ops) == (E, 0)
    assert ng.kernel_work(G, [op], "fp16", 0.5, on_chip=True) == (0.0, 0.0, E, 0)


def test_an_embedding_reads_only_its_table_rows_from_hbm():
    # the gathered rows are parameters (HBM, E x 2 B); the kernel reads no activation, writes E x 2 B
    w = ng.kernel_work(G, [NonGemmOp("emb", "embedding", rows=ROWS, cols=COLS)], "fp16", 0.5)
    assert w.hbm_bytes == E * 2 and w.l2_bytes == E * 2


def test_fused_add_and_layernorm_move_three_tensors_instead_of_five():
    # docs: "a fused residual add + layer norm reads the two add operands and the norm's parameters
    # and writes once: 3 tensors of traffic instead of 5". add reads 2E, writes E (consumed inside);
    # layernorm reads that E and its 2 x 768 scale/shift, writes E: act = (3E - E + E) x 2 B
    add, ln = NonGemmOp("a", "add", rows=ROWS, cols=COLS), NonGemmOp("ln", "layernorm", rows=ROWS, cols=COLS)
    w = ng.kernel_work(G, [add, ln], "fp16", 0.5)
    assert w.l2_bytes == 3 * E * 2 and w.hbm_bytes == 2 * COLS * 2
    unfused = [ng.kernel_work(G, [op], "fp16", 0.5) for op in (add, ln)]
    assert sum(u.l2_bytes for u in unfused) == 5 * E * 2
    # three ops: add -> layernorm -> relu: the two inner outputs are consumed inside
    relu = NonGemmOp("r", "relu", rows=ROWS, cols=COLS)
    w3 = ng.kernel_work(G, [add, ln, relu], "fp16", 0.5)
    assert w3.l2_bytes == 3 * E * 2 and w3.alu_ops == add.alu_ops + ln.alu_ops + E


def test_work_seconds_by_hand():
    p = {"nongemm_mem_eff": 0.5, "nongemm_l2_eff": 0.25, "nongemm_compute_eff": 0.5, "nongemm_special_cost": 4.0}
    s = ng.work_seconds(G, ng.KernelWork(3.2e5, 1e6, 8.1e6, 1e6), p)
    assert s["hbm_s"] == pytest.approx(3.2e5 / (3.2e11 * 0.5))          # 2 us
    assert s["l2_s"] == pytest.approx(1e6 / (1e12 * 0.25))              # 4 us
    assert s["memory_s"] == pytest.approx(6e-6)
    # one op per CUDA core per clock = 8.1e12 / 2; a special op costs 4 slots
    assert s["compute_s"] == pytest.approx((8.1e6 + 4 * 1e6) / (8.1e12 / 2 * 0.5))


def test_fused_kernel_terms_launch_by_default_and_name_the_largest_term():
    p = {**ng.nongemm_prior_params(5e-6), "nongemm_mem_eff": 0.5, "nongemm_l2_eff": 0.5,
         "nongemm_compute_eff": 0.5}
    relu = NonGemmOp("r", "relu", rows=ROWS, cols=COLS)
    r = ng.fused_kernel_terms(T4, [relu], p)                           # on_chip not given: a kernel
    l2 = 2 * E * 2 / (1e12 * 0.5)                                       # 0.79 us
    compute = E / (8.1e12 / 2 * 0.5)                                    # 0.049 us
    assert r["launch_s"] == 5e-6 and r["l2_s"] == pytest.approx(l2) and r["compute_s"] == pytest.approx(compute)
    assert r["total_s"] == pytest.approx(5e-6 + l2) and r["bound"] == "launch"
    big = NonGemmOp("a", "add", rows=4096, cols=4096)                  # 3 x 32 MiB: HBM
    rb = ng.fused_kernel_terms(T4, [big], p)
    assert rb["hbm_bytes"] == 3 * 4096 * 4096 * 2 and rb["bound"] == "dram"
    on = ng.fused_kernel_terms(T4, [relu], p, on_chip=True)
    assert on["launch_s"] == 0.0 and on["total_s"] == pytest.approx(compute) and on["bound"] == "compute"


def test_layer_result_cycles_and_tdp_energy_by_hand():
    op = NonGemmOp("ln", "layernorm", rows=ROWS, cols=COLS)
    p = ng.nongemm_default_params(G)
    # x read + y written (2E x 2 B) fit half of L2; scale and shift (2 x 768 x 2 B) from HBM
    mem = 2 * COLS * 2 / (3.2e11 * p["nongemm_mem_eff"]) + 2 * E * 2 / (1e12 * p["nongemm_l2_eff"])
    compute = (7 * E + 3 * ROWS + p["nongemm_special_cost"] * ROWS) / (8.1e12 / 2 * p["nongemm_compute_eff"])
    t = p["nongemm_launch_s"] + max(mem, compute)
    lr = ng.gpu_nongemm_cost(T4, op)
    assert lr.latency_s == pytest.approx(t)
    assert lr.cycles == round(t * 1.59e9)                               # at the boost clock
    assert lr.energy_pj == pytest.approx(70.0 * t * 1e12)               # TDP x time, in pJ
    assert lr.energy_breakdown_pj == {"tdp_bound": pytest.approx(70.0 * t * 1e12)}
    assert lr.bytes == {"hbm": 2 * COLS * 2, "l2": 2 * E * 2}
    assert lr.kernel["name"] == "nongemm:layernorm" and lr.bottleneck == lr.kernel["bound"]
    fused = ng.gpu_nongemm_cost(T4, NonGemmOp("g", "gelu", rows=ROWS, cols=COLS, fused=True))
    assert fused.kernel["name"] == "nongemm:gelu (fused epilogue)" and fused.kernel["launch_s"] == 0.0


def test_special_cost_prior_is_the_cited_throughput_ratio():
    # source (the Param's): CUDA C++ Programming Guide, 64 FP32 add/multiply vs 16 rsqrt/exp2/
    # reciprocal results per clock per SM on compute capability 7.x and 8.x: 64 / 16 ALU slots
    p = ng.nongemm_prior_params(4e-6)
    assert p["nongemm_special_cost"] == 64 / 16
