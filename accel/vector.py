"""The vector unit of a systolic arch: where non-GEMM operators run (docs/MODEL.md 11).

Norms, softmax, activations, residual adds, embeddings and pooling are not matrix multiplies;
accelerators run them on a SIMD unit beside the array (TPUv1's activation pipeline, the vector
units of later TPUs and NPUs). The schema says how wide it is, how fast each class of operation
runs on a lane, what an operation costs in energy, and which on-chip memory level it streams
its operands through. Operation classes are those of `workloads.nongemm`: `alu` (add, multiply,
compare) and `special` (exp, erf, rsqrt, reciprocal, divide).
"""
from __future__ import annotations

from pydantic import Field, field_validator

from nmsim.problem import OP_CLASSES
from nmsim.specfile import StrictModel, bounded_float, bounded_int

# Bounds (docs/RELIABILITY.md), like accel/spec.py's: far beyond any built unit, and a rate's lower
# bound keeps an operator's time finite.
_Lanes = bounded_int(1, 1 << 20, "a million lanes")
_ClockHz = bounded_float(1.0e3, 1.0e12, "1 kHz .. 1 THz: no clocked logic outside it")
_Rate = bounded_float(1.0e-6, 1.0e6, "10^-6 .. 10^6 operations per lane per cycle")
_PicoJoules = bounded_float(0.0, 1.0e6, "a microjoule per operation")


def _per_class(v: dict[str, float], what: str) -> dict[str, float]:
    missing = [c for c in OP_CLASSES if c not in v]
    unknown = [c for c in v if c not in OP_CLASSES]
    if missing or unknown:
        raise ValueError(f"{what} needs exactly the operation classes {', '.join(OP_CLASSES)}"
                         + (f" (missing {', '.join(missing)})" if missing else "")
                         + (f" (unknown {', '.join(unknown)})" if unknown else ""))
    return v


class VectorUnit(StrictModel):
    """A SIMD unit of `lanes` lanes that runs non-GEMM operators, reading and writing through the
    on-chip memory level `level` (and DRAM beyond it)."""

    lanes: _Lanes = Field(description="parallel lanes (elements processed side by side)")
    clock_hz: _ClockHz | None = Field(None, description="vector clock in Hz; default: the array clock")
    ops_per_cycle: dict[str, _Rate] = Field(description="operations per lane per cycle, per operation class "
                                                        "(alu, special)")
    energy_pj: dict[str, _PicoJoules] = Field(description="pJ per operation, per operation class (alu, special)")
    level: str = Field(min_length=1, description="the on-chip memory level the unit reads and writes through")

    @field_validator("ops_per_cycle")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x <= 0 for x in v.values()):
            raise ValueError("ops_per_cycle must be > 0 for every operation class")
        return _per_class(v, "ops_per_cycle")

    @field_validator("energy_pj")
    @classmethod
    def _energies(cls, v: dict[str, float]) -> dict[str, float]:
        if any(x < 0 for x in v.values()):
            raise ValueError("energy_pj must be >= 0 for every operation class")
        return _per_class(v, "energy_pj")
