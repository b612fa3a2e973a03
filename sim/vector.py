"""Non-GEMM operators on a systolic arch's vector unit (docs/MODEL.md 11.2).

Kept apart from the GEMM model (sim/analytic.py) so that a change of the memory hierarchy
touches only the traffic rule here:

* `VectorParams`: the scalars of an arch's vector unit, its memory level and DRAM that the cost
  needs, pulled out once (numeric fields may be `[designs]` arrays: dse costs many designs at once);
* `vector_terms`: compute cycles (operations / (lanes x rate per class), at the vector clock, in
  array cycles), the traffic (an unfused op streams its operands in from DRAM through the unit's
  level and its result back, as every GEMM of the layer-by-layer model does, unless that level
  keeps activations between ops and they fit there, MODEL.md 3.10: then they stay on chip; a fused
  activation moves nothing of its own), the overlapped cycles and the energy;
* `vector_cost`: the same as a `LayerResult`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from nmsim.accel import SystolicArch
from nmsim.problem import OP_CLASSES
from nmsim.workloads import NonGemmOp

from .results import LayerResult

VECTOR_ENERGY_PARTS = ("vector", "buffer", "dram", "static")
_BOUND = {"compute_cycles": "compute", "buffer_cycles": "buffer", "dram_cycles": "dram"}


@dataclass(frozen=True)
class VectorParams:
    """Flat view of a systolic arch's vector unit (cycles of the array clock, bytes, pJ)."""

    level: str                    # memory level the unit reads and writes through
    clock_hz: float               # array clock (Hz)
    clock_ratio: float            # array cycles per vector cycle
    lanes: float
    rate: tuple                   # operations per lane per cycle, per class of OP_CLASSES
    op_pj: tuple                  # pJ per operation, per class
    operand_bytes: float
    read_bpc: float               # the level's ports (B/cycle)
    write_bpc: float
    latency_cycles: float         # DRAM + level latency (cycles)
    dram_bpc: float
    level_read_pj: float          # pJ per byte read from / written to the level (MODEL.md 3.8)
    level_write_pj: float
    dram_pj: float
    static_w: float
    resident_bytes: float = 0.0   # the level's capacity when it keeps activations between ops, else 0
    level_latency_cycles: float = 0.0

    @staticmethod
    def from_arch(arch: SystolicArch) -> "VectorParams | None":
        """The vector unit's parameters, or None when the arch describes no vector unit."""
        v = arch.vector
        if v is None:
            return None
        lv = next(m for m in arch.memory if m.name == v.level)
        clk = arch.clock_hz
        return VectorParams(
            level=v.level, clock_hz=clk, clock_ratio=clk / (v.clock_hz or clk), lanes=v.lanes,
            rate=tuple(v.ops_per_cycle[c] for c in OP_CLASSES), op_pj=tuple(v.energy_pj[c] for c in OP_CLASSES),
            operand_bytes=arch.compute.operand_bits / 8, read_bpc=lv.read_bytes_per_cycle,
            write_bpc=lv.write_bytes_per_cycle, latency_cycles=arch.dram.latency_s * clk + lv.latency_cycles,
            dram_bpc=arch.dram.bytes_per_s / clk, level_read_pj=arch.energy.read_pj(lv.name),
            level_write_pj=arch.energy.write_pj(lv.name), dram_pj=arch.energy.read_pj("dram"),
            static_w=arch.energy.static_w, resident_bytes=float(lv.capacity_bytes) if lv.keeps_activations else 0.0,
            level_latency_cycles=float(lv.latency_cycles))

    @staticmethod
    def stack(vps: list["VectorParams"]) -> "VectorParams":
        """One VectorParams whose numeric fields are `[len(vps)]` arrays (level from the first)."""
        kw = {}
        for f in fields(VectorParams):
            vals = [getattr(v, f.name) for v in vps]
            if f.name == "level":
                kw[f.name] = vals[0]
            elif isinstance(vals[0], tuple):
                kw[f.name] = tuple(np.array(col, dtype=np.float64) for col in zip(*vals))
            else:
                kw[f.name] = np.array(vals, dtype=np.float64)
        return VectorParams(**kw)


