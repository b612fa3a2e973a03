"""SCALE-Sim user-bandwidth replay (sim/scalesim_bw.py): the corners the broad tests of
tests/sim/test_scalesim_bw.py leave open (docs/MODEL.md 8.2).

* read buffers: the set size (a hundredth of the SRAM) on SRAMs where the rounding tells it apart,
  and a window that must move more than once when the step is smaller than the window;
* the ofmap write buffer, driven row by row on small buffers (a few words, drains that are not a
  whole number of lines, short lines that are or are not the last line of a drain) against a
  literal word-by-word list-of-lines oracle (tests/sim/scalesim_reference.WriteBuffer, peer-free), and against SCALE-Sim 3.0.0's
  own `write_buffer` class when the peer venv exists; the partial-line queue is started tiny so that
  its compaction and growth run, and it must stay bounded;
* a drain of a single line (Bandwidth >= the drain half) and an ofmap SRAM with no drain half
  (SCALE-Sim crashes: nmsim must say NotReproduced);
* whole layers that take these paths, against the literal replay (tests/sim/scalesim_reference.py)
  and, with the peer, against SCALE-Sim's Total and Stall Cycles.
"""
from __future__ import annotations

import json
import math
import random
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from nmsim.sim import scalesim_bw

from benchmarks.peers.scalesim import cfg_text
from nmsim.accel.scalesim import ScaleSimConfig
from nmsim.sim.scalesim_bw import (NotReproduced, _serve_reads, _store_words, read_buffer_geometry,
                                   scalesim_memory_cycles)

from ..conftest import scalesim_or_skip
from .scalesim_reference import WriteBuffer, replay


def user_cfg(df="ws", rows=4, cols=4, kb=(1, 1, 1), bw=(2, 2, 2)) -> ScaleSimConfig:
    return ScaleSimConfig("t.cfg", "t", rows, cols, *kb, df, user_bandwidth=True, bandwidth_words_per_cycle=(bw[2],),
                          ifmap_dram_words_per_cycle=bw[0], filter_dram_words_per_cycle=bw[1])


# --- read buffers ------------------------------------------------------------------------------------

def test_sets_are_a_hundredth_of_the_sram():
    # 16 kB = 16384 words: eps = ceil(16384 / 100) = 164 (a 101st would give 163); active = 8192.
    # 20000 operand words: n = 20000 // 164 + 1 = 121 + 1 = 122 sets; window ceil(8192 / 164) = 50;
    # step min(50, 122 - 50) = 50; refill ceil(8192 / 4) + 1 = 2049
    g = read_buffer_geometry(16, 8192, 4, 20000)
    assert (g.words_per_set, g.sets, g.window, g.step, g.refill_cycles) == (164, 122, 50, 50, 2049)
    # 10 kB = 10240 words: eps = ceil(102.4) = 103 (ceil(10240 / 101) = 102); 10000 operand words:
    # 10000 // 103 + 1 = 97 + 1 = 98 sets; 5120 active -> window ceil(5120 / 103) = 50
    g = read_buffer_geometry(10, 5120, 8, 10000)
    assert (g.words_per_set, g.sets, g.window) == (103, 98, 50)


def test_window_moves_until_the_set_is_strictly_inside():
    # 10 sets, window A = 2 from set 0 (sets 0-1), step P = 2. Set 4: one move gives sets 2-3, the set
    # sits at offset 2 = A, still outside (read_buffer.py:359 `while not self.active_buffer_hit(addr)`);
    # a second move gives sets 4-5. Two refills of q = 5 on a clock at -1: 4, then 9.
    state = np.array([0, -1, 0], np.int64)
    _serve_reads(4, 4, state, 10, 2, 2, 5, 1000)
    assert list(state) == [4, 9, 2]
    # circular: window at set 8 (sets 8-9), set 2 is at offset (2 - 8) % 10 = 4: moves to 0 (offset 2 = A,
    # outside) then to 2 (offset 0)
    state = np.array([8, 0, 0], np.int64)
    _serve_reads(2, 2, state, 10, 2, 2, 5, 1000)
    assert list(state) == [2, 10, 2]
    # a gap of exactly 0 adds nothing either way: clock 0 + 5 = 5 = cycle 4 + off 1, the row is on time
    state = np.array([0, 0, 0], np.int64)
    assert _serve_reads(3, 3, state, 10, 2, 2, 5, 4) == 0


