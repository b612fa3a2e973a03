"""A slow, literal replay of SCALE-Sim 3.0.0's memory system for small GEMMs: the test oracle of
sim/scalesim_bw.py and sim/scalesim_demand.py.

It builds what SCALE-Sim builds (docs/MODEL.md 8.1-8.2): the operand address matrices, the three
demand matrices fold by fold (padding, flips, empty rows, skews), the prefetch matrices (row-major
or anti-diagonal roll-out), then serves every word of every row one by one. Nothing here is shared
with the closed forms it checks; it is only practical for layers of a few thousand demand rows.
"""
from __future__ import annotations

import math

import numpy as np

from nmsim.accel.scalesim import ScaleSimConfig


def _skew(x: np.ndarray) -> np.ndarray:
    """Column c shifted down by c rows (cols - 1 rows added, -1 filled)."""
    out = -np.ones((x.shape[0] + x.shape[1] - 1, x.shape[1]), np.int64)
    for c in range(x.shape[1]):
        out[c:c + x.shape[0], c] = x[:, c]
    return out


def _pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = -np.ones((rows, cols), np.int64)
    out[:x.shape[0], :x.shape[1]] = x
    return out


def _empty(rows: int, cols: int) -> np.ndarray:
    return -np.ones((rows, cols), np.int64)


def _chunks(x: np.ndarray, size: int, axis: int) -> list[np.ndarray]:
    n = math.ceil(x.shape[axis] / size)
    return [np.take(x, range(i * size, min((i + 1) * size, x.shape[axis])), axis=axis) for i in range(n)]


def demand_matrices(df: str, M: int, N: int, K: int, R: int, C: int):
    """(ifmap, filter, ofmap) demand matrices of SCALE-Sim for a GEMM, addresses or -1, and the
    (ifmap, filter) prefetch orders as flat address lists."""
    A = np.arange(M * K, dtype=np.int64).reshape(M, K)
    B = np.arange(K * N, dtype=np.int64).reshape(K, N)
    O = np.arange(M * N, dtype=np.int64).reshape(M, N)
    dem = ([], [], [])
    if df == "ws":
        for bc, oc in zip(_chunks(B, C, 1), _chunks(O, C, 1)):
            for ac, bk in zip(_chunks(A, R, 1), _chunks(bc, R, 0)):
                dem[0].append(_skew(np.vstack([_empty(R, R), _pad(ac, M, R), _empty(C - 1, R)])))
                dem[1].append(np.vstack([_pad(bk, R, C)[::-1], _empty(R + C + M - 2, C)]))
                dem[2].append(_skew(np.vstack([_empty(2 * R - 1, C), _pad(oc, M, C)])))
        pre = ([_pad(a, M, R) for a in _chunks(A, R, 1)], "diag"), ([_pad(b, K, C) for b in _chunks(B, C, 1)], "rows")
    elif df == "os":
        for bc, oc_col in zip(_chunks(B, C, 1), _chunks(O, C, 1)):
            for ac, oc in zip(_chunks(A, R, 0), _chunks(oc_col, R, 0)):
                dem[0].append(_skew(np.vstack([_pad(ac.T, K, R), _empty(C - 1, R)])))
                dem[1].append(_skew(np.vstack([_pad(bc, K, C), _empty(R - 1, C)])))
                dem[2].append(_skew(np.vstack([_empty(K - 1, C), _pad(oc, R, C)[::-1]])))
        pre = ([_pad(a.T, K, R) for a in _chunks(A, R, 0)], "diag"), ([_pad(b, K, C) for b in _chunks(B, C, 1)], "diag")
    else:
        for ac_col, oc in zip(_chunks(A, C, 0), _chunks(O, C, 0)):
            for ak, bk in zip(_chunks(ac_col.T, R, 0), _chunks(B, R, 0)):
                dem[0].append(np.vstack([_pad(ak, R, C)[::-1], _empty(R + C + N - 2, C)]))
                dem[1].append(_skew(np.vstack([_empty(R, R), _pad(bk.T, N, R), _empty(C - 1, R)])))
                dem[2].append(_skew(np.vstack([_empty(2 * R - 1, C), _pad(oc.T, N, C)])))
        pre = ([_pad(a.T, K, C) for a in _chunks(A, C, 0)], "rows"), ([_pad(b.T, N, R) for b in _chunks(B, R, 0)], "diag")
    orders = []
    for blocks, how in pre:
        stacked = np.vstack(blocks)
        if how == "rows":
            flat = stacked.ravel()
        else:   # anti-diagonals in increasing row + col, bottom row first within one
            r, c = np.indices(stacked.shape)
            flat = stacked.ravel()[np.lexsort((-r.ravel(), (r + c).ravel()))]
        orders.append(flat[flat >= 0])
    return tuple(np.vstack(d) for d in dem), orders


