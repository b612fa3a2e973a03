"""The vector unit's cost (sim/vector.py, docs/MODEL.md 11.2) by hand where the existing cases
(tests/sim/test_nongemm_cost.py) leave a term unchecked: operands wider than a byte, activations
kept on chip (MODEL.md 3.10) at and around the level's capacity, static energy, the energy
actions, levels other than the unit's, `VectorParams` built by hand or stacked for dse, and the
uncosted zero layer. Every expected value is derived in the comment beside it."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim import VectorParams, backend_for, vector_cost, vector_terms
from nmsim.sim.vector import uncosted_nongemm
from nmsim.workloads import NonGemmOp

from ..conftest import make_arch

VEC = {"lanes": 4, "ops_per_cycle": {"alu": 1.0, "special": 0.25}, "energy_pj": {"alu": 1.0, "special": 4.0},
       "level": "gbuf"}
LN = NonGemmOp("ln", "layernorm", rows=2, cols=8)      # 16 elements: 118 alu, 2 special; reads 32, writes 16 elements
RELU = NonGemmOp("r", "relu", rows=4, cols=16)          # 64 elements: 64 alu; reads 64, writes 64 elements


def vec_arch(**overrides):
    """The tiny 4x4 arch (1 GHz, int8, gbuf 2 pJ/B, DRAM 100 pJ/B at 1e18 B/s) with a 4-lane vector
    unit on gbuf and 8 B/cycle ports, plus `overrides`."""
    return make_arch(vector=dict(VEC), **{"memory.0.read_bytes_per_cycle": 8.0,
                                          "memory.0.write_bytes_per_cycle": 8.0, **overrides})


def hand_vp(**kw) -> VectorParams:
    """A vector unit written out by hand: 1 GHz, same clock, 4 lanes at 1 alu / 0.25 special per
    cycle, 1 B operands, 8 B/cycle ports, 10 cycles of DRAM + level latency, 1 B/cycle DRAM."""
    base = dict(level="gbuf", clock_hz=1e9, clock_ratio=1.0, lanes=4.0, rate=(1.0, 0.25), op_pj=(1.0, 4.0),
                operand_bytes=1.0, read_bpc=8.0, write_bpc=8.0, latency_cycles=10.0, dram_bpc=1.0,
                level_read_pj=2.0, level_write_pj=3.0, dram_pj=100.0, static_w=0.0)
    return VectorParams(**{**base, **kw})


# --- operand width ----------------------------------------------------------------------------

def test_sixteen_bit_operands_double_every_byte():
    lr = backend_for(vec_arch(**{"compute.operand_bits": 16})).cost_nongemm(LN)
    # rd = 32 elements x 2 B = 64 B, wr = 16 x 2 = 32 B (MODEL.md 11.2: elements x operand_bytes)
    # port = (64 + 32) / 8 + (32 + 64) / 8 = 24 cycles < compute 30 + 2 = 32
    assert lr.cycle_breakdown["buffer_cycles"] == 24 and lr.cycles == 32
    # gbuf sees the unit's 96 B plus the DRAM fills and drains (96 B); DRAM carries 96 B
    assert lr.bytes == {"gbuf": 192.0, "dram": 96.0}
    assert lr.nongemm["bytes_read"] == 64.0 and lr.nongemm["bytes_written"] == 32.0
    # energy: 118 + 2 x 4 = 126 pJ vector; 192 B x 2 pJ; 96 B x 100 pJ
    assert lr.energy_breakdown_pj == {"vector": 126.0, "buffer": 384.0, "dram": 9600.0, "static": 0.0}


# --- activations kept on chip (MODEL.md 3.10) ---------------------------------------------------

def keep_arch(size_bytes):
    """vec_arch whose gbuf keeps activations, holds `size_bytes`, has 4 B/cycle ports and 3 cycles
    of latency; DRAM adds 10 ns = 10 cycles of latency."""
    return vec_arch(**{"memory.0.keeps_activations": True, "memory.0.size_bytes": size_bytes,
                       "memory.0.read_bytes_per_cycle": 4.0, "memory.0.write_bytes_per_cycle": 4.0,
                       "memory.0.latency_cycles": 3, "dram.latency_s": 10e-9})


def test_activations_that_exactly_fill_the_level_stay_on_chip():
    # RELU moves 64 + 64 = 128 B; a 128 B level holds them (fit means <= capacity)
    lr = backend_for(keep_arch(128)).cost_nongemm(RELU)
    # kept: gbuf sees only the unit's 64 B read + 64 B written: port = 64/4 + 64/4 = 32 cycles;
    # compute = ceil(64 / 4) = 16; only the level's latency is exposed: ceil(32 + 2 x 3) = 38
    assert lr.cycle_breakdown == {"compute_cycles": 16.0, "buffer_cycles": 32.0, "dram_cycles": 0.0}
    assert lr.cycles == 38 and lr.bytes == {"gbuf": 128.0, "dram": 0.0}
    assert lr.energy_breakdown_pj["dram"] == 0.0 and lr.energy_breakdown_pj["buffer"] == 128 * 2.0


def test_activations_one_byte_too_big_go_through_dram():
    # a 127 B level cannot hold 128 B: the op streams from DRAM and back as in the unkept case
    lr = backend_for(keep_arch(127)).cost_nongemm(RELU)
    # gbuf: reads 64 + drains 64 = 128 B, writes 64 + fills 64 = 128 B: port = 128/4 + 128/4 = 64
    # latency = DRAM 10 + level 3 = 13 per end: ceil(64 + 2 x 13) = 90
    assert lr.cycle_breakdown["buffer_cycles"] == 64.0 and lr.cycles == 90
    assert lr.bytes == {"gbuf": 256.0, "dram": 128.0}
    assert lr.energy_actions_pj["dram.read"] == 64 * 100.0 and lr.energy_actions_pj["dram.write"] == 64 * 100.0


def test_resident_bytes_come_from_a_keeping_level_only():
    # keeps_activations: the level's whole capacity (instances x size); otherwise nothing stays on chip
    assert VectorParams.from_arch(keep_arch(4096)).resident_bytes == 4096.0
    two = make_arch(vector=dict(VEC), **{"memory.0.keeps_activations": True, "memory.0.instances": 2})
    assert VectorParams.from_arch(two).resident_bytes == 2 * 1048576
    vp = VectorParams.from_arch(vec_arch(**{"memory.0.latency_cycles": 3, "dram.latency_s": 10e-9}))
    assert vp.resident_bytes == 0.0
    assert vp.level_latency_cycles == 3.0 and vp.latency_cycles == 13.0


def test_half_byte_operands_of_a_non_keeping_level_still_reach_dram():
    # 4-bit operands: a 1-element relu reads 0.5 B and writes 0.5 B. The level keeps no activations,
    # so even 1 B of traffic goes through DRAM: 0.5 B each way
    arch = vec_arch(**{"compute.operand_bits": 4})
    lr = backend_for(arch).cost_nongemm(NonGemmOp("r1", "relu", rows=1, cols=1))
    assert lr.bytes == {"gbuf": 2.0, "dram": 1.0}


def test_hand_built_params_default_to_nothing_kept_and_no_level_latency():
    vp = hand_vp()
    assert vp.resident_bytes == 0.0 and vp.level_latency_cycles == 0.0
    # default resident_bytes: 1-element relu at 0.5 B operands (1 B in all) still goes to DRAM
    r = vector_terms(hand_vp(operand_bytes=0.5), NonGemmOp("r1", "relu", rows=1, cols=1))
    assert float(r["bytes_dram"]) == 1.0 and float(r["bytes_level"]) == 2.0
    # kept (resident 1 MB) with the default level latency 0: nothing but the largest term exposed:
    # RELU at 1 B: compute 16, port 64/8 + 64/8 = 16, DRAM 0 -> 16 cycles (the 10 DRAM cycles not charged)
    kept = vector_terms(hand_vp(resident_bytes=1e6), RELU)
    assert int(kept["cycles"]) == 16 and float(kept["bytes_dram"]) == 0.0


# --- energy -----------------------------------------------------------------------------------

def test_static_energy_is_power_times_the_op_time():
    lr = backend_for(vec_arch(**{"energy.static_w": 0.5})).cost_nongemm(LN)
    # 32 cycles at 1 GHz = 32 ns; 0.5 W x 32e-9 s = 16e-9 J = 16000 pJ
    assert lr.cycles == 32 and lr.energy_breakdown_pj["static"] == pytest.approx(16000.0)
    assert lr.energy_actions_pj["static"] == pytest.approx(16000.0)
    assert lr.energy_pj == pytest.approx(126.0 + 192.0 + 4800.0 + 16000.0)


def test_energy_actions_split_reads_writes_and_dram_directions():
    lr = backend_for(vec_arch()).cost_nongemm(LN)
    # LN at int8: rd = 32 B, wr = 16 B; gbuf read = 32 + drain 16 = 48 B, write = 16 + fill 32 = 48 B
    # at 2 pJ/B each; DRAM read 32 B, write 16 B at 100 pJ/B
    assert lr.energy_actions_pj == pytest.approx({"vector": 126.0, "gbuf.read": 96.0, "gbuf.write": 96.0,
                                                  "dram.read": 3200.0, "dram.write": 1600.0, "static": 0.0})
    assert sum(lr.energy_actions_pj.values()) == pytest.approx(lr.energy_pj)


def test_hand_params_separate_read_and_write_energies():
    r = vector_terms(hand_vp(), LN)
    # level read 48 B x 2 pJ, write 48 B x 3 pJ; DRAM 32 B read, 16 B written at 100 pJ/B
    assert float(r["energy_level_read_pj"]) == 96.0 and float(r["energy_level_write_pj"]) == 144.0
    assert float(r["energy_dram_read_pj"]) == 3200.0 and float(r["energy_dram_write_pj"]) == 1600.0
    # DRAM at 1 B/cycle: 48 cycles, + 2 x 10 latency = 68 cycles
    assert int(r["cycles"]) == 68 and float(r["latency_s"]) == pytest.approx(68e-9)


# --- vector_cost: the params it is given, the levels it reports ---------------------------------

def test_vector_cost_uses_the_params_it_is_given():
    arch = vec_arch()
    # a unit twice as wide as the arch's: compute = ceil(118 / 8) + ceil(2 / 2) = 15 + 1 = 16
    wide = hand_vp(lanes=8.0, dram_bpc=1e9, latency_cycles=0.0)
    assert vector_cost(arch, LN, wide).cycle_breakdown["compute_cycles"] == 16
    # without params it reads the arch: 30 + 2 = 32
    assert vector_cost(arch, LN).cycle_breakdown["compute_cycles"] == 32


def test_levels_other_than_the_units_see_no_bytes():
    arch = load_arch("dense-systolic")           # gbuf (the unit's, keeps activations, 2 MiB) and acc
    lr = vector_cost(arch, LN)
    # int8: 48 B fit in gbuf, so gbuf sees the unit's 32 + 16 B and nothing goes to DRAM; acc sees nothing
    assert lr.bytes == {"gbuf": 48.0, "acc": 0.0, "dram": 0.0}


# --- dse: params stacked over designs ----------------------------------------------------------

def test_stack_keeps_the_first_level_and_arrays_every_number():
    a, b = hand_vp(), hand_vp(level="onchip", lanes=8.0, rate=(2.0, 0.5))
    s = VectorParams.stack([a, b])
    assert s.level == "gbuf"
    assert np.array_equal(s.lanes, [4.0, 8.0]) and s.lanes.dtype == np.float64
    assert isinstance(s.rate, tuple) and [list(c) for c in s.rate] == [[1.0, 2.0], [0.25, 0.5]]
    # one stacked call equals the designs one by one
    r, r0, r1 = vector_terms(s, LN), vector_terms(a, LN), vector_terms(b, LN)
    assert list(r["cycles"]) == [int(r0["cycles"]), int(r1["cycles"])]
    assert list(r["energy_pj"]) == pytest.approx([float(r0["energy_pj"]), float(r1["energy_pj"])])


def test_stack_of_one_design():
    s = VectorParams.stack([hand_vp()])
    assert s.level == "gbuf" and [list(c) for c in s.rate] == [[1.0], [0.25]] and list(s.lanes) == [4.0]


# --- uncosted targets -------------------------------------------------------------------------

def test_uncosted_layer_is_all_zero_with_its_note():
    lr = uncosted_nongemm(LN, ["gbuf", "acc", "dram"], 2.0, "no vector unit here")
    assert lr.cycles == 0 and lr.latency_s == 0.0 and lr.energy_pj == 0.0
    assert lr.bytes == {"gbuf": 0.0, "acc": 0.0, "dram": 0.0}
    assert lr.notes == ["no vector unit here"] and lr.nongemm["costed"] is False
    assert lr.energy_breakdown_pj == {} and lr.cycle_breakdown == {} and lr.bottleneck == ""
    assert lr.nongemm["bytes_read"] == 64.0            # 32 elements x 2 B: the op's own counts stay
