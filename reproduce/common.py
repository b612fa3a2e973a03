"""Helpers shared by the reproductions: exact de-duplication of repeated layers."""
from __future__ import annotations

from dataclasses import replace

from nmsim.workloads import Op, Workload

# Every reproduced GEMM runs the mapping the heuristic mapper finds before the run: the stand-in
# for the papers' own scheduling (SAT's "offline scheduling"); dense baselines get the same.
MAPPER = "heuristic"


def shape_key(op: Op) -> Op:
    """`op` without its name: equal keys, identical costs."""
    # Ops compare by every field but the name (ConvShape is excluded from comparison), so two
    # ops with the same key get identical results from the deterministic cost model.
    return replace(op, name="")


def unique_ops(workload: Workload) -> tuple[Workload, list[int]]:
    """`workload`'s GEMMs with repeated identical layers kept once (first name), and how many times
    each occurs. Costing the unique ops and weighting by the counts equals costing every op: a
    12-layer BERT has 5 distinct GEMM shapes. Masks are dropped (the reproductions override the
    patterns of every op). For the training step, which costs GEMMs only (docs/MODEL.md 10)."""
    return _kept_once(workload, workload.distinct_ops())


def unique_layers(workload: Workload) -> tuple[Workload, list[int]]:
    """As `unique_ops`, over every op, GEMM or not (inference: non-GEMM ops are costed too); the
    counts follow the returned workload's `layers`."""
    return _kept_once(workload, workload.distinct_layers())


def _kept_once(workload: Workload, distinct: list) -> tuple[Workload, list[int]]:
    return (Workload(name=workload.name, ops=[op for op, _ in distinct], description=workload.description),
            [n for _, n in distinct])


def weighted(values, counts: list[int]) -> float:
    """Sum of per-unique-op `values` weighted by their occurrence `counts`."""
    return float(sum(v * c for v, c in zip(values, counts)))


def preset_summary(arch) -> dict:
    """The numbers of a systolic preset that the reproduction rests on (units in the keys)."""
    c = arch.compute
    return {"name": arch.name, "array": f"{c.rows}x{c.cols}x{c.macs_per_pe}", "clock_hz": c.clock_hz,
            "operand_bits": c.operand_bits, "dense_macs_per_cycle": arch.peak_macs_per_cycle,
            "onchip_bytes": sum(m.capacity_bytes for m in arch.memory), "dram_bytes_per_s": arch.dram.bytes_per_s,
            "nm_patterns": list(arch.sparsity.nm.patterns) if arch.sparsity.nm else []}
