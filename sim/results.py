"""Result records of a simulation and their JSON/CSV forms (the design's JSON contract)."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nmsim.specfile import SpecError, atomic_path

SUMMED = ("cycles", "latency_s", "macs_dense", "macs_effective", "energy_pj")
# Cycles of one layer: 2^62 is 146 years at 1 GHz. More means the arch or mapping is far off (tiles
# of one element on a 65,536-wide array); refused, because result stores keep cycles as int64.
MAX_CYCLES = 1 << 62
# Floating-point slack of utilization = MACs / (cycles x peak) when both are exact integers.
_UTIL_SLACK = 1e-9


class ImpossibleFigure(RuntimeError):
    """A cost model produced a figure that cannot be (NaN, infinite, negative, utilization above 1):
    a bug in nmsim, never a user error. Raised instead of reporting the figure."""


def check_figures(lr: "LayerResult") -> None:
    """ImpossibleFigure when a figure of `lr` is NaN, infinite or negative, or its utilization
    exceeds 1; SpecError when its cycles exceed MAX_CYCLES (inputs far off)."""
    figures = {"cycles": lr.cycles, "latency_s": lr.latency_s, "utilization": lr.utilization,
               "macs_dense": lr.macs_dense, "macs_effective": lr.macs_effective, "energy_pj": lr.energy_pj,
               **{f"bytes.{k}": v for k, v in lr.bytes.items()},
               **{f"energy_breakdown_pj.{k}": v for k, v in lr.energy_breakdown_pj.items()}}
    for name, v in figures.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ImpossibleFigure(f"layer '{lr.name}': {name} = {v!r} (a bug in nmsim's cost model)")
    if lr.utilization > 1 + _UTIL_SLACK:
        raise ImpossibleFigure(f"layer '{lr.name}': utilization {lr.utilization:.4g} > 1 (a bug in nmsim's cost model)")
    if lr.cycles > MAX_CYCLES:
        raise SpecError(f"layer '{lr.name}': {lr.cycles:.3g} cycles, more than 2^62 (146 years at 1 GHz); "
                        "the arch (bandwidths, clock) or the mapping (tiles) is far off")


@dataclass
class LayerResult:
    """Cost of one op: cycles, latency (s), utilization (0..1), MACs, bytes per level, energy (pJ)."""

    name: str
    op: str
    M: int
    N: int
    K: int
    batch: int
    sparsity: str            # requested weight pattern
    executed_sparsity: str   # what the hardware ran (see mapping.sparse_plan)
    cycles: int
    latency_s: float
    utilization: float
    macs_dense: int
    macs_effective: int
    bytes: dict[str, float]
    energy_pj: float
    energy_breakdown_pj: dict[str, float] = field(default_factory=dict)
    # cycles by term (compute_cycles, buffer_cycles, dram_cycles; + stall_<cause>_cycles with the
    # detailed engine); empty on GPU presets, whose terms are seconds of a kernel (`kernel`)
    cycle_breakdown: dict[str, float] = field(default_factory=dict)
    mapping: dict | None = None
    notes: list[str] = field(default_factory=list)
    bottleneck: str = ""     # compute | buffer | dram: the largest of the cycle terms ("" if not costed so)
    phases: dict | None = None  # training step only: {"fwd"|"bwd"|"wgrad": {...}, "pregen_cycles": ...}
    # GPU presets only (sim.gpu.kernel_details): {"name", "tile": {block_m, block_n, block_k, num_warps,
    # num_stages, group_m}, "split_k", "ctas", "waves", "occupancy", "compute_s", "memory_s", "hbm_s",
    # "l2_s", "launch_s", "bound"}: the kernel that ran, its tile and its time terms in seconds
    kernel: dict | None = None

    def __post_init__(self) -> None:
        check_figures(self)


@dataclass
class RunResult:
    """All layers of a workload on one arch, with totals."""

    arch: str
    workload: str
    sparsity: str
    layers: list[LayerResult]
    clock_hz: float
    peak_macs_per_cycle: float

    @property
    def total(self) -> dict:
        """Summed cycles, latency, MACs, bytes per level and energy; utilization over the run."""
        tot: dict = {k: sum(getattr(lr, k) for lr in self.layers) for k in SUMMED}
        tot["cycles"] = int(tot["cycles"])
        levels: dict[str, float] = {}
        for lr in self.layers:
            for k, v in lr.bytes.items():
                levels[k] = levels.get(k, 0.0) + v
        tot["bytes"] = levels
        denom = tot["cycles"] * self.peak_macs_per_cycle
        tot["utilization"] = tot["macs_effective"] / denom if denom else 0.0
        return tot

    @property
    def notes(self) -> list[str]:
        """Distinct notes (policy warnings) across layers, in first-seen order."""
        seen: dict[str, None] = {}
        for lr in self.layers:
            for n in lr.notes:
                seen.setdefault(n, None)
        return list(seen)

    def to_dict(self) -> dict:
        """The JSON contract: {arch, workload, sparsity, layers: [...], total: {...}, notes}."""
        return {"arch": self.arch, "workload": self.workload, "sparsity": self.sparsity,
                "clock_hz": self.clock_hz, "layers": [asdict(lr) for lr in self.layers],
                "total": self.total, "notes": self.notes}

    def write_json(self, path: str | Path) -> None:
        """Write `to_dict()` as JSON (strict: a NaN or infinity is an error, never invalid JSON)."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))

    def write_csv(self, path: str | Path) -> None:
        """One row per layer; bytes per level as bytes_<level> columns."""
        levels = sorted({k for lr in self.layers for k in lr.bytes})
        cols = ["name", "op", "M", "N", "K", "batch", "sparsity", "executed_sparsity", "cycles",
                "latency_s", "utilization", "macs_dense", "macs_effective", "energy_pj", "bottleneck"]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols + [f"bytes_{lv}" for lv in levels])
            for lr in self.layers:
                w.writerow([getattr(lr, c) for c in cols] + [lr.bytes.get(lv, 0) for lv in levels])
