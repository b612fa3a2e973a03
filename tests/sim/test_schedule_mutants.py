"""The tile schedule shared by both cost models (sim/schedule.py; docs/MODEL.md 3.1-3.4.1, 3.9), checked
piece by piece against oracles written here: a plain Python walk of the nested tile loops (the reuse
rule of MODEL.md 3.4 and 3.9 as "a tile is (re)filled when its index changes"), hand derivations on
tiny GEMMs with edge tiles, and the documented DRAM efficiency rule (MODEL.md 3.4.1, sim/dram.py)
applied tile by tile.

The tiny arch (tests/conftest.py): 4 x 4 PEs, one MAC each, int8 operands, int32 partial sums,
1 GHz, one level `gbuf` keeping every operand; tests override what they need.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from nmsim.mapping import LOOP_ORDERS, LevelTile, Mapping
from nmsim.problem import DATAFLOW_CODES, Gemm, PerDataflow
from nmsim.sim import HwParams
from nmsim.sim.schedule import (array_traffic, build_schedule, fill_bytes, fill_cycles, fill_exposure, fold_cycles,
                                level_multiplicity, nest_classes, operand_array_bytes, per_pe_array_bytes,
                                tier0_multiplicities)

from ..conftest import make_arch

RELEVANT_DIMS = {"A": "mk", "B": "kn", "out": "mn"}  # the dims each operand's tile spans (RELEVANT order)


# --- oracles ----------------------------------------------------------------------------------

def walk(D: dict, tiles: list, orders: list) -> list:
    """Every innermost tile of the nest in execution order, as its chain of boxes: per tier j,
    {d: (lo, hi)} of the tier-j tile it lies in. Tier j's tile cuts its parent's box from its start
    in steps of tiles[j][d] (the last one partial); tier j's loops run in orders[j], outermost first."""
    out = []

    def rec(j, box, chain):
        cuts = {d: [(s, min(s + tiles[j][d], box[d][1])) for s in range(box[d][0], box[d][1], tiles[j][d])]
                for d in "mnk"}
        for combo in itertools.product(*(cuts[d] for d in orders[j])):
            sub = dict(zip(orders[j], combo))
            if j == len(tiles) - 1:
                out.append(chain + [sub])
            else:
                rec(j + 1, sub, chain + [sub])

    rec(0, {d: (0, D[d]) for d in "mnk"}, [])
    return out


def walk_fills(D, tiles, orders, level, dims):
    """[(key, sizes)] of every (re)fill of the tier-`level` tile spanning `dims`: a new fill whenever
    the tile's index changes from one iteration to the next (first iteration included)."""
    fills, last = [], None
    for chain in walk(D, tiles[:level + 1], orders[:level + 1]):
        key = tuple(chain[level][d] for d in dims)
        if key != last:
            fills.append((key, tuple(hi - lo for lo, hi in key)))
            last = key
    return fills


def counts_pos(D, tiles, orders):
    """The `counts[j]`, `pos[j]` arrays level_multiplicity takes, from the walk: distinct tier-j tiles
    along (m, n, k), and each dim's depth in tier j's loop order."""
    chains = walk(D, tiles, orders)
    counts = [np.array([len({c[j][d] for c in chains}) for d in "mnk"]) for j in range(len(tiles))]
    pos = [np.array([o.index(d) for d in "mnk"]) for o in orders]
    return counts, pos


def divisible_case(rng, n_tiers):
    """Dims and tiles where every tile divides its parent's (level_multiplicity is exact there)."""
    D, tiles = {}, [dict() for _ in range(n_tiers)]
    for d in "mnk":
        t = int(rng.integers(1, 3))
        chain = [t]
        for _ in range(n_tiers - 1):
            t *= int(rng.integers(1, 4))
            chain.append(t)
        D[d] = t * int(rng.integers(1, 4))
        for j, tj in enumerate(reversed(chain)):
            tiles[j][d] = tj
    orders = [str(rng.choice(LOOP_ORDERS)) for _ in range(n_tiers)]
    return D, tiles, orders


def edge_case(rng, n_tiers, hi=9):
    """Random dims and nested tiles with edge tiles at every tier."""
    D = {d: int(rng.integers(2, hi + 1)) for d in "mnk"}
    tiles, parent = [], D
    for _ in range(n_tiers):
        t = {d: int(rng.integers(1, parent[d] + 1)) for d in "mnk"}
        tiles.append(t)
        parent = t
    orders = [str(rng.choice(LOOP_ORDERS)) for _ in range(n_tiers)]
    return D, tiles, orders


# --- nest_classes -----------------------------------------------------------------------------

def test_nest_classes_by_hand():
    # D = 5 in tiles of 4 then 2 (MODEL.md 3.9). Tier 0: one full tile of 4, one edge tile of 1.
    # Tier 1: the 4 splits into two full 2s (no edge); the edge tile 1 takes the tile clipped to it
    # (min(2, 1) = 1): one full tile of 1 and no edge. Classes i of tier 1 come from i >> 1 of tier 0.
    n = nest_classes(5, [4, 2])
    assert [int(c) for c in n.counts[0]] == [1, 1] and [int(s) for s in n.sizes[0]] == [4, 1]
    assert [int(c) for c in n.counts[1]] == [2, 0, 1, 0]
    assert [int(s) for s in n.sizes[1][:3]] == [2, 0, 1]   # the fourth class is empty (count 0)
    assert [bool(x) for x in n.split[1]] == [True, True, False, False]  # a 1 is not cut by a 2
    assert n.split[0] is None
    assert [int(c) for c in n.level_counts] == [2, 3]


