"""Costing non-GEMM operators (docs/MODEL.md 11): the vector unit of a systolic arch by hand, the
GPU memory-bound kernel by hand, uncosted targets, and totals that include them."""
from __future__ import annotations

import csv

import pytest

from nmsim.accel import load_arch
from nmsim.accel.scalesim import ScaleSimConfig
from nmsim.sim import backend_for, simulate_op, simulate_workload
from nmsim.sim.gpu import default_params, nongemm_default_params, nongemm_terms
from nmsim.workloads import NonGemmOp, Op, Workload, zoo

from ..conftest import make_arch

VEC = {"lanes": 4, "ops_per_cycle": {"alu": 1.0, "special": 0.25}, "energy_pj": {"alu": 1.0, "special": 4.0},
       "level": "gbuf"}


def vec_arch(**overrides):
    """The tiny 4x4 arch (1 GHz, int8) with a 4-lane vector unit, 8 B/cycle ports, `overrides`."""
    return make_arch(vector=dict(VEC), **{"memory.0.read_bytes_per_cycle": 8.0,
                                          "memory.0.write_bytes_per_cycle": 8.0, **overrides})


LN = NonGemmOp("ln", "layernorm", rows=2, cols=8)      # 16 elements: 118 alu, 2 special; reads 32 B, writes 16 B


def test_vector_unit_by_hand_compute_bound():
    lr = backend_for(vec_arch()).cost_nongemm(LN)
    # compute: ceil(118 / (4 x 1)) + ceil(2 / (4 x 0.25)) = 30 + 2 = 32 cycles
    # port: (32 + 16) B / 8 + (16 + 32) B / 8 = 12 cycles (unit reads and writes + DRAM fills and drains)
    # DRAM at 1e18 B/s: ~0 cycles; no latency -> cycles = 32
    assert lr.cycle_breakdown["compute_cycles"] == 32 and lr.cycle_breakdown["buffer_cycles"] == 12
    assert lr.cycles == 32 and lr.latency_s == pytest.approx(32e-9) and lr.bottleneck == "compute"
    assert lr.bytes == {"gbuf": 2 * 48, "dram": 48}
    # energy: 118 x 1 pJ + 2 x 4 pJ + 96 B x 2 pJ + 48 B x 100 pJ
    assert lr.energy_breakdown_pj == {"vector": 126.0, "buffer": 192.0, "dram": 4800.0, "static": 0.0}
    assert (lr.op, lr.M, lr.N, lr.K, lr.macs_dense, lr.utilization) == ("layernorm", 2, 8, None, 0, 0.0)
    assert lr.nongemm == {"fused": False, "elements_read": 32, "elements_written": 16, "bytes_read": 32.0,
                          "bytes_written": 16.0, "alu_ops": 118, "special_ops": 2, "costed": True}


def test_vector_unit_by_hand_dram_bound_with_latency():
    arch = vec_arch(**{"dram.bytes_per_s": 2.0e9, "dram.latency_s": 5e-9, "memory.0.latency_cycles": 1})
    lr = backend_for(arch).cost_nongemm(LN)
    # DRAM: 48 B at 2 B/cycle = 24 cycles < 32 compute; + 2 x (5 + 1) latency = 44
    assert lr.cycles == 44 and lr.bottleneck == "compute"
    slow = backend_for(vec_arch(**{"dram.bytes_per_s": 1.0e9})).cost_nongemm(LN)
    assert slow.cycles == 48 and slow.bottleneck == "dram"          # 48 B at 1 B/cycle


def test_fused_activation_moves_no_bytes_and_vector_clock_scales_compute():
    gelu = NonGemmOp("g", "gelu", rows=2, cols=8, fused=True)      # 64 alu, 16 special
    lr = backend_for(vec_arch()).cost_nongemm(gelu)
    assert lr.cycles == 16 + 16 and lr.bytes == {"gbuf": 0.0, "dram": 0.0}     # ceil(64/4) + ceil(16/1)
    half = backend_for(vec_arch(**{"vector.clock_hz": 0.5e9})).cost_nongemm(gelu)
    assert half.cycles == 2 * lr.cycles                                          # in array cycles


def test_detailed_engine_costs_them_as_the_fast_model():
    fast = backend_for(vec_arch()).cost_nongemm(LN)
    det = backend_for(vec_arch(), "detailed").cost_nongemm(LN)
    assert (det.cycles, det.energy_pj, det.bytes) == (fast.cycles, fast.energy_pj, fast.bytes)


def test_vector_level_must_exist():
    with pytest.raises(Exception, match="vector.level 'sram' is not a memory level"):
        make_arch(vector={**VEC, "level": "sram"})
    with pytest.raises(Exception, match="missing special"):
        make_arch(vector={**VEC, "ops_per_cycle": {"alu": 1.0}})


def test_arch_without_vector_unit_reports_them_uncosted_with_a_note():
    wl = Workload("w", [Op("fc", "gemm", M=8, N=8, K=8), NonGemmOp("r", "relu", rows=8, cols=8, fused=True), LN])
    res = simulate_workload(make_arch(), wl)
    ng = [lr for lr in res.layers if lr.is_nongemm]
    assert [lr.cycles for lr in ng] == [0, 0] and not any(lr.nongemm["costed"] for lr in ng)
    assert any("describes no vector unit" in n for n in res.notes)
    assert res.total["nongemm_uncosted"] == 2 and res.total["nongemm_share"] == 0.0


