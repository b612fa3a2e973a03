"""The systolic backends' own rules (sim/systolic.py): the dataflow restriction, the inner-tier check of
the default mapping, the mask's imbalance under the chosen mapping's tiling, what the mapper ranks
on, and the detailed engine's tile caps (per layer, per run, up front and while costing) and its
trace of non-GEMM layers. Hand-derived numbers on the tiny 4x4 arch of conftest (P = 1)."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.mapping import Mapping, plan_sparsity
from nmsim.sim import backend_for, simulate_op, simulate_workload
from nmsim.sim import systolic
from nmsim.sim.engine import Trace
from nmsim.sim.hw import HwParams
from nmsim.sim.systolic import (MAX_DETAILED_RUN_TILES, MAX_DETAILED_TILES, DetailedSystolic, FastSystolic, map_op,
                                op_cost)
from nmsim.specfile import SpecError
from nmsim.workloads import NonGemmOp, Op, Workload, parse_layer

from ..conftest import make_arch

ONES = Mapping("ws", 1, 1, 1, "nmk")     # one element per tile: tiles = batch x M x N x K


# --- the dataflow a backend is restricted to ------------------------------------------------------

def test_a_dataflow_the_arch_lacks_is_refused_and_one_it_has_is_kept():
    arch = make_arch(**{"compute.dataflows": ["ws", "os"]})
    with pytest.raises(SpecError, match="`dataflow` is: tiny supports ws, os"):
        FastSystolic(arch, dataflow="is")
    for df in ("ws", "os"):
        be = FastSystolic(arch, dataflow=df)
        assert be.dataflow == df
        assert be.cost(Op("g", "gemm", M=8, N=8, K=8)).mapping["dataflow"] == df


# --- the default mapping on an arch with an inner tier --------------------------------------------

def _with_accumulator(acc_bytes: int):
    """The tiny arch plus a double-buffered accumulator level below gbuf that keeps outputs (tier 1)."""
    fast = {"read_bytes_per_cycle": 1.0e9, "write_bytes_per_cycle": 1.0e9}
    return make_arch(memory=[{"name": "gbuf", "size_bytes": 1 << 20, **fast},
                             {"name": "acc", "size_bytes": acc_bytes, "holds": ["outputs"], **fast}],
                     **{"energy.per_byte_pj": {"gbuf": 2.0, "acc": 1.0, "dram": 100.0}})


def test_default_mapping_whose_inner_tier_cannot_fit_is_refused():
    # acc of 32 B, double-buffered: it holds one WS fold of outputs (1 x 4 int32 = 16 B, x2 = 32 B),
    # the smallest fold any dataflow needs, so the arch loads. An OS fold puts 4 x 4 outputs on the
    # array: 64 B x 2 = 128 B, which the inner tier cannot hold whatever its tile (the fit rule cuts
    # to one fold): the default mapping restricted to OS must be refused, not costed.
    arch = _with_accumulator(32)
    assert HwParams.from_arch(arch).n_tiers == 2
    op = Op("g", "gemm", M=16, N=16, K=16)
    with pytest.raises(SpecError, match="tile needs 128 B in 'acc' but it holds 32 B"):
        FastSystolic(arch, dataflow="os").cost(op)
    # WS fits (its inner tile is cut to one fold of outputs): costed
    r = FastSystolic(arch, dataflow="ws").cost(op)
    assert r.mapping["dataflow"] == "ws" and r.cycles > 0
    # a larger accumulator takes the OS fold: 128 B
    assert FastSystolic(_with_accumulator(128), dataflow="os").cost(op).mapping["dataflow"] == "os"


# --- mask imbalance under the chosen mapping's own tiling (MODEL.md 2.1) ---------------------------

def _lanes(spans, k: int = 16) -> np.ndarray:
    """[len(spans), k] mask; lane i keeps columns [a, b) of spans[i]."""
    m = np.zeros((len(spans), k), dtype=bool)
    for i, (a, b) in enumerate(spans):
        m[i, a:b] = True
    return m


UNSTRUCTURED_W1 = {"sparsity.unstructured": {"window": 1, "index_bits": 4}}


def test_mask_imbalance_uses_the_mappings_n_tile():
    # WS: the lanes of a fold are the 4 columns, cut at every N-tile boundary. Lanes hold
    # 10,2,2,2,2,2,10,2 nonzeros of K = 16 (32 of 128 = the declared 0.25). Window 1 (no balancing).
    # N tiles of 2: groups {0,1},{2,3},{4,5},{6,7}, busiest 10,2,2,10 -> k_busy = 24 / (4 x 16) = 0.375,
    # 1.5x the density. (Whole-N groups of 4 would give 10,10 -> 20 / 32 = 0.625, 2.5x.)
    arch = make_arch(**UNSTRUCTURED_W1)
    op = parse_layer("gemm:M=4,N=8,K=16,sparsity=unstructured:0.75")
    mask = _lanes([(0, 10), (0, 2), (0, 2), (0, 2), (0, 2), (0, 2), (0, 10), (0, 2)])
    r = simulate_op(arch, op, Mapping("ws", 4, 2, 16, "nmk"), mask=mask)
    assert "the busiest lane holds 1.500x the mean nonzeros (window 1 lanes)" in r.notes[0]


def test_mask_imbalance_uses_the_mappings_k_tile():
    # Lane 0 keeps columns 0-7, lane 1 columns 8-15, lanes 2 and 3 none (16 of 64 = 0.25). K tiles of 8:
    # the busiest lane is 8 in each tile -> 16 / (1 group x 16) = 1.0, 4x the density. (One whole-K tile
    # would give busiest 8 -> 0.5, 2x.)
    arch = make_arch(**UNSTRUCTURED_W1)
    op = parse_layer("gemm:M=4,N=4,K=16,sparsity=unstructured:0.75")
    mask = _lanes([(0, 8), (8, 16), (0, 0), (0, 0)])
    r = simulate_op(arch, op, Mapping("ws", 4, 4, 8, "nmk"), mask=mask)
    assert "the busiest lane holds 4.000x the mean nonzeros (window 1 lanes)" in r.notes[0]
    # every K tile of 8 needs ceil(8 / R=4) = 2 row folds where ideal balance (2 nonzeros) needs 1
    ideal = simulate_op(arch, op, Mapping("ws", 4, 4, 8, "nmk"))
    assert r.cycle_breakdown["compute_cycles"] == 2 * ideal.cycle_breakdown["compute_cycles"]


# --- what the mapper ranks on ---------------------------------------------------------------------

def test_mapper_records_are_the_lean_fast_model_costs():
    # the mappers rank on cycles and energy; the per-level read/write split is costed only for the
    # mapping a backend runs (it re-costs the winner): the search's record of the winner is exactly
    # op_cost(..., detail=False) of it, with no per-action keys
    arch = make_arch()
    op = Op("g", "gemm", M=8, N=8, K=8)
    best = map_op(arch, op, "exhaustive", top=1).best
    hw = HwParams.from_arch(arch)
    lean = {k: np.asarray(v).item() for k, v in op_cost(hw, op, plan_sparsity(arch, op), [best.mapping],
                                                         detail=False).items()}
    assert best.cost == lean
    assert not [k for k in best.cost if k.endswith(("_read", "_write", "_read_pj", "_write_pj"))]
    # the backend still reports the per-action energies of the mapping it runs
    r = FastSystolic(arch, mapper="exhaustive").cost(op)
    assert {"gbuf.read", "gbuf.write", "dram.read", "dram.write"} <= set(r.energy_actions_pj)


# --- the detailed engine's tile caps --------------------------------------------------------------

def test_tile_caps_are_the_documented_sizes():
    # docs: 7-15 s per layer at 7,000-14,000 tiles/s, 10x the zoo's largest layer; 1-2 minutes per run
    assert MAX_DETAILED_TILES == 100_000 and MAX_DETAILED_RUN_TILES == 1_000_000


def test_layer_cap_is_inclusive_and_counts_batch_and_clipped_tiles():
    be = backend_for(make_arch(), "detailed")
    assert isinstance(be, DetailedSystolic)
    # exactly the cap passes: 2 (batch) x 10 x 50 x 100 one-element tiles = 100,000
    be.preflight([Op("a", "gemm", M=10, N=50, K=100, batch=2)], lambda op: ONES)
    # a tile larger than its dimension is clipped to it (one tile along it): 100 x 1000 x 1
    be.preflight([Op("b", "gemm", M=100, N=1000, K=1)], lambda op: Mapping("ws", 1, 1, 64, "nmk"))
    # one more refuses: 11 x 9091 = 100,001
    with pytest.raises(SpecError, match=r"layer 'c': 100,001 tiles under mapping 1x1x1; the detailed engine "
                                        r"simulates at most 100,000 per layer"):
        be.preflight([Op("c", "gemm", M=11, N=9091, K=1)], lambda op: ONES)
    # the batch multiplies: 2 x 10 x 50 x 101 = 101,000
    with pytest.raises(SpecError, match=r"layer 'd': 101,000 tiles under mapping 1x1x1"):
        be.preflight([Op("d", "gemm", M=10, N=50, K=101, batch=2)], lambda op: ONES)
    # tiles of 2 x 4 x 5 on 20 x 40 x 500: 10 x 10 x 100 = 10,000 tiles, times batch 11 = 110,000
    with pytest.raises(SpecError, match=r"layer 'e': 110,000 tiles under mapping 2x4x5"):
        be.preflight([Op("e", "gemm", M=20, N=40, K=500, batch=11)], lambda op: Mapping("ws", 2, 4, 5, "nmk"))


def test_run_cap_is_inclusive_and_sums_the_layers():
    be = backend_for(make_arch(), "detailed")
    ten = [Op(f"l{i}", "gemm", M=10, N=100, K=100) for i in range(10)]    # 100,000 tiles each
    be.preflight(ten, lambda op: ONES)                                      # 1,000,000 exactly: passes
    with pytest.raises(SpecError, match=r"layer 'last': the layers up to it add up to 1,000,001 tiles; the "
                                        r"detailed engine simulates at most 1,000,000 per run"):
        be.preflight([*ten, Op("last", "gemm", M=1, N=1, K=1)], lambda op: ONES)


def test_a_run_over_the_cap_is_refused_before_any_layer_is_simulated():
    arch = make_arch()
    wl = Workload("w", [Op("small", "gemm", M=4, N=4, K=4), Op("big", "gemm", M=11, N=9091, K=1)])
    done, trace = [], Trace(arch.clock_hz)
    with pytest.raises(SpecError, match="layer 'big': 100,001 tiles"):
        simulate_workload(arch, wl, engine="detailed", mappings=ONES, trace=trace,
                          progress=lambda i, n: done.append((i, n)))
    assert done == [] and trace.events == [] and trace.spans == []


def test_preflight_leaves_the_buffer_fit_to_cost():
    # a 64 x 64 x 64 tile needs 4 KiB of inputs + 4 KiB of weights + 16 KiB of int32 outputs, doubled:
    # far over a 1 KiB buffer. cost() refuses it, cost(check=False) prices it; the preflight checks the
    # tile caps only (one tile here), so it must not refuse what cost(check=False) accepts.
    arch = make_arch(**{"memory.0.size_bytes": 1024})
    op, big = Op("g", "gemm", M=64, N=64, K=64), Mapping("ws", 64, 64, 64, "nmk")
    be = backend_for(arch, "detailed")
    with pytest.raises(SpecError, match="in 'gbuf' but it holds 1024 B"):
        be.cost(op, big)
    be.preflight([op], lambda o: big)
    assert be.cost(op, big, check=False).cycles > 0


def test_costed_layers_add_up_against_the_run_cap(monkeypatch):
    # the cap lowered to 8 tiles: layers of 4 tiles (2 x 2 x 2 under tiles 1 x 1 x 2) pass twice
    # (4, then 8 = the cap) and the third (12) is refused, each costed through cost() alone
    monkeypatch.setattr(systolic, "MAX_DETAILED_RUN_TILES", 8)
    be = backend_for(make_arch(), "detailed")
    op, m = Op("g", "gemm", M=2, N=2, K=2), Mapping("ws", 1, 1, 2, "nmk")
    assert be.cost(op, m).cycles > 0
    assert be.cost(op, m).cycles > 0
    with pytest.raises(SpecError, match="add up to 12 tiles; the detailed engine simulates at most 8 per run"):
        be.cost(op, m)
    # a fresh backend starts its own count
    assert backend_for(make_arch(), "detailed").cost(op, m).cycles > 0


# --- the trace of a non-GEMM layer ---------------------------------------------------------------

VEC = {"lanes": 4, "ops_per_cycle": {"alu": 1.0, "special": 0.25}, "energy_pj": {"alu": 1.0, "special": 4.0},
       "level": "gbuf"}


def test_a_vector_layer_is_one_trace_event_spanning_its_layer():
    # layernorm of 2 x 8 on a 4-lane unit: ceil(118 / 4) + ceil(2 / 1) = 32 cycles (tests/sim/test_nongemm_cost.py)
    arch = make_arch(vector=dict(VEC))
    ln = NonGemmOp("ln", "layernorm", rows=2, cols=8)
    trace = Trace(arch.clock_hz)
    res = simulate_workload(arch, Workload("w", [Op("fc", "gemm", M=4, N=4, K=4), ln]), engine="detailed",
                            trace=trace)
    fc_cycles, ln_cycles = res.layers[0].cycles, res.layers[1].cycles
    assert ln_cycles == 32
    vec = [e for e in trace.events if e[1] == "vector"]
    # it starts where its layer starts (after the GEMM) and lasts the layer
    assert vec == [("ln", "vector", "layernorm", float(fc_cycles), float(fc_cycles + 32))]
    assert ("ln", "layers", "ln", float(fc_cycles), float(fc_cycles + 32)) in trace.spans
    # alone on a fresh trace: from cycle 0
    alone = Trace(arch.clock_hz)
    backend_for(arch, "detailed", trace=alone).cost_nongemm(ln)
    assert alone.events == [("ln", "vector", "layernorm", 0.0, 32.0)]