# --- the write buffer, row by row ---------------------------------------------------------------------

def wb_cases(seed: int, n: int) -> list[dict]:
    """Small buffers (drain 1..total/2 words, as SCALE-Sim's active fraction in [0.5, 1) allows), lines
    of 1-9 words, rows of 0-12 words, a few rows held back by an outside stall (a read stall)."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        total = rng.randint(4, 40)
        drain = rng.choice([total // 2, rng.randint(1, total // 2)])
        bw = rng.choice([1, 2, 3, 4, 5, 7, 9, drain, drain + 1])
        width = rng.randint(1, 12)
        rows = rng.randint(40, 160)
        words = [rng.choice([0, width, rng.randint(0, width)]) for _ in range(rows)]
        extra = [rng.choice([0] * 8 + [1, 3, 20]) for _ in range(rows)]
        out.append({"id": f"wb{seed}-{k}", "total": total, "drain": drain, "bw": bw, "width": width, "words": words,
                    "extra": extra, "cap": rng.choice([1, 1, 2, 3])})
    return out


def model_writes(case: dict):
    """The model's _store_words on every row (the general path of _replay), its partial-line queue
    started at case['cap'] entries; the row cycle is i + stalls, stalls growing by the larger of the
    write delay and the case's outside stall (double_buffered_scratchpad_mem.py:254-279)."""
    T, d, bw = case["total"], case["drain"], case["bw"]
    geo = np.array([T, d, bw, math.ceil(d / bw)], np.int64)
    ob = np.zeros(9, np.int64)
    ob[0] = T
    parts = np.zeros((2, case["cap"]), np.int64)
    stalls, served, caps = 0, [], []
    for i, (w, extra) in enumerate(zip(case["words"], case["extra"])):
        c = i + stalls
        s, parts = _store_words(w, c, ob, geo, parts)
        served.append(int(s))
        caps.append(parts.shape[1])
        stalls += max(int(s) - c, extra)
    state = {"free": int(ob[0]), "drain_end": int(ob[1]), "fill": int(ob[2]), "closed": int(ob[3]),
             "drained": int(ob[4]), "drains": int(ob[5])}
    return served, state, caps, int(ob[8])


def literal_writes(case: dict):
    wb = WriteBuffer.of_words(case["total"], case["drain"], case["bw"])
    stalls, served, short = 0, [], []
    for i, (w, extra) in enumerate(zip(case["words"], case["extra"])):
        c = i + stalls
        s = wb.serve(w, c)
        served.append(s)
        short.append(wb.undrained_short_lines())
        stalls += max(s - c, extra)
    state = {"free": wb.free, "drain_end": wb.drain_end, "fill": wb.fill, "closed": len(wb.lines),
             "drained": wb.drained, "drains": wb.drains}
    return served, state, short


def test_write_buffer_matches_the_literal_word_by_word_buffer():
    short_last = grew = 0
    for case in wb_cases(5, 60):
        served, state, caps, err = model_writes(case)
        want_served, want_state, short = literal_writes(case)
        key = {k: case[k] for k in ("total", "drain", "bw", "width", "cap")}
        assert err == 0, key
        assert served == want_served, key
        assert state == want_state, key
        # the queue keeps only short lines not yet drained (plus the last drained one): it grows only
        # when full of such entries, so it never exceeds twice their peak (or its start size)
        assert max(caps) <= max(case["cap"], 2 * (max(short) + 1)), (key, max(caps), max(short))
        grew += max(caps) > case["cap"]
        short_last += case["drain"] % case["bw"] != 0 and state["drains"] > 2
    assert grew >= 5 and short_last >= 10   # the draw grows the queue and has drains ending in short lines