def test_scalesim_compatibility_does_not_cost_them():
    cfg = ScaleSimConfig(source="x.cfg", run_name="x", rows=4, cols=4, ifmap_sram_kb=64, filter_sram_kb=64,
                         ofmap_sram_kb=64, dataflow="ws")
    lr = backend_for(cfg).cost_nongemm(LN)
    assert lr.cycles == 0 and not lr.nongemm["costed"] and "SCALE-Sim models no non-GEMM" in lr.notes[0]


def test_totals_include_them_and_the_csv_shows_them(tmp_path):
    wl = Workload("w", [Op("fc", "gemm", M=8, N=8, K=8), NonGemmOp("g", "gelu", rows=8, cols=8, fused=True), LN])
    res = simulate_workload(vec_arch(), wl)
    gemm = simulate_op(vec_arch(), wl.ops[0])
    tot = res.total
    assert tot["cycles"] == gemm.cycles + sum(lr.cycles for lr in res.layers[1:])
    assert tot["nongemm_latency_s"] == pytest.approx(sum(lr.latency_s for lr in res.layers[1:]))
    assert tot["macs_dense"] == gemm.macs_dense and 0 < tot["nongemm_share"] < 1
    res.write_csv(tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["op"] for r in rows] == ["gemm", "gelu", "layernorm"]
    assert rows[2]["K"] == "" and rows[2]["alu_ops"] == "118" and rows[0]["alu_ops"] == ""


# --- GPUs: memory-bound kernels ---------------------------------------------------------------

def test_gpu_kernel_by_hand_on_t4():
    t4 = load_arch("t4")
    g, p = t4.gpu, nongemm_default_params(t4.gpu)
    op = NonGemmOp("ln", "layernorm", rows=128, cols=768)            # fp16: 2 B per element
    r = nongemm_terms(t4, op)
    act = (128 * 768 + 128 * 768) * 2                                  # x read + y written: fit in half of L2
    params = 2 * 768 * 2                                               # scale and shift from HBM
    assert r["l2_bytes"] == act and r["hbm_bytes"] == params
    mem = params / (g.hbm_bytes_per_s * p["nongemm_mem_eff"]) + act / (g.l2_bytes_per_s * p["nongemm_l2_eff"])
    compute = (7 * 98304 + 3 * 128 + 4.0 * 128) / (g.cuda_core_flops["fp32"] / 2 * p["nongemm_compute_eff"])
    assert r["memory_s"] == pytest.approx(mem) and r["compute_s"] == pytest.approx(compute)
    # one launch model for every kernel: the GEMM model's per-kernel overhead
    assert p["nongemm_launch_s"] == default_params(g)["overhead_s_cublas"] == r["launch_s"]
    assert r["total_s"] == pytest.approx(r["launch_s"] + max(mem, compute))


def test_gpu_kernel_spills_to_hbm_and_fused_has_no_launch():
    t4 = load_arch("t4")
    big = NonGemmOp("a", "add", rows=4096, cols=4096)                  # 96 MiB of fp16 traffic: HBM
    r = nongemm_terms(t4, big)
    assert r["l2_bytes"] == 0 and r["hbm_bytes"] == 3 * 4096 * 4096 * 2 and r["bound"] == "dram"
    fused = nongemm_terms(t4, NonGemmOp("g", "gelu", rows=128, cols=3072, fused=True))
    assert fused["launch_s"] == 0 and fused["hbm_bytes"] == fused["l2_bytes"] == 0 and fused["bound"] == "compute"
    tiny = nongemm_terms(t4, NonGemmOp("r", "relu", rows=1, cols=64))
    assert tiny["bound"] == "launch"


def test_bert_base_int8_on_t4_now_costs_its_non_gemm_work():
    from nmsim.reproduce.s4 import t4_at

    t4 = t4_at("int8")
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    res = simulate_workload(t4, wl)
    gemm_only = simulate_workload(t4, Workload(wl.name, wl.ops))
    tot = res.total
    assert tot["latency_s"] == pytest.approx(gemm_only.total["latency_s"] + tot["nongemm_latency_s"])
    # 12 x (2 norms + 2 adds + softmax) + embeddings: each unfused op pays at least one launch (the
    # GEMM model's calibrated per-kernel overhead, sim/gpu/nongemm.py)
    unfused = sum(1 for op in wl.nongemm if not op.fused)
    launch = nongemm_default_params(t4.gpu)["nongemm_launch_s"]
    assert launch == default_params(t4.gpu)["overhead_s_cublas"] and launch > 1e-6
    assert tot["nongemm_latency_s"] >= unfused * launch


def test_non_gemm_share_grows_as_nm_shrinks_the_gemms():
    s4 = load_arch("s4")
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    shares = [simulate_workload(s4, wl, p).total["nongemm_share"] for p in ("dense", "1:4", "1:8")]
    assert shares[0] < shares[1] < shares[2]

