"""The detailed engine's rules (sim/engine.py, docs/MODEL.md 9) one at a time, on hand-built tile
schedules whose timelines are derived by hand in the comments.

Time unit: cycles. The hand-built schedules run on the tiny test arch (one level `gbuf` keeping every
operand, ports at 1e9 B/cycle, no latency, double-buffered, shared ports) with the HwParams fields a
test needs replaced; each lists its tiles' compute cycles and DRAM transfers (bytes and cycles)
directly, so every phase of the engine (slot, channel, latency, port) can be placed by hand.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nmsim.mapping import LOOP_ORDERS, Mapping
from nmsim.problem import Gemm
from nmsim.sim import HwParams
from nmsim.sim.engine import STALL_CAUSES, Trace, _Item, _Port, _Run, engine_cost
from nmsim.sim.schedule import TileSchedule, build_schedule

from ..conftest import make_arch

AB = frozenset({"A", "B"})  # both inputs on chip already (MODEL.md 3.10): no A or B loads


def hw(**fields) -> HwParams:
    """The tiny arch's HwParams with `fields` replaced."""
    return dataclasses.replace(HwParams.from_arch(make_arch()), **fields)


def sched(compute, **arrays) -> TileSchedule:
    """A schedule of len(compute) tiles: by default one A and one B block (loaded at tile 0, 0 bytes)
    and one output run over all tiles (k = 0, 1, ...), nothing read back or stored, no port traffic.
    `arrays` replace any TileSchedule field (per tile; port fields per level and tile)."""
    n = len(compute)
    first = np.zeros(n, dtype=bool)
    first[0] = True
    last = np.zeros(n, dtype=bool)
    last[-1] = True
    f = dict(im=np.zeros(n, dtype=np.int64), in_=np.zeros(n, dtype=np.int64), ik=np.arange(n),
             compute_cycles=np.asarray(compute, dtype=np.float64), a_new=first, b_new=first.copy(),
             c_first=first.copy(), c_last=last, array_read_bytes=np.zeros((1, n)),
             array_write_bytes=np.zeros((1, n)), port_extra_cycles=np.zeros((1, n)),
             c_store_switch_cycles=np.zeros(n))
    for x in ("a_load", "b_load", "c_read", "c_store"):
        f[f"{x}_bytes"] = np.zeros(n)
        f[f"{x}_cycles"] = np.zeros(n)
    for k, v in arrays.items():
        f[k] = np.asarray(v, dtype=f[k].dtype)
    return TileSchedule(**f)


def play(h: HwParams, s: TileSchedule, resident=AB):
    """Run the engine on `s`; returns (the run, its end, the trace's events by resource)."""
    tr = Trace(h.clock_hz)
    run = _Run(h, s, tr, resident)
    end = run.run()
    by = {}
    for _, res, name, t0, t1 in tr.events:
        by.setdefault(res, []).append((name, t0, t1))
    return run, end, by


# --- the port calendar -----------------------------------------------------------------------
def test_port_serves_requests_first_come_first_served():
    # A use asked for while the port is busy starts when it is free; one asked for later starts then.
    p = _Port()
    assert p.use(0.0, 5.0) == 5.0     # 0-5
    assert p.use(2.0, 3.0) == 8.0     # asked at 2, busy until 5: 5-8
    assert p.use(20.0, 1.0) == 21.0   # idle port: 20-21
    assert p.free_at == 21.0


@pytest.mark.parametrize("ports", ["shared", "separate", "unset"])
def test_array_port_time_by_port_kind(ports):
    # One tile of 3 compute cycles; reads 8 B at 2 B/cycle = 4 cycles plus 1 cycle of fill the
    # streamed reader cannot hide (port_extra_cycles, MODEL.md 3.3) = 5; writes 8 B at 4 B/cycle = 2.
    # Shared ports add them: 7; separate take the longer: 5. HwParams without per-level ports (an
    # empty tuple) means the schema's default, shared. The port time past compute is buffer_port,
    # laid after the tile's compute cycles on the stalls track.
    sep = {"shared": (False,), "separate": (True,), "unset": ()}[ports]
    h = hw(read_bpc=(2.0,), write_bpc=(4.0,), level_ports_separate=sep)
    s = sched([3.0], array_read_bytes=[[8.0]], array_write_bytes=[[8.0]], port_extra_cycles=[[1.0]])
    run, end, by = play(h, s)
    expected = 5.0 if ports == "separate" else 7.0
    assert end == expected
    assert run.stall["buffer_port"] == expected - 3.0
    assert by["array"] == [("tile 0 (m0 n0 k0)", 0.0, expected)]
    assert by["stalls"] == [("stall: buffer_port", 3.0, expected)]


