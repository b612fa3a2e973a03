"""The detailed engine: an event-driven (SimPy) run of one op's tile schedule.

The fast model (analytic.py) sums the schedule in closed form and overlaps DRAM with compute
by one rule (MODEL.md 3.5). This engine plays the same schedule (schedule.build_schedule, the
shared definition) tile by tile with these processes and resources (time unit: cycles):

* DRAM: one channel (`simpy.Resource`, capacity 1) held for bytes / (bytes per cycle) per
  transfer; its latency is pipelined (paid after the channel is released, so transfers of
  different tiles overlap their latencies).
* One DMA process per operand stream: loads of A tiles, loads of B tiles, output runs
  (acquire a buffer slot and read back spilled partial sums), and stores of finished runs.
* On-chip buffers: per operand a `simpy.Container` of slots, 2 when its level is double
  buffered, else 1. A slot is taken before a tile is loaded and given back after the last tile
  that uses it (outputs: after its store has left the buffer).
* One port per on-chip level (`_Port`): served first come, first served, like a capacity-1
  `simpy.Resource`, but kept as a calendar (the time it is next free) because the array uses
  it on every tile and a Resource costs four events per use. The array holds it for a tile's
  reads / read B/cycle + writes / write B/cycle, DMA fills and drains for theirs.
* The compute array: one process that runs the tiles in the Mapping's loop order; a tile
  takes its fold cycles (MODEL.md 3.2) or, if longer, its port time.

Whenever the array waits, the wait is charged to a cause (docs/MODEL.md, "Detailed engine"):
`buffer_port`, `dram_latency`, `buffer_capacity` (the transfer waited for a free slot while
the DRAM channel sat idle, so a larger buffer would have started it earlier), `dram_bandwidth`
(the rest: channel queue, transfer time, earlier transfers); `drain` is the time after the last
tile for the last stores. compute + all stalls =
cycles.
"""
from __future__ import annotations

import bisect
import csv
import json
import math
from pathlib import Path

import numpy as np
import simpy

from nmsim.mapping import Mapping
from nmsim.problem import Gemm

from .analytic import port_cycles, work_and_energy
from .hw import HwParams
from .schedule import TileSchedule, build_schedule

STALL_CAUSES = ("dram_bandwidth", "dram_latency", "buffer_capacity", "buffer_port", "drain")


