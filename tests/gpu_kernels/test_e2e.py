"""Whole-model latency (gpu_kernels/e2e.py, e2e_work.py, fusion.py; sim/gpu/nongemm.py and attention.py):
what each framework fuses, the cost of a fused kernel and of fused attention by hand, the one
launch-gap model per framework, and the end-to-end fit on calibration sources only. Rows are the
shipped measurements/published end-to-end files (or copies with one time changed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from nmsim.accel import load_arch
from nmsim.gpu_kernels.e2e import (build_work, calibrate_e2e, e2e_values, kernel_launches, predict_e2e, row_kernels,
                                   shipped_e2e, validate_e2e)
from nmsim.gpu_kernels.fusion import Kernel, kernels
from nmsim.gpu_kernels.published import read_published
from nmsim.gpu_kernels.validate_published import CALIBRATION_SOURCES
from nmsim.sim.gpu import (DTYPE_BYTES, attention_seconds, attention_work, fused_kernel_terms, graph_launch_floor_s,
                           kernel_work, nongemm_default_params, work_seconds)
from nmsim.workloads import NonGemmOp, Op, zoo

PUBLISHED = Path(__file__).resolve().parents[2] / "measurements" / "published"


def e2e_rows():
    return [r for f in sorted(PUBLISHED.glob("e2e_*.csv")) for r in read_published(f)[1]]


def layer_kinds(ks: list[Kernel]) -> list[tuple[str, tuple[str, ...]]]:
    return [(k.kind, tuple(x.name.split(".", 1)[-1] for x in (*k.gemms, *k.ops))) for k in ks]


# --- fusion rules --------------------------------------------------------------------------

def test_tensorrt_bert_kernels_are_the_demo_builders():
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    ks = kernels(wl.layers, "tensorrt")
    # embeddings, adds and the layer norm: the embLayerNorm plugin
    assert ks[0].kind == "nongemm" and [o.kind for o in ks[0].ops] == ["embedding", "embedding", "add", "embedding",
                                                                       "add", "layernorm"]
    # per layer: QKV GEMM, fused MHA, attention output FC, skip+LN, FC1+GELU, FC2, skip+LN
    assert layer_kinds(ks[1:8]) == [
        ("gemm", ("attn.q", "attn.k", "attn.v")), ("attention", ("attn.score", "attn.context", "attn.softmax")),
        ("gemm", ("attn.out",)), ("nongemm", ("res1", "norm1")), ("gemm", ("ffn.up", "ffn.gelu")),
        ("gemm", ("ffn.down",)), ("nongemm", ("res2", "norm2"))]
    assert len(ks) == 1 + 12 * 7
    # every layer is in exactly one kernel
    assert sorted(x.name for k in ks for x in (*k.gemms, *k.ops)) == sorted(x.name for x in wl.layers)


def test_torch_compile_and_eager_fuse_less():
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    ks = kernels(wl.layers, "torch_compile")
    # Inductor: GELU after a library GEMM is a kernel of its own; qkv and attention still one kernel each
    assert layer_kinds(ks[1:9]) == [
        ("gemm", ("attn.q", "attn.k", "attn.v")), ("attention", ("attn.score", "attn.context", "attn.softmax")),
        ("gemm", ("attn.out",)), ("nongemm", ("res1", "norm1")), ("gemm", ("ffn.up",)), ("nongemm", ("ffn.gelu",)),
        ("gemm", ("ffn.down",)), ("nongemm", ("res2", "norm2"))]
    eager = kernels(wl.layers, "torch_eager")
    assert len(eager) == len(wl.layers) and all(len(k.gemms) + len(k.ops) == 1 for k in eager)


def test_merges_need_the_same_input():
    q = Op("attn.q", "gemm", 8, 64, 64)
    odd = [q, Op("attn.k", "gemm", 8, 64, 32), Op("attn.v", "gemm", 8, 64, 64)]
    assert [k.kind for k in kernels(odd, "tensorrt")] == ["gemm"] * 3
    same = [q, Op("attn.k", "gemm", 8, 32, 64), Op("attn.v", "gemm", 8, 32, 64)]
    assert [len(k.gemms) for k in kernels(same, "tensorrt")] == [3]
    # an activation in the epilogue only right after a GEMM; after a non-GEMM op it joins the run
    gelu = NonGemmOp("g", "gelu", rows=8, cols=64)
    ks = kernels([q, NonGemmOp("n", "layernorm", rows=8, cols=64), gelu], "tensorrt")
    assert layer_kinds(ks) == [("gemm", ("q",)), ("nongemm", ("n", "g"))]


# --- what a fused kernel and fused attention cost ---------------------------------------------

def test_fused_add_and_layernorm_by_hand():
    a100 = load_arch("a100-40gb")
    g, p = a100.gpu, nongemm_default_params(a100.gpu)
    E = 8192 * 1024                                        # 16 MiB per fp16 tensor: 2 of them > half of L2, HBM
    add, ln = NonGemmOp("r", "add", rows=8192, cols=1024), NonGemmOp("n", "layernorm", rows=8192, cols=1024)
    one = fused_kernel_terms(a100, [add, ln], p)
    # reads the two add operands and the norm's scale and shift; writes the norm's output once
    assert one["hbm_bytes"] == (2 * E + E + 2 * 1024) * 2 and one["l2_bytes"] == 0
    apart = [fused_kernel_terms(a100, [x], p) for x in (add, ln)]
    assert sum(t["hbm_bytes"] for t in apart) == (3 * E + 2 * E + 2 * 1024) * 2
    assert one["total_s"] < sum(t["total_s"] for t in apart)
    assert one["launch_s"] == apart[0]["launch_s"] == p["nongemm_launch_s"]
    # inside another kernel (an epilogue): arithmetic only
    w = kernel_work(g, [add], "fp16", p["nongemm_l2_fraction"], on_chip=True)
    assert (w.hbm_bytes, w.l2_bytes, w.alu_ops) == (0.0, 0.0, add.alu_ops)


def test_fused_attention_by_hand():
    a100 = load_arch("a100-40gb")
    g = a100.gpu
    p = nongemm_default_params(g) | {"tensor_eff_cublas": 0.5}
    B, S, d = 64 * 12, 384, 64                             # 64 sequences x 12 heads
    score, context = Op("s", "attn_score", S, S, d, B), Op("c", "attn_context", S, d, S, B)
    soft = NonGemmOp("p", "softmax", rows=S, cols=S, batch=B)
    w = attention_work(g, score, context, soft, "fp16", p["nongemm_l2_fraction"])
    # Q, K, V read, the context written; the S x S scores never leave the chip
    assert w.hbm_bytes == 4 * B * S * d * DTYPE_BYTES["fp16"] and w.l2_bytes == 0
    assert w.tensor_s == pytest.approx(2 * 2 * B * S * S * d / g.dense_tensor_flops["fp16"]) and w.util == 1.0
    t = attention_seconds(g, w, p)
    soft_s = work_seconds(g, kernel_work(g, [soft], "fp16", 0.5, on_chip=True), p)["compute_s"]
    assert t["compute_s"] == pytest.approx(w.tensor_s / 0.5 + soft_s)
    assert t["total_s"] == max(t["compute_s"], t["memory_s"])
    # one sequence of 128 tokens keeps 12 x 2 CTAs busy of 108 SMs
    small = attention_work(g, Op("s", "attn_score", 128, 128, d, 12), Op("c", "attn_context", 128, d, 128, 12),
                           None, "fp16", 0.5)
    assert small.util == pytest.approx(24 / g.sms)


# --- one launch model, and the fit on calibration sources only ---------------------------------

def _subset():
    rows = e2e_rows()
    cal = [r for r in rows if r["source_id"] in CALIBRATION_SOURCES and r["preset"] == "a30"
           and r["model"] == "bert-base" and r["dtype"] == "int8"]
    held = [r for r in rows if r["source_id"] not in CALIBRATION_SOURCES and r["preset"] == "l40s"
            and r["model"] == "bert-base" and r["dtype"] == "int8"][:6]
    return cal + held


def test_one_gap_for_every_kernel_of_a_framework():
    rows = [r for r in _subset() if r["batch"] in (1, 8)]
    work = build_work(rows, {})
    base = predict_e2e(work, len(rows), {"gap_launches_tensorrt": 1.0})
    more = predict_e2e(work, len(rows), {"gap_launches_tensorrt": 3.0})
    for i, r in enumerate(rows):
        # GEMM, attention and non-GEMM kernels alike: 85 kernels x 2 launch floors of the row's GPU
        assert kernel_launches(r) == 85 == len(row_kernels(r))
        floor = graph_launch_floor_s(load_arch(r["preset"]).gpu)
        assert more["total_s"][i] - base["total_s"][i] == pytest.approx(85 * 2 * floor)
        assert more["gemm_s"][i] == base["gemm_s"][i] and more["nongemm_s"][i] == base["nongemm_s"][i]


def test_a_faster_clocked_board_pays_less_per_kernel():
    # the gap is counted in launch floors, GPU cycles (params.graph_launch_floor_s): the same
    # engine's 85 kernels cost the L40S (Ada, 2.52 GHz) less than the A30 (Ampere, 1.44 GHz) at the
    # same fitted gap, in the ratio of their floors; no other part of the time moves with the gap
    rows = [r for r in _subset() if r["batch"] == 1]
    work = build_work(rows, {})
    gaps = predict_e2e(work, len(rows), {"gap_launches_tensorrt": 4.0})["gaps_s"]
    per_kernel = {r["preset"]: g / kernel_launches(r) for r, g in zip(rows, gaps)}
    assert set(per_kernel) == {"a30", "l40s"}
    assert per_kernel["a30"] == pytest.approx(4.0 * 1.337e-6 * 1.41 / 1.44)
    assert per_kernel["l40s"] == pytest.approx(4.0 * 0.936e-6 * 2.49 / 2.52)
    assert per_kernel["l40s"] < 0.75 * per_kernel["a30"]


def test_held_out_rows_never_move_the_fit():
    rows = _subset()
    values, info = calibrate_e2e(rows)
    assert "gap_launches_tensorrt" in values and info["free"]
    i = next(i for i, r in enumerate(rows) if r["source_id"] not in CALIBRATION_SOURCES)
    changed = [dict(r, time_s=r["time_s"] * 3) if j == i else r for j, r in enumerate(rows)]
    assert calibrate_e2e(changed)[0] == values
    # a calibration row does move it (the check above can fail)
    k = next(k for k, r in enumerate(rows) if r["source_id"] in CALIBRATION_SOURCES and r["batch"] == 1)
    moved = [dict(r, time_s=r["time_s"] * 3) if j == k else r for j, r in enumerate(rows)]
    assert calibrate_e2e(moved)[0]["gap_launches_tensorrt"] != values["gap_launches_tensorrt"]


def test_fit_recovers_known_values_and_leaves_loose_ones_at_their_prior():
    rows = [r for r in _subset() if r["source_id"] in CALIBRATION_SOURCES]
    truth = {"gap_launches_tensorrt": 1.5, "sustained_frac@sm80": 0.8}
    pred = predict_e2e(build_work(rows, {}), len(rows), truth)["total_s"]
    values, info = calibrate_e2e([dict(r, time_s=float(t)) for r, t in zip(rows, pred)])
    # a maximum a posteriori fit: the prior (1 launch floor, 1.0) pulls a little on 20 exact rows
    assert values["gap_launches_tensorrt"] == pytest.approx(1.5, rel=0.15)
    assert values["sustained_frac@sm80"] == pytest.approx(0.8, rel=0.03)
    again = predict_e2e(build_work(rows, values), len(rows), values)["total_s"]
    assert max(abs(again / pred - 1)) < 0.05
    # no torch.compile row: its gap is not a free key; an unpinned key keeps its prior
    assert "gap_launches_torch_compile" not in info["free"]
    assert info["unconstrained"] and all(k not in values and k not in info["sd"] for k in info["unconstrained"])


def test_shipped_e2e_calibration_is_what_the_fit_gives():
    values, info = calibrate_e2e(e2e_rows())
    shipped = shipped_e2e()
    assert set(values) == set(shipped), set(values) ^ set(shipped)
    for k, v in values.items():
        assert shipped[k] == pytest.approx(v, rel=0.01), k
    # the T4 sustains less than its one-op rates; a device without calibration rows keeps 1
    assert shipped["sustained_frac@sm75"] < 0.9
    assert e2e_values(load_arch("h100").gpu, shipped)["sustained_frac"] == 1.0


def test_validation_report_says_what_is_costed(capsys):
    from ..conftest import run_cli

    code, text, err = run_cli(["gpu", "validate", PUBLISHED / "e2e_pytorch.csv"], capsys)
    assert code == 0, err
    text = " ".join(text.split())                         # the console wraps long lines
    assert "fused attention" in text and "cost nothing" not in text and "per preset" in text
    rows = [r for r in e2e_rows() if r["source_id"] not in CALIBRATION_SOURCES and r["framework"] == "tensorrt"][:5]
    res = validate_e2e(rows)                              # held-out sources only: the shipped calibration, no fit
    assert res["param_status"]["gap_launches_tensorrt"] == "shipped calibration"
    assert res["params"]["gap_launches_tensorrt"] == shipped_e2e()["gap_launches_tensorrt"]
    for r in res["rows"]:
        assert r["predicted_s"] == pytest.approx(sum(r["parts_s"].values()))


def test_tensorrt_int8_gemms_do_not_take_the_library_8bit_factor():
    # e2e_work.KERNEL_LEVEL_8BIT (stop 27): TensorRT's INT8 engines run its own kernels, timed at the
    # 16-bit efficiency whatever the GEMM calibration's tensor_eff_8bit; an eager call (a library
    # GEMM through PyTorch) takes the factor
    from nmsim.gpu_kernels.e2e_work import KERNEL_LEVEL_8BIT, _gemm_calls
    from nmsim.sim import gpu as gm

    g = load_arch("l4").gpu
    trt = gm.GemmCase("cublas", 128 * 8, 2304, 768, "int8", timing="cuda_graph")
    eager = gm.GemmCase("cublas", 128 * 8, 2304, 768, "int8", timing="python_eager")
    p = gm.default_params(g)
    half = _gemm_calls(g, [trt, eager], p | {"tensor_eff_8bit": 0.5})
    one = _gemm_calls(g, [trt, eager], p | {"tensor_eff_8bit": 1.0})
    assert KERNEL_LEVEL_8BIT == 1.0 and half[trt] == one[trt]
    assert half[eager][0] > one[eager][0]
    # kernel-level calls pay the framework's gap, not the libraries' one-call overheads
    sparse = gm.GemmCase("cusparselt", 128 * 8, 2304, 768, "int8", 2, 4, 2, timing="cuda_graph", variant=("c_api",))
    cheap = _gemm_calls(g, [trt, sparse], p | {"overhead_s_cublas": 0.0, "overhead_s_sparse_lib": 0.0})
    dear = _gemm_calls(g, [trt, sparse], p | {"overhead_s_cublas": 1e-3, "overhead_s_sparse_lib": 1e-3})
    assert cheap == dear


def test_kernel_case_of_dense_and_pruned_linears_per_framework():
    # e2e_work.kernel_case: a pruned linear is a 2:4 GemmCase (n 2, m 4, 2 index bits) on cuSPARSELt,
    # or torch's CUTLASS when the row's variant says so; TensorRT and compiled graphs call the library
    # through its C API, eager PyTorch through the tensor subclass (no variant); dense linears are cuBLAS
    from nmsim.gpu_kernels.e2e_work import kernel_case

    rows = e2e_rows()
    trt = next(r for r in rows if r["framework"] == "tensorrt" and r["sparsity"] == "2:4")
    eager = next(r for r in rows if r["framework"] == "torch_eager" and r["sparsity"] == "2:4")
    dense = next(r for r in rows if r["framework"] == "torch_eager" and r["sparsity"] == "dense")
    for row, kernel, variant in ((trt, "cusparselt", ("c_api",)), (eager, "cutlass", ())):
        gemm = next(k for k in row_kernels(row) if k.kind == "gemm")
        c = kernel_case(row, gemm)
        assert (c.kernel, c.n, c.m, c.index_bits, c.variant) == (kernel, 2, 4, 2, variant), row["framework"]
        assert c.N == sum(g.N for g in gemm.gemms) and not gemm.gemms[0].weight_sparsity.is_dense
    gemm = next(k for k in row_kernels(dense) if k.kind == "gemm")
    c = kernel_case(dense, gemm)
    assert (c.kernel, c.n, c.m, c.index_bits, c.variant) == ("cublas", 1, 1, 0, ())
    assert gemm.gemms[0].weight_sparsity.is_dense


def test_eager_ops_cost_their_launch_or_host_floor_and_no_gap():
    # e2e_work.preset_seconds, eager (python_eager): each non-GEMM op is a call costing
    # max(overhead_s_cublas + its GPU time, host_s_torch_op), and no framework gap is charged
    from nmsim.gpu_kernels.e2e_work import preset_seconds

    row = next(r for r in e2e_rows() if r["framework"] == "torch_eager" and r["sparsity"] == "dense")
    work = build_work([row], {})
    w = work[0]
    p = load_arch(row["preset"]).gpu
    from nmsim.sim import gpu as gm

    params = gm.default_params(p) | e2e_values(p, {})
    base = preset_seconds(w, params)
    assert base["gaps_s"][0] == 0.0
    slow_host = preset_seconds(w, params | {"host_s_torch_op": 1.0})
    n_ng = int(sum(1 for k in row_kernels(row) if k.kind == "nongemm"))
    assert n_ng > 0
    # every non-GEMM call sits on the 1 s host floor
    assert slow_host["nongemm_s"][0] == pytest.approx(n_ng * 1.0)
    more_launch = preset_seconds(w, params | {"overhead_s_cublas": params["overhead_s_cublas"] + 1e-3,
                                              "host_s_torch_op": 0.0})
    no_host = preset_seconds(w, params | {"host_s_torch_op": 0.0})
    assert more_launch["nongemm_s"][0] - no_host["nongemm_s"][0] == pytest.approx(n_ng * 1e-3)


# --- the report: which rows land where, and what each number is ------------------------------

def test_report_sorts_rows_by_split_and_device_and_states_each_parameters_footing():
    # _subset: 20 calibration rows (A30, TensorRT 2022) and 6 held-out ones (L40S), and one T4
    # calibration row of the same table; one A30 and one L40S row marked as not stating their device
    t4 = next(r for r in e2e_rows() if r["source_id"] in CALIBRATION_SOURCES and r["preset"] == "t4"
              and r["framework"] == "tensorrt")
    rows = _subset() + [t4]
    cal_i = next(i for i, r in enumerate(rows) if r["source_id"] in CALIBRATION_SOURCES)
    held_i = next(i for i, r in enumerate(rows) if r["source_id"] not in CALIBRATION_SOURCES)
    rows = [dict(r, device_stated=False) if i in (cal_i, held_i) else r for i, r in enumerate(rows)]
    res = validate_e2e(rows)
    n = {k: v["n"] for k, v in res["latency"].items()}
    assert n == {"held_out": 5, "held_out_inferred": 1, "calibration": 20, "calibration_inferred": 1,
                 "held_out_uncalibrated": 5}
    # per device and per framework: held-out rows with a stated device only
    assert {k: v["n"] for k, v in res["per_device"].items()} == {"l40s": 5}
    assert {k: v["n"] for k, v in res["per_framework"].items()} == {"tensorrt": 5}
    for r in res["rows"]:
        assert r["error"] == pytest.approx(r["predicted_s"] / r["measured_s"] - 1)
        assert "total_s" not in r["parts_s"] and r["predicted_s"] == pytest.approx(sum(r["parts_s"].values()))
        assert r["split"] == ("calibration" if r["source_id"] in CALIBRATION_SOURCES else "held_out")
    # fitted on the calibration rows it applies to (rows of either device flag count): the gap on
    # every TensorRT row, a class's sustained fraction on its class's; the held-out class keeps its
    # prior and says so
    fitted = calibrate_e2e(rows)[0]
    st, p = res["param_status"], res["params"]
    assert st["gap_launches_tensorrt"] == "fitted on 21 rows"
    assert st["sustained_frac@sm80"] == "fitted on 20 rows"
    assert p["gap_launches_tensorrt"] == fitted["gap_launches_tensorrt"]
    assert st["sustained_frac@sm89"] == "uncalibrated" and p["sustained_frac@sm89"] == 1.0
    assert st["nongemm_l2_eff"] == "uncalibrated" and p["nongemm_l2_eff"] == 0.8


def test_posterior_spread_is_the_curvature_of_the_log_posterior():
    # fit_e2e's sd (Gauss-Newton: J'J / s2 + I / sigma^2, s2 the residual variance over n - p rows)
    # against the Hessian of the negative log posterior by central differences, on real rows
    import numpy as np

    from nmsim.gpu_kernels import e2e

    cal = [r for r in _subset() if r["source_id"] in CALIBRATION_SOURCES]
    work = build_work(cal, {})
    keys = ["gap_launches_tensorrt", "sustained_frac@sm80"]
    values, sd, _, _ = e2e._solve(cal, work, keys, e2e._gemm_params)
    meas = np.log([r["time_s"] for r in cal])

    def resid(x):
        return np.log(predict_e2e(work, len(cal), {k: float(np.exp(a)) for k, a in zip(keys, x)})["total_s"]) - meas

    x = np.log([values[k] for k in keys])
    s2 = np.sum(resid(x) ** 2) / (len(cal) - len(keys))

    def neg_log_post(y):
        return 0.5 * np.sum(resid(y) ** 2) / s2 + 0.5 * np.sum((y / e2e.PRIOR_SIGMA) ** 2)   # priors of 1: log 0

    h, e = 1e-3, np.eye(len(keys)) * 1e-3
    hess = np.array([[(neg_log_post(x + e[i] + e[j]) - neg_log_post(x + e[i] - e[j]) - neg_log_post(x - e[i] + e[j])
                       + neg_log_post(x - e[i] - e[j])) / (4 * h * h) for j in range(len(keys))]
                     for i in range(len(keys))])
    assert sd == pytest.approx(np.sqrt(np.diag(np.linalg.inv(hess))), rel=0.07)
    # docs/GPU.md: a value is calibrated when the rows pin it within a factor 1.35
    assert np.exp(e2e.MAX_SD) == pytest.approx(1.35, abs=0.005)


def test_fit_starting_at_the_origin_of_log_space_moves():
    # every free key's prior at 1 (log 0): scipy's trust region starts at the norm of the start, so
    # without e2e._solve's offset the fit would stop where it began
    from nmsim.gpu_kernels import e2e

    rows = [r for r in _subset() if r["source_id"] in CALIBRATION_SOURCES]
    truth = {"gap_launches_tensorrt": 1.5, "sustained_frac@sm80": 0.8}
    pred = predict_e2e(build_work(rows, {}), len(rows), truth)["total_s"]
    syn = [dict(r, time_s=float(t)) for r, t in zip(rows, pred)]
    keys = list(truth)
    values, _, cost, _ = e2e._solve(syn, build_work(syn, {}), keys, e2e._gemm_params)
    # a stalled fit returns its start, 1 and 1; this one goes most of the way (the prior of 1 floor
    # pulls the gap, which these 20 rows see weakly, back a little)
    assert 1.2 < values["gap_launches_tensorrt"] < 1.6
    assert values["sustained_frac@sm80"] == pytest.approx(0.8, rel=0.03)
    assert cost < 0.05
