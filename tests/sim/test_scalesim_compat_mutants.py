"""SCALE-Sim compatibility mode (sim/scalesim_compat.py, docs/MODEL.md 8): the corners the broad tests
of tests/sim/test_scalesim_compat.py leave open: the replay's size cap and its refusal path, the
whole-layer fallback of nmsim's own estimate, the backend's contract (no mappings, no mask
pre-generation) and the derived figures (latency, utilization). Peer-free."""
from __future__ import annotations

import pytest

from nmsim.accel.scalesim import ScaleSimConfig
from nmsim.mapping import Mapping
from nmsim.sim.scalesim_bw import scalesim_memory_cycles
from nmsim.sim.scalesim_compat import (MAX_REPLAY_CYCLES, TOO_LOW, ScaleSimBackend, scalesim_stalled_cycles,
                                       scalesim_total_cycles)
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity


def user_cfg(kb=(1, 1, 1), bw=(4, 4, 4)) -> ScaleSimConfig:
    """4x4 ws array, USER bandwidth (ifmap, filter, ofmap words/cycle)."""
    return ScaleSimConfig("u.cfg", "u", 4, 4, *kb, "ws", user_bandwidth=True, bandwidth_words_per_cycle=(bw[2],),
                          ifmap_dram_words_per_cycle=bw[0], filter_dram_words_per_cycle=bw[1])


OP = Op("g", "gemm", M=8, N=8, K=8)


def test_replay_cap_is_two_to_the_24_stall_free_cycles():
    # the cap is on the stall-free count passed in (about one replay row per cycle), so a small
    # layer with a claimed count tells the gate apart without replaying millions of rows
    assert MAX_REPLAY_CYCLES == 2 ** 24
    cfg = user_cfg()
    total, stalls, note = scalesim_stalled_cycles(cfg, OP, 2 ** 24 + 1)
    assert (total, stalls) == (2 ** 24 + 1, 0)          # refused: the stall-free count comes back
    assert note.startswith("g: 16,777,217 cycles") and "16,777,216" in note and TOO_LOW in note
    # at the cap itself the replay runs: its total is the small layer's own
    replay = scalesim_memory_cycles(cfg, 8, 8, 8)
    total, stalls, note = scalesim_stalled_cycles(cfg, OP, 2 ** 24)
    assert (total, stalls) == (replay.total_cycles, replay.stall_cycles) and total < 2 ** 24
    assert note is None


def test_replay_that_cannot_run_keeps_stall_free_count_with_a_note():
    # OfmapSramSzkB 0: SCALE-Sim's write buffer has no drain half and crashes; the replay says
    # NotReproduced, and the layer keeps the stall-free count, no stalls, and says it may be too low
    cfg = user_cfg(kb=(1, 1, 0), bw=(2, 2, 2))
    total, stalls, note = scalesim_stalled_cycles(cfg, OP, 123)
    assert (total, stalls) == (123, 0)
    assert note.startswith("g: ") and "no line to drain" in note and note.endswith(TOO_LOW)


def test_backend_takes_no_mappings_and_pregenerates_no_masks():
    b = ScaleSimBackend(ScaleSimConfig("c.cfg", "c", 4, 4, 1, 1, 1, "ws"))
    assert b.takes_mappings is False         # SCALE-Sim runs its own whole-layer schedule
    with pytest.raises(SpecError, match="takes no mapping"):
        b.cost(OP, Mapping("ws", 8, 8, 8, "nmk"))
    assert b.pregen_cycles(OP, OP) == 0      # SCALE-Sim models no N:M mask generation


def test_own_estimate_falls_back_to_the_whole_layer_when_no_tile_fits():
    # 1:1024 on 1 kB SRAMs: a K tile is a whole group of 1024 one-byte ifmap rows, which with the
    # double-buffered halves fits no SRAM even at one row and one column, so nmsim's own model takes
    # the whole layer as if it fitted (a note says so); SCALE-Sim's cycles are unaffected:
    # K_exec = 1 row, one fold, 2R + C - 2 + T = 8 + 4 - 2 + 4 = 14 cycles, reported as index 13
    cfg = ScaleSimConfig("s.cfg", "s", 4, 4, 1, 1, 1, "ws", sparsity_support=True, sparse_rep="ellpack_block")
    op = Op("g", "gemm", M=4, N=4, K=1024, weight_sparsity=Sparsity.parse("1:1024"))
    lr = ScaleSimBackend(cfg, nm_patterns=["1:1024"]).cost(op)
    assert any("not even the smallest tile fits" in n for n in lr.notes)
    assert (lr.mapping["tile_m"], lr.mapping["tile_n"], lr.mapping["tile_k"]) == (4, 4, 1024)
    assert lr.cycle_breakdown["scalesim_stall_free_cycles"] == 13 == scalesim_total_cycles(cfg, op)
    assert lr.cycle_breakdown["scalesim_executed_k"] == 1


@pytest.mark.parametrize("rows, cols, M, N, K", [(1, 1, 1, 1, 1), (4, 4, 8, 8, 8), (4, 8, 12, 5, 17)])
def test_latency_and_utilization_follow_the_reported_cycles(rows, cols, M, N, K):
    b = ScaleSimBackend(ScaleSimConfig("c.cfg", "c", rows, cols, 1, 1, 1, "ws"))
    lr = b.cost(Op("g", "gemm", M=M, N=N, K=K))
    assert lr.latency_s == pytest.approx(lr.cycles / b.clock_hz)
    assert lr.macs_effective == M * N * K
    # SCALE-Sim's Total Cycles is the last cycle's index: the array ran cycles + 1
    assert lr.utilization == pytest.approx(M * N * K / ((lr.cycles + 1) * b.peak_macs_per_cycle))
    if rows == cols == 1:
        # one MAC on one PE, ws: 2R + C - 2 + T = 2 cycles, reported as index 1: half a MAC per cycle
        assert lr.cycles == 1 and lr.utilization == 0.5


@pytest.mark.parametrize("K", [1, 2, 5])
def test_a_one_pe_os_fold_is_fully_used(K):
    """1 x 1 OS: one fold of K MACs in K cycles (R + C - 2 = 0 fill), which SCALE-Sim reports as
    Total Cycles K - 1 (its own Overall Util reads 125 % at K = 5): utilization is exactly 1, not above
    (it used to be refused as an impossible figure)."""
    b = ScaleSimBackend(ScaleSimConfig("c.cfg", "c", 1, 1, 1, 1, 1, "os"))
    lr = b.cost(Op("g", "gemm", M=1, N=1, K=K))
    assert lr.cycles == K - 1
    assert lr.utilization == 1.0
