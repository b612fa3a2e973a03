"""Sparse effects beyond the ideal model: unstructured load imbalance from the actual mask,
activation density from sampled activations, and S4's activation operand bandwidth at 1:M
(docs/MODEL.md 2.1-2.3). Hand-derived numbers on the tiny 4x4 arch of conftest (P = 1)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from nmsim.accel import Arch, load_arch
from nmsim.accel.presets import preset_path
from nmsim.mapping import Mapping
from nmsim.sim import simulate_op, simulate_workload
from nmsim.sim.engine import engine_cost
from nmsim.sim.hw import HwParams
from nmsim.mapping import executed_gemm
from nmsim.sim.imbalance import busiest_nonzeros, busy_k_scale, fold_lanes, lane_prefix_counts
from nmsim.workloads import Workload, activation_density, parse_layer

from ..conftest import make_arch, run_cli


def lanes_mask(counts, k: int) -> np.ndarray:
    """[len(counts), k] mask whose lane i holds counts[i] nonzeros at its first columns."""
    m = np.zeros((len(counts), k), dtype=bool)
    for i, c in enumerate(counts):
        m[i, :c] = True
    return m


def unstructured_arch(window: int) -> Arch:
    return make_arch(**{"sparsity.unstructured": {"window": window, "index_bits": 4}})


# --- the imbalance kernel -------------------------------------------------------------------

@pytest.mark.parametrize("window, busiest", [(1, 3), (2, 2), (4, 2), (9, 2)])
def test_busiest_lane_of_one_tile(window, busiest):
    # lanes 3,1,1,1: alone the busiest holds 3; windows {3,1},{1,1} -> ceil(4/2) = 2;
    # one window over all lanes -> ceil(6/4) = 2 (a window wider than the group is clipped)
    cum = lane_prefix_counts(lanes_mask([3, 1, 1, 1], 8))
    assert busiest_nonzeros(cum, 4, 8, 4, window) == (busiest, 1)


def test_busiest_lane_per_tile_and_group():
    # lanes 0-1 hold 4 and 0 nonzeros in K columns 0-3 and 0 and 4 in columns 4-7
    m = np.zeros((4, 8), dtype=bool)
    m[0, :4] = True
    m[1, 4:] = True
    m[2:, ::2] = True                      # lanes 2, 3: 2 nonzeros in each K half
    cum = lane_prefix_counts(m)
    assert busiest_nonzeros(cum, 4, 8, 4, 1) == (4, 1)          # one tile: every lane holds 4
    assert busiest_nonzeros(cum, 4, 4, 4, 1) == (4 + 4, 1)      # two K tiles, busiest 4 in each
    assert busiest_nonzeros(cum, 4, 4, 4, 2) == (2 + 2, 1)      # window {0,1} shares 4 -> 2 each
    assert busiest_nonzeros(cum, 4, 4, 2, 1) == (4 + 4 + 2 + 2, 2)  # lane groups {0,1}, {2,3}
    assert busiest_nonzeros(cum, 2, 8, 4, 4) == (4 + 4, 2)      # N tiles of 2 cut the window
    assert busy_k_scale(cum, 4, 4, 4, 2) == pytest.approx(4 / 8)
    batched = lane_prefix_counts(np.stack([m, m]))
    assert busiest_nonzeros(batched, 4, 4, 4, 1) == (16, 2)


def test_fold_lanes_by_dataflow():
    assert [fold_lanes(df, 32, 100) for df in ("ws", "os", "is")] == [32, 32, 100]


def test_random_mask_imbalance_shrinks_with_the_window():
    rng = np.random.default_rng(7)
    m = rng.random((256, 512)) < 0.25
    ideal = m.mean()
    cum = lane_prefix_counts(m)
    f = [busy_k_scale(cum, 256, 512, 32, w) / ideal for w in (1, 4, 32)]
    assert f[0] > f[1] > f[2] >= 1.0
    assert f[0] > 1.1 and f[2] < 1.01


# --- the fast model and simulate_op -----------------------------------------------------------

MAP = Mapping("ws", 8, 4, 16, "nmk")
OP = parse_layer("gemm:M=8,N=4,K=16,sparsity=unstructured:0.75")   # 16 of 64 weights kept


@pytest.mark.parametrize("window, cycles", [(1, 54), (2, 36), (4, 18)])
def test_simulate_op_pays_the_mask_imbalance(window, cycles):
    # lanes 10,2,2,2 (= 0.25 of 4 x 16): ideal 4 nonzeros per lane -> 1 fold of 2R + C - 2 + M = 18.
    # Window 1: busiest 10 -> ceil(10 / R) = 3 folds: 54. Window 2: {10,2} -> 6: 2 folds: 36.
    # Window 4: ceil(16 / 4) = 4: 18, the ideal.
    arch = unstructured_arch(window)
    mask = lanes_mask([10, 2, 2, 2], 16)
    r = simulate_op(arch, OP, MAP, mask=mask)
    assert r.cycle_breakdown["compute_cycles"] == cycles
    assert r.macs_effective == 8 * 4 * 4            # MACs and bytes keep the true nonzeros
    ideal = simulate_op(arch, OP, MAP)
    assert ideal.cycle_breakdown["compute_cycles"] == 18
    assert ideal.bytes == r.bytes
    assert "ideal load balance" in ideal.notes[0]
    assert "imbalance from its mask" in r.notes[0]
    # the detailed engine runs the same per-tile compute
    e = engine_cost(HwParams.from_arch(arch), executed_gemm(OP, _plan_of(arch, mask)), MAP)
    assert e["compute_cycles"] == cycles


def _plan_of(arch, mask):
    """The plan simulate_op builds for MAP: busy K fraction of one 4-lane group, one K tile."""
    from dataclasses import replace

    from nmsim.mapping import plan_sparsity

    cum = lane_prefix_counts(mask)
    return replace(plan_sparsity(arch, OP), busy_k_scale=busy_k_scale(cum, 4, 16, 4, arch.sparsity.unstructured.window))


def test_workload_masks_drive_imbalance_unless_overridden():
    arch = unstructured_arch(1)
    wl = Workload("w", [OP], masks={OP.name: lanes_mask([10, 2, 2, 2], 16)})
    res = simulate_workload(arch, wl, mappings=MAP)
    assert res.layers[0].cycle_breakdown["compute_cycles"] == 54
    # an overriding pattern no longer matches the stored mask: ideal balance again
    res = simulate_workload(arch, wl, sparsity="unstructured:0.75", mappings=MAP)
    assert res.layers[0].cycle_breakdown["compute_cycles"] == 18


def test_mask_of_wrong_shape_is_refused():
    from nmsim.specfile import SpecError

    with pytest.raises(SpecError, match="expected \\(4, 16\\)"):
        simulate_op(unstructured_arch(1), OP, MAP, mask=np.ones((16, 4), dtype=bool))


def test_mask_ignored_without_unstructured_support(tiny):
    r = simulate_op(tiny, OP, MAP, mask=lanes_mask([10, 2, 2, 2], 16))
    assert r.executed_sparsity == "dense"


# --- activation density -----------------------------------------------------------------------

def test_activation_density_from_a_sample():
    x = np.array([[0.0, 1.0, -2.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    assert activation_density(x) == 3 / 8
    assert activation_density(x, threshold=1.5) == 2 / 8
    op = parse_layer("gemm:M=8,N=4,K=4").with_act_density(activation_density(x))
    assert op.act_density == 3 / 8


def test_zero_skipping_gates_energy_not_cycles():
    op = parse_layer("gemm:M=8,N=4,K=4").with_act_density(0.375)
    dense_act = parse_layer("gemm:M=8,N=4,K=4")
    mapping = Mapping("ws", 8, 4, 4, "nmk")
    skip = make_arch(**{"sparsity.activation_zero_skipping": True})
    a, b = simulate_op(skip, op, mapping), simulate_op(skip, dense_act, mapping)
    assert a.cycles == b.cycles                             # the systolic schedule is unchanged
    assert a.cycle_breakdown["compute_cycles"] == 18
    assert a.energy_breakdown_pj["mac"] == pytest.approx(8 * 4 * 4 * 1.0 * 0.375)   # MACs x mac_pj x density
    assert b.energy_breakdown_pj["mac"] == pytest.approx(128.0)
    no_skip = simulate_op(make_arch(), op, mapping)
    assert no_skip.energy_breakdown_pj["mac"] == pytest.approx(128.0)


# --- S4 at high sparsity: activation operand bandwidth --------------------------------------

def s4_variant(read_bytes_per_cycle: float) -> Arch:
    """s4 with the write port and DRAM made ample, so only the read port competes with compute."""
    d = yaml.safe_load(preset_path("s4").read_text())
    d["memory"][0].update(read_bytes_per_cycle=read_bytes_per_cycle, write_bytes_per_cycle=1e12)
    d["dram"]["bytes_per_s"] = 1e21
    return Arch.model_validate(d)


@pytest.mark.parametrize("port, pattern, compute, reads, bound", [
    # 1:32: K_nnz = 8192/32 = 256 = 64 units -> 1 fold of 2*64 + 64 - 2 + 512 = 702 cycles.
    # Global-buffer reads: activations M*K*F_cols = 512*8192 (= units x P x m/n) and weights
    # 64*64*4*(1 + 5/8): 4,220,928 B. Partial sums and their drain live in the accumulators, the
    # outputs stay on chip (s4 keeps activations), so neither is read from the global buffer.
    (9216, "1:32", 702, 4_220_928, "compute"),
    (4096, "1:32", 702, 4_220_928, "buffer"),
    # 1:8: 256 units -> 4 folds: 2808 cycles; the partial-sum read-backs of the 4 folds are the
    # accumulators' (before s4 had them, 512*64*3*4 B of them crossed this port).
    (4096, "1:8", 2808, 512 * 8192 + 256 * 64 * 4 * 1.375, "compute"),
])
def test_s4_activation_port_demand(port, pattern, compute, reads, bound):
    r = simulate_op(s4_variant(port), parse_layer(f"gemm:M=512,N=64,K=8192,sparsity={pattern}"),
                    Mapping("ws", 512, 64, 8192, "nmk"))
    assert r.cycle_breakdown["compute_cycles"] == compute
    assert r.cycle_breakdown["buffer_cycles"] == pytest.approx(reads / port, rel=1e-6)
    assert r.bottleneck == bound


def test_s4_buffer_overtakes_compute_at_1_32():
    # the preset as given, default mappings: at 1:8 the read port keeps up with the array, at 1:32
    # the same activations must pass in under a third of the compute cycles (a quarter but for the
    # fill of each fold, which does not shrink; at 1:8 the default mapping cuts the rows into 4
    # blocks): 8192 of the 9216 B/cycle read port per streaming cycle, plus weights, so the port,
    # not the array, sets the pace even with separate read and write ports (partial sums live in
    # the accumulator level, not the gbuf)
    s4 = load_arch("s4")
    r8 = simulate_op(s4, parse_layer("gemm:M=4096,N=1024,K=8192,sparsity=1:8"))
    r32 = simulate_op(s4, parse_layer("gemm:M=4096,N=1024,K=8192,sparsity=1:32"))
    assert r8.cycle_breakdown["buffer_cycles"] < 0.6 * r8.cycle_breakdown["compute_cycles"]
    assert r32.cycle_breakdown["buffer_cycles"] > 1.05 * r32.cycle_breakdown["compute_cycles"]
    assert r32.cycle_breakdown["compute_cycles"] < 0.3 * r8.cycle_breakdown["compute_cycles"]


def test_bottleneck_in_json_and_csv(tmp_path, capsys):
    j, c = tmp_path / "r.json", tmp_path / "r.csv"
    code, _, err = run_cli(["simulate", "-q", "-a", "s4", "-w", "bert-base", "-s", "1:32", "--json", j, "--csv", c],
                           capsys)
    assert code == 0, err
    layers = json.loads(j.read_text())["layers"]
    assert {lr["bottleneck"] for lr in layers} <= {"compute", "buffer", "dram"}
    for lr in layers:
        cb = lr["cycle_breakdown"]
        assert cb[f"{lr['bottleneck']}_cycles"] == max(cb["compute_cycles"], cb["buffer_cycles"], cb["dram_cycles"])
    assert "bottleneck" in c.read_text().splitlines()[0]


def test_a_mask_sparser_than_declared_never_lightens_the_busiest_lane():
    # found by the long fuzz run: an all-zero mask on a layer declared unstructured:0.75 took the
    # busiest lane to 0 while the MACs kept the declared density: utilization 3.5. The declared
    # density sets the work; a mask can only add imbalance.
    arch = unstructured_arch(4)
    r = simulate_op(arch, OP, MAP, mask=np.zeros((4, 16), dtype=bool))
    assert r.cycle_breakdown["compute_cycles"] == simulate_op(arch, OP, MAP).cycle_breakdown["compute_cycles"]
    assert 0 < r.utilization <= 1
