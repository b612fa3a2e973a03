"""Choosing a cost backend: the one place that looks at what is being costed.

| target | engine "fast" | engine "detailed" |
|---|---|---|
| `SystolicArch` | FastSystolic (analytic model) | DetailedSystolic (SimPy engine) |
| `GpuArch` | GpuBackend (tile-level GPU model) | refused |
| `ScaleSimConfig` | ScaleSimBackend (SCALE-Sim 3.0.0 "Total Cycles") | refused |
"""
from __future__ import annotations

from nmsim.accel import GpuArch, SystolicArch
from nmsim.accel.scalesim import ScaleSimConfig
from nmsim.specfile import SpecError

from .backend import CostBackend
from .gpu_backend import GpuBackend
from .scalesim_compat import ScaleSimBackend
from .systolic import DetailedSystolic, FastSystolic

ENGINES = ("fast", "detailed")
_BACKENDS: dict[type, dict[str, type]] = {
    SystolicArch: {"fast": FastSystolic, "detailed": DetailedSystolic},
    GpuArch: {"fast": GpuBackend},
    ScaleSimConfig: {"fast": ScaleSimBackend},
}
_NO_DETAILED = {GpuArch: "{name} is a GPU preset (use the fast engine)",
                ScaleSimConfig: "SCALE-Sim compatibility reproduces SCALE-Sim's own count (use the fast engine)"}


def backend_for(target, engine: str = "fast", **options) -> CostBackend:
    """The backend that costs ops on `target` (an Arch or a ScaleSimConfig) with `engine`.

    `options` go to the backend: dataflow, mapper, objective, trace, hw (systolic); a backend
    refuses options it cannot honour with a SpecError.
    """
    if engine not in ENGINES:
        raise SpecError(f"engine '{engine}' is not one of {', '.join(ENGINES)}")
    kinds = _BACKENDS.get(type(target))
    if kinds is None:
        raise SpecError(f"nothing costs a {type(target).__name__}")
    if engine not in kinds:
        why = _NO_DETAILED[type(target)].format(name=getattr(target, "name", ""))
        raise SpecError(f"the detailed engine models systolic arrays; {why}")
    return kinds[engine](target, **options)