def test_nest_classes_three_tiers_by_hand():
    # D = 7, tiles 5, 3, 2. Tier 0: 5 (x1), edge 2 (x1). Tier 1: 5 -> 3 (x1) + edge 2 (x1);
    # 2 -> min(3, 2) = 2 (x1), no edge. Tier 2: 3 -> 2 + edge 1; 2 -> 2; 2 -> 2; (empty) -> nothing.
    n = nest_classes(7, [5, 3, 2])
    assert [int(c) for c in n.counts[1]] == [1, 1, 1, 0]
    assert [int(s) for s in n.sizes[1][:3]] == [3, 2, 2]
    assert [int(c) for c in n.counts[2]] == [1, 1, 1, 0, 1, 0, 0, 0]
    assert [int(s) for s in n.sizes[2][:5]] == [2, 1, 2, 0, 2]
    # the loop of tier 2 iterates only inside the 3 (cut into 2 + 1); the 2s are not cut
    assert [bool(x) for x in n.split[2][:6]] == [True, True, False, False, False, False]
    assert [int(c) for c in n.level_counts] == [2, 3, 4]


@pytest.mark.parametrize("seed", range(6))
def test_nest_classes_match_the_segments_of_a_walk(seed):
    # Every class: count x size over tier j equals the multiset of tier-j tile sizes of the walk,
    # and the edge class of a parent exists exactly when the parent is not a multiple of the tile.
    rng = np.random.default_rng(seed)
    D = int(rng.integers(2, 30))
    tiles = [int(rng.integers(1, D + 1))]
    for _ in range(2):
        tiles.append(int(rng.integers(1, tiles[-1] + 1)))
    n = nest_classes(D, tiles)
    segs = [[(0, D)]]
    for t in tiles:
        segs.append([(s, min(s + t, hi)) for lo, hi in segs[-1] for s in range(lo, hi, t)])
    for j in range(len(tiles)):
        want = {}
        for lo, hi in segs[j + 1]:
            want[hi - lo] = want.get(hi - lo, 0) + 1
        got = {}
        for c, s in zip(n.counts[j], n.sizes[j]):
            if c:
                got[int(s)] = got.get(int(s), 0) + int(c)
        assert got == want
        assert int(n.level_counts[j]) == len(segs[j + 1])
        if j:
            for i, (c, s) in enumerate(zip(n.counts[j - 1], n.sizes[j - 1])):
                t = min(tiles[j], max(int(s), 1))
                assert int(n.counts[j][2 * i + 1]) == int(c) * (int(s) % t > 0)
                if c and s:
                    assert int(n.sizes[j][2 * i]) == t


# --- per-tile formulas ------------------------------------------------------------------------

def test_fill_cycles_default_has_no_preload_overlap():
    # MODEL.md 3.2: 2R + C - 2 for WS/IS unless preload_overlap, R + C - 2 for OS
    assert fill_cycles(4, 4, False) == 10
    assert fill_cycles(4, 4, True) == 6
    assert fill_cycles(4, 4, False, True) == 6
    assert fill_cycles(3, 5, False, False) == 9


def test_fold_cycles_and_array_traffic_by_hand():
    # MODEL.md 3.2-3.3, one tile: 2 x 3 folds of (fill 10 + T 8) = 108 cycles; 7 rows x 9 cols of
    # units, T = 8, 2 row folds, 3 col folds: stationary 63, row stream 8 x 7 x 3 = 168, col 8 x 9 x 2 = 144
    assert fold_cycles(2, 3, 1, 8, 10) == 108
    assert fold_cycles(2, 3, 2, 8, 10) == 6 * (2 * 10 + 8)   # sums: 2 time tiles of 4 units each
    assert array_traffic(7, 9, 8, 2, 3, 1) == (63, 168, 144)
    assert array_traffic(7, 9, 8, 2, 3, 2) == (126, 168, 144)


def test_operand_array_bytes_by_hand():
    # 16-bit operands, 2 MACs per PE. Streams (stationary, row, col) = (3, 5, 7) units.
    # WS: A row 5 units x 2 activations per unit x 2 B = 20; B stationary 3 units x 2 weights x 2.5 B
    # (2 B + 4 index bits) = 15; out col 7 elements. OS: A row 20, B col 7 x 2 x 2.5 = 35, out 3.
    hw = HwParams.from_arch(make_arch(**{"compute.operand_bits": 16, "compute.macs_per_pe": 2}))
    ws = operand_array_bytes(hw, PerDataflow(DATAFLOW_CODES["ws"]), (3, 5, 7), 2, 2.5)
    assert tuple(float(x) for x in ws) == (20.0, 15.0, 7.0)
    os_ = operand_array_bytes(hw, PerDataflow(DATAFLOW_CODES["os"]), (3, 5, 7), 2, 2.5)
    assert tuple(float(x) for x in os_) == (20.0, 35.0, 3.0)
    is_ = operand_array_bytes(hw, PerDataflow(DATAFLOW_CODES["is"]), (3, 5, 7), 2, 2.5)
    assert tuple(float(x) for x in is_) == (3 * 2 * 2.0, 5 * 2 * 2.5, 7.0)


def test_per_pe_array_bytes_counts_every_mac():
    # MODEL.md 3.9: a keeper with one instance per PE is read at every MAC (A, B) or read-modify-
    # written (out): 6 MACs, 2 B operands, weights 2 B + 4 index bits = 2.5 B -> (12, 15, 6).
    hw = HwParams.from_arch(make_arch(**{"compute.operand_bits": 16}))
    gemm = Gemm(M=2, N=3, K=4, n=2, m=4, index_bits=4)
    arr = (100.0, 200.0, 300.0)
    assert per_pe_array_bytes(hw, gemm, 6, arr) == arr            # no per-PE level: unchanged
    pe = dataclasses.replace(hw, level_per_pe=(True,))
    assert tuple(float(x) for x in per_pe_array_bytes(hw=pe, gemm=gemm, macs=6, arr=arr)) == (12.0, 15.0, 6.0)


# --- fill_exposure (MODEL.md 3.3, read-ahead of streamed operands) -----------------------------

def exposure_hw(steps=2, bpc=1.0, **extra):
    return HwParams.from_arch(make_arch(**{"memory.0.read_bytes_per_cycle": bpc, "memory.0.prefetch_steps": steps,
                                           **extra}))