@pytest.mark.parametrize("ports", [(False,), (True,)])
def test_a_level_only_read_still_books_its_port(ports):
    # Reads 10 B at 2 B/cycle = 5 cycles, no writes, 3 compute cycles: the tile takes 5 either way.
    h = hw(read_bpc=(2.0,), level_ports_separate=ports)
    run, end, _ = play(h, sched([3.0], array_read_bytes=[[10.0]]))
    assert end == 5.0 and run.stall["buffer_port"] == 2.0


# --- buffers: slots -----------------------------------------------------------------------------
@pytest.mark.parametrize("double", [True, False])
def test_slots_follow_all_double_buffered_without_per_level_flags(double):
    # Two tiles, each with its own A block (4 cycles on the channel), 1 compute cycle each.
    # Double-buffered: A0 0-4, A1 4-8 (its slot is free at once); tiles 4-5 and 8-9: 9.
    # Single: A1 waits for tile 0 to give its slot back at 5: A1 5-9, tile 1 9-10: 10.
    # HwParams without per-level flags (empty tuple) falls back to all_double_buffered; the same
    # as the per-level flag.
    s = sched([1.0, 1.0], a_new=[True, True], a_load_bytes=[4.0, 4.0], a_load_cycles=[4.0, 4.0])
    expected = 9.0 if double else 10.0
    for fields in ({"level_double_buffered": (), "all_double_buffered": double},
                   {"level_double_buffered": (double,), "all_double_buffered": double}):
        _, end, _ = play(hw(**fields), s, resident=frozenset({"B"}))
        assert end == expected


@pytest.mark.parametrize("operand", ["A", "B"])
def test_single_buffer_slot_is_returned_after_the_last_tile_using_the_block(operand):
    # Three tiles of 2 compute cycles; a new block of `operand` at tiles 0 and 2 (tile 1 reuses block
    # 0), each 1 cycle on the channel; single-buffered. Block 0: 0-1, tiles 0 (1-3) and 1 (3-5); the
    # slot comes back only after tile 1 (its last user), so block 1 loads 5-6 and tile 2 runs 6-8.
    h = hw(level_double_buffered=(False,), all_double_buffered=False)
    x = operand.lower()
    s = sched([2.0, 2.0, 2.0], **{f"{x}_new": [True, False, True], f"{x}_load_bytes": [1.0, 0.0, 1.0],
                                  f"{x}_load_cycles": [1.0, 0.0, 1.0]})
    run, end, by = play(h, s, resident=AB - {operand})
    assert end == 8.0
    assert by[f"dram:{operand}"] == [(f"{operand} 0", 0.0, 1.0), (f"{operand} 1", 5.0, 6.0)]
    assert run.stall["buffer_capacity"] == 1.0  # tile 2 waits 5-6: the slot wait 1-5 had the channel idle


# --- DRAM: latency, fills, stores ----------------------------------------------------------------
def test_fill_is_written_through_the_port_from_the_transfer_start_plus_latency():
    # A: 16 B, 2 cycles on the channel (0-2). Latency = DRAM 10 + buffer 3 = 13 cycles: the data arrive
    # from 0 + 13 and stream into the buffer's write port at 1 B/cycle: written at 13 + 16 = 29, after
    # the latency ends (2 + 13 = 15). Usable at 29; the 1-cycle tile runs 29-30.
    # Stalls of the wait 0-29, latest phase first: buffer_port 29 - 15 = 14, dram_latency 15 - 2 = 13,
    # no slot wait, dram_bandwidth the transfer's 2.
    h = hw(dram_latency_cycles=10.0, level_latency_cycles=(3,), write_bpc=(1.0,))
    s = sched([1.0], a_load_bytes=[16.0], a_load_cycles=[2.0])
    run, end, by = play(h, s, resident=frozenset({"B"}))
    assert end == 30.0
    assert run.stall == {"dram_bandwidth": 2.0, "dram_latency": 13.0, "buffer_capacity": 0.0,
                         "buffer_port": 14.0, "drain": 0.0}
    assert by["stalls"] == [("stall: buffer_port", 15.0, 29.0), ("stall: dram_latency", 2.0, 15.0),
                            ("stall: dram_bandwidth", 0.0, 2.0)]


