"""Training step per layer (sim/training.py, docs/MODEL.md 10): the three GEMMs of SAT's BDWP,
mask pre-generation, and `nmsim simulate --training`. Hand-derived on the tiny 4x4 arch (P = 1)."""
from __future__ import annotations

import json

import pytest

from nmsim.accel import load_arch
from nmsim.sim import training
from nmsim.sim.training import pregen_cycles, simulate_training, simulate_training_op, training_ops
from nmsim.workloads import Sparsity, conv2d, parse_layer, zoo

from ..conftest import run_cli

OP = parse_layer("gemm:M=8,N=4,K=16,sparsity=2:8")


def test_three_gemms_with_bdwp():
    fwd, bwd, wgrad = training_ops(OP)
    assert (fwd.M, fwd.N, fwd.K, str(fwd.weight_sparsity)) == (8, 4, 16, "2:8")
    # dY[M,N] . W^T: M x K x N, W pruned 2:8 along the output channels = this GEMM's K
    assert (bwd.M, bwd.N, bwd.K, str(bwd.weight_sparsity)) == (8, 16, 4, "2:8")
    # X^T . dY: K x N x M, dense
    assert (wgrad.M, wgrad.N, wgrad.K, str(wgrad.weight_sparsity)) == (16, 4, 8, "dense")


def test_without_bdwp_backward_keeps_the_forward_mask():
    _, bwd, _ = training_ops(OP, bdwp=False)
    assert bwd.weight_sparsity == Sparsity(kind="nm", n=2, m=8, axis="N", density=0.25)


def test_pattern_override_attention_and_conv():
    fwd, bwd, _ = training_ops(OP, "1:4")
    assert str(fwd.weight_sparsity) == str(bwd.weight_sparsity) == "1:4"
    att = parse_layer("attn_score:M=128,N=128,K=64,batch=12")
    shapes = [(o.kind, o.M, o.N, o.K, o.batch, str(o.weight_sparsity)) for o in training_ops(att, "2:8")]
    assert shapes == [("attn_score", 128, 128, 64, 12, "dense"), ("attn_score", 128, 64, 128, 12, "dense"),
                      ("attn_score", 64, 128, 128, 12, "dense")]
    c = conv2d("c", batch=2, in_hw=8, in_ch=16, out_ch=32, kernel=3)   # M = 128, N = 32, K = 144
    _, cb, cw = training_ops(c, "2:8")
    assert (cb.M, cb.N, cb.K, cw.M, cw.N, cw.K) == (128, 144, 32, 144, 32, 128)


def test_pregen_cycles(tiny):
    # fwd groups: N * ceil(K/8) = 4 * 2; bwd groups: 16 * ceil(4/8) = 16; 4 selectors (columns)
    fwd, bwd, _ = training_ops(OP)
    assert pregen_cycles(tiny, fwd, bwd) == (8 + 16) // 4
    fwd, bwd, _ = training_ops(OP, bdwp=False)              # the backward runs dense: no mask to make
    assert pregen_cycles(tiny, fwd, bwd) == 8 // 4
    assert pregen_cycles(tiny, *training_ops(OP, "dense")[:2]) == 0


def test_step_of_one_layer(tiny):
    # fwd: K_nnz 4 -> 1 fold: 2*4 + 4 - 2 + 8 = 18. bwd: K = 4 padded to 8 -> K_nnz 2 -> 1 row
    # fold, N = 16 -> 4 column folds: 4 * (10 + 8) = 72. wgrad: K = 8 -> 2 row folds, T = 16:
    # 2 * (10 + 16) = 52. Each phase's cycles add 1 for its (tiny) first load and last store.
    r = simulate_training_op(tiny, OP)
    assert [r.phases[p]["cycle_breakdown"]["compute_cycles"] for p in training.PHASES] == [18, 72, 52]
    assert [r.phases[p]["cycles"] for p in training.PHASES] == [19, 73, 53]
    assert r.cycles == 19 + 73 + 53
    assert r.phases["pregen_cycles"] == 6 and r.cycle_breakdown["pregen_exposed_cycles"] == 0
    assert r.executed_sparsity == "2:8/2:8/dense"
    assert r.macs_effective == 8 * 4 * 4 + 8 * 16 * 2 + 16 * 4 * 8
    assert r.macs_dense == 3 * 8 * 4 * 16
    dense = simulate_training_op(tiny, OP, "dense")
    # dense fwd: K = 16 -> 4 row folds; dense bwd: K = 4 fits one fold, as its 2:8 form did
    assert [dense.phases[p]["cycle_breakdown"]["compute_cycles"] for p in training.PHASES] == [4 * 18, 72, 52]


def test_pregen_beyond_the_step_is_exposed(tiny, monkeypatch):
    from nmsim.sim.systolic import FastSystolic
    monkeypatch.setattr(FastSystolic, "pregen_cycles", lambda *a: 1000)
    r = simulate_training_op(tiny, OP)
    assert r.cycles == 1000
    assert r.cycle_breakdown["pregen_exposed_cycles"] == 1000 - (19 + 73 + 53)


def test_bert_base_bdwp_speedup_on_sat():
    sat, wl = load_arch("sat"), zoo.build("bert-base")
    dense = simulate_training(sat, wl, "dense").total["cycles"]
    bdwp = simulate_training(sat, wl, "2:8").total["cycles"]
    fwd_only = simulate_training(sat, wl, "2:8", bdwp=False).total["cycles"]
    # measured 2026-12 (separate read/write ports on sat, docs/MODEL.md 12; default mapping of
    # MODEL.md 4): 81,941,820 / 46,944,444 = 1.746 (SAT's abstract reports 1.75x on average); without
    # BDWP only the forward GEMMs shrink: 64,443,132, 1.272. (Before MODEL.md 4's shrink paths: 1.771, 1.278.)
    assert dense / bdwp == pytest.approx(1.746, abs=0.005)
    assert dense / fwd_only == pytest.approx(1.272, abs=0.005)


def test_cli_training_json(tmp_path, capsys):
    j = tmp_path / "t.json"
    code, out, err = run_cli(["simulate", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=16", "-s", "2:8",
                              "--training", "--json", j], capsys)
    assert code == 0, err
    assert "pregen" in out and "wgrad" in out
    res = json.loads(j.read_text())
    for lr in res["layers"]:
        ph = lr["phases"]
        assert lr["cycles"] == max(sum(ph[p]["cycles"] for p in training.PHASES), ph["pregen_cycles"])
    assert res["total"]["cycles"] == sum(lr["cycles"] for lr in res["layers"])
    code, _, err = run_cli(["simulate", "-a", "sat", "-w", "bert-base", "--no-bdwp"], capsys)
    assert code == 2 and "--no-bdwp applies to --training" in err
    code, _, err = run_cli(["simulate", "-a", "sat", "-w", "bert-base", "--training", "--engine", "detailed"], capsys)
    assert code == 2


def test_default_mapping_of_token_long_weight_gradient():
    """A weight-gradient GEMM reduces over every token (VGG-16's second conv: K = 8 x 224 x 224).
    The fitted default mapping once shrank M to one row before touching K and ran 94x slower than
    the mapper; shrinking the dominant K first keeps it within 3x of the heuristic's mapping."""
    from nmsim.sim import simulate_op

    sat = load_arch("sat")
    op = parse_layer("gemm:M=576,N=64,K=401408")
    default = simulate_op(sat, op)
    searched = simulate_op(sat, op, mapper="heuristic")
    assert default.mapping["tile_m"] == 576 and default.mapping["tile_k"] < op.K
    assert default.cycles <= 3 * searched.cycles