@pytest.mark.parametrize("df, reads, beats, folds, fill, expected", [
    # WS streams A (rows) and out (cols); B is stationary. c = (A + out reads) / bpc / beats.
    ("ws", (32.0, 999.0, 0.0), 8, 1, 10, 10 - 2 * 4),      # c = 4: fill 10 - 2 steps x 4 = 2
    ("ws", (16.0, 999.0, 16.0), 8, 3, 10, 3 * (10 - 2 * 4)),  # A and out together: c = 4, 3 folds
    ("ws", (12.0, 0.0, 0.0), 8, 1, 10, 10 - 2 * 1.5),      # c = 1.5 > 1: the port sets the pace
    ("ws", (8.0, 0.0, 0.0), 8, 1, 10, 0.0),                # c = 1: the array sets the pace, nothing exposed
    ("ws", (4.0, 0.0, 0.0), 8, 1, 10, 0.0),                # c = 0.5
    ("ws", (3.0, 0.0, 0.0), 1, 2, 10, 2 * (10 - 2 * 3)),   # one beat of 3 port cycles
    ("ws", (48.0, 0.0, 0.0), 8, 1, 10, 0.0),               # c = 6: 2 steps x 6 = 12 > fill 10
    # OS streams A (rows) and B (cols); out is stationary: c = 16 / 8 = 2 -> 6 - 2 x 2 = 2
    ("os", (0.0, 16.0, 100.0), 8, 1, 6, 2.0),
    # IS streams B (rows) and out (cols); A is stationary: c = (8 + 16) / 8 = 3 -> 10 - 6 = 4
    ("is", (100.0, 8.0, 16.0), 8, 1, 10, 4.0),
])
def test_fill_exposure_by_hand(df, reads, beats, folds, fill, expected):
    hw = exposure_hw()
    out = fill_exposure(hw, PerDataflow(DATAFLOW_CODES[df]), reads, beats, folds, fill)
    assert len(out) == 1
    assert float(out[0]) == pytest.approx(expected)


def test_fill_exposure_port_width_and_unlimited_levels():
    # 2 B/cycle halves c: 64 B over 8 beats = 4 cycles per beat -> 10 - 2 x 4 = 2
    assert float(fill_exposure(exposure_hw(bpc=2.0), PerDataflow(0), (64.0, 0.0, 0.0), 8, 1, 10)[0]) == 2.0
    # no limit (the default): nothing exposed, whatever the pace
    free = HwParams.from_arch(make_arch(**{"memory.0.read_bytes_per_cycle": 1.0}))
    assert [float(x) for x in fill_exposure(free, PerDataflow(0), (64.0, 0.0, 0.0), 8, 1, 10)] == [0.0]
    # an HwParams built without the per-level field (its default) has no limit either
    bare = dataclasses.replace(free, level_prefetch_steps=())
    assert [float(x) for x in fill_exposure(bare, PerDataflow(0), (64.0, 0.0, 0.0), 8, 1, 10)] == [0.0]


def test_fill_exposure_per_candidate():
    # Candidates of every dataflow at once (the mapper's vectorized path), same reads: c = 4 for
    # the streamed operands of each (WS: A + out, OS: A + B, IS: B + out), fills 10, 6, 10.
    hw = exposure_hw()
    sel = PerDataflow(np.array([0, 1, 2]))
    reads = (np.array([16.0, 16.0, 99.0]), np.array([99.0, 16.0, 16.0]), np.array([16.0, 99.0, 16.0]))
    out = fill_exposure(hw, sel, reads, np.array([8, 8, 8]), np.array([1, 2, 1]), np.array([10, 6, 10]))
    assert list(np.asarray(out[0], dtype=float)) == [2.0, 0.0, 2.0]  # OS: 2 x max(0, 6 - 8)


def test_fill_exposure_limits_only_the_dataflows_given():
    # prefetch_steps {ws: 2}: a WS reader 2 beats ahead (c = 4: 10 - 8 = 2); OS and IS unlimited
    hw = exposure_hw(steps={"ws": 2})
    sel = PerDataflow(np.array([0, 1, 2]))
    reads = tuple(np.full(3, 16.0) for _ in range(3))
    out = fill_exposure(hw, sel, reads, np.full(3, 8), np.ones(3), np.array([10, 6, 10]))
    assert list(np.asarray(out[0], dtype=float)) == [2.0, 0.0, 0.0]


def test_fill_exposure_adds_the_prefetch_latency():
    # A freed slot's data arrive L = 3 cycles later: a fold exposes max(0, fill + L - steps c) =
    # 10 + 3 - 2 x 4 = 5 (c = 4), and with c = 6: 13 - 12 = 1 (nothing without the latency)
    hw = exposure_hw(**{"memory.0.prefetch_latency_cycles": 3})
    assert float(fill_exposure(hw, PerDataflow(0), (32.0, 0.0, 0.0), 8, 1, 10)[0]) == 5.0
    assert float(fill_exposure(hw, PerDataflow(0), (48.0, 0.0, 0.0), 8, 1, 10)[0]) == 1.0
    # an HwParams built without the latency field (its default) has none: 10 - 2 x 4 = 2
    bare = dataclasses.replace(exposure_hw(), level_prefetch_latency=())
    assert float(fill_exposure(bare, PerDataflow(0), (32.0, 0.0, 0.0), 8, 1, 10)[0]) == 2.0


def test_fill_exposure_only_at_the_level_the_array_reads():
    # A kept in `abuf` (limited, 1 B/cycle), B and out in `gbuf` (unlimited): WS exposes at abuf only,
    # from A's reads alone: c = 32 / 8 = 4 -> 10 - 2 x 4 = 2; the out reads of gbuf do not count.
    arch = two_level_arch(**{"memory.1.prefetch_steps": 2, "memory.1.read_bytes_per_cycle": 1.0})
    hw = HwParams.from_arch(arch)
    assert hw.level_names == ("gbuf", "abuf")
    out = fill_exposure(hw, PerDataflow(0), (32.0, 0.0, 1000.0), 8, 1, 10)
    assert float(out[0]) == 0.0 and float(out[1]) == 2.0