def test_store_lands_after_dram_and_buffer_latency():
    # One tile of 5 cycles, then its 8 B output stored in 4 channel cycles (5-9); it lands after
    # DRAM 10 + buffer 3 = 13 cycles more: 22. drain = 22 - 5 = 17.
    h = hw(dram_latency_cycles=10.0, level_latency_cycles=(3,))
    run, end, by = play(h, sched([5.0], c_store_bytes=[8.0], c_store_cycles=[4.0]))
    assert end == 22.0
    assert run.stall["drain"] == 17.0
    assert by["dram:out-store"] == [("store 0", 5.0, 9.0)]
    assert by["stalls"] == [("stall: drain", 5.0, 22.0)]


def test_store_pays_read_write_switches_only_behind_a_load():
    # Two tiles, each its own A block (1 and 20 channel cycles) and its own output (stored in 4 cycles,
    # plus 3 cycles of read/write switches when a load holds or waits for the channel, MODEL.md 9).
    # A0 0-1, A1 1-21 (double-buffered). Tile 0 runs 1-3; its store is issued at 3 while A1 holds the
    # channel: it pays the switches and runs 21-28. Tile 1 runs 21-23; its store is issued at 28 with
    # the channel free and nothing waiting: no switches, 28-32.
    s = sched([2.0, 2.0], a_new=[True, True], a_load_bytes=[1.0, 1.0], a_load_cycles=[1.0, 20.0],
              in_=[0, 1], ik=[0, 0], c_first=[True, True], c_last=[True, True],
              c_store_bytes=[8.0, 8.0], c_store_cycles=[4.0, 4.0], c_store_switch_cycles=[3.0, 3.0])
    run, end, by = play(hw(), s, resident=frozenset({"B"}))
    assert by["dram:out-store"] == [("store 0", 21.0, 28.0), ("store 1", 28.0, 32.0)]
    assert end == 32.0 and run.stall["drain"] == 32.0 - 23.0


def test_first_visit_reads_nothing_back():
    # An output run that starts at k = 0 has no partial sums to read back: it is usable at once, with
    # no channel use and no latency (DRAM latency 50 here). One 10-cycle tile, output kept on chip: 10.
    h = hw(dram_latency_cycles=50.0)
    run, end, by = play(h, sched([10.0]))
    assert end == 10.0 and "dram:out-read" not in by
    assert all(v == 0 for v in run.stall.values())


def test_a_one_byte_read_back_is_a_transfer():
    # 1 B of partial sums read back in 4 channel cycles (0-4), usable after the 50-cycle latency: 54;
    # the 10-cycle tile runs 54-64. Stalls: dram_latency 50, dram_bandwidth 4.
    h = hw(dram_latency_cycles=50.0)
    run, end, by = play(h, sched([10.0], ik=[1], c_read_bytes=[1.0], c_read_cycles=[4.0]))
    assert end == 64.0
    assert by["dram:out-read"] == [("read-back 0", 0.0, 4.0)]
    assert run.stall["dram_latency"] == 50.0 and run.stall["dram_bandwidth"] == 4.0


def test_a_one_byte_store_leaves_the_chip():
    # Only a store of 0 bytes (final outputs kept on chip) skips the channel: 1 B stored in 2 cycles
    # after the 3-cycle tile ends at 5.
    run, end, by = play(hw(), sched([3.0], c_store_bytes=[1.0], c_store_cycles=[2.0]))
    assert end == 5.0 and by["dram:out-store"] == [("store 0", 3.0, 5.0)]