def vector_terms(vp: VectorParams, op: NonGemmOp) -> dict:
    """Cycles of the array clock (int64), latency_s, compute/buffer/dram_cycles, bytes_level,
    bytes_dram (B) and energy_<part>_pj / energy_pj (pJ) of `op` (MODEL.md 11.2):

        compute = sum over classes of ceil(ops_c / (lanes * rate_c)) * clock_ratio
        unfused: cycles = ceil(max(compute, port, dram) + 2 * latency), port = (rd + wr) / read
                 B/cycle + (wr + rd) / write B/cycle (the unit's reads and writes, plus the DRAM
                 fills and drains), dram = (rd + wr) / DRAM B/cycle
        fused:   cycles = ceil(compute), no bytes
    """
    ops = op.ops_by_class()
    compute = sum(np.ceil(ops[c] / (vp.lanes * vp.rate[i])) for i, c in enumerate(OP_CLASSES)) * vp.clock_ratio
    rd, wr = (0.0, 0.0) if op.fused else (op.elements_read * vp.operand_bytes, op.elements_written * vp.operand_bytes)
    # on chip when the level keeps activations and they fit (MODEL.md 3.10): no fills or drains
    kept = np.asarray(rd + wr <= vp.resident_bytes)
    level_rd = np.where(kept, rd, rd + wr)        # the unit's reads, plus drains to DRAM
    level_wr = np.where(kept, wr, rd + wr)        # the unit's writes, plus fills from DRAM
    port = level_rd / vp.read_bpc + level_wr / vp.write_bpc
    dram_rd, dram_wr = np.where(kept, 0.0, rd), np.where(kept, 0.0, wr)
    dram = (dram_rd + dram_wr) / vp.dram_bpc
    latency = np.where(kept, vp.level_latency_cycles, vp.latency_cycles)
    if op.fused:
        cycles = np.ceil(compute)
    else:
        cycles = np.ceil(np.maximum(np.maximum(compute, port), dram) + 2 * latency)
    cycles = np.asarray(cycles).astype(np.int64)
    latency_s = cycles / vp.clock_hz
    level_bytes, dram_bytes = level_rd + level_wr, dram_rd + dram_wr
    e_rd, e_wr = level_rd * vp.level_read_pj, level_wr * vp.level_write_pj
    parts = {"energy_vector_pj": sum(ops[c] * vp.op_pj[i] for i, c in enumerate(OP_CLASSES)),
             "energy_buffer_pj": e_rd + e_wr, "energy_dram_pj": dram_bytes * vp.dram_pj,
             "energy_static_pj": vp.static_w * latency_s * 1e12}
    return {"cycles": cycles, "latency_s": latency_s, "compute_cycles": compute, "buffer_cycles": port,
            "dram_cycles": dram, "bytes_level": level_bytes, "bytes_dram": dram_bytes, **parts,
            "energy_level_read_pj": e_rd, "energy_level_write_pj": e_wr, "energy_dram_read_pj": dram_rd * vp.dram_pj,
            "energy_dram_write_pj": dram_wr * vp.dram_pj, "energy_pj": sum(parts.values())}


def vector_cost(arch: SystolicArch, op: NonGemmOp, vp: VectorParams | None = None) -> LayerResult:
    """Cycles (array clock), latency (s), bytes per level and energy (pJ) of `op` on `arch`'s
    vector unit (vector_terms); `arch.vector` must be set; `vp` saves re-reading the arch."""
    vp = vp or VectorParams.from_arch(arch)
    r = {k: float(v) for k, v in vector_terms(vp, op).items()}
    breakdown = {k: r[k] for k in _BOUND}
    return LayerResult.for_nongemm(
        op, operand_bytes=vp.operand_bytes, cycles=int(r["cycles"]), latency_s=r["latency_s"],
        bytes={**{lv.name: (r["bytes_level"] if lv.name == vp.level else 0.0) for lv in arch.memory},
               "dram": r["bytes_dram"]},
        energy_pj=r["energy_pj"], energy_breakdown_pj={p: r[f"energy_{p}_pj"] for p in VECTOR_ENERGY_PARTS},
        energy_actions_pj={"vector": r["energy_vector_pj"], f"{vp.level}.read": r["energy_level_read_pj"],
                           f"{vp.level}.write": r["energy_level_write_pj"], "dram.read": r["energy_dram_read_pj"],
                           "dram.write": r["energy_dram_write_pj"], "static": r["energy_static_pj"]},
        cycle_breakdown=breakdown, bottleneck=_BOUND[max(breakdown, key=breakdown.get)])


def uncosted_nongemm(op: NonGemmOp, levels: list[str], operand_bytes: float, why: str) -> LayerResult:
    """A zero-cost layer for `op` on a target that does not model non-GEMM work, with the note
    `why` (printed as a warning); `levels` name the byte counters the target reports."""
    return LayerResult.for_nongemm(
        op, operand_bytes=operand_bytes, cycles=0, latency_s=0.0, bytes={lv: 0.0 for lv in levels}, energy_pj=0.0,
        energy_breakdown_pj={}, cycle_breakdown={}, bottleneck="", costed=False, notes=[why])
