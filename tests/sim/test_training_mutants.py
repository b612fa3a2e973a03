"""Training step (sim/training.py, docs/MODEL.md 10): how a step's record is composed from its three
phases (sums over phases, the step's bottleneck, the --no-bdwp note, latency) and what
`simulate_training` does with its arguments (pattern objects, the axis check, progress, labels,
the non-GEMM note). A stub backend with chosen figures makes the sums plain arithmetic."""
from __future__ import annotations

import pytest

from nmsim.sim.backends import backend_for
from nmsim.sim.results import LayerResult
from nmsim.sim.training import PHASES, simulate_training, simulate_training_op, training_step
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity, Workload, parse_layer
from nmsim.workloads.nongemm import NonGemmOp

from ..conftest import make_arch

OP = parse_layer("gemm:M=8,N=4,K=16,sparsity=2:8")
NO_BDWP_NOTE = "without BDWP the backward-data weights keep the forward mask"


class StubBackend:
    """Returns the figures given per phase (by the op-name suffix .fwd/.bwd/.wgrad)."""

    def __init__(self, figures: dict, pregen: int = 0):
        self.figures, self.pregen = figures, pregen

    def cost(self, op: Op) -> LayerResult:
        f = self.figures[op.name.rsplit(".", 1)[1]]
        return LayerResult(name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
                           sparsity=str(op.weight_sparsity), executed_sparsity=f.get("executed", "dense"),
                           cycles=f["cycles"], latency_s=f["cycles"] * 1e-9, utilization=0.0, macs_dense=op.macs,
                           macs_effective=0, bytes=dict(f.get("bytes", {})), energy_pj=f.get("energy", 0.0),
                           energy_breakdown_pj=dict(f.get("ebd", {})), cycle_breakdown=dict(f.get("cbd", {})),
                           bottleneck=f.get("bottleneck", ""))

    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        return self.pregen


def test_step_sums_bytes_and_breakdowns_over_phases_missing_keys_count_zero():
    # keys the fwd phase has and a later phase lacks add 0 for that phase
    stub = StubBackend({
        "fwd": {"cycles": 10, "bytes": {"gbuf": 8.0, "dram": 2.0}, "ebd": {"mac": 1.0, "static": 0.5},
                "cbd": {"compute_cycles": 10.0, "buffer_cycles": 3.0, "dram_cycles": 1.0, "stall_x_cycles": 2.0}},
        "bwd": {"cycles": 20, "bytes": {"dram": 5.0}, "ebd": {"mac": 2.0},
                "cbd": {"compute_cycles": 20.0, "buffer_cycles": 4.0, "dram_cycles": 2.0}},
        "wgrad": {"cycles": 30, "bytes": {"gbuf": 1.0}, "ebd": {"mac": 4.0, "static": 0.25},
                  "cbd": {"compute_cycles": 30.0, "buffer_cycles": 5.0, "dram_cycles": 3.0}},
    })
    r = simulate_training_op(make_arch(), OP, backend=stub)
    assert r.bytes == {"gbuf": 9.0, "dram": 7.0}
    assert r.energy_breakdown_pj == {"mac": 7.0, "static": 0.75}
    assert r.cycle_breakdown["stall_x_cycles"] == 2.0
    assert r.cycle_breakdown["compute_cycles"] == 60.0 and r.cycle_breakdown["buffer_cycles"] == 12.0
    assert r.cycles == 60 and r.bottleneck == "compute"


def test_step_bottleneck_is_of_the_summed_terms_not_the_forward_phase():
    # fwd compute-bound (10 vs 1), bwd DRAM-bound (1 vs 50): the step's terms are 11+1+1 compute and
    # 1+50+1 DRAM, so the step waits on DRAM although its forward phase does not
    cbd = {"fwd": (10.0, 1.0), "bwd": (1.0, 50.0), "wgrad": (1.0, 1.0)}
    stub = StubBackend({ph: {"cycles": 60, "bottleneck": "compute" if c > d else "dram",
                             "cbd": {"compute_cycles": c, "buffer_cycles": 0.0, "dram_cycles": d}}
                        for ph, (c, d) in cbd.items()})
    r = simulate_training_op(make_arch(), OP, backend=stub)
    assert r.phases["fwd"]["bottleneck"] == "compute" and r.bottleneck == "dram"