def test_nothing_stored_ends_with_the_array():
    # Outputs kept on chip, no transfers: the run ends when the array does, even before cycle 1.
    run, end, _ = play(hw(), sched([0.5]))
    assert end == 0.5 and run.stall["drain"] == 0.0


def test_outputs_kept_on_chip_free_their_slot_and_add_no_drain():
    # MODEL.md 3.10: final outputs kept on chip are never stored. With single-buffered outputs each of
    # the 4 output runs (8 x 8 in 4 x 4 tiles, K in one tile) needs the slot its predecessor gives back
    # when it ends, so all 4 run; nothing waits for a store to land, however long the DRAM latency.
    arch = make_arch(**{"memory.0.double_buffered": False, "dram.latency_s": 1.0e-7})  # 100 cycles
    h = HwParams.from_arch(arch)
    g = Gemm(M=8, N=8, K=4, resident=frozenset({"out"}))
    r = engine_cost(h, g, Mapping("ws", 4, 4, 4))
    assert r["tiles"] == 4 and r["bytes_dram_write"] == 0
    assert r["stall_drain_cycles"] == 0.0
    assert r["cycles"] >= r["compute_cycles"] > 0
    assert r["compute_cycles"] + sum(r[f"stall_{c}_cycles"] for c in STALL_CAUSES) == pytest.approx(r["cycles"], abs=1)


# --- data dependencies ---------------------------------------------------------------------------
def previous_visits_oracle(s: TileSchedule, batch: int) -> list[int]:
    """Per output run: the run holding tile (m, n, k - 1) of the same GEMM when the run starts at
    k > 0, found by scanning the tiles backwards; -1 for runs starting at k = 0."""
    runs = np.cumsum(s.c_first) - 1
    per_gemm = len(s) // batch
    out = []
    for i in np.flatnonzero(s.c_first):
        if s.ik[i] == 0:
            out.append(-1)
            continue
        j = next(j for j in range(i - 1, -1, -1) if j // per_gemm == i // per_gemm and s.im[j] == s.im[i]
                 and s.in_[j] == s.in_[i] and s.ik[j] == s.ik[i] - 1)
        assert s.c_last[j]  # the previous visit ended with k - 1 and spilled
        out.append(int(runs[j]))
    return out


@pytest.mark.parametrize("order", LOOP_ORDERS)
def test_previous_visit_of_each_output_run(order):
    # A batch of 2 GEMMs, 2 x 2 x 3 tiles: the second GEMM's k = 0 runs have no previous visit (the
    # first GEMM's tiles are other data), its k > 0 runs follow its own earlier runs.
    h = HwParams.from_arch(make_arch())
    g = Gemm(M=8, N=8, K=12, batch=2)
    s = build_schedule(h, g, Mapping("ws", 4, 4, 4, order).completed(h.n_tiers))
    run = _Run(h, s, None)
    assert run.c_prev == previous_visits_oracle(s, 2)


def test_a_run_with_no_earlier_visit_has_none():
    # A run starting at k = 1 with no earlier run of its tile in the schedule: -1 (none).
    run = _Run(hw(), sched([1.0], ik=[1]), None, AB)
    assert run.c_prev == [-1]


def test_read_back_waits_until_the_previous_visits_store_has_landed():
    # M = 4, N = 8, K = 8 in 4 x 4 x 4 tiles, order kmn: output runs (n0 k0), (n1 k0), (n0 k1), (n1 k1).
    # Runs 2 and 3 read back what runs 0 and 1 spilled: each read-back may start only once that store
    # has landed, i.e. its channel time plus the 100-cycle latency, although the output slot is free
    # as soon as the store has left the buffer.
    arch = make_arch(**{"dram.bytes_per_s": 1.0e9, "dram.latency_s": 1.0e-7})  # 1 B/cycle, 100 cycles
    h = HwParams.from_arch(arch)
    tr = Trace(h.clock_hz)
    engine_cost(h, Gemm(M=4, N=8, K=8), Mapping("ws", 4, 4, 4, "kmn"), trace=tr)
    ev = {name: (t0, t1) for _, res, name, t0, t1 in tr.events if res.startswith("dram:")}
    for r, prev in ((2, 0), (3, 1)):
        assert ev[f"read-back {r}"][0] >= ev[f"store {prev}"][1] + 100.0 - 1e-9