class Trace:
    """Start/end of every tile, transfer and stall per resource (cycles), written as Chrome trace
    JSON or CSV.

    Layers of a workload run one after another: `advance(cycles)` closes the current layer's span
    (track `layers`) and moves the origin past it. Tracks (docs/MODEL.md 9): `layers` (one span per
    layer), `array` (compute tiles), `stalls` (the array waiting, one slice per cause), `dram:<stream>`
    (loads and stores), `vector` (non-GEMM layers). At most `max_events` tile/transfer/stall events are kept (a trace is for
    looking at, not for summing); `dropped` counts the rest; layer spans are always kept. `title`
    names the process (arch and workload).
    """

    LEGEND = {"layers": "one span per layer (op), in execution order",
              "array": "compute tiles: tile i (m, n, k tile indices)",
              "stalls": "the array idle, by cause: " + ", ".join(STALL_CAUSES) + " (docs/MODEL.md 9)",
              "dram:<stream>": "DRAM transfers of one operand stream (A, B loads; C read-back, C store)",
              "vector": "non-GEMM layers on the vector unit (norms, softmax, activations, ...), one span each"}

    def __init__(self, clock_hz: float, max_events: int = 1_000_000, title: str = "nmsim detailed engine"):
        self.clock_hz = clock_hz
        self.max_events = max_events
        self.title = title
        self.events: list[tuple[str, str, str, float, float]] = []
        self.spans: list[tuple[str, str, str, float, float]] = []
        self.origin = 0.0
        self.layer = ""
        self.dropped = 0

    def add(self, resource: str, name: str, start: float, end: float) -> None:
        """Record `name` on `resource` from `start` to `end` (cycles since the layer began)."""
        if end <= start:
            return
        if len(self.events) < self.max_events:
            self.events.append((self.layer, resource, name, self.origin + start, self.origin + end))
        else:
            self.dropped += 1

    def advance(self, cycles: float) -> None:
        """Close the current layer's span (`cycles` long) and start the next layer after it."""
        self.spans.append((self.layer, "layers", self.layer, self.origin, self.origin + cycles))
        self.origin += cycles

    def write(self, path: str | Path) -> None:
        """CSV (layer, resource, name, start_cycle, end_cycle) for a .csv path, else Chrome trace JSON
        (chrome://tracing, ui.perfetto.dev; ts/dur in microseconds at the arch clock)."""
        path = Path(path)
        rows = self.spans + self.events
        if path.suffix.lower() == ".csv":
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["layer", "resource", "name", "start_cycle", "end_cycle"])
                w.writerows(rows)
            return
        us = 1e6 / self.clock_hz
        order = ["layers", "array", "stalls"] + sorted({r for _, r, *_ in self.events} - {"array", "stalls"})
        tids = {r: i + 1 for i, r in enumerate(order)}
        out = [{"name": name, "cat": res if res in ("layers", "stalls") else layer, "ph": "X", "ts": s * us,
                "dur": (e - s) * us, "pid": 1, "tid": tids[res],
                "args": {"layer": layer, "start_cycle": s, "end_cycle": e}} for layer, res, name, s, e in rows]
        meta = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": self.title}}]
        meta += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": t, "args": {"name": r}} for r, t in tids.items()]
        meta += [{"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": t, "args": {"sort_index": t}}
                 for t in tids.values()]
        path.write_text(json.dumps({"traceEvents": meta + out, "displayTimeUnit": "ns",
                                    "otherData": {"clock_hz": self.clock_hz, "dropped_events": self.dropped,
                                                  "legend": self.LEGEND}}))


class _Port:
    """A buffer port serving requests in arrival order; `use(now, cycles)` returns when that use ends."""

    __slots__ = ("free_at",)

    def __init__(self):
        self.free_at = 0.0

    def use(self, now: float, cycles: float) -> float:
        """Book `cycles` of port time asked for at `now` (cycles); returns the end of the booking."""
        self.free_at = max(now, self.free_at) + cycles
        return self.free_at


class _Item:
    """Phases of one transfer feeding the array (times in cycles); `ev` fires when it is usable."""

    __slots__ = ("ev", "start", "slot", "chan_end", "lat_end", "ready")

    def __init__(self, env: simpy.Environment):
        self.ev = env.event()
        self.start = self.slot = self.chan_end = self.lat_end = self.ready = 0.0