class ReadBuffer:
    """read_buffer.py, word by word: the operand in prefetch order cut into sets of ceil(words/100)
    words, a window of A sets starting at set 0, moved P sets per refill."""

    def __init__(self, kb: int, active: int, bw: int, order: np.ndarray, never_stall: bool):
        total = kb * 1024
        self.eps = math.ceil(total / 100)
        self.set_of = {int(a): i // self.eps for i, a in enumerate(order)}
        self.n = len(order) // self.eps + 1
        self.A = min(math.ceil(active / self.eps), self.n)
        self.P = min(math.ceil((total - active) / self.eps), self.n - self.A)
        self.refill = math.ceil((total - active) / bw) + 1
        self.start, self.clock, self.refills = 0, -1, 0
        self.never_stall = never_stall

    def serve(self, row: list[int], cycle: int) -> int:
        """The row's stall: served cycle - cycle - 1 (`row`: the addresses it reads, in column order)."""
        off = 1
        for a in row:
            while not self.never_stall and (self.set_of[a] - self.start) % self.n >= self.A:
                self.start = (self.start + self.P) % self.n
                self.refills += 1
                self.clock += self.refill
                gap = self.clock - (cycle + off)
                off += gap
                if gap > 0:
                    off += gap
        return off - 1


class WriteBuffer:
    """write_buffer.py, word by word, with the trace lines it drains."""

    def __init__(self, kb: int, active: int, bw: int):
        self.total, self.bw = kb * 1024, bw
        self.drain = self.total - active
        self.free, self.drain_end = self.total, 0
        self.lines: list[int] = []
        self.fill, self.drained, self.drains = 0, 0, 0

    @classmethod
    def of_words(cls, total: int, drain: int, bw: int) -> "WriteBuffer":
        """A buffer of `total` words draining `drain` at a time (sizes no SRAM in kB gives: tests)."""
        wb = cls(0, 0, bw)
        wb.total, wb.drain, wb.free = total, drain, total
        return wb

    def undrained_short_lines(self) -> int:
        """Closed lines shorter than `bw` still waiting for a drain."""
        return sum(1 for n in self.lines[self.drained:] if n < self.bw)

    def serve(self, words: int, cycle: int) -> int:
        cur = cycle
        for _ in range(words):
            self.fill += 1
            self.free -= 1
            if self.fill == self.bw:
                self.lines.append(self.bw)
                self.fill = 0
            if cur < self.drain_end:
                if self.free <= 0:
                    cur = self.drain_end
            elif self.free < self.total - self.drain:
                if self.fill:
                    self.lines.append(self.fill)
                    self.fill = 0
                end = min(self.drained + math.ceil(self.drain / self.bw), len(self.lines))
                self.free += (end - self.drained) * self.bw - (self.bw - self.lines[end - 1])
                self.drain_end = cur + (end - self.drained) - 1
                self.drained = end
                self.drains += 1
        return cur


def replay(cfg: ScaleSimConfig, M: int, N: int, K: int) -> tuple[int, int, dict]:
    """(Total Cycles, Stall Cycles, events) of SCALE-Sim's row loop for the GEMM, word by word."""
    (d_if, d_fl, d_of), (o_if, o_fl) = demand_matrices(cfg.dataflow, M, N, K, cfg.rows, cfg.cols)
    calc = not cfg.user_bandwidth
    rb_if = ReadBuffer(cfg.ifmap_sram_kb, cfg.sram_active_words("inputs"), cfg.ifmap_dram_words_per_cycle, o_if, calc)
    rb_fl = ReadBuffer(cfg.filter_sram_kb, cfg.sram_active_words("weights"), cfg.filter_dram_words_per_cycle, o_fl, calc)
    wb = WriteBuffer(cfg.ofmap_sram_kb, cfg.sram_active_words("outputs"),
                     cfg.cols if calc else cfg.bandwidth_words_per_cycle[0])
    reads_if, reads_fl = ([r[r >= 0].tolist() for r in d] for d in (d_if, d_fl))
    writes = (d_of >= 0).sum(axis=1).tolist()
    stalls, served = 0, 0
    for i in range(d_of.shape[0]):
        c = i + stalls
        s_if, s_fl = rb_if.serve(reads_if[i], c), rb_fl.serve(reads_fl[i], c)
        served = wb.serve(writes[i], c)
        stalls += max(s_if, s_fl, served - c)
    return served, stalls, {"rows": d_of.shape[0], "ifmap_refills": rb_if.refills,
                            "filter_refills": rb_fl.refills, "ofmap_drains": wb.drains}
