"""Result records of a simulation and their JSON/CSV forms (the design's JSON contract)."""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nmsim.specfile import ImpossibleFigure, SpecError, atomic_path
from nmsim.workloads import NonGemmOp

SUMMED = ("cycles", "latency_s", "macs_dense", "macs_effective", "energy_pj")
# Cycles of one layer: 2^62 is 146 years at 1 GHz. More means the arch or mapping is far off (tiles
# of one element on a 65,536-wide array); refused, because result stores keep cycles as int64.
MAX_CYCLES = 1 << 62
# Floating-point slack of utilization = MACs / (cycles x peak) when both are exact integers.
_UTIL_SLACK = 1e-9


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
    """Cost of one op: cycles, latency (s), utilization (0..1), MACs, bytes per level, energy (pJ).

    A GEMM layer has M, N, K as its op. A non-GEMM layer (`nongemm` set, `op` its kind) has M =
    rows and N = cols of its output per batch entry, K None, no MACs and utilization 0 (of the
    MAC array)."""

    name: str
    op: str
    M: int
    N: int
    K: int | None
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
    # by action and level: mac, index_decode, <level>.read, <level>.write, dram.read, dram.write, static
    energy_actions_pj: dict[str, float] = field(default_factory=dict)
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
    # non-GEMM layers only: {"fused", "elements_read", "elements_written", "bytes_read", "bytes_written",
    # "alu_ops", "special_ops", "costed"} (elements, bytes, operations; costed False where the target has
    # no model of them: no vector unit, SCALE-Sim)
    nongemm: dict | None = None

    @property
    def is_nongemm(self) -> bool:
        """True for a non-GEMM operator's layer."""
        return self.nongemm is not None

    @staticmethod
    def for_nongemm(op: NonGemmOp, *, operand_bytes: float, cycles: int, latency_s: float, bytes: dict[str, float],
                    energy_pj: float, energy_breakdown_pj: dict[str, float], cycle_breakdown: dict[str, float],
                    bottleneck: str, costed: bool = True, notes: list[str] | None = None,
                    kernel: dict | None = None, energy_actions_pj: dict[str, float] | None = None) -> "LayerResult":
        """The layer of non-GEMM `op` (operands of `operand_bytes` bytes) with the costs a backend
        computed (cycles, s, bytes per level, pJ)."""
        return LayerResult(
            name=op.name, op=op.kind, M=op.rows, N=op.cols, K=None, batch=op.batch, sparsity="dense",
            executed_sparsity="dense", cycles=cycles, latency_s=latency_s, utilization=0.0, macs_dense=0,
            macs_effective=0, bytes=bytes, energy_pj=energy_pj, energy_breakdown_pj=energy_breakdown_pj,
            energy_actions_pj=dict(energy_actions_pj or {}),
            cycle_breakdown=cycle_breakdown, notes=list(notes or []), bottleneck=bottleneck, kernel=kernel,
            nongemm={"fused": op.fused, "elements_read": op.elements_read, "elements_written": op.elements_written,
                     "bytes_read": op.elements_read * operand_bytes, "bytes_written": op.elements_written * operand_bytes,
                     "alu_ops": op.alu_ops, "special_ops": op.special_ops, "costed": costed})

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
        tot["energy_actions_pj"] = self.energy_actions()
        denom = tot["cycles"] * self.peak_macs_per_cycle
        tot["utilization"] = tot["macs_effective"] / denom if denom else 0.0
        tot.update(self.nongemm_totals())
        return tot

    def energy_actions(self) -> dict[str, float]:
        """Energy by action and level summed over the layers (pJ; empty where the backend prices no
        actions, as on GPUs)."""
        out: dict[str, float] = {}
        for lr in self.layers:
            for k, v in lr.energy_actions_pj.items():
                out[k] = out.get(k, 0.0) + v
        return out

    def nongemm_totals(self) -> dict:
        """Latency (s) and energy (pJ) of the non-GEMM layers and their shares of the run's
        (fractions; 0 when the run has none), and how many of those layers were costed."""
        ng = [lr for lr in self.layers if lr.is_nongemm]
        lat, e = sum(lr.latency_s for lr in ng), sum(lr.energy_pj for lr in ng)
        all_lat, all_e = sum(lr.latency_s for lr in self.layers), sum(lr.energy_pj for lr in self.layers)
        return {"nongemm_latency_s": lat, "nongemm_energy_pj": e,
                "nongemm_share": lat / all_lat if all_lat else 0.0,
                "nongemm_energy_share": e / all_e if all_e else 0.0,
                "nongemm_layers": len(ng), "nongemm_uncosted": sum(not lr.nongemm["costed"] for lr in ng)}

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

    def write_json(self, path: str | Path, prov: dict | None = None) -> None:
        """Write `to_dict()` as a `simulate` result JSON with the provenance `prov`
        (specfile.results.provenance; a bare one naming version, commit and command if None)."""
        from nmsim.specfile.results import provenance, write_result

        write_result(path, "simulate", self.to_dict(), prov or provenance("simulate"))

    def write_csv(self, path: str | Path) -> None:
        """One row per layer; bytes per level as bytes_<level> columns; non-GEMM layers leave K
        empty and fill alu_ops / special_ops (GEMM layers leave those empty)."""
        levels = sorted({k for lr in self.layers for k in lr.bytes})
        cols = ["name", "op", "M", "N", "K", "batch", "sparsity", "executed_sparsity", "cycles",
                "latency_s", "utilization", "macs_dense", "macs_effective", "energy_pj", "bottleneck"]
        extra = ["alu_ops", "special_ops"]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols + extra + [f"bytes_{lv}" for lv in levels])
            for lr in self.layers:
                ng = [lr.nongemm[c] for c in extra] if lr.is_nongemm else ["", ""]
                w.writerow([getattr(lr, c) if getattr(lr, c) is not None else "" for c in cols] + ng
                           + [lr.bytes.get(lv, 0) for lv in levels])