class _Run:
    """One engine run of a TileSchedule."""

    def __init__(self, hw: HwParams, s: TileSchedule, trace: Trace | None, resident: frozenset = frozenset()):
        self.hw, self.s, self.trace = hw, s, trace
        self.resident = resident  # operands on chip before the op starts (MODEL.md 3.10): nothing to load
        self.env = env = simpy.Environment()
        self.dram = simpy.Resource(env, capacity=1)
        # Busy intervals of the channel (FIFO, so ordered and disjoint) and busy time before each end.
        self.busy_start: list[float] = []
        self.busy_end: list[float] = []
        self.busy_cum: list[float] = [0.0]
        # Per level a read and a write port: one calendar when they are shared (MODEL.md 3.3).
        separate = hw.level_ports_separate or (False,) * len(hw.level_names)
        self.rd_ports = [_Port() for _ in hw.level_names]
        self.wr_ports = [_Port() if sep else rd for sep, rd in zip(separate, self.rd_ports)]
        db = hw.level_double_buffered or (hw.all_double_buffered,) * len(hw.level_names)
        self.lev = hw.outer_of  # DRAM fills and drains the outermost keeper of each operand
        self.slots = {op: simpy.Container(env, capacity=2 if db[i] else 1, init=2 if db[i] else 1)
                      for op, i in self.lev.items()}
        self.stall = dict.fromkeys(STALL_CAUSES, 0.0)
        self.compute_end = 0.0
        self.store_end = 0.0

        n = len(s)
        self.a_ver = np.cumsum(s.a_new) - 1
        self.b_ver = np.cumsum(s.b_new) - 1
        self.c_run = np.cumsum(s.c_first) - 1
        last = np.ones(n, dtype=bool)
        self.a_last = last.copy()
        self.a_last[:-1] = s.a_new[1:]
        self.b_last = last.copy()
        self.b_last[:-1] = s.b_new[1:]
        self.a_items = [_Item(env) for _ in range(int(s.a_new.sum()))]
        self.b_items = [_Item(env) for _ in range(int(s.b_new.sum()))]
        self.c_items = [_Item(env) for _ in range(int(s.c_first.sum()))]
        self.c_done = [env.event() for _ in self.c_items]
        self.c_stored = [env.event() for _ in self.c_items]
        # A spilled output tile is read back only after its previous visit's store (data dependency).
        self.c_prev = self._previous_visits()

    def _previous_visits(self) -> list[int]:
        """Per output run, the run that last held the same output tile (-1 if none)."""
        s = self.s
        seen: dict[tuple, int] = {}
        prev = []
        # Visits of a tile go through k in order, so a run with k > 0 always follows one of the
        # same GEMM: keying by (m, n) alone cannot pick a run of another GEMM of the batch.
        for r, i in enumerate(np.flatnonzero(s.c_first)):
            key = (int(s.im[i]), int(s.in_[i]))
            prev.append(seen.get(key, -1) if s.ik[i] > 0 else -1)
            seen[key] = r
        return prev

    # --- DMA --------------------------------------------------------------------------------
    def _channel(self, cycles: float, stream: str, name: str):
        """Hold the DRAM channel for a transfer of `cycles`; returns the time it started."""
        with self.dram.request() as req:
            yield req
            t0 = self.env.now
            yield self.env.timeout(cycles)
        self.busy_start.append(t0)
        self.busy_end.append(self.env.now)
        self.busy_cum.append(self.busy_cum[-1] + self.env.now - t0)
        if self.trace is not None:
            self.trace.add(f"dram:{stream}", name, t0, self.env.now)
        return t0

    def _land(self, item: _Item, nbytes: float, level: int, started: float) -> None:
        """The loaded block streams into the buffer as it arrives (from `started` plus the latency),
        through the level's write port; it is usable once both the transfer and the buffer writes
        are done. A callback rather than a process: one per transfer adds up on big layers."""
        env, hw = self.env, self.hw
        lat = hw.dram_latency_cycles + hw.level_latency_cycles[level]
        item.lat_end = env.now + lat
        written = self.wr_ports[level].use(started + lat, nbytes / hw.write_bpc[level])

        def usable(_):
            item.ready = env.now
            item.ev.succeed()

        env.timeout(max(item.lat_end, written) - env.now).callbacks.append(usable)

    def _loader(self, operand: str, stream: str, items: list[_Item], nbytes: np.ndarray, cycles: np.ndarray):
        env, level = self.env, self.lev[operand]
        for v, item in enumerate(items):
            item.start = env.now
            yield self.slots[operand].get(1)
            item.slot = env.now
            started = yield from self._channel(cycles[v], stream, f"{stream} {v}")
            item.chan_end = env.now
            self._land(item, nbytes[v], level, started)

    def _out_loader(self, readback: np.ndarray, cycles: np.ndarray):
        env, level = self.env, self.lev["outputs"]
        for r, item in enumerate(self.c_items):
            item.start = env.now
            yield self.slots["outputs"].get(1)
            item.slot = env.now
            if self.c_prev[r] >= 0 and not self.c_stored[self.c_prev[r]].triggered:
                yield self.c_stored[self.c_prev[r]]
            if readback[r] > 0:
                started = yield from self._channel(cycles[r], "out-read", f"read-back {r}")
                item.chan_end = env.now
                self._land(item, readback[r], level, started)
            else:
                item.chan_end = item.lat_end = item.ready = env.now
                item.ev.succeed()

    def _storer(self, store: np.ndarray, cycles: np.ndarray, switches: np.ndarray):
        env, level, hw = self.env, self.lev["outputs"], self.hw
        lat = hw.dram_latency_cycles + hw.level_latency_cycles[level]
        for r, done in enumerate(self.c_done):
            yield done
            if store[r] == 0:  # final outputs kept on chip (MODEL.md 3.10): nothing leaves
                self.slots["outputs"].put(1)
                self.c_stored[r].succeed()
                continue
            # The block is read out of the buffer as it streams to DRAM.
            drained = self.rd_ports[level].use(env.now, store[r] / hw.read_bpc[level])
            # Its batches alternate with loads only if loads are waiting for the channel.
            extra = switches[r] if self.dram.queue or self.dram.count else 0.0
            yield from self._channel(cycles[r] + extra, "out-store", f"store {r}")
            if drained > env.now:
                yield env.timeout(drained - env.now)
            # The block has left the buffer: its slot is free while the write is still in flight.
            self.slots["outputs"].put(1)
            self.store_end = max(self.store_end, env.now + lat)
            t = env.timeout(lat)
            t.callbacks.append(lambda _, ev=self.c_stored[r]: ev.succeed())

    # --- the array --------------------------------------------------------------------------
    def _busy_before(self, t: float) -> float:
        """DRAM channel busy time (cycles) before time t."""
        i = bisect.bisect_right(self.busy_end, t)
        busy = self.busy_cum[i]
        if i < len(self.busy_start) and self.busy_start[i] < t:
            busy += t - self.busy_start[i]
        return busy

    def _blame(self, item: _Item, w0: float, w1: float) -> None:
        """Charge the array's wait [w0, w1] for `item` to causes, latest phase first."""
        left = w1 - w0
        slot_wait = item.slot - item.start
        channel_idle = slot_wait - (self._busy_before(item.slot) - self._busy_before(item.start)) if slot_wait > 0 else 0.0
        t = w1
        for cause, span in (("buffer_port", item.ready - item.lat_end), ("dram_latency", item.lat_end - item.chan_end),
                            ("buffer_capacity", channel_idle)):
            part = min(left, max(span, 0.0))
            self.stall[cause] += part
            left -= part
            self._stall_slice(cause, t - part, t)
            t -= part
        self.stall["dram_bandwidth"] += left
        self._stall_slice("dram_bandwidth", w0, w0 + left)

    def _stall_slice(self, cause: str, t0: float, t1: float) -> None:
        """A stall slice on the trace's `stalls` track (latest phase last, as charged)."""
        if self.trace is not None:
            self.trace.add("stalls", f"stall: {cause}", t0, t1)

    def _compute(self):
        env, s, hw = self.env, self.s, self.hw
        rd_t = s.array_read_bytes / np.asarray(hw.read_bpc)[:, None] + s.port_extra_cycles
        wr_t = s.array_write_bytes / np.asarray(hw.write_bpc)[:, None]
        busy_levels = [lv for lv in range(len(hw.level_names)) if rd_t[lv].any() or wr_t[lv].any()]
        for i in range(len(s)):
            run = self.c_run[i]
            for item in (self.a_items[self.a_ver[i]], self.b_items[self.b_ver[i]], self.c_items[run]):
                if not item.ev.triggered:
                    w0 = env.now
                    yield item.ev
                    self._blame(item, w0, env.now)
            t0 = env.now
            cyc = s.compute_cycles[i]
            end = t0 + cyc
            for lv in busy_levels:
                if self.wr_ports[lv] is self.rd_ports[lv]:  # shared: reads and writes take turns
                    end = max(end, self.rd_ports[lv].use(t0, rd_t[lv, i] + wr_t[lv, i]))
                else:
                    end = max(end, self.rd_ports[lv].use(t0, rd_t[lv, i]), self.wr_ports[lv].use(t0, wr_t[lv, i]))
            yield env.timeout(end - t0)
            self.stall["buffer_port"] += max(0.0, end - t0 - cyc)  # (t0 + cyc) - t0 - cyc can round below 0
            self._stall_slice("buffer_port", t0 + cyc, end)
            if self.trace is not None:
                self.trace.add("array", f"tile {i} (m{s.im[i]} n{s.in_[i]} k{s.ik[i]})", t0, env.now)
            if self.a_last[i] and "A" not in self.resident:
                self.slots["inputs"].put(1)
            if self.b_last[i] and "B" not in self.resident:
                self.slots["weights"].put(1)
            if s.c_last[i]:
                self.c_done[run].succeed()
        self.compute_end = env.now

    def run(self) -> float:
        """Simulate to the end; returns the cycles until the last store has landed."""
        s, env = self.s, self.env
        loads = (("inputs", "A", self.a_items, s.a_load_bytes[s.a_new], s.a_load_cycles[s.a_new]),
                 ("weights", "B", self.b_items, s.b_load_bytes[s.b_new], s.b_load_cycles[s.b_new]))
        for operand, stream, items, nbytes, cycles in loads:
            if stream in self.resident:
                for item in items:
                    item.ev.succeed()
            else:
                env.process(self._loader(operand, stream, items, nbytes, cycles))
        env.process(self._out_loader(s.c_read_bytes[s.c_first], s.c_read_cycles[s.c_first]))
        env.process(self._storer(s.c_store_bytes[s.c_last], s.c_store_cycles[s.c_last],
                                 s.c_store_switch_cycles[s.c_last]))
        env.process(self._compute())
        env.run()
        end = max(self.compute_end, self.store_end)
        self.stall["drain"] = end - self.compute_end
        self._stall_slice("drain", self.compute_end, end)
        return end


