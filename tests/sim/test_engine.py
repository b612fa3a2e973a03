"""The detailed SimPy engine against the fast model (docs/MODEL.md, "Detailed engine")."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from nmsim.mapping import LOOP_ORDERS, Mapping, executed_gemm, plan_sparsity
from nmsim.problem import Gemm
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.engine import STALL_CAUSES, Trace, engine_cost
from nmsim.sim.schedule import build_schedule
from nmsim.sim.simulate import op_cost
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity

from ..conftest import make_arch, run_cli

FREE = {}  # the tiny arch: 1e9 B/cycle DRAM and ports, no latency, double-buffered
SLOW_DRAM = {"dram.bytes_per_s": 1.0e9}  # 1 B/cycle


def random_cases(seed: int, count: int):
    """Seeded random (op, mapping) pairs on the tiny arch: dense and N:M, edge tiles, batches,
    every dataflow and loop order, tile_k a multiple of the executed group."""
    rng = np.random.default_rng(seed)
    arch = make_arch()
    for i in range(count):
        pattern = str(rng.choice(["dense", "2:4", "1:4", "2:8"]))
        sp = Sparsity.parse(pattern)
        M, N = (int(x) for x in rng.integers(1, 200, 2))
        K = int(rng.integers(1, 24)) * (1 if pattern == "dense" else sp.m) + int(rng.integers(0, 3))
        op = Op(f"g{i}", "gemm", M=M, N=N, K=K, weight_sparsity=sp, batch=int(rng.integers(1, 3)))
        q = plan_sparsity(arch, op).m
        tk = max(q, (K // int(rng.integers(1, 4))) // q * q)
        yield op, Mapping(str(rng.choice(["ws", "os", "is"])), max(1, M // int(rng.integers(1, 5))),
                          max(1, N // int(rng.integers(1, 5))), tk, str(rng.choice(LOOP_ORDERS)))


def both(arch, op, mapping):
    hw = HwParams.from_arch(arch)
    plan = plan_sparsity(arch, op)
    fast = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in op_cost(hw, op, plan, [mapping]).items()}
    return fast, engine_cost(hw, executed_gemm(op, plan), mapping)


def stall_sum(r: dict) -> float:
    return sum(r[f"stall_{c}_cycles"] for c in STALL_CAUSES)


def test_agrees_with_fast_model_without_contention():
    # 40 random layers and mappings with bandwidth to spare: within 1% (in practice identical).
    arch = make_arch(**FREE)
    worst = 0.0
    for op, mp in random_cases(seed=7, count=40):
        fast, det = both(arch, op, mp)
        worst = max(worst, abs(det["cycles"] - fast["cycles"]) / fast["cycles"])
    assert worst <= 0.01


def test_schedule_sums_equal_fast_model_totals():
    # The shared schedule, summed tile by tile, gives the fast model's closed forms: compute
    # cycles, DRAM bytes (MODEL.md 3.4) and bytes per level (3.3), on an arch with contention.
    arch = make_arch(**SLOW_DRAM)
    for op, mp in random_cases(seed=11, count=40):
        fast, det = both(arch, op, mp)
        assert det["compute_cycles"] == fast["compute_cycles"]
        assert det["bytes_dram"] == pytest.approx(fast["bytes_dram"], rel=1e-12)
        assert det["bytes_gbuf"] == pytest.approx(fast["bytes_gbuf"], rel=1e-12)
        assert det["buffer_cycles"] == pytest.approx(fast["buffer_cycles"], rel=1e-12)
        assert det["energy_mac_pj"] == pytest.approx(fast["energy_mac_pj"])


@pytest.mark.parametrize("order, dram", [
    # the hand-derived figures of tests/sim/test_analytic.py: M=N=K=8 in 4x4x4 tiles
    ("nmk", 128 + 128 + 64), ("kmn", 64 + 128 + 64 * (1 + 4) + 64 * 4), ("mnk", 128 + 128 + 64)])
def test_loop_order_sets_dram_bytes(tiny, order, dram):
    r = simulate_op(tiny, Op("g", "gemm", M=8, N=8, K=8), Mapping("ws", 4, 4, 4, order), engine="detailed")
    assert r.bytes["dram"] == pytest.approx(dram)


def test_every_loop_order_moves_the_fast_models_bytes(tiny):
    op = Op("g", "gemm", M=40, N=24, K=32, weight_sparsity=Sparsity.parse("2:4"))
    seen = set()
    for order in LOOP_ORDERS:
        fast, det = both(tiny, op, Mapping("os", 16, 8, 8, order))
        assert det["bytes_dram"] == fast["bytes_dram"]
        seen.add(det["bytes_dram"])
    assert len(seen) > 1  # the order matters for this shape


def test_reload_rule_on_a_small_schedule(tiny):
    # order kmn, 2 tiles per dim: A (m, k) is kept across the innermost n loop, B (k, n) changes
    # on every tile (2x the weights: m sits outside n), the output tile changes every tile, and
    # every k = 1 visit reads back a spilled partial sum.
    s = build_schedule(HwParams.from_arch(tiny), Gemm(M=8, N=8, K=8), Mapping("ws", 4, 4, 4, "kmn"))
    assert list(s.a_new) == [True, False, True, False] * 2
    assert s.b_new.all()
    assert s.c_first.all() and s.c_last.all()
    assert list(s.c_read_bytes > 0) == [False] * 4 + [True] * 4


def test_contention_never_faster_and_charges_dram_bandwidth():
    op = Op("g", "gemm", M=256, N=64, K=64)
    mp = Mapping("ws", 32, 64, 64)
    free = simulate_op(make_arch(**FREE), op, mp, engine="detailed")
    slow = simulate_op(make_arch(**SLOW_DRAM), op, mp, engine="detailed")
    assert slow.cycles >= free.cycles
    b = slow.cycle_breakdown
    stalls = {c: b[f"stall_{c}_cycles"] for c in STALL_CAUSES}
    assert max(stalls, key=stalls.get) == "dram_bandwidth"
    assert b["compute_cycles"] + sum(stalls.values()) == pytest.approx(slow.cycles, abs=1)


def test_single_buffering_stalls_on_capacity():
    # Bandwidth that double buffering hides: single buffering exposes it, charged to capacity.
    op = Op("g", "gemm", M=256, N=64, K=64)
    mp = Mapping("ws", 32, 64, 64)
    bw = {"dram.bytes_per_s": 4.0e9}
    double = simulate_op(make_arch(**bw), op, mp, engine="detailed")
    single = simulate_op(make_arch(**bw, **{"memory.0.double_buffered": False}), op, mp, engine="detailed")
    assert double.cycle_breakdown["stall_buffer_capacity_cycles"] == 0
    assert single.cycles > double.cycles
    assert single.cycle_breakdown["stall_buffer_capacity_cycles"] > single.cycle_breakdown["stall_dram_bandwidth_cycles"]


def test_latency_shows_as_latency():
    op = Op("g", "gemm", M=64, N=8, K=8)
    r = simulate_op(make_arch(**{"dram.latency_s": 2.0e-7}), op, Mapping("ws", 8, 8, 8), engine="detailed")
    assert r.cycle_breakdown["stall_dram_latency_cycles"] > 0
    assert r.cycle_breakdown["stall_dram_bandwidth_cycles"] == pytest.approx(0, abs=1)


@pytest.mark.parametrize("seed", [3, 4])
def test_random_contention_is_never_faster_than_free(seed):
    for op, mp in random_cases(seed, 10):
        free = engine_cost(HwParams.from_arch(make_arch()), executed_gemm(op, plan_sparsity(make_arch(), op)), mp)
        arch = make_arch(**SLOW_DRAM, **{"memory.0.double_buffered": False, "dram.latency_s": 5e-8})
        slow = engine_cost(HwParams.from_arch(arch), executed_gemm(op, plan_sparsity(arch, op)), mp)
        assert slow["cycles"] >= free["cycles"]
        assert slow["compute_cycles"] + stall_sum(slow) == pytest.approx(slow["cycles"], abs=1)


def test_trace_records_array_tiles_in_order(tiny, tmp_path):
    tr = Trace(tiny.clock_hz)
    simulate_op(tiny, Op("g", "gemm", M=8, N=8, K=8), Mapping("ws", 4, 4, 4, "kmn"), engine="detailed", trace=tr)
    tiles = [e for e in tr.events if e[1] == "array"]
    assert len(tiles) == 8
    assert all(a[4] <= b[3] for a, b in zip(tiles, tiles[1:]))  # the array runs one tile at a time
    tr.write(tmp_path / "t.csv")
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == len(tr.events) and rows[0].keys() >= {"resource", "start_cycle", "end_cycle"}


def test_unknown_engine_and_gpu_refused(tiny):
    with pytest.raises(SpecError, match="engine"):
        simulate_op(tiny, Op("g", "gemm", M=8, N=8, K=8), engine="slow")
    from nmsim.accel import load_arch

    with pytest.raises(SpecError, match="systolic"):
        simulate_op(load_arch("t4"), Op("g", "gemm", M=8, N=8, K=8), engine="detailed")


def test_cli_detailed_engine_and_trace(tmp_path, capsys):
    out_json, trace = tmp_path / "r.json", tmp_path / "t.json"
    code, _, err = run_cli(["simulate", "-q", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=32", "-s", "2:4",
                            "--engine", "detailed", "--trace", trace, "--json", out_json], capsys)
    assert code == 0, err
    res = json.loads(out_json.read_text())
    gemms = [lr for lr in res["layers"] if lr["nongemm"] is None]
    assert gemms and all("stall_dram_bandwidth_cycles" in lr["cycle_breakdown"] for lr in gemms)
    doc = json.loads(trace.read_text())
    events = doc["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert spans and all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    tracks = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    assert {"layers", "array", "stalls"} <= set(tracks) and any(t.startswith("dram:") for t in tracks)
    assert [e["args"]["name"] for e in events if e["name"] == "process_name"] == [
        "nmsim detailed engine: bert-base(batch=1,seq_len=32) on sat"]
    assert set(doc["otherData"]["legend"]) >= {"layers", "array", "stalls"}
    # one span per layer, back to back, each as long as the layer's cycles
    layer_spans = [e for e in spans if e["tid"] == tracks["layers"]]
    assert [e["name"] for e in layer_spans] == [lr["name"] for lr in res["layers"]]
    assert [e["args"]["end_cycle"] - e["args"]["start_cycle"] for e in layer_spans] == [
        lr["cycles"] for lr in res["layers"]]
    # stall slices by cause add up to the stall cycles of the result
    stalls = [e for e in spans if e["tid"] == tracks["stalls"]]
    for cause in ("dram_bandwidth", "drain"):
        traced = sum(e["args"]["end_cycle"] - e["args"]["start_cycle"] for e in stalls if e["name"] == f"stall: {cause}")
        total = sum(lr["cycle_breakdown"].get(f"stall_{cause}_cycles", 0) for lr in res["layers"])
        assert traced == pytest.approx(total, rel=1e-9, abs=1e-6)
    assert {e["cat"] for e in spans if e["tid"] == tracks["array"]} == {lr["name"] for lr in gemms}
    # non-GEMM layers run on the vector unit: one `vector` span each, in model order with the GEMMs
    vec = [e for e in spans if e["cat"] == "layer0.norm1"]
    assert len(vec) == 1 and vec[0]["name"] == "layernorm" and vec[0]["tid"] == tracks["vector"]
    code, _, err = run_cli(["simulate", "-q", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=32",
                            "--engine", "detailed", "--trace", tmp_path / "t.csv"], capsys)
    assert code == 0 and (tmp_path / "t.csv").read_text().startswith("layer,resource")
    # --trace never switches the engine: without --engine detailed it is refused
    for engine in ([], ["--engine", "fast"]):
        code, _, err = run_cli(["simulate", "-q", "-a", "sat", "-w", "bert-base", "-p", "batch=1", *engine,
                                "--trace", tmp_path / "t2.csv"], capsys)
        assert code == 2 and "add --engine detailed" in err and not (tmp_path / "t2.csv").exists()
    code, _, err = run_cli(["simulate", "-q", "-a", "t4", "-w", "bert-base", "--engine", "detailed"], capsys)
    assert code == 2 and "systolic" in err


def test_trace_times_ids_and_dropped_events_by_hand(tmp_path):
    # 2 GHz: one cycle is 0.0005 us. Layer a: a tile on the array over cycles 0-10, the layer closed after
    # 100 cycles (its span); layer b: a load on DRAM over its cycles 5-7 (105-107 overall); a third event is
    # over max_events and dropped. Threads: layers, array, stalls first, then the other resources sorted.
    tr = Trace(2.0e9, max_events=2, title="t")
    tr.layer = "a"
    tr.add("array", "t0", 0, 10)
    tr.advance(100)
    tr.layer = "b"
    tr.add("dram", "ld", 5, 7)
    tr.add("array", "t1", 7, 9)
    assert tr.events == [("a", "array", "t0", 0.0, 10.0), ("b", "dram", "ld", 105.0, 107.0)] and tr.dropped == 1
    assert tr.spans == [("a", "layers", "a", 0.0, 100.0)]
    tr.write(tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    meta = [e for e in doc["traceEvents"] if e["ph"] == "M"]
    ev = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert [(m["tid"], m["args"]["name"]) for m in meta if m["name"] == "process_name"] == [(0, "t")]
    assert [(m["tid"], m["args"]["name"]) for m in meta if m["name"] == "thread_name"] == [
        (1, "layers"), (2, "array"), (3, "stalls"), (4, "dram")]
    assert [(e["name"], e["cat"], e["tid"], e["pid"]) for e in ev] == [("a", "layers", 1, 1), ("t0", "a", 2, 1),
                                                                      ("ld", "b", 4, 1)]
    assert [e["ts"] for e in ev] == pytest.approx([0.0, 0.0, 105 * 0.0005])
    assert [e["dur"] for e in ev] == pytest.approx([100 * 0.0005, 10 * 0.0005, 2 * 0.0005])
    assert ev[2]["args"] == {"layer": "b", "start_cycle": 105.0, "end_cycle": 107.0}
    assert doc["otherData"]["clock_hz"] == 2.0e9 and doc["otherData"]["dropped_events"] == 1
    tr.write(tmp_path / "t.csv")
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert rows == ["layer,resource,name,start_cycle,end_cycle", "a,layers,a,0.0,100.0", "a,array,t0,0.0,10.0",
                    "b,dram,ld,105.0,107.0"]


def test_a_run_past_the_tile_caps_is_refused_before_any_event(monkeypatch):
    """The detailed engine's caps (tiles per layer, per run) are checked over the whole workload
    before the first layer is simulated: a run it would refuse at its fifth layer costs no engine
    time (it once took a minute to say no). Under the caps the run is the same as before."""
    import nmsim.sim.systolic as systolic
    from nmsim.accel import load_arch
    from nmsim.sim import simulate_workload
    from nmsim.workloads import zoo
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    arch = load_arch("sat")
    ran = []
    real = systolic.engine_cost
    monkeypatch.setattr(systolic, "engine_cost", lambda *a, **k: ran.append(a[4]) or real(*a, **k))
    base = simulate_workload(arch, wl, engine="detailed")
    gemm_names = [lr.name for lr in base.layers if lr.nongemm is None]
    assert ran == gemm_names
    ran.clear()
    monkeypatch.setattr(systolic, "MAX_DETAILED_RUN_TILES", 40)
    with pytest.raises(SpecError, match="add up to .* tiles; the detailed engine simulates at most 40 per run"):
        simulate_workload(arch, wl, engine="detailed")
    assert ran == []
    monkeypatch.setattr(systolic, "MAX_DETAILED_RUN_TILES", 10 ** 6)
    monkeypatch.setattr(systolic, "MAX_DETAILED_TILES", 1)
    with pytest.raises(SpecError, match="simulates at most 1 per layer"):
        simulate_workload(arch, wl, engine="detailed")
    assert ran == []