# --- stall accounting ------------------------------------------------------------------------------
def test_busy_before_is_the_channel_time_before_t():
    # After a run with gaps on the channel, the busy time before t equals the overlap of [0, t] with
    # the traced DRAM transfers (a brute-force sum), at, between and past the transfers' ends.
    arch = make_arch(**{"dram.bytes_per_s": 1.0e9, "memory.0.double_buffered": False})
    h = HwParams.from_arch(arch)
    tr = Trace(h.clock_hz)
    s = build_schedule(h, Gemm(M=8, N=8, K=8), Mapping("ws", 4, 4, 4, "kmn").completed(h.n_tiers))
    run = _Run(h, s, tr)
    run.run()
    spans = [(t0, t1) for _, res, _, t0, t1 in tr.events if res.startswith("dram:")]
    assert len(spans) > 4
    points = sorted({t for sp in spans for t in sp} | {(a + b) / 2 for a, b in spans} | {max(b for _, b in spans) + 7})
    for t in points:
        expected = sum(max(0.0, min(b, t) - a) for a, b in spans)
        assert run._busy_before(t) == pytest.approx(expected, abs=1e-9)


def blame(item_times, w0, w1, busy):
    """_blame on a fresh run with the channel busy over `busy` intervals; returns stalls and slices."""
    tr = Trace(1.0e9)
    run = _Run(hw(), sched([1.0]), tr, AB)
    run.busy_start = [a for a, _ in busy]
    run.busy_end = [b for _, b in busy]
    run.busy_cum = list(np.concatenate([[0.0], np.cumsum([b - a for a, b in busy])]))
    item = _Item(run.env)
    item.start, item.slot, item.chan_end, item.lat_end, item.ready = item_times
    run._blame(item, w0, w1)
    return run.stall, [(name, t0, t1) for _, res, name, t0, t1 in tr.events if res == "stalls"]


def test_blame_charges_latest_phase_first():
    # The block was asked for at 2, got its slot at 7 (the channel busy 2-4 and 6-7, idle 4-6: 2 idle),
    # left the channel at 9, its latency ended at 12, written by 13. The array waited 3-13 (10 cycles):
    # buffer_port 13 - 12 = 1 (12-13), dram_latency 12 - 9 = 3 (9-12), buffer_capacity min(6 left, 2
    # idle) = 2 (7-9), dram_bandwidth the rest 4 (3-7), each slice laid where it was charged.
    stall, slices = blame((2.0, 7.0, 9.0, 12.0, 13.0), 3.0, 13.0, [(0.0, 4.0), (6.0, 8.0)])
    assert stall == {"dram_bandwidth": 4.0, "dram_latency": 3.0, "buffer_capacity": 2.0, "buffer_port": 1.0,
                     "drain": 0.0}
    assert slices == [("stall: buffer_port", 12.0, 13.0), ("stall: dram_latency", 9.0, 12.0),
                      ("stall: buffer_capacity", 7.0, 9.0), ("stall: dram_bandwidth", 3.0, 7.0)]


def test_blame_counts_a_one_cycle_slot_wait():
    # Slot wait 2-3 with the channel idle (busy only 0-2): 1 cycle of buffer_capacity, then the
    # transfer 3-5 (no latency, no port wait). The array waited 2-5: capacity 1 (4-5), bandwidth 2 (2-4).
    stall, slices = blame((2.0, 3.0, 5.0, 5.0, 5.0), 2.0, 5.0, [(0.0, 2.0)])
    assert stall["buffer_capacity"] == 1.0 and stall["dram_bandwidth"] == 2.0
    assert slices == [("stall: buffer_capacity", 4.0, 5.0), ("stall: dram_bandwidth", 2.0, 4.0)]


def test_blame_without_a_slot_wait_charges_no_capacity():
    # Asked for and got its slot at 4 (no slot wait), though the channel was idle before: the wait
    # 4-10 on the transfer is dram_bandwidth only.
    stall, _ = blame((4.0, 4.0, 10.0, 10.0, 10.0), 4.0, 10.0, [(0.0, 1.0)])
    assert stall["buffer_capacity"] == 0.0 and stall["dram_bandwidth"] == 6.0