def two_level_arch(**overrides):
    """The tiny arch with an input buffer `abuf` inside gbuf: gbuf keeps every operand, abuf the inputs
    (tier 1); `overrides` as memory.<i>.<field>."""
    arch = make_arch()
    d = arch.model_dump(exclude={"energy": {"sources"}})
    d["memory"].append({"name": "abuf", "size_bytes": 1 << 20, "read_bytes_per_cycle": 1.0e9,
                        "write_bytes_per_cycle": 1.0e9, "holds": ["inputs"]})
    d["energy"]["per_byte_pj"]["abuf"] = 0.5
    for path, value in overrides.items():
        _, i, key = path.split(".")
        d["memory"][int(i)][key] = value
    return type(arch).model_validate(d)


# --- the reuse rule: level_multiplicity, tier0_multiplicities, fill_bytes ------------------------

@pytest.mark.parametrize("n_tiers", [1, 2, 3])
def test_level_multiplicity_matches_a_loop_walk(n_tiers):
    # Tiles that divide their parents: every tile of X at tier `level` is filled the same number of
    # times, fills / distinct tiles in the walk (MODEL.md 3.9).
    rng = np.random.default_rng(100 + n_tiers)
    for _ in range(60):
        D, tiles, orders = divisible_case(rng, n_tiers)
        counts, pos = counts_pos(D, tiles, orders)
        for level in range(n_tiers):
            for operand, dims in RELEVANT_DIMS.items():
                fills = walk_fills(D, tiles, orders, level, dims)
                want = len(fills) / len({k for k, _ in fills})
                got = level_multiplicity(counts, pos, operand, level)
                assert float(got) == want, (D, tiles, orders, level, operand)


def test_level_multiplicity_three_tiers_by_hand():
    # m, n, k each 2 tiles at tier 0 (order mnk), not cut at tier 1, cut in 2 again at tier 2 (order
    # "mnk": m outside n). A at tier 2 (relevant m, k; irrelevant n): the innermost iterating relevant
    # loop is tier 2's k (depth 3*2 + 2); the irrelevant n loops of tier 0 and tier 2 lie outside it,
    # the deepest being tier 2's: every A tile is filled count_2(n) = 4 times. With tier 2 in order
    # "nkm" (n outermost, then k, m) n still lies outside m: 4. With "kmn" n lies inside: the deepest
    # outside is tier 0's n (2 tiles): 2.
    counts = [np.array([2, 2, 2]), np.array([2, 2, 2]), np.array([4, 4, 4])]
    for order2, want in (("mnk", 4), ("nkm", 4), ("kmn", 2), ("mkn", 2)):
        pos = [np.array([0, 1, 2]), np.array([0, 1, 2]), np.array([order2.index(d) for d in "mnk"])]
        assert int(level_multiplicity(counts, pos, "A", 2)) == want, order2


