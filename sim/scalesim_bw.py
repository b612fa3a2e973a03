"""SCALE-Sim 3.0.0's "Total Cycles" with its memory stalls: the double-buffered SRAMs and their
DRAM interfaces replayed row by row, without running SCALE-Sim.

    r = scalesim_memory_cycles(cfg, M, N, K_exec)    # r.total_cycles, r.stall_cycles

SCALE-Sim walks its demand matrices one row (array cycle) at a time. The ifmap and filter SRAMs
are read buffers: windows of `A` sets over their operand in prefetch order; a read outside the
window moves it `P` sets on and advances the buffer's own DRAM clock by one refill, and a row whose
data arrive after its cycle is delayed by twice the gap. The ofmap SRAM drains half of itself, one
line of `bw` words per cycle, once more than half is full, and stalls the row when it is full. A
row adds the largest of the three delays; Total Cycles is the cycle the last row was served.
docs/MODEL.md section 8.2 states every rule with its file:line in the `scalesim` package; the
per-row pattern of reads and writes comes from sim/scalesim_demand.py.

There is no closed form for the totals (the read stall rule and the drain rule interact row by
row), so the row loop runs in a numba kernel: ~40 ns per demand row. Paths this model does not
reproduce raise `NotReproduced` (`not_reproduced(cfg)` names the config's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from nmsim.accel.scalesim import ScaleSimConfig

from .scalesim_demand import RowTable, demand_tables

READ_HIT_LATENCY = 1    # read_buffer.py:27 hit_latency: a row served without refill is served at cycle + 1
READ_PORT_LATENCY = 1   # read_port.py:17: a refill request is served one cycle after it is issued
SETS_PER_BUFFER = 100   # read_buffer.py:178: elems_per_set = ceil(total_size_elems / 100)


class NotReproduced(ValueError):
    """The layer or config takes a SCALE-Sim path this model does not reproduce (the message says which)."""


@dataclass(frozen=True)
class ReadBufferGeometry:
    """A read buffer cut into sets (read_buffer.py:173-222): `sets` over the operand, `window` of
    them held, `step` moved per refill, `words_per_set`, `refill_cycles` per refill on the DRAM clock."""

    sets: int
    window: int
    step: int
    words_per_set: int
    refill_cycles: int


@dataclass(frozen=True)
class MemoryReplay:
    """SCALE-Sim's count for one layer: `total_cycles` (its "Total Cycles": the last demand row's
    served cycle, an index, stalls included) and `stall_cycles`, with the events behind them."""

    total_cycles: int
    stall_cycles: int
    demand_rows: int
    ifmap_refills: int
    filter_refills: int
    ofmap_drains: int


def not_reproduced(cfg: ScaleSimConfig) -> str | None:
    """Why SCALE-Sim's cycles under `cfg` are beyond this model (a SCALE-Sim path it does not
    replay), or None. The stall-free count is then only a lower bound."""
    if cfg.ramulator_trace:
        return "UseRamulatorTrace: SCALE-Sim adds Ramulator DRAM latencies, which are not modelled"
    if cfg.user_bandwidth and (cfg.ifmap_custom_layout or cfg.filter_custom_layout):
        return "custom SRAM layouts: SCALE-Sim's bank-conflict path (read_buffer.py:297-343) is not modelled"
    if cfg.optimized_mapping:
        return "OptimizedMapping: SCALE-Sim's row-wise sparse ifmap demand order is not modelled"
    return None


def read_buffer_geometry(kb: int, active_words: int, dram_words_per_cycle: int, operand_words: int) -> ReadBufferGeometry:
    """Sets of a read buffer of `kb` kB (1-byte words) holding an operand of `operand_words`
    (read_buffer.py:80-86, 173-222, 476-517)."""
    total = kb * 1024
    prefetch = total - active_words
    eps = math.ceil(total / SETS_PER_BUFFER)
    n = operand_words // eps + 1                 # a last, possibly empty, set is always added (:203)
    window = min(math.ceil(active_words / eps), n)
    step = min(math.ceil(prefetch / eps), n - window)
    refill = math.ceil(prefetch / dram_words_per_cycle) + READ_PORT_LATENCY
    return ReadBufferGeometry(n, window, step, eps, refill)


@njit(cache=True)
def _serve_reads(lo, hi, state, n, a, p, q, cycle):
    # One demand row reading sets lo..hi of a read buffer (read_buffer.py:345-374) of n sets, window
    # a, step p, q DRAM cycles per refill. state = [window start, DRAM clock, refills], updated in
    # place. Returns the row's stall: served cycle - cycle - hit latency (may be negative).
    off = READ_HIT_LATENCY
    for x in range(lo, hi + 1):
        d = (x - state[0]) % n
        if d >= a:
            t = 1                                     # the window moves until the set is in it
            while (d - t * p) % n >= a:
                t += 1
            state[0] = (state[0] + t * p) % n
            state[2] += t
            for _ in range(t):
                state[1] += q
                gap = state[1] - (cycle + off)
                off += gap                            # :362, whatever its sign
                if gap > 0:
                    off += gap                        # :363-364, again when positive
    return off - READ_HIT_LATENCY


@njit(cache=True)
def _drain(cur, ob, geo, parts):
    # empty_drain_buf (write_buffer.py:238-273): the next lines go out one per cycle from `cur`;
    # free space grows by whole lines except the -1 slots of the last one. ob = [free, drain end,
    # open line fill, closed lines, drained lines, drains, partial lines queued, queue head, error].
    bw, per_drain = geo[2], geo[3]
    end = min(ob[4] + per_drain, ob[3])
    num = end - ob[4]
    if num <= 0:                                      # SCALE-Sim would crash here
        ob[8] = 1
        num = 1
        end = ob[4] + 1
    while ob[7] < ob[6] and parts[0, ob[7]] < end - 1:
        ob[7] += 1
    last = bw
    if ob[7] < ob[6] and parts[0, ob[7]] == end - 1:
        last = parts[1, ob[7]]
    ob[0] += num * bw - (bw - last)
    ob[4] = end
    ob[5] += 1
    ob[1] = cur + num - 1


@njit(cache=True)
def _close_partial_line(ob, parts):
    # append_to_trace_mat(force=True) (write_buffer.py:150-186): the open line enters the trace
    # short; its size is queued for the drain that takes it. Returns the (maybe grown) queue.
    if ob[6] == parts.shape[1]:
        head = ob[7]
        if head > 0:                                  # drop the entries already drained
            parts[:, :ob[6] - head] = parts[:, head:ob[6]].copy()
            ob[6] -= head
            ob[7] = 0
        else:
            grown = np.zeros((2, 2 * parts.shape[1]), np.int64)
            grown[:, :ob[6]] = parts
            parts = grown
    parts[0, ob[6]] = ob[3]
    parts[1, ob[6]] = ob[2]
    ob[6] += 1
    ob[3] += 1
    ob[2] = 0
    return parts


@njit(cache=True)
def _store_words(words, cycle, ob, geo, parts):
    # service_writes (write_buffer.py:189-235) for one row of `words` writes at `cycle` where some
    # store drains or stalls (_replay applies the quiet rows itself); returns (served cycle,
    # partial-line queue). geo = [total words, drain words, bw, lines per drain].
    thr = geo[0] - geo[1]
    bw = geo[2]
    cur = cycle
    for _ in range(words):
        ob[2] += 1
        ob[0] -= 1
        if ob[2] == bw:
            ob[3] += 1
            ob[2] = 0
        if cur < ob[1]:
            if ob[0] <= 0:                            # full while a drain is in flight: wait for it
                cur = ob[1]
        elif ob[0] < thr:
            if ob[2] > 0:
                parts = _close_partial_line(ob, parts)
            _drain(cur, ob, geo, parts)
    return cur, parts


@njit(cache=True)
def _replay(if_runs, fl_runs, of_words, keys, rho0, geo, rows_per_fold):
    # service_memory_requests (double_buffered_scratchpad_mem.py:234-307) over every demand row.
    # *_runs: (2, table rows, width) first/last set read per local row (-1/-2: none); of_words:
    # (table rows, width); keys (3, folds); geo = ifmap[0:4], filter[4:8], ofmap[8:12].
    F = rows_per_fold
    rd_if = np.array([0, -1, 0], np.int64)            # the first fill lands at cycle -1 (:411-423)
    rd_fl = np.array([0, -1, 0], np.int64)
    ob = np.zeros(9, np.int64)
    ob[0] = geo[8]
    of_geo = geo[8:12].copy()
    thr = geo[8] - geo[9]
    bw = geo[10]
    parts = np.zeros((2, 64), np.int64)
    stalls = 0
    served = 0
    for i in range(keys.shape[1] * F):
        f = i // F
        rho = i - f * F
        c = i + stalls
        st_if = 0
        j = rho - rho0[0]
        if 0 <= j < if_runs.shape[2] and if_runs[0, keys[0, f], j] >= 0:
            st_if = _serve_reads(if_runs[0, keys[0, f], j], if_runs[1, keys[0, f], j], rd_if,
                                 geo[0], geo[1], geo[2], geo[3], c)
        st_fl = 0
        j = rho - rho0[1]
        if 0 <= j < fl_runs.shape[2] and fl_runs[0, keys[1, f], j] >= 0:
            st_fl = _serve_reads(fl_runs[0, keys[1, f], j], fl_runs[1, keys[1, f], j], rd_fl,
                                 geo[4], geo[5], geo[6], geo[7], c)
        served = c
        j = rho - rho0[2]
        w = of_words[keys[2, f], j] if 0 <= j < of_words.shape[1] else 0
        if w > 0:
            if (c < ob[1] and ob[0] - w > 0) or (c >= ob[1] and ob[0] - w >= thr):
                ob[0] -= w                            # no store of the row drains or stalls
                ob[2] += w
                ob[3] += ob[2] // bw
                ob[2] = ob[2] % bw
            else:
                served, parts = _store_words(w, c, ob, of_geo, parts)
        stalls += max(served - c, st_if, st_fl)
    return served, stalls, rd_if[2], rd_fl[2], ob[5], ob[8]


def _set_runs(t: RowTable, words_per_set: int) -> np.ndarray:
    """(2, table rows, width): first and last set each local row reads (-1, -2 where none)."""
    lo = np.where(t.count > 0, t.first // words_per_set, -1)
    hi = np.where(t.count > 0, (t.first + t.count - 1) // words_per_set, -2)
    return np.ascontiguousarray(np.stack([lo, hi]), dtype=np.int64)


def _geometries(cfg: ScaleSimConfig, M: int, N: int, K: int):
    """Read-buffer geometries (ifmap, filter) and the ofmap buffer's [words, drain words, bw, lines per
    drain]. CALC mode: reads never stall (read_buffer_estimate_bw.py), the ofmap drains ArrayWidth
    words/cycle (single_layer_sim.py:256-263)."""
    gi = read_buffer_geometry(cfg.ifmap_sram_kb, cfg.sram_active_words("inputs"), cfg.ifmap_dram_words_per_cycle, M * K)
    gf = read_buffer_geometry(cfg.filter_sram_kb, cfg.sram_active_words("weights"), cfg.filter_dram_words_per_cycle,
                              K * N)
    if not cfg.user_bandwidth:
        gi = ReadBufferGeometry(gi.sets, gi.sets, 0, gi.words_per_set, gi.refill_cycles)
        gf = ReadBufferGeometry(gf.sets, gf.sets, 0, gf.words_per_set, gf.refill_cycles)
    bw = cfg.bandwidth_words_per_cycle[0] if cfg.user_bandwidth else cfg.cols
    total = cfg.ofmap_sram_kb * 1024
    drain = total - cfg.sram_active_words("outputs")   # write_buffer.py:84-86
    return gi, gf, [total, drain, bw, math.ceil(drain / bw)]


def scalesim_memory_cycles(cfg: ScaleSimConfig, M: int, N: int, K: int) -> MemoryReplay:
    """SCALE-Sim 3.0.0's Total Cycles and Stall Cycles of a GEMM out[M,N] = A[M,K].B[K,N] (K the
    executed K) run under `cfg` (cycles; Total Cycles is the last row's index). InterfaceBandwidth
    USER: ifmap/filter DRAM words/cycle from [layout], ofmap from Bandwidth[0]; CALC: only the
    ofmap SRAM can stall. Raises NotReproduced for paths `not_reproduced` names."""
    why = not_reproduced(cfg)
    if why:
        raise NotReproduced(why)
    t_if, t_fl, t_of, grid = demand_tables(cfg.dataflow, M, N, K, cfg.rows, cfg.cols)
    gi, gf, geo_of = _geometries(cfg, M, N, K)
    geo = np.array([gi.sets, gi.window, gi.step, gi.refill_cycles, gf.sets, gf.window, gf.step, gf.refill_cycles,
                    *geo_of], np.int64)
    keys = np.ascontiguousarray(np.stack([t_if.key, t_fl.key, t_of.key]), dtype=np.int64)
    rho0 = np.array([t_if.rho0, t_fl.rho0, t_of.rho0], np.int64)
    total, stalls, r_if, r_fl, drains, err = _replay(
        _set_runs(t_if, gi.words_per_set), _set_runs(t_fl, gf.words_per_set),
        np.ascontiguousarray(t_of.count, dtype=np.int64), keys, rho0, geo, grid.F)
    if err:
        raise NotReproduced("SCALE-Sim's ofmap buffer would start a drain with no line to drain (it crashes there)")
    return MemoryReplay(int(total), int(stalls), grid.rows, int(r_if), int(r_fl), int(drains))
