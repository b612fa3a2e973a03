"""SCALE-Sim user-bandwidth mode: Total Cycles with stalls (sim/scalesim_bw.py, sim/scalesim_demand.py,
docs/MODEL.md 8.2).

Fast tests: the stall rules on hand-set buffer states, the replay against a literal word-by-word
replay of SCALE-Sim's matrices (tests/sim/scalesim_reference.py) on random small layers, SCALE-Sim
numbers measured earlier (kept as literals, so they run without the peer), and what the backend says
where it cannot reproduce SCALE-Sim. The peer test runs SCALE-Sim 3.0.0 itself (its venv, results
cached by input) on small USER-bandwidth cases with stalls in all three dataflows.
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from benchmarks.peers.scalesim import cfg_text
from nmsim.accel.scalesim import ScaleSimConfig, parse_scalesim_cfg
from nmsim.sim.scalesim_bw import (NotReproduced, _serve_reads, _store_words, read_buffer_geometry,
                                   scalesim_memory_cycles)
from nmsim.sim.scalesim_compat import scalesim_total_cycles
from nmsim.sim.scalesim_demand import demand_tables
from nmsim.sim.simulate import simulate_scalesim
from nmsim.specfile import SpecError
from nmsim.workloads import Op
from nmsim.workloads.scalesim import parse_scalesim_topology

from ..conftest import run_cli, scalesim_or_skip
from .scalesim_reference import demand_matrices, replay


def user_cfg(df="ws", rows=4, cols=4, kb=(1, 1, 1), bw=(2, 2, 2), **kw) -> ScaleSimConfig:
    return ScaleSimConfig("t.cfg", "t", rows, cols, *kb, df, user_bandwidth=True, bandwidth_words_per_cycle=(bw[2],),
                          ifmap_dram_words_per_cycle=bw[0], filter_dram_words_per_cycle=bw[1], **kw)


# --- the rules, on hand-set states (docs/MODEL.md 8.2) ---------------------------------------------

def test_buffer_geometry():
    # 1 kB: 1024 words, active ceil(512) = 512, prefetch 512, sets of ceil(1024/100) = 11 words;
    # 1600 operand words -> 1600 // 11 + 1 = 146 sets, window ceil(512/11) = 47, step 47, refill 512/4 + 1
    g = read_buffer_geometry(1, 512, 4, 1600)
    assert (g.sets, g.window, g.step, g.words_per_set, g.refill_cycles) == (146, 47, 47, 11, 129)
    # an operand that fits: the window covers every set and never moves
    g = read_buffer_geometry(1, 512, 4, 300)
    assert (g.sets, g.window, g.step) == (28, 28, 0)


def test_read_stall_is_twice_the_gap():
    # window [0, 4) of 10 sets, DRAM clock at 100; set 5 at cycle 20: one move (window [4, 8)), the
    # clock reaches 150, the gap to cycle + hit latency is 150 - 21 = 129, the row waits 2 x 129
    state = np.array([0, 100, 0], np.int64)
    assert _serve_reads(5, 5, state, 10, 4, 4, 50, 20) == 258
    assert list(state) == [4, 150, 1]
    # the array ahead of the clock: no delay, the stall is the (negative) gap, the clock keeps its slack
    state = np.array([0, 100, 0], np.int64)
    assert _serve_reads(5, 5, state, 10, 4, 4, 50, 500) == 150 - 501
    # set 9 is two steps away: two refills, 100 -> 150 (gap 129, off 259) -> 200 (gap 200 - 279 < 0)
    state = np.array([0, 100, 0], np.int64)
    assert _serve_reads(9, 9, state, 10, 4, 4, 50, 20) == 258 + (200 - 279)
    assert list(state) == [8, 200, 2]


def test_ofmap_drains_half_and_stalls_when_full():
    # 8-word buffer, drain 4 words in lines of 2 (2 lines per drain). ob = [free, drain end, open
    # line, closed lines, drained, drains, queued partial lines, queue head, error]
    geo = np.array([8, 4, 2, 2], np.int64)
    ob = np.array([8, 0, 0, 0, 0, 0, 0, 0, 0], np.int64)
    parts = np.zeros((2, 4), np.int64)
    cur, parts = _store_words(4, 10, ob, geo, parts)   # free 4: not below 8 - 4, no drain
    assert cur == 10 and list(ob[:6]) == [4, 0, 0, 2, 0, 0]
    cur, parts = _store_words(1, 11, ob, geo, parts)   # free 3 < 4: the open line closes short, 2 lines drain
    assert cur == 11 and list(ob[:6]) == [3 + 4, 11 + 2 - 1, 0, 3, 2, 1]
    cur, parts = _store_words(7, 11, ob, geo, parts)   # drain in flight until 12: full at the 7th word,
    assert cur == 12 and ob[0] == 0                    # the row waits for the drain to end
    # at 12 the drain is over: 4 more words start the next drain of lines 2-3; the short line 2 (1 word)
    # is credited as a full line (write_buffer.py:251-256 subtracts the -1 slots of the last line only)
    ob = np.array([7, 12, 0, 3, 2, 1, 1, 0, 0], np.int64)
    parts = np.array([[2, 0, 0, 0], [1, 0, 0, 0]], np.int64)
    cur, parts = _store_words(4, 12, ob, geo, parts)
    assert cur == 12 and list(ob[:6]) == [3 + 2 * 2, 12 + 2 - 1, 0, 5, 4, 2]


# --- the replay against the literal word-by-word replay -------------------------------------------

def test_demand_tables_match_the_literal_demand_matrices():
    rng = random.Random(3)
    for _ in range(40):
        df = rng.choice(["ws", "os", "is"])
        R, C, M, N, K = rng.choice([1, 2, 3, 4]), rng.choice([1, 2, 3, 5]), *(rng.randint(1, 13) for _ in range(3))
        (d_if, d_fl, d_of), (o_if, o_fl) = demand_matrices(df, M, N, K, R, C)
        t_if, t_fl, t_of, grid = demand_tables(df, M, N, K, R, C)
        assert grid.rows == d_of.shape[0] == d_if.shape[0] == d_fl.shape[0]
        for t, dem, order in ((t_if, d_if, o_if), (t_fl, d_fl, o_fl), (t_of, d_of, None)):
            assert t.rho0 + t.count.shape[1] <= grid.F     # a table holds one fold's rows, no more
            rank = {int(a): i for i, a in enumerate(order)} if order is not None else None
            for i in range(grid.rows):
                f, rho = divmod(i, grid.F)
                j = rho - t.rho0
                n = int(t.count[t.key[f], j]) if 0 <= j < t.count.shape[1] else 0
                words = dem[i][dem[i] >= 0]
                assert n == len(words), (df, R, C, M, N, K, i)
                if rank is not None and n:   # one contiguous increasing run of the prefetch order
                    assert [rank[int(a)] for a in words] == list(range(t.first[t.key[f], j], t.first[t.key[f], j] + n))


def test_replay_matches_the_literal_replay_on_random_layers():
    rng = random.Random(11)
    stalled = 0
    for _ in range(40):
        df = rng.choice(["ws", "os", "is"])
        cfg = user_cfg(df, rng.choice([2, 3, 4, 8]), rng.choice([1, 2, 3, 5, 8]),
                       tuple(rng.choice([1, 1, 1, 2]) for _ in range(3)), tuple(rng.choice([1, 2, 3, 8, 32]) for _ in range(3)))
        if rng.random() < 0.15:
            cfg = ScaleSimConfig(**{**cfg.__dict__, "user_bandwidth": False})
        M, N, K = (rng.randint(1, 56) for _ in range(3))
        r = scalesim_memory_cycles(cfg, M, N, K)
        total, stalls, ev = replay(cfg, M, N, K)
        assert (r.total_cycles, r.stall_cycles, r.demand_rows, r.ifmap_refills, r.filter_refills, r.ofmap_drains) == \
            (total, stalls, ev["rows"], ev["ifmap_refills"], ev["filter_refills"], ev["ofmap_drains"]), (cfg, M, N, K)
        stalled += stalls > 0
    assert stalled >= 12   # the draw exercises the stall rules, not only the stall-free count


@pytest.mark.parametrize("df", ["ws", "os", "is"])
def test_no_stall_when_the_srams_hold_everything(df):
    rng = random.Random(df)
    for _ in range(10):
        # operands within the active halves (no refill); the ofmap drains 8 words/cycle, as many as a
        # row of at most 8 columns writes, so it never fills
        cfg = user_cfg(df, rng.choice([2, 4, 8]), rng.choice([2, 4, 8]), (16, 16, 16), (1, 1, 8))
        op = Op("g", "gemm", M=rng.randint(1, 90), N=rng.randint(1, 90), K=rng.randint(1, 90))
        r = scalesim_memory_cycles(cfg, op.M, op.N, op.K)
        assert r.stall_cycles == 0 and r.total_cycles == scalesim_total_cycles(cfg, op) == r.demand_rows - 1


# SCALE-Sim 3.0.0 Total Cycles and Stall Cycles, measured with benchmarks/bench_scalesim_bw.py's configs
# (cfg_text: 1 bank, no custom layout) on 2026-12-06: (df, R, C, M, N, K, kB i/f/o, words/cycle i/f/o, total, stall)
MEASURED = [
    ("ws", 4, 4, 93, 12, 67, (2, 8, 1), (1, 8, 4), 18530, 13278),
    ("ws", 8, 8, 15, 59, 91, (1, 1, 2), (4, 4, 4), 23235, 19684),
    ("ws", 8, 8, 96, 40, 72, (1, 1, 1), (32, 32, 32), 5335, 26),
    ("os", 4, 4, 122, 80, 55, (1, 2, 4), (1, 32, 2), 133375, 95556),
    ("os", 4, 16, 80, 50, 127, (8, 4, 4), (16, 16, 16), 26108, 14509),
    ("os", 8, 8, 72, 48, 96, (1, 1, 1), (8, 8, 8), 29032, 23093),
    ("is", 4, 4, 56, 10, 178, (4, 4, 1), (4, 32, 4), 13628, 1029),
    ("is", 4, 16, 151, 65, 200, (4, 2, 1), (2, 2, 2), 531503, 488004),
    ("is", 8, 8, 64, 80, 56, (1, 1, 1), (8, 8, 8), 9037, 3326),
]


@pytest.mark.parametrize("df, R, C, M, N, K, kb, bw, total, stall", MEASURED)
def test_matches_measured_scalesim(df, R, C, M, N, K, kb, bw, total, stall):
    r = scalesim_memory_cycles(user_cfg(df, R, C, kb, bw), M, N, K)
    assert (r.total_cycles, r.stall_cycles) == (total, stall)


# --- what the backend and the CLI say --------------------------------------------------------------

GEMM = "Layer, M, N, K,\ng, 64, 32, 64,\n"


def test_backend_reports_stalls():
    cfg = parse_scalesim_cfg(cfg_text("ws", 4, 4, (1, 1, 1), bw=(1, 1, 1)), "u.cfg")
    lr = simulate_scalesim(cfg, parse_scalesim_topology(GEMM, "g.csv")).layers[0]
    r = scalesim_memory_cycles(cfg, 64, 32, 64)
    assert lr.cycles == r.total_cycles and lr.cycle_breakdown["scalesim_stall_cycles"] == r.stall_cycles > 0
    assert lr.cycle_breakdown["scalesim_stall_free_cycles"] == r.demand_rows - 1 < lr.cycles
    assert not any("far too low" in n or "approximate" in n for n in lr.notes)


@pytest.mark.parametrize("edit, words", [
    (("UseRamulatorTrace: False", "UseRamulatorTrace: True"), "UseRamulatorTrace"),
    (("IfmapCustomLayout: False", "IfmapCustomLayout: True"), "custom SRAM layouts"),
    (("SparsitySupport : false\nSparseRep : ellpack_block\nOptimizedMapping : false",
      "SparsitySupport : true\nSparseRep : ellpack_block\nOptimizedMapping : true"), "OptimizedMapping"),
])
def test_unreproduced_paths_say_so(edit, words, tmp_path, capsys):
    text = cfg_text("ws", 4, 4, (1, 1, 1), bw=(1, 1, 1)).replace(*edit)
    cfg = parse_scalesim_cfg(text, "u.cfg")
    with pytest.raises(NotReproduced, match=words):
        scalesim_memory_cycles(cfg, 64, 32, 64)
    res = simulate_scalesim(cfg, parse_scalesim_topology(GEMM, "g.csv"))
    lr = res.layers[0]
    assert lr.cycles == lr.cycle_breakdown["scalesim_stall_free_cycles"] and lr.cycle_breakdown["scalesim_stall_cycles"] == 0
    assert any(words in n and "may be far too low" in n for n in res.notes)
    (tmp_path / "u.cfg").write_text(text)
    (tmp_path / "g.csv").write_text(GEMM)
    code, out, err = run_cli(["simulate", "--scalesim-cfg", tmp_path / "u.cfg", "--scalesim-topology",
                              tmp_path / "g.csv", "-q"], capsys)
    assert code == 0 and "may be far too low" in err


@pytest.mark.parametrize("df, words", [("ws", "approximate"), ("is", "an upper bound")])
def test_conv_larger_than_1x1_is_approximate(df, words):
    cfg = parse_scalesim_cfg(cfg_text(df, 8, 8, (1, 1, 1), bw=(2, 2, 2)), "u.cfg")
    topo = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
            "c3, 12, 12, 3, 3, 8, 16, 1,\nc1, 12, 12, 1, 1, 8, 16, 1,\n")
    c3, c1 = simulate_scalesim(cfg, parse_scalesim_topology(topo, "c.csv")).layers
    assert any(n.startswith(f"c3: {words}") for n in c3.notes)
    assert not any("approximate" in n for n in c1.notes)
    assert c3.cycles == scalesim_memory_cycles(cfg, 100, 16, 72).total_cycles
    strided = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n" \
              "s, 12, 12, 3, 3, 8, 16, 2,\n"      # (12 - 3) / 2: SCALE-Sim adds partial edge windows
    lr = simulate_scalesim(cfg, parse_scalesim_topology(strided, "s.csv")).layers[0]
    assert any(n.startswith("s: not reproduced") and "may be too low" in n for n in lr.notes)


def test_bank_count_must_divide_the_bandwidth():
    text = cfg_text("ws", 4, 4, bw=(6, 4, 4)).replace("IfmapSRAMBankNum: 1", "IfmapSRAMBankNum: 4")
    with pytest.raises(SpecError, match=r"u.cfg:22: IfmapSRAMBankNum: 4 banks do not divide IfmapSRAMBankBandwidth 6"):
        parse_scalesim_cfg(text, "u.cfg")
    parse_scalesim_cfg(text.replace("InterfaceBandwidth: USER", "InterfaceBandwidth: CALC"), "c.cfg")  # CALC: unused


# --- peer: SCALE-Sim itself ---------------------------------------------------------------------

def peer_cases() -> list[tuple[str, str, str, str]]:
    """(id, cfg, topology, input type): every dataflow at three bandwidth settings, N:M, a 1x1 conv and
    a three-layer topology, small enough for a second or two of SCALE-Sim each."""
    out = []
    for df in ("ws", "os", "is"):
        for bw in ((1, 1, 1), (4, 2, 8), (16, 16, 16)):
            out.append((f"{df}-bw{'-'.join(map(str, bw))}", cfg_text(df, 4, 4, (1, 1, 1), bw=bw),
                        "Layer, M, N, K,\ng, 48, 40, 56,\n", "gemm"))
    out.append(("os-2of4", cfg_text("os", 4, 8, (1, 1, 1), bw=(2, 2, 2), sparse=True),
                "Layer, M, N, K, Sparsity,\ns, 40, 24, 90, 2:4,\n", "gemm"))
    out.append(("is-conv1x1", cfg_text("is", 8, 4, (1, 1, 1), bw=(1, 2, 1)),
                "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                "c, 9, 9, 1, 1, 24, 16, 1,\n", "conv"))
    out.append(("ws-3layers", cfg_text("ws", 8, 4, (1, 1, 2), bw=(2, 4, 1)),
                "Layer, M, N, K,\na, 40, 24, 48,\nb, 24, 40, 32,\nc, 56, 16, 40,\n", "gemm"))
    return out


@pytest.fixture(scope="module")
def peer():
    return scalesim_or_skip([{"id": i, "cfg": c, "topology": t, "input_type": k} for i, c, t, k in peer_cases()])


def test_peer_user_bandwidth_total_cycles_with_stalls(peer):
    stalled, rows = 0, []
    for case, cfg, topo, _ in peer_cases():
        got = peer[case]
        assert "error" not in got, f"{case}: SCALE-Sim failed:\n{got.get('error')}"
        res = simulate_scalesim(parse_scalesim_cfg(cfg, f"{case}.cfg"), parse_scalesim_topology(topo, f"{case}.csv"))
        assert len(res.layers) == len(got["layers"])
        for lr, ss in zip(res.layers, got["layers"]):
            theirs = (int(ss["Total Cycles"]), int(ss["Stall Cycles"]))
            ours = (lr.cycles, int(lr.cycle_breakdown["scalesim_stall_cycles"]))
            rows.append(f"{case} {lr.name}: SCALE-Sim {theirs}, nmsim {ours}")
            assert abs(ours[0] - theirs[0]) <= 0.02 * theirs[0] and ours == theirs, rows[-1]
            stalled += theirs[1] > 0
    assert stalled >= 10, "\n".join(rows)   # the cases must exercise stalls, not the stall-free count