@pytest.mark.parametrize("seed", range(4))
def test_tier0_multiplicities_match_the_walk_with_edges(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        D, tiles, orders = edge_case(rng, 1, hi=12)
        counts, pos = counts_pos(D, tiles, orders)
        got = tier0_multiplicities(counts, pos)
        for operand, dims in RELEVANT_DIMS.items():
            fills = walk_fills(D, tiles, orders, 0, dims)
            assert int(got[operand]) == len(fills) / len({k for k, _ in fills}), (D, tiles, orders, operand)
            assert int(got[operand]) == int(level_multiplicity(counts, pos, operand, 0))


def nests_counts(D, tiles, orders):
    nests = {d: nest_classes(D[d], [t[d] for t in tiles]) for d in "mnk"}
    counts = [np.array([nests[d].level_counts[j] for d in "mnk"]) for j in range(len(tiles))]
    pos = [np.array([o.index(d) for d in "mnk"]) for o in orders]
    return nests, counts, pos


@pytest.mark.parametrize("n_tiers", [2, 3])
def test_fill_bytes_matches_a_loop_walk_with_edges(n_tiers):
    # Σ over the fills of the walk of a tile's bytes, for a bytes function that is not linear in the
    # sizes (as whole DRAM accesses are not): exact with edge tiles at every tier (MODEL.md 3.9).
    def nbytes(x, y):
        return x * (2 * y + 1)

    rng = np.random.default_rng(7 + n_tiers)
    for _ in range(25):
        D, tiles, orders = edge_case(rng, n_tiers)
        nests, counts, pos = nests_counts(D, tiles, orders)
        for level in range(1, n_tiers):
            for operand, dims in RELEVANT_DIMS.items():
                want = sum(nbytes(*sizes) for _, sizes in walk_fills(D, tiles, orders, level, dims))
                got = fill_bytes(nests, counts, pos, operand, level, nbytes, -1.0)
                assert float(got) == want, (D, tiles, orders, level, operand)


def test_fill_bytes_of_a_tile_whose_relevant_loops_never_iterate():
    # M = K = 2 never cut (tiles 2, 2), N = 4 cut in 2 at tier 0 (outermost, "nmk") and in 1s at tier 1:
    # A's one 2 x 2 tile at tier 1 has no iterating relevant loop, so it is filled once, not once per
    # n tile (x(2y+1) = 2 x 5 = 10 B); B (k, n) and out (m, n) follow n: 4 tiles of 1 column, once each.
    D = {"m": 2, "n": 4, "k": 2}
    tiles = [{"m": 2, "n": 2, "k": 2}, {"m": 2, "n": 1, "k": 2}]
    orders = ["nmk", "mnk"]
    nests, counts, pos = nests_counts(D, tiles, orders)
    assert len(walk_fills(D, tiles, orders, 1, "mk")) == 1
    assert float(fill_bytes(nests, counts, pos, "A", 1, lambda x, y: x * (2 * y + 1), -1.0)) == 10.0
    assert float(fill_bytes(nests, counts, pos, "B", 1, lambda x, y: x * (2 * y + 1), -1.0)) == 4 * 2 * 3
    assert float(level_multiplicity(counts, pos, "A", 1)) == 1.0


def test_fill_bytes_at_tier_zero_is_the_closed_form():
    # Tier 0: the whole tensor's bytes x its multiplicity (every tier-0 tile is filled alike).
    rng = np.random.default_rng(3)
    for _ in range(20):
        D, tiles, orders = edge_case(rng, 2, hi=10)
        nests, counts, pos = nests_counts(D, tiles, orders)
        for operand, dims in RELEVANT_DIMS.items():
            want = sum(3 * x * y for _, (x, y) in walk_fills(D, tiles, orders, 0, dims))
            total = 3 * D[dims[0]] * D[dims[1]]
            assert float(fill_bytes(nests, counts, pos, operand, 0, lambda x, y: 3 * x * y, total)) == want


# --- build_schedule: tile order and reloads -----------------------------------------------------

def mapping_of(df, tiles, orders):
    return Mapping(df, tiles[0]["m"], tiles[0]["n"], tiles[0]["k"], orders[0],
                   levels=tuple(LevelTile(t["m"], t["n"], t["k"], o) for t, o in zip(tiles[1:], orders[1:])))


def global_index(chains, d):
    """Index of every innermost tile along d among the innermost tiles (by start)."""
    starts = sorted({c[-1][d][0] for c in chains})
    return [starts.index(c[-1][d][0]) for c in chains]


@pytest.mark.parametrize("seed", range(4))
def test_schedule_runs_the_tiles_in_loop_order_with_edges(seed):
    # Two tiers with edge tiles (parents with different child counts): the schedule's innermost
    # tiles, in order, are those of the walk; reload flags at tier 0 are index changes.
    rng = np.random.default_rng(seed)
    arch = two_level_arch()
    hw = HwParams.from_arch(arch)
    for _ in range(5):
        D, tiles, orders = edge_case(rng, 2, hi=11)
        s = build_schedule(hw, Gemm(M=D["m"], N=D["n"], K=D["k"]), mapping_of("ws", tiles, orders))
        chains = walk(D, tiles, orders)
        assert len(s) == len(chains)
        assert list(s.im) == global_index(chains, "m")
        assert list(s.in_) == global_index(chains, "n")
        assert list(s.ik) == global_index(chains, "k")
        prev = None
        for i, c in enumerate(chains):
            a, b, o = ((c[0][x], c[0][y]) for x, y in ("mk", "kn", "mn"))
            assert s.a_new[i] == (prev is None or a != prev[0])
            assert s.b_new[i] == (prev is None or b != prev[1])
            assert s.c_first[i] == (prev is None or o != prev[2])
            prev = (a, b, o)


# --- build_schedule: DRAM transfers, bytes and cycles, tile by tile (MODEL.md 3.4, 3.4.1) ---------

def dram_oracle(hw: HwParams, gemm: Gemm, D, tiles, orders):
    """Per tile, (a_load, b_load, c_read, c_store) bytes and their DRAM cycles, and the store's
    read/write switch cycles, from the documented rules: an operand tile of the outermost keeper's
    tier (here tier 0) is loaded when its index changes; an output run (same (m, n) tile) reads the
    partial sums back when it does not start at k = 0 and stores them when it ends (operand width
    if it ends at k = K, else accumulator width); every row of a transfer is rounded up to whole
    accesses; a transfer costs bytes / rate + page changes x page time (1 + rows x min(pitch,
    page + run) / page changes), a write 2 / rw_batch switches per byte, all / (1 - refresh)."""
    ob, acc, g = hw.operand_bytes, hw.acc_bytes, hw.dram_access_bytes
    wb = gemm.weight_bytes(ob)
    page = hw.dram_page_bytes

    def w(x):
        return math.ceil(x / g) * g

    def pages(rows, run, pitch):
        return 1 + rows * min(pitch, page + run) / page if page > 0 else 0.0

    def cycles(nbytes, npages, writes):
        sw = 2 * writes / hw.dram_rw_batch_bytes if hw.dram_rw_batch_bytes > 0 else 0.0
        return (nbytes / hw.dram_bpc + npages * hw.dram_page_cycles + sw * hw.dram_rw_cycles) / (
            1 - hw.dram_refresh_fraction)

    chains = walk(D, tiles, orders) * gemm.batch
    per_gemm = len(chains) // gemm.batch
    keys = [((c[0]["m"], c[0]["k"]), (c[0]["k"], c[0]["n"]), (c[0]["m"], c[0]["n"])) for c in chains]
    rows = []
    for i, c in enumerate(chains):
        start = i % per_gemm == 0
        new = [start or keys[i][x] != keys[i - 1][x] for x in range(3)]
        last = i == len(chains) - 1 or i % per_gemm == per_gemm - 1 or keys[i + 1][2] != keys[i][2]
        sm, sn, sk = (c[0][d][1] - c[0][d][0] for d in "mnk")
        k_lo, k_hi = c[-1]["k"]
        final = k_hi == D["k"]
        kn = gemm.k_nnz(sk)
        a = sm * w(sk * ob) * gemm.a_dram_scale if new[0] and "A" not in gemm.resident else 0.0
        b = sn * w(kn * wb) if new[1] and "B" not in gemm.resident else 0.0
        cr = sm * w(sn * acc) if new[2] and k_lo > 0 else 0.0
        width = ob if final else acc
        cs = 0.0
        if last:
            cs = sm * w(sn * width)
            if final:
                cs *= 0.0 if "out" in gemm.resident else gemm.out_dram_scale
        pa = pages(sm, w(sk * ob), w(D["k"] * ob))
        pb = pages(sn, w(kn * wb), w(gemm.k_nnz(D["k"]) * wb))
        pr = pages(sm, w(sn * acc), w(D["n"] * acc))
        ps = pages(sm, w(sn * width), w(D["n"] * width))
        rows.append(dict(a_load_bytes=a, b_load_bytes=b, c_read_bytes=cr, c_store_bytes=cs,
                         a_load_cycles=cycles(a, pa, 0) if a > 0 else 0.0,
                         b_load_cycles=cycles(b, pb, 0) if b > 0 else 0.0,
                         c_read_cycles=cycles(cr, pr, 0) if cr > 0 else 0.0,
                         c_store_cycles=cycles(cs, ps, 0) if cs > 0 else 0.0,
                         c_store_switch_cycles=cycles(0, 0, cs) if cs > 0 else 0.0))
    return rows


def check_dram(hw, gemm, D, tiles, orders, df="ws"):
    s = build_schedule(hw, gemm, mapping_of(df, tiles, orders))
    want = dram_oracle(hw, gemm, D, tiles, orders)
    assert len(s) == len(want)
    for field in want[0]:
        got = getattr(s, field)
        exp = np.array([r[field] for r in want])
        np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12, err_msg=field)
    # the schedule's totals: reads are loads and read-backs, writes the stores; cycles of every transfer
    tot = {f: sum(r[f] for r in want) for f in want[0]}
    assert s.dram_read_bytes == pytest.approx(tot["a_load_bytes"] + tot["b_load_bytes"] + tot["c_read_bytes"])
    assert s.dram_write_bytes == pytest.approx(tot["c_store_bytes"])
    assert s.dram_bytes == pytest.approx(s.dram_read_bytes + s.dram_write_bytes)
    assert s.dram_cycles == pytest.approx(sum(tot[f] for f in tot if f.endswith("_cycles")))
    # one level keeps everything: it writes what DRAM loads and reads back, and reads what is stored
    rd, wr = s.level_bytes(hw)
    assert rd[0] == pytest.approx(s.array_read_bytes[0].sum() + tot["c_store_bytes"])
    assert wr[0] == pytest.approx(s.array_write_bytes[0].sum() + tot["a_load_bytes"] + tot["b_load_bytes"]
                                  + tot["c_read_bytes"])
    return s, want