def engine_cost(hw: HwParams, gemm: Gemm, mapping: Mapping, trace: Trace | None = None, layer: str = "") -> dict:
    """Cost of `gemm` under `mapping` from the detailed engine: the keys of analytic.gemm_cost
    (cycles, cycle breakdown, bytes per level, energy in pJ) plus `stall_<cause>_cycles` for the
    causes in STALL_CAUSES and `tiles`. Scalars (Python floats/ints). `layer` names the op in the trace."""
    s = build_schedule(hw, gemm, mapping.completed(hw.n_tiers))
    if trace is not None:
        trace.layer = layer
    run = _Run(hw, s, trace, gemm.resident)
    end = run.run()
    cycles = int(math.ceil(end - 1e-9))
    rd, wr = s.level_bytes(hw)
    macs_eff = gemm.batch * gemm.M * gemm.N * int(gemm.k_nnz(gemm.K))
    out = work_and_energy(hw, cycles, macs_eff, [float(x) for x in rd], [float(x) for x in wr], s.dram_read_bytes,
                          s.dram_write_bytes, sparse=gemm.sparse, act_density=gemm.act_density)
    out = {k: (v.item() if isinstance(v, np.generic | np.ndarray) else v) for k, v in out.items()}
    buffer_cycles = port_cycles(hw, rd, wr, list(s.port_extra_cycles.sum(axis=1)))
    out.update(compute_cycles=float(s.compute_cycles.sum()), buffer_cycles=float(buffer_cycles),
               dram_cycles=s.dram_cycles, tiles=len(s),
               **{f"stall_{c}_cycles": float(v) for c, v in run.stall.items()})
    return out