def test_a_short_line_is_credited_by_its_words_only_when_last():
    # 12 words, drain 6 in lines of 4: ceil(6 / 4) = 2 lines per drain, a drain starts below 6 free.
    # 7 words at cycle 0: line 0 full at the 4th (free 8); the 7th leaves free 5 < 6: line 1 closes
    # with 3 words and the drain takes lines 0-1, the last one short: free 5 + 2 * 4 - (4 - 3) = 12,
    # drain end 0 + 2 - 1 = 1. ob = [free, drain end, open line, closed, drained, drains]
    geo = np.array([12, 6, 4, 2], np.int64)
    ob = np.array([12, 0, 0, 0, 0, 0, 0, 0, 0], np.int64)
    cur, parts = _store_words(7, 0, ob, geo, np.zeros((2, 1), np.int64))
    assert cur == 0 and list(ob[:6]) == [12, 1, 0, 2, 2, 1]
    # 12 words, drain 4 in lines of 2 (2 lines per drain), a drain below 8 free. 5 words at cycle 0:
    # lines 0-1 full (free 8), the 5th leaves free 7: line 2 closes with 1 word, the drain takes
    # lines 0-1 (full): free 7 + 4 = 11, drain end 1; line 2 waits
    geo = np.array([12, 4, 2, 2], np.int64)
    ob = np.array([12, 0, 0, 0, 0, 0, 0, 0, 0], np.int64)
    cur, parts = _store_words(5, 0, ob, geo, np.zeros((2, 1), np.int64))
    assert cur == 0 and list(ob[:6]) == [11, 1, 0, 3, 2, 1]
    # 4 words at cycle 1 (the drain is over): lines 3 and 4 full, free 7 after the 4th: the drain takes
    # lines 2 (1 word, inside: credited as a full line) and 3 (full, last): free 7 + 2 * 2 = 11
    cur, parts = _store_words(4, 1, ob, geo, parts)
    assert cur == 1 and list(ob[:6]) == [11, 2, 0, 5, 4, 2]
    # 8 words, drain 2 in lines of 2: one line per drain, a drain below 6 free. 3 words at cycle 0:
    # line 0 full (free 6), the 3rd leaves free 5: line 1 closes with 1 word, the drain takes line 0
    # only: free 7, drain end 0. Line 1 (short) waits for the next drain, where it is the last line
    geo = np.array([8, 2, 2, 1], np.int64)
    ob = np.array([8, 0, 0, 0, 0, 0, 0, 0, 0], np.int64)
    cur, parts = _store_words(3, 0, ob, geo, np.zeros((2, 1), np.int64))
    assert list(ob[:6]) == [7, 0, 0, 2, 1, 1]
    cur, parts = _store_words(1, 1, ob, geo, parts)       # free 6: no drain, line 2 open with 1 word
    assert list(ob[:6]) == [6, 0, 1, 2, 1, 1]
    # a 2nd word at cycle 2 fills line 2, free 5: the drain takes line 1 alone, 1 word: free 5 + 2 - 1
    cur, parts = _store_words(1, 2, ob, geo, parts)
    assert cur == 2 and list(ob[:6]) == [6, 2, 0, 3, 2, 2]


def test_single_line_drains():
    # drain 4 words in lines of 4: one line per drain. 8 words, 4 active. 5 words at cycle 3: line 0
    # full at the 4th (free 4 = active, no drain), the 5th leaves free 3 < 4: line 1 closes with 1
    # word, the drain takes line 0 only (4 words): free 7, drain end 3 + 1 - 1 = 3, no error
    geo = np.array([8, 4, 4, 1], np.int64)
    ob = np.array([8, 0, 0, 0, 0, 0, 0, 0, 0], np.int64)
    cur, parts = _store_words(5, 3, ob, geo, np.zeros((2, 4), np.int64))
    assert cur == 3 and list(ob[:6]) == [7, 3, 0, 2, 1, 1] and ob[8] == 0
    # a layer whose ofmap drains 512 words/cycle from a 1 kB SRAM: 512 drain words = one line per drain
    cfg = user_cfg("ws", 4, 4, (1, 1, 1), (2, 2, 512))
    r = scalesim_memory_cycles(cfg, 64, 40, 20)
    total, stalls, ev = replay(cfg, 64, 40, 20)
    assert (r.total_cycles, r.stall_cycles, r.ofmap_drains) == (total, stalls, ev["ofmap_drains"])
    assert ev["ofmap_drains"] > 0 and stalls > 0


