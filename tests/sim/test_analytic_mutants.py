"""The fast model's less-travelled paths (sim/analytic.py) against oracles written here: a walk of the tile
loop nest for DRAM bytes and page changes (whole accesses, 16-bit operands, DRAM-coded activations, two
tiers), hand derivations from docs/MODEL.md 3.2-3.7 (spatial splits, busy lanes, read-ahead over several
folds, serial DRAM latency, the exposed first load and last store), the missing-tier rule of gemm_cost,
the port-time and energy helpers called alone, and the design-space layout ([designs, candidates]
arrays). The tiny arch: 4 x 4 PEs, one MAC each, 1 GHz, one level `gbuf` holding every operand."""
from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from nmsim.mapping import LOOP_ORDERS, Candidates, Mapping
from nmsim.problem import Gemm
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.analytic import (DramTraffic, LevelTraffic, edge_transfers, gemm_cost, level_traffic, port_cycles,
                                tile_dims, work_and_energy)
from nmsim.sim.schedule import build_schedule
from nmsim.workloads import Op, Sparsity

from ..conftest import make_arch

WS, OS, IS = 0, 1, 2
ACC = {"name": "acc", "size_bytes": 65536, "read_bytes_per_cycle": 1.0e9, "write_bytes_per_cycle": 1.0e9,
       "holds": ["outputs"]}


def arch(*extra, **overrides):
    """The tiny arch with dotted overrides and more on-chip levels after its global buffer."""
    a = make_arch(**overrides)
    if not extra:
        return a
    d = a.model_dump(exclude={"energy": {"sources"}})
    d["memory"] += [dict(lv) for lv in extra]
    for lv in extra:
        d["energy"]["per_byte_pj"][lv["name"]] = 0.5
    return type(a).model_validate(d)


def hw_of(*extra, **overrides) -> HwParams:
    return HwParams.from_arch(arch(*extra, **overrides))


def one(x) -> np.ndarray:
    return np.array([x], dtype=np.int64)


def cand(df, tm, tn, tk, order="mnk", split=None, levels=()) -> Candidates:
    """One candidate; `levels` as (tm, tn, tk, order) per inner tier, `split` as (s_r, d_r, s_c, d_c)."""
    return Candidates(one(df), one(tm), one(tn), one(tk), one(LOOP_ORDERS.index(order)),
                      split=None if split is None else tuple(one(s) for s in split),
                      levels=tuple((one(a), one(b), one(c), one(LOOP_ORDERS.index(o))) for a, b, c, o in levels))


def scalar(r: dict) -> dict:
    return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in r.items()}