@pytest.mark.parametrize("scale", [1.0, 0.125])
def test_output_slot_wait_with_an_idle_channel_is_capacity(scale):
    # Single-buffered outputs, inputs on chip, two output runs of one tile each (c compute cycles),
    # each stored in s channel cycles. Run 1 asks for the slot at 0 and gets it when store 0 has left
    # the buffer at c + s; the channel was idle 0-c of that wait. The array waits c to c + s: capacity
    # min(s, c), the rest dram_bandwidth. With c = 2, s = 4 (times `scale`): capacity 2, bandwidth 2;
    # tile 1 runs 6-8, store 1 8-12: drain 4. Stalls and compute add up to the cycles.
    c, st = 2.0 * scale, 4.0 * scale
    h = hw(level_double_buffered=(False,), all_double_buffered=False)
    s = sched([c, c], in_=[0, 1], ik=[0, 0], c_first=[True, True], c_last=[True, True],
              c_store_bytes=[8.0, 8.0], c_store_cycles=[st, st])
    run, end, by = play(h, s)
    assert end == pytest.approx(12.0 * scale)
    assert run.stall == pytest.approx({"dram_bandwidth": 2.0 * scale, "dram_latency": 0.0,
                                       "buffer_capacity": 2.0 * scale, "buffer_port": 0.0, "drain": 4.0 * scale})
    assert by["stalls"] == [("stall: buffer_capacity", 4.0 * scale, 6.0 * scale),  # powers of two: exact
                            ("stall: dram_bandwidth", 2.0 * scale, 4.0 * scale),
                            ("stall: drain", 8.0 * scale, 12.0 * scale)]


# --- the trace ------------------------------------------------------------------------------------
def test_trace_keeps_no_empty_spans():
    # A span that ends where (or before) it starts shows nothing and is not counted as dropped.
    tr = Trace(1.0e9, max_events=1)
    tr.add("array", "empty", 3.0, 3.0)
    tr.add("array", "reversed", 4.0, 3.0)
    tr.add("array", "t", 3.0, 4.0)
    assert tr.events == [("", "array", "t", 3.0, 4.0)] and tr.dropped == 0


def test_trace_of_a_run_without_waits_has_no_stall_slices():
    # Inputs and outputs on chip, k innermost (no read-backs), free ports: the array never waits, so
    # the stalls track is empty and every array tile has a positive length.
    h = HwParams.from_arch(make_arch())
    tr = Trace(h.clock_hz)
    g = Gemm(M=8, N=8, K=8, resident=frozenset({"A", "B", "out"}))
    r = engine_cost(h, g, Mapping("ws", 4, 4, 4, "mnk"), trace=tr)
    assert all(r[f"stall_{c}_cycles"] == 0 for c in STALL_CAUSES)
    assert [e for e in tr.events if e[1] == "stalls"] == []
    tiles = [e for e in tr.events if e[1] == "array"]
    assert len(tiles) == 8 and all(e[4] > e[3] for e in tiles)


def test_trace_default_cap_is_a_million_events():
    # The cap the CLI's traces run under (Trace's signature): a million tile/transfer/stall events.
    assert Trace(1.0e9).max_events == 1_000_000


def test_trace_json_has_one_process(tmp_path):
    # Metadata (process and thread names, sort order) and spans all belong to one process, so the
    # viewer names the spans' process and threads.
    tr = Trace(1.0e9, title="t")
    tr.layer = "a"
    tr.add("array", "t0", 0, 10)
    tr.add("dram:A", "A 0", 0, 4)
    tr.advance(10)
    tr.write(tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    kinds = {(e["ph"], e["name"]) for e in doc["traceEvents"]}
    assert {("M", "process_name"), ("M", "thread_name"), ("M", "thread_sort_index")} <= kinds
    assert {e["pid"] for e in doc["traceEvents"]} == {1}
    sort = {e["tid"]: e["args"]["sort_index"] for e in doc["traceEvents"] if e["name"] == "thread_sort_index"}
    names = {e["tid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name"}
    assert sort == {t: t for t in names} and set(names.values()) == {"layers", "array", "stalls", "dram:A"}