def test_no_drain_half_is_not_reproduced():
    # OfmapSramSzkB 0: no words, no drain half; the first word leaves free -1 < 0 active words and
    # empty_drain_buf takes ceil(0 / bw) = 0 lines, then indexes the last of them (write_buffer.py:253):
    # SCALE-Sim dies with an IndexError. The model must refuse, not invent a count.
    cfg = user_cfg("ws", 4, 4, (1, 1, 0), (2, 2, 2))
    with pytest.raises(NotReproduced, match="no line to drain"):
        scalesim_memory_cycles(cfg, 8, 8, 8)
    # the same at the kernel: a drain with no closed line sets the error slot
    geo = np.array([0, 0, 2, 0], np.int64)
    ob = np.zeros(9, np.int64)
    _store_words(1, 0, ob, geo, np.zeros((2, 2), np.int64))
    assert ob[8] == 1


# --- whole layers on these paths --------------------------------------------------------------------

# (df, R, C, M, N, K, kB i/f/o, words/cycle i/f/o): ofmap lines that do not divide the 512-word drain
# (5, 6, 7, 3), one-line drains (512, 1000), operands a little larger than the active half so the step
# is smaller than the window (ifmap 840 words: 77 sets, window 47, step 30), all dataflows
LAYERS = [
    ("ws", 4, 4, 64, 40, 20, (1, 1, 1), (2, 2, 512)),
    ("os", 4, 4, 48, 40, 24, (1, 1, 1), (3, 3, 5)),
    ("is", 4, 8, 40, 48, 28, (1, 1, 1), (4, 2, 7)),
    ("ws", 8, 4, 60, 36, 14, (1, 1, 1), (1, 2, 3)),
    ("os", 4, 4, 36, 50, 14, (1, 1, 1), (2, 1, 6)),
    ("is", 4, 4, 44, 40, 20, (1, 1, 1), (1, 1, 1000)),
    # reads never stall (operands fit the active halves), 16 words a row into lines of 1000: the first
    # drain starts near cycle 513 / 16 + fill, with ~513 words in the open line
    ("ws", 4, 16, 64, 48, 8, (1, 1, 1), (64, 64, 1000)),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: f"{c[0]}-{c[3]}x{c[4]}x{c[5]}-bw{c[7][2]}")
def test_layers_match_the_literal_replay(layer):
    df, R, C, M, N, K, kb, bw = layer
    cfg = user_cfg(df, R, C, kb, bw)
    r = scalesim_memory_cycles(cfg, M, N, K)
    total, stalls, ev = replay(cfg, M, N, K)
    assert (r.total_cycles, r.stall_cycles, r.ifmap_refills, r.filter_refills, r.ofmap_drains) == \
        (total, stalls, ev["ifmap_refills"], ev["filter_refills"], ev["ofmap_drains"])
    assert ev["ofmap_drains"] > 0


# --- peer: SCALE-Sim 3.0.0 itself -----------------------------------------------------------------

@pytest.fixture(scope="module")
def peer_layers():
    jobs = [{"id": f"L{i}", "cfg": cfg_text(df, R, C, kb, bw=bw), "topology": f"Layer, M, N, K,\ng, {M}, {N}, {K},\n",
             "input_type": "gemm"} for i, (df, R, C, M, N, K, kb, bw) in enumerate(LAYERS)]
    jobs.append({"id": "no-drain", "cfg": cfg_text("ws", 4, 4, (1, 1, 0), bw=(2, 2, 2)),
                 "topology": "Layer, M, N, K,\ng, 8, 8, 8,\n", "input_type": "gemm"})
    return scalesim_or_skip(jobs)


def test_peer_layers_total_and_stall_cycles(peer_layers):
    stalled = 0
    for i, (df, R, C, M, N, K, kb, bw) in enumerate(LAYERS):
        got = peer_layers[f"L{i}"]
        assert "error" not in got, got.get("error")
        ss = got["layers"][0]
        r = scalesim_memory_cycles(user_cfg(df, R, C, kb, bw), M, N, K)
        assert (r.total_cycles, r.stall_cycles) == (int(ss["Total Cycles"]), int(ss["Stall Cycles"])), LAYERS[i]
        stalled += r.stall_cycles > 0
    assert stalled >= 4
    # SCALE-Sim itself crashes without a drain half, where the model says NotReproduced
    assert "IndexError" in peer_layers["no-drain"].get("error", "")