# 16-bit operands, 32-bit sums, 4 B/cycle, 2-B accesses, 8-B pages (3 cycles a change), batches of
# 64 B between read/write switches (5 cycles each), 20 % refresh: rows of these tensors lie more than
# a page apart, so both the run and the pitch of every transfer set its page changes.
DRAM_FIELDS = {"compute.operand_bits": 16, "dram.bytes_per_s": 4e9, "dram.access_bytes": 2,
               "dram.page_bytes": 8, "dram.page_change_s": 3e-9, "dram.refresh_fraction": 0.2,
               "dram.rw_batch_bytes": 64, "dram.rw_switch_s": 5e-9}


def test_dram_transfer_cycles_by_hand():
    # M = 3, N = 9, K = 7 in tiles (2, 9, 7), one tier: two tiles (m = 2, then the edge m = 1), each
    # loading A, keeping B (loaded once), storing its final outputs.
    # Tile 0: A 2 rows of 7 x 2 = 14 B (7 accesses of 2 B) = 28 B; pitch 14, run 14: 1 + 2 x min(14, 22)/8
    #   = 4.5 page changes; cycles (28 / 4 + 4.5 x 3) / 0.8 = 25.625.
    #   B: 9 columns of 14 B = 126 B, pitch 14: 1 + 9 x 14/8 = 16.75 pages: (31.5 + 50.25) / 0.8 = 102.1875.
    #   out: 2 rows of 9 x 2 = 18 B = 36 B, pitch 18, run 18: 1 + 2 x 18/8 = 5.5 pages:
    #   (9 + 16.5) / 0.8 = 31.875; switches 2 x 36 / 64 = 1.125 x 5 cycles / 0.8 = 7.03125.
    # Tile 1: A 1 row: 14 B, 1 + 14/8 = 2.75 pages: (3.5 + 8.25) / 0.8 = 14.6875; out 18 B, 3.25 pages:
    #   (4.5 + 9.75) / 0.8 = 17.8125, switches 2 x 18 / 64 x 5 / 0.8 = 3.515625.
    hw = HwParams.from_arch(make_arch(**DRAM_FIELDS))
    s = build_schedule(hw, Gemm(M=3, N=9, K=7), Mapping("ws", 2, 9, 7, "mnk"))
    assert list(s.a_load_bytes) == [28.0, 14.0] and list(s.b_load_bytes) == [126.0, 0.0]
    assert list(s.c_store_bytes) == [36.0, 18.0] and list(s.c_read_bytes) == [0.0, 0.0]
    np.testing.assert_allclose(s.a_load_cycles, [25.625, 14.6875])
    np.testing.assert_allclose(s.b_load_cycles, [102.1875, 0.0])
    np.testing.assert_allclose(s.c_store_cycles, [31.875, 17.8125])
    np.testing.assert_allclose(s.c_store_switch_cycles, [7.03125, 3.515625])
    assert list(s.c_read_cycles) == [0.0, 0.0]


def test_spilled_partial_sums_by_hand():
    # M = 1, N = 3, K = 2 in tiles (1, 2, 1), order "kmn" (k outermost): tiles (k0 n0) (k0 n1) (k1 n0)
    # (k1 n1). Every tile is its own output run; k = 0 runs spill at accumulator width, the k = 1 runs
    # (k_lo = 1) read back and store final outputs. Spill of n0: 1 row of 2 x 4 B = 8 B at pitch 12:
    # 1 + min(12, 16)/8 = 2.5 pages -> (2 + 7.5) / 0.8 = 11.875. Read-back of n0 the same 8 B and
    # pages: 11.875. Final of n0: 2 x 2 B = 4 B, pitch 6: 1 + 6/8 = 1.75 pages -> (1 + 5.25)/0.8 = 7.8125.
    # Edge n1: spill 4 B, 1 + min(12, 12)/8 = 2.5 pages -> (1 + 7.5)/0.8 = 10.625; final 2 B,
    # 1 + min(6, 10)/8 = 1.75 -> (0.5 + 5.25)/0.8 = 7.1875.
    hw = HwParams.from_arch(make_arch(**DRAM_FIELDS))
    s = build_schedule(hw, Gemm(M=1, N=3, K=2), Mapping("ws", 1, 2, 1, "kmn"))
    assert list(s.c_read_bytes) == [0.0, 0.0, 8.0, 4.0]
    assert list(s.c_store_bytes) == [8.0, 4.0, 4.0, 2.0]
    np.testing.assert_allclose(s.c_read_cycles, [0.0, 0.0, 11.875, 10.625])
    np.testing.assert_allclose(s.c_store_cycles, [11.875, 10.625, 7.8125, 7.1875])