def test_step_without_cycle_terms_keeps_the_forward_bottleneck():
    # a backend that reports no compute/buffer/dram terms (GPU presets: seconds of a kernel): the
    # step's bottleneck is the forward phase's own
    stub = StubBackend({ph: {"cycles": 5, "bottleneck": "memory"} for ph in PHASES})
    r = simulate_training_op(make_arch(), OP, backend=stub)
    assert r.bottleneck == "memory" and r.cycles == 15


def test_latency_is_cycles_over_clock():
    arch = make_arch(**{"compute.clock_hz": 2.0e9})
    r = simulate_training_op(arch, OP)
    assert r.latency_s == pytest.approx(r.cycles / 2.0e9)


def test_training_step_prunes_bidirectionally_by_default():
    step = training_step(backend_for(make_arch()), OP)
    assert step.ops[1].weight_sparsity.axis == "K"
    assert step.phases["bwd"].executed_sparsity == "2:8"


def test_no_bdwp_note_and_requested_pattern():
    tiny = make_arch()
    r = simulate_training_op(tiny, OP, bdwp=False)
    # the backward weight is 2:8 grouped along N (2:8@N); the layer's requested pattern is the forward one
    assert r.executed_sparsity == "2:8/dense/dense" and r.sparsity == "2:8"
    assert sum(NO_BDWP_NOTE in n for n in r.notes) == 1
    # with BDWP the backward runs N:M: no note
    assert not any(NO_BDWP_NOTE in n for n in simulate_training_op(tiny, OP).notes)
    # dense forward: nothing to prune either way, no note
    assert not any(NO_BDWP_NOTE in n for n in simulate_training_op(tiny, OP, "dense", bdwp=False).notes)


def test_no_bdwp_note_not_given_when_bdwp_is_on_and_the_arch_lacks_nm():
    # BDWP on, but the arch has no N:M datapath: every phase runs dense for that reason, which the
    # arch's own note says; the --no-bdwp note would be false
    r = simulate_training_op(make_arch(**{"sparsity": {}}), OP)
    assert r.executed_sparsity == "dense/dense/dense"
    assert not any(NO_BDWP_NOTE in n for n in r.notes)


def workload(nongemm: bool) -> Workload:
    ops = [Op("a", "gemm", M=8, N=4, K=16), Op("b", "gemm", M=8, N=8, K=4)]
    if nongemm:
        ops.insert(1, NonGemmOp("ln", "layernorm", rows=8, cols=4))
    return Workload("w", ops)


def test_sparsity_object_is_used_as_given():
    # a Sparsity object is not re-read through its text form (which rounds an unstructured density
    # to 6 digits): the run equals its layers costed one by one with the same object
    arch = make_arch(**{"sparsity.unstructured": {"window": 1, "index_bits": 4}})
    sp = Sparsity(kind="unstructured", density=1 / 3)
    wl = Workload("w", [Op("a", "gemm", M=8, N=48, K=96)])
    res = simulate_training(arch, wl, sp)
    one = simulate_training_op(arch, wl.ops[0], sp)
    assert res.layers[0].energy_pj == one.energy_pj and res.layers[0].cycles == one.cycles
    assert res.sparsity == str(sp)


def test_as_given_label_and_pattern_text():
    tiny = make_arch()
    res = simulate_training(tiny, workload(False))
    assert res.sparsity == "as-given" and res.workload == "w training step"
    res = simulate_training(tiny, workload(False), "2:8", bdwp=False)
    assert res.sparsity == "2:8" and res.workload == "w training step (no BDWP)"
    assert [lr.sparsity for lr in res.layers] == ["2:8", "2:8"]


def test_forward_pattern_must_group_along_k():
    with pytest.raises(SpecError, match="must group along K"):
        simulate_training(make_arch(), workload(False), "2:8@N")
    with pytest.raises(SpecError, match="must group along K"):
        simulate_training(make_arch(), workload(False), Sparsity.parse("2:8@N"))


def test_progress_after_each_op():
    calls = []
    simulate_training(make_arch(), workload(True), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]      # the two GEMMs; the non-GEMM op is not costed


def test_nongemm_note_on_the_first_layer_only_when_there_are_nongemm_ops():
    res = simulate_training(make_arch(), workload(True))
    assert [lr.name for lr in res.layers] == ["a", "b"]
    note = [n for n in res.layers[0].notes if "non-GEMM ops" in n]
    assert len(note) == 1 and "1 non-GEMM ops" in note[0]
    assert not any("non-GEMM" in n for n in res.layers[1].notes)
    res = simulate_training(make_arch(), workload(False))
    assert not any("non-GEMM" in n for lr in res.layers for n in lr.notes)