# SCALE-Sim's write_buffer class driven as double_buffered_scratchpad_mem.py drives it: one
# service_writes call per demand row at cycle i + stalls (runs inside the peer venv; stdin: cases)
WB_DRIVER = r"""
import json, sys
import numpy as np
from scalesim.memory.write_buffer import write_buffer
from scalesim.memory.write_port import write_port
out = {}
for case in json.loads(sys.stdin.read()):
    T, d, bw, W = case["total"], case["drain"], case["bw"], case["width"]
    wb = write_buffer()
    frac = 0.5 if 2 * d == T else (T - d - 0.5) / T     # ceil(T * frac) = T - d active words, frac in [0.5, 1)
    wb.set_params(write_port(), total_size_bytes=T, word_size=1, active_buf_frac=frac, backing_buf_bw=bw)
    assert wb.drain_buf_size == d, (wb.drain_buf_size, d)
    drains = [0]
    def counted(empty_start_cycle=0, orig=wb.empty_drain_buf):
        drains[0] += 1
        return orig(empty_start_cycle=empty_start_cycle)
    wb.empty_drain_buf = counted
    stalls, served, addr = 0, [], 0
    for i, (w, extra) in enumerate(zip(case["words"], case["extra"])):
        c = i + stalls
        row = -np.ones((1, W))
        row[0, :w] = np.arange(addr, addr + w)
        addr += w
        o = int(wb.service_writes(row, np.zeros((1, 1)) + c)[0][0])
        served.append(o)
        stalls += max(o - c, extra)
    lines = (0 if wb.trace_matrix_empty else wb.trace_matrix.shape[0]) + \
            (0 if wb.trace_matrix_cache_empty else wb.trace_matrix_cache.shape[0])
    out[case["id"]] = {"served": served, "state": {"free": int(wb.free_space), "drain_end": int(wb.drain_end_cycle),
                       "fill": int(wb.line_idx), "closed": lines, "drained": int(wb.drain_buf_start_line_id),
                       "drains": drains[0]}}
print(json.dumps(out))
"""


def test_peer_write_buffer_class(tmp_path):
    from benchmarks.peers.scalesim import ScaleSimUnavailable, ensure_scalesim_venv
    from nmsim.specfile.peer_venv import venv_python

    try:
        v = ensure_scalesim_venv()
    except ScaleSimUnavailable as exc:
        pytest.skip(f"SCALE-Sim peer not installable: {exc}")
    cases = wb_cases(17, 40)
    r = subprocess.run([str(venv_python(v)), "-c", WB_DRIVER], input=json.dumps(cases), capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    theirs = json.loads(r.stdout)
    for case in cases:
        served, state, _, err = model_writes(case)
        key = {k: case[k] for k in ("total", "drain", "bw", "width", "cap")}
        assert err == 0 and served == theirs[case["id"]]["served"], key
        assert state == theirs[case["id"]]["state"], key


def test_peer_source_holds_the_cited_constants(tmp_path):
    # the constants name SCALE-Sim's lines: read_buffer.py:27 hit_latency, :178 elems_per_set =
    # ceil(total_size_elems / 100), read_port.py:17 latency
    from benchmarks.peers.scalesim import ScaleSimUnavailable, ensure_scalesim_venv
    from nmsim.specfile.peer_venv import venv_python

    try:
        v = ensure_scalesim_venv()
    except ScaleSimUnavailable as exc:
        pytest.skip(f"SCALE-Sim peer not installable: {exc}")
    r = subprocess.run([str(venv_python(v)), "-c", "import os, scalesim; print(os.path.dirname(scalesim.__file__))"],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    mem = Path(r.stdout.strip()) / "memory"
    rb = (mem / "read_buffer.py").read_text().splitlines()
    assert re.fullmatch(r"\s*self\.hit_latency = (\d+)\b.*", rb[26]).group(1) == str(scalesim_bw.READ_HIT_LATENCY)
    sets = int(re.fullmatch(r"\s*elems_per_set = math\.ceil\(self\.total_size_elems / (\d+)\)", rb[177]).group(1))
    assert sets == scalesim_bw.SETS_PER_BUFFER
    assert read_buffer_geometry(16, 8192, 4, 20000).words_per_set == math.ceil(16384 / sets)
    rp = (mem / "read_port.py").read_text().splitlines()
    assert re.fullmatch(r"\s*self\.latency = (\d+)", rp[16]).group(1) == str(scalesim_bw.READ_PORT_LATENCY)