@pytest.mark.parametrize("order", LOOP_ORDERS)
@pytest.mark.parametrize("shape, tile", [((5, 9, 7), (2, 2, 2)), ((3, 9, 4), (3, 4, 1))])
def test_dram_transfers_tile_by_tile(order, shape, tile):
    hw = HwParams.from_arch(make_arch(**DRAM_FIELDS))
    D = dict(zip("mnk", shape))
    tiles = [dict(zip("mnk", tile))]
    check_dram(hw, Gemm(M=shape[0], N=shape[1], K=shape[2]), D, tiles, [order])


@pytest.mark.parametrize("order", ["kmn", "nmk", "mkn"])
def test_dram_transfers_sparse_coded_and_batched(order):
    # 2:4 weights with 4 index bits (2.5 B per kept weight), A and final outputs scaled in DRAM (coded),
    # two GEMMs in the batch (each starts by loading its tiles again)
    hw = HwParams.from_arch(make_arch(**DRAM_FIELDS))
    gemm = Gemm(M=5, N=6, K=12, n=2, m=4, index_bits=4, batch=2, a_dram_scale=0.25, out_dram_scale=0.5)
    check_dram(hw, gemm, {"m": 5, "n": 6, "k": 12}, [{"m": 2, "n": 4, "k": 8}], [order])


@pytest.mark.parametrize("resident", [frozenset({"out"}), frozenset({"A", "B"})])
def test_resident_operands_cross_no_dram(resident):
    # MODEL.md 3.10: resident tensors are neither loaded nor stored; spilled partial sums still are
    hw = HwParams.from_arch(make_arch(**DRAM_FIELDS))
    gemm = Gemm(M=4, N=5, K=6, resident=resident)
    s, _ = check_dram(hw, gemm, {"m": 4, "n": 5, "k": 6}, [{"m": 2, "n": 5, "k": 3}], ["kmn"])
    if "out" in resident:
        assert s.c_store_bytes[-1] == 0.0 and s.c_store_cycles[-1] == 0.0 and s.c_store_switch_cycles[-1] == 0.0
        assert s.c_store_bytes[0] > 0  # k = 0 tiles spill (k outermost)
    else:
        assert not s.a_load_bytes.any() and not s.b_load_cycles.any()


def test_transfers_under_one_byte_still_cost_time():
    # 8-bit operands and 8-bit sums, 1-element tiles: A loads of 1 B x 0.25 (coded) = 0.25 B, B 1 B,
    # read-backs 1 B, final stores 1 B x 0.25: every transfer, however small, costs its cycles.
    fields = {**DRAM_FIELDS, "compute.operand_bits": 8, "compute.accumulator_bits": 8, "dram.access_bytes": 1}
    hw = HwParams.from_arch(make_arch(**fields))
    gemm = Gemm(M=2, N=2, K=2, a_dram_scale=0.25, out_dram_scale=0.25)
    s, _ = check_dram(hw, gemm, {"m": 2, "n": 2, "k": 2}, [{"m": 1, "n": 1, "k": 1}], ["kmn"])
    assert (s.a_load_cycles[s.a_new] > 0).all() and (s.b_load_cycles[s.b_new] > 0).all()
    assert (s.c_read_cycles[s.c_read_bytes > 0] > 0).all() and (s.c_store_switch_cycles > 0).all()


def test_no_dram_model_costs_bytes_over_rate_only():
    # default DRAM fields: a transfer costs bytes / rate (1 B/cycle here), tiles without one cost 0
    hw = HwParams.from_arch(make_arch(**{"dram.bytes_per_s": 1e9}))
    s, _ = check_dram(hw, Gemm(M=4, N=4, K=4), {"m": 4, "n": 4, "k": 4}, [{"m": 2, "n": 4, "k": 2}], ["nkm"])
    np.testing.assert_allclose(s.a_load_cycles, s.a_load_bytes)
    assert not s.c_store_switch_cycles.any()


# --- build_schedule: transfers between on-chip levels and per-PE reads (MODEL.md 3.9) ------------

def side_by_side_arch():
    """gbuf (every operand) over a tier of three levels side by side: areg (inputs), wreg (weights,
    one instance per PE: read at every MAC) and acc (outputs)."""
    arch = make_arch()
    d = arch.model_dump(exclude={"energy": {"sources"}})
    for name, holds, inst in (("areg", "inputs", 1), ("wreg", "weights", 16), ("acc", "outputs", 1)):
        d["memory"].append({"name": name, "size_bytes": 1 << 16, "instances": inst, "read_bytes_per_cycle": 1.0e9,
                            "write_bytes_per_cycle": 1.0e9, "holds": [holds]})
        d["energy"]["per_byte_pj"][name] = 0.5
    return type(arch).model_validate(d)


