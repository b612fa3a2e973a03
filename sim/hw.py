"""`HwParams`: the scalars of a systolic `Arch` that the cost model needs, pulled out once.

Keeping them in a flat frozen dataclass lets the vectorized cost function run over thousands of
candidate mappings without touching pydantic objects in the hot path. Per-level fields are tuples
indexed like `level_names` (the arch's memory list, outermost first); ports are of all instances
of a level together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from nmsim.accel import OPERANDS, SystolicArch
from nmsim.problem import DATAFLOWS


@dataclass(frozen=True)
class HwParams:
    """Flat view of a systolic Arch (cycles, bytes, pJ)."""

    name: str
    rows: int
    cols: int
    macs_per_pe: int
    clock_hz: float
    operand_bytes: float
    acc_bytes: float
    level_names: tuple[str, ...]
    keepers: dict  # operand -> tuple of indices into level_names that keep it, outermost first
    read_bpc: tuple[float, ...]    # all instances of the level (bytes/cycle)
    write_bpc: tuple[float, ...]
    level_latency_cycles: tuple[int, ...]
    all_double_buffered: bool
    dram_bpc: float
    dram_latency_cycles: float
    mac_pj: float
    index_decode_pj: float
    level_read_pj: tuple[float, ...]   # pJ per byte read at each level
    level_write_pj: tuple[float, ...]  # pJ per byte written
    dram_read_pj: float
    dram_write_pj: float
    static_w: float
    zero_skipping: bool
    level_double_buffered: tuple[bool, ...] = ()  # per level; the detailed engine's slots per operand
    tier_of: tuple[int, ...] = (0,)  # per level: the tier (tile of the mapping) it holds, outermost 0
    level_per_pe: tuple[bool, ...] = ()  # per level: one instance per PE (a PE's register file, MODEL.md 3.9)
    level_ports_separate: tuple[bool, ...] = ()   # per level: reads and writes in parallel (MODEL.md 3.3)
    # per level, per dataflow code (ws, os, is): beats its streamed reader runs ahead (inf: no limit)
    level_prefetch_steps: tuple[tuple[float, float, float], ...] = ()
    level_prefetch_latency: tuple[float, ...] = ()  # per level: cycles from a freed slot to its data (MODEL.md 3.3)
    preload_overlap: bool = False                 # WS/IS preload hidden under the previous fold (MODEL.md 3.2)
    dram_access_bytes: float = 1.0                # DRAM efficiency (MODEL.md 3.4-3.5): access granularity,
    dram_refresh_fraction: float = 0.0            # time lost to refresh,
    dram_page_bytes: float = 0.0                  # page size and
    dram_page_cycles: float = 0.0                 # cycles lost per page change,
    dram_rw_batch_bytes: float = 0.0              # bytes per read or write batch and
    dram_rw_cycles: float = 0.0                   # cycles lost per read/write switch

    @property
    def n_tiers(self) -> int:
        """Tiers of on-chip levels: tiles a mapping gives (docs/MODEL.md 3.9)."""
        return max(self.tier_of) + 1

    @property
    def outer_of(self) -> dict[str, int]:
        """Operand -> the level DRAM fills (its outermost keeper)."""
        return {op: ks[0] for op, ks in self.keepers.items()}

    @property
    def inner_of(self) -> dict[str, int]:
        """Operand -> the level the array reads and writes (its innermost keeper)."""
        return {op: ks[-1] for op, ks in self.keepers.items()}

    @staticmethod
    def from_arch(arch: SystolicArch) -> "HwParams":
        """Extract the cost-model parameters of a systolic arch."""
        c, e, mem, d = arch.compute, arch.energy, arch.memory, arch.dram
        names = tuple(lv.name for lv in mem)
        return HwParams(
            name=arch.name, rows=c.rows, cols=c.cols, macs_per_pe=c.macs_per_pe, clock_hz=c.clock_hz,
            operand_bytes=c.operand_bits / 8, acc_bytes=c.accumulator_bits / 8,
            level_names=names,
            keepers={op: tuple(names.index(lv.name) for lv in arch.keepers(op)) for op in OPERANDS},
            read_bpc=tuple(lv.read_bytes_per_cycle * lv.instances for lv in mem),
            write_bpc=tuple(lv.write_bytes_per_cycle * lv.instances for lv in mem),
            level_latency_cycles=tuple(lv.latency_cycles for lv in mem),
            all_double_buffered=all(lv.double_buffered for lv in mem),
            dram_bpc=arch.dram.bytes_per_s / c.clock_hz,
            dram_latency_cycles=arch.dram.latency_s * c.clock_hz,
            mac_pj=e.mac_pj, index_decode_pj=e.index_decode_pj,
            level_read_pj=tuple(e.read_pj(n) for n in names), level_write_pj=tuple(e.write_pj(n) for n in names),
            dram_read_pj=e.read_pj("dram"), dram_write_pj=e.write_pj("dram"), static_w=e.static_w,
            zero_skipping=arch.sparsity.activation_zero_skipping,
            level_double_buffered=tuple(lv.double_buffered for lv in mem),
            tier_of=tuple(arch.tier_of()),
            level_per_pe=tuple(lv.instances == c.rows * c.cols for lv in mem),
            level_ports_separate=tuple(lv.ports == "separate" for lv in mem),
            level_prefetch_steps=tuple(_steps_per_dataflow(lv.prefetch_steps) for lv in mem),
            level_prefetch_latency=tuple(float(lv.prefetch_latency_cycles) for lv in mem),
            preload_overlap=c.preload_overlap,
            dram_access_bytes=float(d.access_bytes), dram_refresh_fraction=d.refresh_fraction,
            dram_page_bytes=float(d.page_bytes), dram_page_cycles=d.page_change_s * c.clock_hz,
            dram_rw_batch_bytes=float(d.rw_batch_bytes), dram_rw_cycles=d.rw_switch_s * c.clock_hz,
        )


def _steps_per_dataflow(steps) -> tuple[float, float, float]:
    """A level's prefetch_steps as beats per dataflow code (ws, os, is); inf where it sets no limit."""
    if steps is None:
        return (math.inf,) * len(DATAFLOWS)
    if isinstance(steps, dict):
        return tuple(float(steps[df]) if df in steps else math.inf for df in DATAFLOWS)
    return (float(steps),) * len(DATAFLOWS)
