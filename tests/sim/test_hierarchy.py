"""The memory hierarchy, flexible spatial mapping, activations kept on chip, feature-map storage
and RLC coding (docs/MODEL.md 3.7-3.11): hand-derived cases, the schedule against the closed form
on random multi-tier mappings, and a loop-nest walk written out here as the oracle of the reuse rule.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from nmsim.mapping import (LOOP_ORDERS, LevelTile, Mapping, SpatialSplit, check_mapping, executed_gemm,
                           plan_sparsity)
from nmsim.problem import Gemm
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.engine import engine_cost
from nmsim.sim.schedule import build_schedule
from nmsim.sim.simulate import op_cost
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity
from nmsim.workloads.ops import conv2d

from ..conftest import TINY, make_arch

ACC = {"name": "acc", "size_bytes": 4096, "read_bytes_per_cycle": 1.0e9, "write_bytes_per_cycle": 1.0e9,
       "holds": ["outputs"]}


def with_levels(*extra, pj=None, **overrides):
    """The tiny arch with more memory levels after its global buffer (each priced at `pj` pJ/B)."""
    arch = make_arch(**overrides)
    d = arch.model_dump(exclude={"energy": {"sources"}})
    d["memory"] += [dict(lv) for lv in extra]
    for lv in extra:
        d["energy"]["per_byte_pj"][lv["name"]] = pj if pj is not None else 0.5
    return type(arch).model_validate(d)


def scalars(arch, op, mapping):
    hw = HwParams.from_arch(arch)
    r = op_cost(hw, op, plan_sparsity(arch, op), [mapping])
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in r.items()}


# --- tiers ---------------------------------------------------------------------------------

def test_tiers_group_levels_side_by_side():
    assert make_arch().tiers() == [(0,)]
    assert with_levels(ACC).tiers() == [(0,), (1,)]
    side = [{**ACC, "name": n, "holds": [o]} for n, o in (("i", "inputs"), ("w", "weights"), ("o", "outputs"))]
    assert with_levels(*side).tiers() == [(0,), (1, 2, 3)]


# --- hand-derived accumulator case (MODEL.md 3.9) -----------------------------------------

def test_accumulator_takes_the_partial_sums():
    # 4x4 WS, M = N = K = 8 dense, gbuf tile 8x8x8, accumulator tile 8x4x8 (N cut at the 4 columns).
    # Innermost tiles: 2 (n = 4, 4). Each: K = 8 on 4 rows = 2 row folds, 1 column fold, T = 8:
    # 2 x (2*4 + 4 - 2 + 8) = 36 cycles, 72 in all (as one 8x8x8 tile: 4 folds x 18).
    # Array traffic per tile: A row stream 8 x 8 x 1 = 64, B stationary 8 x 4 = 32, out col stream
    # 8 x 4 x 2 = 64 partial sums; over both tiles A 128 B, B 64 B, out 128 writes (512 B at 4 B)
    # and 128 - 64 = 64 read-backs (256 B) -- all at the accumulator for out.
    # The accumulator tile is visited once (k sits inside the iterating n): it drains 64 x 4 B to
    # the global buffer, which sends the 64 final outputs to DRAM at 1 B and loads A and B once.
    arch = with_levels(ACC)
    m = Mapping("ws", 8, 8, 8, "nmk", levels=(LevelTile(8, 4, 8, "nmk"),))
    f = scalars(arch, Op("g", "gemm", M=8, N=8, K=8), m)
    assert f["compute_cycles"] == 72
    assert f["bytes_acc_write"] == 512 and f["bytes_acc_read"] == 256 + 256
    assert f["bytes_gbuf_read"] == 128 + 64 + 64            # A, B to the array; finals to DRAM
    assert f["bytes_gbuf_write"] == 64 + 64 + 256           # A, B from DRAM; the accumulator's drain
    assert f["bytes_dram"] == 64 + 64 + 64
    assert f["energy_acc_read_pj"] == pytest.approx(512 * 0.5)
    # without the accumulator the same tiles put every partial sum through the global buffer
    single = scalars(make_arch(), Op("g", "gemm", M=8, N=8, K=8), Mapping("ws", 8, 8, 8, "nmk"))
    assert single["bytes_gbuf"] == 128 + 64 + 256 + 512 + 64 + 64 + 64


def test_accumulator_revisits_spill_to_its_parent():
    # Accumulator tile 8x4x4 with order kmn: k is the outermost loop of tier 1 and the n loop inside
    # it iterates, so each accumulator tile is visited twice: 64 x 4 B read back from the global
    # buffer once, drained twice (2 x 256 B).
    arch = with_levels(ACC)
    m = Mapping("ws", 8, 8, 8, "nmk", levels=(LevelTile(8, 4, 4, "kmn"),))
    f = scalars(arch, Op("g", "gemm", M=8, N=8, K=8), m)
    acc_array_rd, acc_array_wr = 256, 512   # same folds as above
    assert f["bytes_acc_write"] == acc_array_wr + 256
    assert f["bytes_acc_read"] == acc_array_rd + 512
    assert f["bytes_dram"] == 64 + 64 + 64  # the global buffer still holds whole K: no DRAM spill


# --- the reuse rule against a loop-nest walk ----------------------------------------------

def walk_fill_bytes(D: dict, tiles: list, orders: list, tier: int, dims: str) -> int:
    """Oracle: walk every loop of tiers 0..last in order (tiles nested, edge tiles partial) and add up
    the elements of the tile at `tier` spanning `dims` each time it changes, i.e. is (re)filled."""
    def segs(lo, hi, t):
        return [(s, min(s + t, hi)) for s in range(lo, hi, t)]

    total, last = 0, None

    def rec(j, box):
        nonlocal total, last
        if j == len(tiles):
            return
        order = orders[j]
        lists = {d: segs(box[d][0], box[d][1], tiles[j][d]) for d in "mnk"}
        for combo in itertools.product(*(lists[d] for d in order)):
            sub = dict(zip(order, combo))
            if j == tier:
                key = tuple(sub[d] for d in dims)
                if key != last:
                    total += int(np.prod([hi - lo for lo, hi in key]))
                    last = key
            rec(j + 1, sub)

    rec(0, {d: (0, D[d]) for d in "mnk"})
    return total


@pytest.mark.parametrize("seed", range(12))
def test_fills_match_a_loop_nest_walk(seed):
    # A kept at tier 1 (a register level below the global buffer): the closed form |A| x multiplicity
    # (schedule.level_multiplicity) must equal the bytes of every change of the tier-1 A tile in an
    # explicit walk of the nested loops, for random dims, tiles (edges included) and loop orders.
    rng = np.random.default_rng(seed)
    D = {"m": int(rng.integers(3, 13)), "n": int(rng.integers(3, 13)), "k": int(rng.integers(3, 13))}
    t0 = {d: int(rng.integers(1, D[d] + 1)) for d in "mnk"}
    t1 = {d: int(rng.integers(1, t0[d] + 1)) for d in "mnk"}
    orders = [str(rng.choice(LOOP_ORDERS)), str(rng.choice(LOOP_ORDERS))]
    arch = with_levels({**ACC, "name": "areg", "holds": ["inputs"], "size_bytes": 1 << 20})
    m = Mapping("ws", t0["m"], t0["n"], t0["k"], orders[0], levels=(LevelTile(t1["m"], t1["n"], t1["k"], orders[1]),))
    f = scalars(arch, Op("g", "gemm", M=D["m"], N=D["n"], K=D["k"]), m)
    assert f["bytes_areg_write"] == walk_fill_bytes(D, [t0, t1], orders, 1, "mk")


# --- schedule == closed form, engine == fast model, on random multi-tier mappings ------------

def random_tiers(seed: int, count: int):
    rng = np.random.default_rng(seed)
    arch = with_levels(ACC, {**ACC, "name": "wreg", "holds": ["weights"], "size_bytes": 1 << 20},
                       **{"memory.0.read_bytes_per_cycle": 64.0, "memory.0.write_bytes_per_cycle": 32.0,
                          "dram.bytes_per_s": 8.0e9})
    for i in range(count):
        pattern = str(rng.choice(["dense", "2:4", "1:4"]))
        sp = Sparsity.parse(pattern)
        M, N = (int(x) for x in rng.integers(1, 60, 2))
        K = int(rng.integers(1, 12)) * (1 if pattern == "dense" else sp.m) + int(rng.integers(0, 3))
        op = Op(f"g{i}", "gemm", M=M, N=N, K=K, weight_sparsity=sp, batch=int(rng.integers(1, 3)))
        q = plan_sparsity(arch, op).m
        outer = [max(1, M // int(rng.integers(1, 4))), max(1, N // int(rng.integers(1, 4))),
                 max(q, (K // int(rng.integers(1, 3))) // q * q)]
        inner = [max(1, outer[0] // int(rng.integers(1, 3))), max(1, outer[1] // int(rng.integers(1, 3))),
                 max(q, (outer[2] // int(rng.integers(1, 3))) // q * q)]
        yield arch, op, Mapping(str(rng.choice(["ws", "os", "is"])), *outer, str(rng.choice(LOOP_ORDERS)),
                                levels=(LevelTile(*inner, str(rng.choice(LOOP_ORDERS))),))


def test_schedule_sums_equal_closed_form_with_two_tiers():
    # tiers: [gbuf], [acc (outputs), wreg (weights)]
    for arch, op, m in random_tiers(3, 30):
        hw = HwParams.from_arch(arch)
        assert hw.n_tiers == 2
        gemm = executed_gemm(op, plan_sparsity(arch, op))
        s = build_schedule(hw, gemm, m)
        rd, wr = s.level_bytes(hw)
        f = scalars(arch, op, m)
        assert s.compute_cycles.sum() == pytest.approx(f["compute_cycles"], rel=1e-12)
        for i, name in enumerate(hw.level_names):
            assert rd[i] == pytest.approx(f[f"bytes_{name}_read"], rel=1e-12), (name, op, m)
            assert wr[i] == pytest.approx(f[f"bytes_{name}_write"], rel=1e-12), (name, op, m)
        assert s.dram_bytes == pytest.approx(f["bytes_dram"], rel=1e-12)


def test_engine_equals_fast_model_without_contention_two_tiers():
    for arch, op, m in random_tiers(5, 15):
        free = with_levels(*[lv.model_dump() for lv in arch.memory[1:]],
                           **{"memory.0.read_bytes_per_cycle": 1e12, "memory.0.write_bytes_per_cycle": 1e12})
        hw = HwParams.from_arch(free)
        gemm = executed_gemm(op, plan_sparsity(free, op))
        fast = scalars(free, op, m)
        det = engine_cost(hw, gemm, m)
        assert det["cycles"] == pytest.approx(fast["cycles"], rel=0.01)
        assert det["bytes_acc"] == pytest.approx(fast["bytes_acc"], rel=1e-12)


# --- flexible spatial mapping (MODEL.md 3.7) ------------------------------------------------

FLEX = {"compute.interconnect": {"row_blocks": [1, 2], "col_blocks": [1]}}


def test_row_blocks_carrying_n_reshape_the_array():
    # WS, 4x4, M = 8, N = 8, K = 2: K takes 2 of 4 rows. Fixed: 1 row fold x 2 column folds of
    # (2*4 + 4 - 2 + 8) = 36 cycles. Two blocks of 2 rows carrying N: a 2 x 8 virtual array, one
    # fold of (2*2 + 4 - 2 + 8) = 14 cycles; activations stream once instead of twice (16 vs 32 B).
    arch = make_arch(**FLEX)
    op = Op("g", "gemm", M=8, N=8, K=2)
    fixed = scalars(arch, op, Mapping("ws", 8, 8, 2))
    split = scalars(arch, op, Mapping("ws", 8, 8, 2, spatial=SpatialSplit(2, "N")))
    assert fixed["compute_cycles"] == 36 and split["compute_cycles"] == 14
    assert fixed["bytes_gbuf_read"] - split["bytes_gbuf_read"] == 32 - 16


def test_row_blocks_carrying_time_run_parallel_streams():
    # the same op with the two blocks taking halves of M: 1 row fold x 2 column folds, each
    # (2*2 + 4 - 2) fill + 8 / 2 steps = 10 cycles: 20
    f = scalars(make_arch(**FLEX), Op("g", "gemm", M=8, N=8, K=2), Mapping("ws", 8, 8, 2, spatial=SpatialSplit(2, "M")))
    assert f["compute_cycles"] == 20


def test_splits_the_interconnect_cannot_wire_are_refused():
    op = Op("g", "gemm", M=8, N=8, K=2)
    with pytest.raises(SpecError, match="not one tiny's interconnect supports"):
        check_mapping(make_arch(**FLEX), op, Mapping("ws", 8, 8, 2, spatial=SpatialSplit(4, "N")))
    # K on column blocks needs an adder tree across blocks
    flex_cols = make_arch(**{"compute.interconnect": {"col_blocks": [2]}})
    with pytest.raises(SpecError, match="block_reduction False"):
        check_mapping(flex_cols, op, Mapping("ws", 8, 8, 2, spatial=SpatialSplit(1, None, 2, "K")))
    with pytest.raises(SpecError, match="row_dim names the dimension"):
        SpatialSplit(2, None)


# --- activations kept on chip (MODEL.md 3.10) -----------------------------------------------

def test_resident_activations_skip_dram():
    op = Op("g", "gemm", M=8, N=8, K=8)
    keep = make_arch(**{"memory.0.keeps_activations": True})
    f = scalars(keep, op, Mapping("ws", 8, 8, 8))
    assert plan_sparsity(keep, op).resident == {"A", "out"}
    assert f["bytes_dram"] == 64                      # only the weights
    # a buffer too small for the activations beside a fold sends them through DRAM, with a note
    small = make_arch(**{"memory.0.keeps_activations": True, "memory.0.size_bytes": 160})
    plan = plan_sparsity(small, op)
    assert plan.resident == frozenset() and "do not fit beside a tile" in plan.residency_note


def test_attention_keeps_both_operands():
    op = Op("s", "attn_score", M=8, N=8, K=8)
    keep = make_arch(**{"memory.0.keeps_activations": True})
    assert plan_sparsity(keep, op).resident == {"A", "B", "out"}
    assert scalars(keep, op, Mapping("ws", 8, 8, 8))["bytes_dram"] == 0


# --- feature maps and RLC coding (MODEL.md 3.11) ---------------------------------------------

def test_feature_maps_and_rlc_scale_the_input_traffic():
    # a 6x6 single-channel image, 3x3 filter, stride 1, no padding: 16 outputs x 9 taps = 144 im2col
    # elements over 36 distinct pixels: the buffer that stores feature maps loads 36 B, not 144.
    op = conv2d("c", 1, 6, 1, 1, 3, padding=0)
    assert op.input_pixel_fraction == pytest.approx(36 / 144)
    plain = scalars(make_arch(), op, Mapping("ws", 16, 1, 9))
    fmap = make_arch(**{"memory.0.stores_feature_maps": True})
    stored = scalars(fmap, op, Mapping("ws", 16, 1, 9))
    assert plain["bytes_dram_read"] - stored["bytes_dram_read"] == 144 - 36
    # RLC in DRAM at 30% nonzero 8-bit activations: 0.3 x (64/3) / 8 = 0.8 of the pixels' bytes,
    # and the outputs at 50%: min(1, 0.5 x 64/3 / 8) = 1 (they would grow: sent raw)
    rlc = make_arch(**{"memory.0.stores_feature_maps": True, "dram.activation_coding": "rlc"})
    coded = scalars(rlc, op.with_act_density(0.3).with_out_density(0.5), Mapping("ws", 16, 1, 9))
    assert coded["bytes_dram_read"] == pytest.approx(36 * 0.8 + 9)  # + the 9 weights
    assert coded["bytes_dram_write"] == 16


# --- a PE's own register file (MODEL.md 3.9) -------------------------------------------------

def test_per_pe_register_file_is_read_at_every_mac():
    # 16 instances on a 4x4 array: the PEs' weight registers, read once per MAC (512 MACs x 1 B)
    rf = {**ACC, "name": "wrf", "holds": ["weights"], "size_bytes": 64, "instances": 16, "double_buffered": False}
    arch = with_levels(rf)
    f = scalars(arch, Op("g", "gemm", M=8, N=8, K=8), Mapping("ws", 8, 8, 8, levels=(LevelTile(8, 8, 8),)))
    assert f["bytes_wrf_read"] == 8 * 8 * 8


def test_single_level_arch_keeps_todays_numbers():
    # the hand-derived single-tile case of docs/MODEL.md 5 (load 128 + compute 4 x 18 + store 64 at
    # 1 B/cycle): one tier, nothing to nest
    r = simulate_op(make_arch(**{"dram.bytes_per_s": 1.0e9}), Op("g", "gemm", M=8, N=8, K=8),
                    Mapping("ws", 8, 8, 8))
    assert r.cycles == 264 and TINY["memory"][0]["name"] == "gbuf"


# --- the memory terms of MODEL.md 3.2-3.4.1 over a hierarchy --------------------------------

DRAM_TERMS = {"dram.access_bytes": 16, "dram.page_bytes": 512, "dram.page_change_s": 8e-9,
              "dram.refresh_fraction": 0.05, "dram.rw_batch_bytes": 64, "dram.rw_switch_s": 5e-9,
              "memory.0.ports": "separate", "memory.0.prefetch_steps": {"ws": 2, "os": 3},
              "memory.0.prefetch_latency_cycles": 2, "compute.preload_overlap": True}


@pytest.mark.parametrize("bypass", [False, True])
def test_schedule_sums_equal_closed_form_with_dram_terms_on_two_tiers(bypass):
    # whole DRAM accesses, pages, switches, refresh, read-ahead and hidden preload on two tiers; with
    # `bypass` the weights skip the gbuf, so DRAM fills a tier-1 level (rows rounded per tier-1 tile)
    for arch, op, m in random_tiers(11 + bypass, 12):
        d = arch.model_dump(exclude={"energy": {"sources"}})
        for key, value in DRAM_TERMS.items():
            part, field = key.rsplit(".", 1)
            node = d
            for k in part.split("."):
                node = node[int(k)] if k.isdigit() else node[k]
            node[field] = value
        if bypass:
            d["memory"][0]["holds"] = ["inputs", "outputs"]
        arch = type(arch).model_validate(d)
        hw = HwParams.from_arch(arch)
        assert hw.tier_of[hw.outer_of["weights"]] == (1 if bypass else 0)
        gemm = executed_gemm(op, plan_sparsity(arch, op))
        s = build_schedule(hw, gemm, m)
        f = scalars(arch, op, m)
        assert s.compute_cycles.sum() == pytest.approx(f["compute_cycles"], rel=1e-12)
        assert s.dram_bytes == pytest.approx(f["bytes_dram"], rel=1e-12), (op, m)
        assert s.dram_cycles == pytest.approx(f["dram_cycles"], rel=0.05), (op, m)
        rd, wr = s.level_bytes(hw)
        for i, name in enumerate(hw.level_names):
            assert rd[i] == pytest.approx(f[f"bytes_{name}_read"], rel=1e-12), (name, op, m)
            assert wr[i] == pytest.approx(f[f"bytes_{name}_write"], rel=1e-12), (name, op, m)