def whole(nbytes, gran):
    """nbytes rounded up to whole accesses of gran bytes."""
    return -(-nbytes // gran) * gran if gran > 1 else nbytes


# --- the oracle: the one-tier tile loop nest walked tile by tile ------------------------------------------

def walk(dims: dict, tiles: dict, order: str):
    """Transfers with DRAM of a one-tier mapping, walked in loop order (the reload rule of MODEL.md 3.4
    written out): an A tile (m, k) is loaded when it differs from the previous tile's, a B tile (k, n)
    likewise; a run of consecutive tiles of one output tile (m, n) is one visit: a visit that does not
    start at k = 0 reads the partial sums back, one that does not reach the end of K writes them out,
    the last writes the final outputs. Yields (kind, rows, elements per row, elements per tensor row)."""
    ranges = {d: [(s, min(s + tiles[d], dims[d])) for s in range(0, dims[d], tiles[d])] for d in "mnk"}
    seq = [dict(zip(order, combo)) for combo in itertools.product(*(ranges[d] for d in order))]
    prev = {"A": None, "B": None}
    for i, t in enumerate(seq):
        ext = {d: t[d][1] - t[d][0] for d in "mnk"}
        for kind, key, rows, run, pitch in (("A", (t["m"], t["k"]), ext["m"], ext["k"], dims["k"]),
                                           ("B", (t["k"], t["n"]), ext["n"], ext["k"], dims["k"])):
            if key != prev[kind]:
                yield kind, rows, run, pitch
            prev[kind] = key
        same = lambda j: 0 <= j < len(seq) and (seq[j]["m"], seq[j]["n"]) == (t["m"], t["n"])  # noqa: E731
        if not same(i - 1) and t["k"][0] > 0:
            yield "psum_read", ext["m"], ext["n"], dims["n"]
        if not same(i + 1):
            yield ("final" if t["k"][1] == dims["k"] else "psum_write"), ext["m"], ext["n"], dims["n"]


CONFIGS = {
    # (operand bytes, access bytes, A's DRAM scale, the outputs' DRAM scale)
    "int8, 2-B accesses": (1, 2, 1.0, 1.0),
    "int16, 2-B accesses, coded activations": (2, 2, 0.5, 0.25),
    "int16, 16-B accesses, coded activations": (2, 16, 0.5, 0.25),
    "int8, 16-B accesses, coded inputs": (1, 16, 0.75, 1.0),
}


@pytest.mark.parametrize("order", LOOP_ORDERS)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_dram_bytes_equal_a_walk_of_the_loop_nest(order, config):
    # 7 x 5 x 9 in tiles 3 x 2 x 4: edge tiles of 1 along m, n and k, so every run class (full, edge, a
    # one-element edge) is rounded on its own; partial sums are 4 B wide; A and the final outputs move
    # at their DRAM scales (MODEL.md 3.11), partial sums unscaled.
    ob, gran, a_scale, out_scale = CONFIGS[config]
    hw = hw_of(**{"compute.operand_bits": 8 * ob, "dram.access_bytes": gran})
    assert hw.acc_bytes == 4
    dims, tiles = {"m": 7, "n": 5, "k": 9}, {"m": 3, "n": 2, "k": 4}
    read = write = 0.0
    for kind, rows, run, _ in walk(dims, tiles, order):
        if kind == "A":
            read += rows * whole(run * ob, gran) * a_scale
        elif kind == "B":
            read += rows * whole(run * ob, gran)
        elif kind == "psum_read":
            read += rows * whole(run * 4, gran)
        elif kind == "psum_write":
            write += rows * whole(run * 4, gran)
        else:
            write += rows * whole(run * ob, gran) * out_scale
    gemm = Gemm(M=7, N=5, K=9, a_dram_scale=a_scale, out_dram_scale=out_scale)
    r = scalar(gemm_cost(hw, gemm, cand(WS, 3, 2, 4, order)))
    assert r["bytes_dram_read"] == pytest.approx(read)
    assert r["bytes_dram_write"] == pytest.approx(write)


def page_walk(dims, tiles, order, ob, page, on_chip=()):
    """Page changes of the walked transfers (sim/dram.py): 1 + rows x min(pitch, page + run) / page each;
    `on_chip` kinds do not cross DRAM."""
    width = {"A": ob, "B": ob, "final": ob, "psum_read": 4, "psum_write": 4}
    return sum(1 + rows * min(pitch * width[k], page + run * width[k]) / page
               for k, rows, run, pitch in walk(dims, tiles, order) if k not in on_chip)


@pytest.mark.parametrize("order", LOOP_ORDERS)
@pytest.mark.parametrize("ob, page", [(1, 1), (2, 8), (2, 64)])
def test_page_changes_equal_a_walk_of_the_loop_nest(order, ob, page):
    # Whole tiles (the closed form takes a full tile's row as every run), 1 cycle per page change and a
    # DRAM too fast for bytes to count: dram_cycles = the page changes of every transfer. A 1-B page is
    # the smallest the spec allows (every byte of a row past the first opens one).
    dims, tiles = {"m": 8, "n": 8, "k": 32}, {"m": 4, "n": 4, "k": 8}
    hw = hw_of(**{"compute.operand_bits": 8 * ob, "dram.page_bytes": page, "dram.page_change_s": 1e-9})
    r = scalar(gemm_cost(hw, Gemm(M=8, N=8, K=32), cand(WS, 4, 4, 8, order)))
    assert r["dram_cycles"] == pytest.approx(page_walk(dims, tiles, order, ob, page), rel=1e-9, abs=1e-3)


@pytest.mark.parametrize("order", LOOP_ORDERS)
@pytest.mark.parametrize("resident, on_chip", [({"A"}, {"A"}), ({"B"}, {"B"}), ({"out"}, {"final"})])
def test_page_changes_leave_out_resident_operands(order, resident, on_chip):
    # Operands kept on chip between ops cross no DRAM interface; spilled partial sums still do (MODEL.md 3.10)
    dims, tiles = {"m": 8, "n": 8, "k": 32}, {"m": 4, "n": 4, "k": 8}
    hw = hw_of(**{"dram.page_bytes": 8, "dram.page_change_s": 1e-9})
    gemm = Gemm(M=8, N=8, K=32, resident=frozenset(resident))
    with np.errstate(divide="raise", invalid="raise"):
        r = scalar(gemm_cost(hw, gemm, cand(WS, 4, 4, 8, order)))
    expected = page_walk(dims, tiles, order, 1, 8, on_chip)
    assert r["dram_cycles"] == pytest.approx(expected, rel=1e-9, abs=1e-3)


@pytest.mark.parametrize("order", ["mnk", "kmn", "nkm"])
def test_dram_sees_only_the_tier_it_fills(order):
    # Global buffer (every operand, tier 0) and an accumulator (outputs, tier 1) with inner tiles a
    # quarter of the outer ones along k and a half along n: DRAM still moves the outer tiles, so its page
    # changes, bytes and exposed first and last tiles are those of the one-tier walk of the outer tiles
    # (MODEL.md 3.9: the DRAM terms apply with the tiles of the tier DRAM fills).
    dims, tiles = {"m": 8, "n": 8, "k": 32}, {"m": 4, "n": 4, "k": 8}
    fields = {"compute.operand_bits": 16, "dram.page_bytes": 8, "dram.page_change_s": 1e-9}
    two = hw_of(ACC, **fields)
    assert two.n_tiers == 2
    c2 = cand(WS, 4, 4, 8, order, levels=[(4, 2, 2, "knm")])
    r = scalar(gemm_cost(two, Gemm(M=8, N=8, K=32), c2))
    assert r["dram_cycles"] == pytest.approx(page_walk(dims, tiles, order, 2, 8), rel=1e-9, abs=1e-3)
    first2, last2 = edge_transfers(two, Gemm(M=8, N=8, K=32), c2)
    first1, last1 = edge_transfers(hw_of(**fields), Gemm(M=8, N=8, K=32), cand(WS, 4, 4, 8, order))
    assert float(np.squeeze(first2)) == pytest.approx(float(np.squeeze(first1)))
    assert float(np.squeeze(last2)) == pytest.approx(float(np.squeeze(last1)))


# --- the exposed first load and last store (MODEL.md 3.5, 3.4.1) ------------------------------------------

EDGE_DRAM = {"compute.operand_bits": 16, "dram.bytes_per_s": 4e9, "dram.access_bytes": 16, "dram.page_bytes": 8,
             "dram.page_change_s": 1e-9, "dram.rw_batch_bytes": 64, "dram.rw_switch_s": 1e-9,
             "dram.refresh_fraction": 0.2}
EDGE_GEMM = dict(M=8, N=64, K=96, a_dram_scale=0.5, out_dram_scale=0.25)


@pytest.mark.parametrize("extra, levels", [((), ()), ((ACC,), [(2, 8, 4, "mnk")])])
def test_edge_transfers_by_hand(extra, levels):
    # int16, 4 B/cycle, 16-B accesses, 8-B pages at 1 cycle, refresh 20 %. M, N, K = 8, 64, 96, tile 4 x 16 x 12.
    # First load: A 4 rows of 12 x 2 = 24 B -> 32 B, at DRAM scale 0.5: 64 B; B 16 columns of 24 -> 32 B: 512 B.
    # Page changes (pitch 96 x 2 = 192 B > page + run = 40): A 1 + 4 x 40 / 8 = 21, B 1 + 16 x 40 / 8 = 81.
    # Loads switch nothing: (576 / 4 + 102) / 0.8 = 307.5 cycles.
    # Last store: 4 rows of 16 x 2 = 32 B, at scale 0.25: 32 B; pages (pitch 128) 1 + 4 x (8 + 32) / 8 = 21;
    # alone, no switch: (32 / 4 + 21) / 0.8 = 36.25. An inner tier's smaller tile changes none of it.
    hw = hw_of(*extra, **EDGE_DRAM)
    first, last = edge_transfers(hw, Gemm(**EDGE_GEMM), cand(WS, 4, 16, 12, "mnk", levels=levels))
    assert float(np.squeeze(first)) == pytest.approx(307.5)
    assert float(np.squeeze(last)) == pytest.approx(36.25)


def test_edge_transfers_rows_closer_than_a_page_by_hand():
    # As above with K = 12, one tile deep: A and B rows are 32 B apart (the run itself), closer than
    # page + run = 40 B: A 1 + 4 x 32 / 8 = 17, B 1 + 16 x 32 / 8 = 65 page changes; (576 / 4 + 82) / 0.8
    first, last = edge_transfers(hw_of(**EDGE_DRAM), Gemm(**{**EDGE_GEMM, "K": 12}), cand(WS, 4, 16, 12, "mnk"))
    assert float(np.squeeze(first)) == pytest.approx(282.5)
    assert float(np.squeeze(last)) == pytest.approx(36.25)


@pytest.mark.parametrize("resident, first, last", [
    # A on chip: B alone, (512 / 4 + 81) / 0.8; B on chip: A alone, (64 / 4 + 21) / 0.8; all on chip: nothing
    (frozenset({"A"}), (128 + 81) / 0.8, 36.25),
    (frozenset({"B"}), (16 + 21) / 0.8, 36.25),
    (frozenset({"A", "B", "out"}), 0.0, 0.0),
])
def test_edge_transfers_leave_out_resident_operands(resident, first, last):
    hw = hw_of(**EDGE_DRAM)
    gemm = Gemm(**EDGE_GEMM, resident=resident)
    with np.errstate(all="raise"):
        got_first, got_last = edge_transfers(hw, gemm, cand(WS, 4, 16, 12, "mnk"))
    assert float(np.squeeze(got_first)) == pytest.approx(first)
    assert float(np.squeeze(got_last)) == pytest.approx(last)


def test_serial_dram_pays_latency_per_outer_tile():
    # Not double-buffered: cycles = max(compute, buffer) + dram + tiles x latency (MODEL.md 3.5).
    # 8 x 8 x 8 WS in 4 x 4 x 4 tiles, order mnk: 8 tiles, each 1 x 1 fold of 2R + C - 2 + T = 10 + 4 = 14:
    # compute 112. DRAM at 1 B/cycle: A re-filled per n tile (n outside k, which iterates) 2 x 64, B per
    # m tile 2 x 64, outputs once (k innermost) 64: 320 cycles. Latency 5 cycles x 8 tiles = 40: 472.
    hw = hw_of(**{"memory.0.double_buffered": False, "dram.bytes_per_s": 1e9, "dram.latency_s": 5e-9})
    r = scalar(gemm_cost(hw, Gemm(M=8, N=8, K=8), cand(WS, 4, 4, 4, "mnk")))
    assert r["compute_cycles"] == 112
    assert r["dram_cycles"] == pytest.approx(320)
    assert r["cycles"] == 472


# --- compute: splits and busy lanes (MODEL.md 3.7, 2.1) -------------------------------------------------

@pytest.mark.parametrize("gemm, split, expected", [
    # Rows in 2 blocks carrying N: E_K = 4 / 2, E_N = 4 x 2, E_M = 1. K = 4 units: 2 row folds; N = 8: 1
    # column fold; the stream of M = 8 lasts 8; a block fills in 2 x 2 + 4 - 2 = 6: 2 x (6 + 8) = 28
    # (unsplit: 2 column folds x (10 + 8) = 36).
    (Gemm(M=8, N=8, K=4), (2, 1, 1, -1), 28),
    # Columns in 2 blocks carrying M: E_N = 2, E_M = 2 (two streams side by side), E_K = 4. One fold; the
    # stream of M = 8 lasts 8 / 2 = 4; fill 2 x 4 + 2 - 2 = 8: 12 (unsplit: 10 + 8 = 18).
    (Gemm(M=8, N=2, K=4), (1, -1, 2, 0), 12),
])
def test_split_array_by_hand(gemm, split, expected):
    r = scalar(gemm_cost(hw_of(), gemm, cand(WS, gemm.M, gemm.N, gemm.K, split=split)))
    assert r["compute_cycles"] == expected


def test_busy_lanes_count_no_empty_edge_tile():
    # K = 8 in one tile of 8; the busiest lane keeps ceil(8 x 0.75) = 6 of them: 6 units on 4 rows = 2
    # row folds, 1 column fold (N = 4), T = M = 4, fill 10: 2 x 14 = 28. K has no edge tile, so none
    # adds a fold (an empty tile would keep max(1, 0) = 1 nonzero under the per-tile rule).
    gemm = Gemm(M=4, N=4, K=8, k_scale_busy=0.75)
    r = scalar(gemm_cost(hw_of(), gemm, cand(WS, 4, 4, 8)))
    assert r["compute_cycles"] == 28


def test_read_ahead_exposure_over_several_folds():
    # 2:4 weights (index 2 bits: 1.25 B each), K = 16 -> 8 units: 2 row folds; N = 8: 2 column folds; M = 16
    # in 2 time tiles of 8. Array reads at gbuf: A row stream 16 x 8 x 2 = 256 units x 2 activations = 512 B,
    # B stationary 8 x 8 x 2 = 128 x 1.25 = 160 B, partial sums (16 x 8 x 2 = 256 writes, read back 256 - 128)
    # 512 B; the final outputs go to DRAM: 128 B. 1312 B at 2 B/cycle = 656 cycles.
    # Streamed reads (A and partial sums) 1024 B over 2 x 2 x 16 = 64 beats: 8 port cycles a beat. With
    # one step of read-ahead each of the 2 x 2 x 2 = 8 folds exposes 10 - 8 = 2 cycles: 672.
    op = Op("g", "gemm", M=16, N=8, K=16, weight_sparsity=Sparsity.parse("2:4"))
    base = {"memory.0.read_bytes_per_cycle": 2}
    mp = Mapping("ws", 8, 8, 16)
    free = simulate_op(make_arch(**base), op, mp).cycle_breakdown["buffer_cycles"]
    ahead = simulate_op(make_arch(**base, **{"memory.0.prefetch_steps": 1}), op, mp).cycle_breakdown["buffer_cycles"]
    assert free == pytest.approx(656)
    assert ahead == pytest.approx(672)


# --- tiers the candidates leave out (gemm_cost: inner tiers repeat the innermost tile) ---------------------

def test_missing_tiers_repeat_the_outer_tile():
    hw = hw_of(ACC)
    gemm = Gemm(M=12, N=10, K=9)
    bare = gemm_cost(hw, gemm, cand(WS, 8, 4, 6, "kmn"))
    full = gemm_cost(hw, gemm, cand(WS, 8, 4, 6, "kmn", levels=[(8, 4, 6, "mnk")]))
    assert bare.keys() == full.keys()
    for k in full:
        assert np.array_equal(bare[k], full[k]), k


def test_missing_innermost_tier_repeats_the_given_inner_tile():
    acc2 = {**ACC, "name": "acc2"}
    hw = hw_of(ACC, acc2)
    assert hw.n_tiers == 3
    gemm = Gemm(M=12, N=10, K=9)
    # inner tile m > n > k > the code of its loop order (kmn: 4), so a tile taken from the wrong field of
    # the given level is smaller than the right one and splits something
    given = cand(OS, 12, 10, 9, "nkm", levels=[(8, 7, 6, "kmn")])
    full = cand(OS, 12, 10, 9, "nkm", levels=[(8, 7, 6, "kmn"), (8, 7, 6, "mnk")])
    a, b = gemm_cost(hw, gemm, given), gemm_cost(hw, gemm, full)
    for k in b:
        assert np.array_equal(a[k], b[k]), k
    # the third tier is really there: the innermost output keeper takes the array's partial sums
    assert float(np.squeeze(b["bytes_acc2"])) > 0


# --- helpers called alone ----------------------------------------------------------------------------------

def test_port_cycles_by_hand():
    # Two levels, gbuf 2 B/cycle read and 4 write, acc 1 and 1. Shared ports (the default when the
    # per-level field is empty): gbuf 10 / 2 + 8 / 4 = 7, acc 6 / 1 + 3 / 1 = 9: the busiest is 9.
    hw = dataclasses.replace(hw_of(ACC), read_bpc=(2.0, 1.0), write_bpc=(4.0, 1.0), level_ports_separate=())
    assert float(port_cycles(hw, [10.0, 6.0], [8.0, 3.0])) == pytest.approx(9.0)
    # read-port extra cycles add to the reads: gbuf 7 + 4 = 11
    assert float(port_cycles(hw, [10.0, 6.0], [8.0, 3.0], [4.0, 0.0])) == pytest.approx(11.0)
    # separate ports: the longer of the two, acc max(6, 3) = 6, gbuf max(5, 2) = 5
    sep = dataclasses.replace(hw, level_ports_separate=(True, True))
    assert float(port_cycles(sep, [10.0, 6.0], [8.0, 3.0])) == pytest.approx(6.0)


def test_work_and_energy_defaults_to_dense_activations():
    # Zero-skipping hardware without an activation density given gates nothing: 100 MACs x 1 pJ.
    hw = dataclasses.replace(hw_of(), zero_skipping=True)
    out = work_and_energy(hw, 10, 100, [0.0], [0.0], 0.0, 0.0, sparse=False)
    assert float(out["energy_mac_pj"]) == pytest.approx(100.0)
    assert float(work_and_energy(hw, 10, 100, [0.0], [0.0], 0.0, 0.0, sparse=False, act_density=0.5)[
        "energy_mac_pj"]) == pytest.approx(50.0)


def test_gemm_cost_gives_detail_by_default():
    r = gemm_cost(hw_of(), Gemm(M=4, N=4, K=4), cand(WS, 4, 4, 4))
    # 16 final outputs read from gbuf for DRAM, A 16 B and B 16 B read by the array
    assert {"bytes_gbuf_read", "bytes_gbuf_write", "energy_gbuf_read_pj", "bytes_dram_read"} <= r.keys()
    assert "bytes_gbuf_read" not in gemm_cost(hw_of(), Gemm(M=4, N=4, K=4), cand(WS, 4, 4, 4), detail=False)


def test_no_page_model_no_page_changes():
    assert DramTraffic(1.0, 2.0, 3.0, 4.0).pages == 0
    assert LevelTraffic({}, {}).pages == 0
    hw, gemm, c = hw_of(), Gemm(M=8, N=8, K=8), cand(WS, 4, 4, 4, "kmn")
    traffic = level_traffic(hw, gemm, c, tile_dims(hw, gemm, c))
    assert np.all(np.asarray(traffic.pages) == 0)
    assert np.all(np.asarray(traffic.dram.pages) == 0)


def test_design_by_candidate_arrays_cost_row_by_row():
    # dse/evaluate.py costs [designs, candidates] arrays in one call; each row must cost as on its own
    rng = np.random.default_rng(7)
    shape = (2, 4)
    hw = hw_of(**{"dram.page_bytes": 16, "dram.page_change_s": 1e-9, "dram.access_bytes": 4})
    gemm = Gemm(M=13, N=11, K=17)
    arrays = (rng.integers(0, 3, shape), rng.integers(1, 14, shape), rng.integers(1, 12, shape),
              rng.integers(1, 18, shape), rng.integers(0, 6, shape))
    together = gemm_cost(hw, gemm, Candidates(*arrays))
    for d in range(shape[0]):
        alone = gemm_cost(hw, gemm, Candidates(*(a[d] for a in arrays)))
        for k in ("cycles", "bytes_dram", "dram_cycles", "bytes_gbuf", "compute_cycles"):
            assert np.allclose(np.broadcast_to(together[k], shape)[d], alone[k], rtol=1e-12), k


def test_stacked_designs_round_each_to_its_own_accesses():
    # dse/evaluate.py stacks designs' numeric fields as [designs, 1] arrays: a design with 2-B accesses
    # next to one with single bytes rounds its own runs (odd int8 runs: 7 x 5 x 9 in 3 x 2 x 4 tiles),
    # and so does a third with 2-B accesses. Only the access size differs, given as such an array.
    grans = (2, 1, 2)
    stacked = dataclasses.replace(hw_of(), dram_access_bytes=np.array(grans, dtype=np.float64)[:, None])
    gemm = Gemm(M=7, N=5, K=9)
    c = Candidates.from_mappings([Mapping("ws", 3, 2, 4, o) for o in ("mnk", "kmn")])
    together = {k: np.broadcast_to(v, (3, 2)) for k, v in gemm_cost(stacked, gemm, c).items()}
    for d, g in enumerate(grans):
        alone = gemm_cost(hw_of(**{"dram.access_bytes": g}), gemm, c)
        for k in ("bytes_dram", "dram_cycles", "cycles"):
            assert np.allclose(together[k][d], alone[k], rtol=1e-12), k
    # the 2-B designs move more than the exact bytes
    assert np.all(together["bytes_dram"][1] < together["bytes_dram"][0])
    assert np.array_equal(together["bytes_dram"][0], together["bytes_dram"][2])


def test_unstructured_kept_k_rounds_per_tile_at_dram():
    """Unstructured 50 %, K = 8 in tiles of 3, 3, 2: a tile keeps max(1, ceil(k x 0.5)) = 2, 2, 1
    weights per column (Gemm.k_nnz), 5 in all, not the whole K's 4. One tile along M and N, so every
    operand crosses DRAM once: A 4 x 8 + B 4 columns x 5 x 1 B + out 4 x 4 = 68 B, in the fast model
    as in the explicit schedule (it counted 64 with single-byte accesses before)."""
    hw = hw_of()
    gemm = Gemm(M=4, N=4, K=8, k_scale=0.5)
    m = Mapping("ws", 4, 4, 3, "mnk")
    assert float(np.asarray(gemm_cost(hw, gemm, Candidates.one(m))["bytes_dram"])) == 68.0
    assert build_schedule(hw, gemm, m).dram_bytes == 68.0