@pytest.mark.parametrize("seed", range(3))
def test_inner_fills_and_drains_tile_by_tile(seed):
    # A tier-1 tile is filled from gbuf when its index changes (A's fills at the feature-map fraction
    # a_unique, MODEL.md 3.11); the accumulator reads partial sums back from gbuf when a run starts
    # at k > 0 and drains them (4 B each) when it ends; wreg is read at every MAC (2.5 B weights).
    arch = side_by_side_arch()
    hw = HwParams.from_arch(arch)
    assert hw.level_names == ("gbuf", "areg", "wreg", "acc") and hw.tier_of == (0, 1, 1, 1)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        D, tiles, orders = edge_case(rng, 2, hi=9)
        gemm = Gemm(M=D["m"], N=D["n"], K=D["k"], index_bits=4, a_unique=0.5)
        df = str(rng.choice(["ws", "os", "is"]))
        s = build_schedule(hw, gemm, mapping_of(df, tiles, orders))
        chains = walk(D, tiles, orders)
        ob, wb, acc = 1.0, 1.5, 4.0
        keys = [((c[1]["m"], c[1]["k"]), (c[1]["k"], c[1]["n"]), (c[1]["m"], c[1]["n"])) for c in chains]
        for i, c in enumerate(chains):
            sm, sn, sk = (c[1][d][1] - c[1][d][0] for d in "mnk")
            new = [i == 0 or keys[i][x] != keys[i - 1][x] for x in range(3)]
            last = i == len(chains) - 1 or keys[i + 1][2] != keys[i][2]
            a_fill = sm * sk * ob * 0.5 if new[0] else 0.0
            b_fill = sn * sk * wb if new[1] else 0.0
            back = sm * sn * acc if new[2] and c[-1]["k"][0] > 0 else 0.0
            drain = sm * sn * acc if last else 0.0
            im, in_, ik = (c[-1][d][1] - c[-1][d][0] for d in "mnk")
            assert s.array_write_bytes[1, i] == pytest.approx(a_fill), ("areg", i)
            assert s.array_write_bytes[2, i] == pytest.approx(b_fill), ("wreg", i)
            assert s.array_read_bytes[2, i] == pytest.approx(im * in_ * ik * wb), ("wreg per MAC", i)
            assert s.array_read_bytes[0, i] == pytest.approx(a_fill + b_fill + back), ("gbuf", i)
            assert s.array_write_bytes[0, i] == pytest.approx(drain), ("gbuf", i)
            # the array's partial sums at acc (MODEL.md 3.3, 4 x 4 PEs, one MAC each): WS and IS stream
            # them along the columns (T x cols used x row folds of K), OS keeps them (rows x cols used)
            c_elems = im * in_ * (1 if df == "os" else -(-ik // 4))
            first_write = im * in_ if c[-1]["k"][0] == 0 else 0
            assert s.array_write_bytes[3, i] == pytest.approx(c_elems * acc + back), ("acc", i)
            assert s.array_read_bytes[3, i] == pytest.approx((c_elems - first_write) * acc + drain), ("acc", i)


# --- build_schedule: read-port cycles the fill cannot hide (MODEL.md 3.3) -----------------------

@pytest.mark.parametrize("steps, expected", [(1, [28.0, 20.0]), (2, [16.0, 0.0]), (4, [0.0, 0.0])])
def test_schedule_port_extra_cycles_by_hand(steps, expected):
    # WS, M = N = 8, K = 16 in tiles 8 x 8 x 8 ("mnk": k innermost), 4 B/cycle read port. A tile: K on
    # 4 rows = 2 row folds, N on 4 cols = 2 col folds, T = 8: beats 2 x 2 x 8 = 32, 4 folds of fill 10.
    # Streamed reads: A row stream 8 x 8 x 2 = 128 B, partial sums col stream 8 x 8 x 2 = 128 writes,
    # read back 128 - 64 = 64 (k = 0 tile) or 128 (k = 8) x 4 B = 256 / 512 B.
    # c = (128 + 256) / 4 / 32 = 3, then (128 + 512) / 4 / 32 = 5 cycles per beat.
    # steps 1: 4 x (10 - 3) = 28, 4 x (10 - 5) = 20; steps 2: 4 x 4 = 16, 4 x max(0, 0) = 0; 4: none.
    arch = make_arch(**{"memory.0.read_bytes_per_cycle": 4.0, "memory.0.prefetch_steps": steps})
    s = build_schedule(HwParams.from_arch(arch), Gemm(M=8, N=8, K=16), Mapping("ws", 8, 8, 8, "mnk"))
    assert s.port_extra_cycles.shape == (1, 2)
    # the port's bytes: reads A 128 + B stationary 8 x 8 = 64 + the read-backs; writes 128 x 4 B
    assert list(s.array_read_bytes[0]) == [128 + 64 + 256, 128 + 64 + 512]
    assert list(s.array_write_bytes[0]) == [512, 512]
    assert list(s.compute_cycles) == [72.0, 72.0]  # 4 folds x (10 + 8)
    assert list(s.port_extra_cycles[0]) == expected


# --- build_schedule: compute cycles per tile (MODEL.md 3.2, 2.1) --------------------------------

@pytest.mark.parametrize("overlap, df, mnk, expected", [
    # WS, T = M = 2: one fold of fill 2R + C - 2 = 10 + 2 = 12; with preload overlap fill R + C - 2 = 6
    # and the stream lasts at least R = 4: 6 + 4 = 10, also at T = 1.
    (False, "ws", (2, 4, 4), 12), (True, "ws", (2, 4, 4), 10), (True, "ws", (1, 4, 4), 10),
    (True, "ws", (8, 4, 4), 6 + 8),
    # OS (rows M, cols N, time K = 2) has no preload: 6 + 2 either way
    (False, "os", (4, 4, 2), 8), (True, "os", (4, 4, 2), 8),
])
def test_schedule_compute_cycles_with_preload_overlap(overlap, df, mnk, expected):
    hw = HwParams.from_arch(make_arch(**{"compute.preload_overlap": overlap}))
    s = build_schedule(hw, Gemm(*mnk), Mapping(df, *mnk))
    assert list(s.compute_cycles) == [expected]


def test_schedule_compute_cycles_of_the_busiest_lane():
    # Unstructured weights, kept fraction 1/2 but 3/4 on the busiest lane (MODEL.md 2.1): WS, K = 8 on
    # 4 rows: the busiest lane's ceil(8 x 0.75) = 6 units take 2 row folds of (10 + T = 8): 36 cycles
    # (the average lane's 4 units would take one fold: 18).
    hw = HwParams.from_arch(make_arch())
    s = build_schedule(hw, Gemm(M=8, N=4, K=8, k_scale=0.5, k_scale_busy=0.75), Mapping("ws", 8, 4, 8))
    assert list(s.compute_cycles) == [36.0]
    s = build_schedule(hw, Gemm(M=8, N=4, K=8, k_scale=0.5), Mapping("ws", 8, 4, 8))
    assert list(s.compute_cycles) == [18.0]
