"""Sweep specs: the YAML that says which designs to try, on what, and what to minimize.

A sweep file names a base architecture (preset or YAML), the axes that vary it, the workloads x
weight-sparsity patterns every design runs, the objectives and how points are sampled:

    name: sat-array-sweep
    base: sat                       # preset name or arch YAML (relative to this file)
    axes:
      rows: [16, 32, 64]
      cols: [16, 32, 64]
      nm_patterns: [dense, ["2:4"], ["2:4", "2:8", "1:8"]]   # the N:M set the hardware supports
      buffer_bytes: [1048576, 8388608]
      dram_bytes_per_s: {min: 1.0e+10, max: 2.0e+11, log: true, steps: 4}
      clock_hz: [2.0e+8, 5.0e+8]
      dataflow: [ws, os]
    workloads: [bert-base, {name: resnet50, params: {batch: 4}}]
    patterns: [dense, "2:8"]
    objectives: [latency, energy, area]
    sampling: {method: grid}        # grid | random | lhs (n, seed) | adaptive (n, seed, algorithm)

Every mistake is a `SpecError` naming file:line, the axis and the value (docs/DSE.md).
`load_sweep` returns a resolved `Sweep` (base Arch loaded, workloads built, patterns parsed).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, field_validator, model_validator

from nmsim.accel import Arch, SystolicArch, load_arch
from nmsim.problem import parse_nm
from nmsim.accel.spec import ArrayEdge, Bytes, ClockHz, Dataflow, DramBytesPerS, MacsPerPe
from nmsim.specfile import (SpecError, StrictModel, bounded_float, bounded_int, did_you_mean, load_yaml, parse_model,
                            referenced_path)
from nmsim.workloads import Sparsity, Workload

# Objective name -> (result column, direction). Units: latency_s (s), energy_pj (pJ),
# area_mm2 (mm^2), edp_js (J*s), throughput_per_area (dense-equivalent MAC/s per mm^2).
DSE_OBJECTIVES = {
    "latency": ("latency_s", "min"),
    "energy": ("energy_pj", "min"),
    "area": ("area_mm2", "min"),
    "edp": ("edp_js", "min"),
    "throughput_per_area": ("throughput_per_area", "max"),
}
ObjectiveName = Literal["latency", "energy", "area", "edp", "throughput_per_area"]
AS_GIVEN = "as-given"  # pattern meaning "each op keeps the sparsity its workload file gives it"

# Axes in canonical order; the integer ones round sampled values.
AXES = ("rows", "cols", "macs_per_pe", "nm_patterns", "buffer_bytes", "dram_bytes_per_s", "clock_hz", "dataflow")
INTEGER_AXES = ("rows", "cols", "macs_per_pe", "buffer_bytes")
RANGE_AXES = ("rows", "cols", "macs_per_pe", "buffer_bytes", "dram_bytes_per_s", "clock_hz")
# Each numeric axis takes the values its arch field accepts (accel/spec.py's bounds), checked at load.
AXIS_TYPES = {"rows": ArrayEdge, "cols": ArrayEdge, "macs_per_pe": MacsPerPe, "buffer_bytes": Bytes,
              "dram_bytes_per_s": DramBytesPerS, "clock_hz": ClockHz}
# Points of one sweep: a million designs x workloads x patterns is days of evaluation; more is a typo.
MAX_POINTS = 1_000_000
Points = bounded_int(1, MAX_POINTS, "a million points of one sweep")


def canonical_nm_set(value) -> str:
    """One `nm_patterns` axis value -> its canonical text: 'dense' (no N:M support) or the
    supported patterns joined by commas ('2:4,2:8'). ValueError naming the value when malformed."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("dense", "none"):
            return "dense"
        items = [p for p in text.split(",") if p.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError(f"{value!r} is not an N:M set; write 'dense', '2:4' or a list like ['2:4', '2:8']")
    if not items:
        raise ValueError("an empty N:M set; write 'dense' for no N:M support")
    pairs = []
    for p in items:
        n, m = parse_nm(str(p))  # ValueError names the pattern and the fix
        if n == m:
            raise ValueError(f"'{p}' keeps every weight (dense); list sparse patterns only, or write 'dense'")
        if (n, m) not in pairs:
            pairs.append((n, m))
    return ",".join(f"{n}:{m}" for n, m in sorted(pairs, key=lambda nm: (nm[1], nm[0])))


class Range(StrictModel):
    """A continuous axis from `min` to `max` (inclusive), optionally log-spaced; `steps` values on a grid."""

    min: float = Field(gt=0)
    max: float = Field(gt=0)
    log: bool = False
    steps: Points | None = Field(None, description="grid points across the range (grid sampling needs it)")

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is larger than max ({self.max:g})")
        return self


def _non_empty(v):
    if isinstance(v, list) and not v:
        raise ValueError("empty list: the design space would be empty; give at least one value")
    return v


def _nested(model, value, what: str):
    """Validate `value` as `model`, re-raising its first error as one ValueError naming `what`."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            msg = f"unknown field '{key}' (allowed: {', '.join(model.model_fields)})"
        else:
            msg = err.get("msg", "invalid").removeprefix("Value error, ")
            msg = f"{key}: {msg}" if key else msg
            if "input" in err and not isinstance(err["input"], (dict, list)):
                msg += f" (got {err['input']!r})"
        raise ValueError(f"{what}: {msg}") from None


def _axis_value(axis: str, x, what: str):
    """`x` checked against the arch field that axis `axis` sets; ValueError naming `what` otherwise."""
    try:
        return TypeAdapter(AXIS_TYPES[axis]).validate_python(x)
    except ValidationError as exc:
        msg = exc.errors()[0].get("msg", "invalid").removeprefix("Value error, ")
        raise ValueError(f"{what} is {x!r}; {msg}") from None


def _axis(integer: bool, axis: str):
    """Validator of numeric axis `axis`: a non-empty list of numbers, or a Range mapping, every
    value one the arch field it sets accepts."""
    def check(v):
        if v is None:
            return None
        if isinstance(v, dict):
            v = _nested(Range, v, "range")
        if isinstance(v, Range):
            for end in ("min", "max"):
                _axis_value(axis, int(getattr(v, end)) if integer else getattr(v, end), f"range {end}")
            return v
        if not isinstance(v, list):
            raise ValueError(f"expected a list of values or a range {{min, max, log, steps}} (got {v!r})")
        _non_empty(v)
        out = []
        for i, x in enumerate(v):
            ok = isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and \
                (not integer or float(x).is_integer())
            if not ok:
                raise ValueError(f"value {i} is {x!r}; expected {'an integer' if integer else 'a finite number'}")
            if x <= 0:
                raise ValueError(f"value {i} is {x!r}; it must be positive")
            out.append(_axis_value(axis, int(x) if integer else float(x), f"value {i}"))
        return out
    return check


def _nm_sets(v):
    if not isinstance(v, list):
        raise ValueError(f"expected a list of N:M sets, e.g. [dense, ['2:4'], ['2:4', '2:8']] (got {v!r})")
    _non_empty(v)
    out = []
    for i, x in enumerate(v):
        try:
            out.append(canonical_nm_set(x))
        except ValueError as exc:
            raise ValueError(f"value {i}: {exc}") from None
    return out


class Axes(StrictModel):
    """What varies; each axis is a list of values or (numeric axes) a Range. Absent = the base's value."""

    rows: Annotated[Any, AfterValidator(_axis(True, "rows"))] = Field(None, description="PE rows")
    cols: Annotated[Any, AfterValidator(_axis(True, "cols"))] = Field(None, description="PE columns")
    macs_per_pe: Annotated[Any, AfterValidator(_axis(True, "macs_per_pe"))] = Field(
        None, description="multipliers per PE")
    nm_patterns: Annotated[Any, AfterValidator(_nm_sets)] = Field(
        None, description="supported N:M sets: 'dense' or lists of patterns")
    buffer_bytes: Annotated[Any, AfterValidator(_axis(True, "buffer_bytes"))] = Field(
        None, description="size of the on-chip buffer level (bytes)")
    dram_bytes_per_s: Annotated[Any, AfterValidator(_axis(False, "dram_bytes_per_s"))] = Field(
        None, description="DRAM bandwidth (bytes/s)")
    clock_hz: Annotated[Any, AfterValidator(_axis(False, "clock_hz"))] = Field(None, description="array clock (Hz)")
    dataflow: Annotated[list[Dataflow], AfterValidator(_non_empty)] | None = None


class WorkloadRef(StrictModel):
    """A zoo model with parameter overrides, or a workload file/directory (params must be empty)."""

    name: str = Field(min_length=1)
    params: dict[str, int] = Field(default_factory=dict)


def _workload_ref(v):
    if isinstance(v, str) and v.strip():
        return v.strip()
    if isinstance(v, dict):
        return _nested(WorkloadRef, v, "workload")
    raise ValueError(f"expected a zoo name, a workload file, or {{name: ..., params: {{...}}}} (got {v!r})")


def _pattern(text: str) -> str:
    if text.strip() == AS_GIVEN:
        return AS_GIVEN
    return str(Sparsity.parse(text))  # SpecError (a ValueError) names the pattern and the forms


class Sampling(StrictModel):
    """How points are drawn from the axes."""

    method: Literal["grid", "random", "lhs", "adaptive"] = "grid"
    n: Points | None = Field(None, description="points to draw (random, lhs) or trials (adaptive)")
    seed: bounded_int(0, 2 ** 32 - 1, "numpy's seed range") = 0
    algorithm: Literal["nsga2", "tpe"] = Field("nsga2", description="adaptive only: optuna sampler")
    population: bounded_int(2, 10_000, "ten thousand trials per batch") = Field(32, description="adaptive only: trials proposed and evaluated per batch "
                                                  "(NSGA-II population size)")

    @model_validator(mode="after")
    def _n_fits_method(self) -> "Sampling":
        if self.method == "grid" and self.n is not None:
            raise ValueError("n applies to random, lhs and adaptive sampling; a grid takes every combination")
        if self.method != "grid" and self.n is None:
            raise ValueError(f"{self.method} sampling needs n (how many points)")
        return self


class DesignOptions(StrictModel):
    """How axis values are applied to the base architecture."""

    buffer_level: str | None = Field(None, description="memory level `buffer_bytes` sizes; default: the only one")
    scale_ports: bool = Field(True, description="scale buffer read/write bytes per cycle with the array edge "
                                                "(rows x macs_per_pe + cols), as the presets size them")


class AreaModel(StrictModel):
    """Area figures (mm^2); absent = taken from the base's `area` section, else the reference preset's."""

    mac_mm2: bounded_float(0.0, 1.0e3, "a square millimetre per MAC", lo_open=True) | None = Field(None, description="one dense 8-bit multiplier-accumulator with its PE share")
    sram_mm2_per_mib: bounded_float(0.0, 1.0e6, "a square metre", lo_open=True) | None = Field(None, description="on-chip SRAM per MiB")
    reference: str = Field("dense-systolic", description="preset whose `area` section gives the defaults")


class SweepSpec(StrictModel):
    """The sweep file schema (see module docstring)."""

    name: str = Field(min_length=1)
    description: str = ""
    base: str = Field(min_length=1, description="preset name or arch YAML path")
    axes: Axes = Field(default_factory=Axes)
    workloads: list[Annotated[Any, AfterValidator(_workload_ref)]] = Field(min_length=1)
    patterns: list[Annotated[str, AfterValidator(_pattern)]] = Field(default_factory=lambda: [AS_GIVEN],
                                                                     min_length=1)
    objectives: list[ObjectiveName] = Field(default_factory=lambda: ["latency", "energy"], min_length=1)
    sampling: Sampling = Field(default_factory=Sampling)
    design: DesignOptions = Field(default_factory=DesignOptions)
    area: AreaModel = Field(default_factory=AreaModel)

    @field_validator("patterns", "objectives")
    @classmethod
    def _unique(cls, v: list) -> list:
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"listed twice: {', '.join(map(str, dup))}")
        return v


@dataclass(frozen=True)
class SweepWorkload:
    """A built workload with its identity: `label` (readable) and `uid` (hash of its ops)."""

    label: str
    uid: str
    workload: Workload


@dataclass
class Sweep:
    """A validated, resolved sweep: everything a worker needs to evaluate points (picklable)."""

    spec: SweepSpec
    source: str
    base: Arch
    workloads: list[SweepWorkload]
    patterns: list[str]
    buffer_level: str
    spec_hash: str = ""
    design_hash: str = ""

    @property
    def name(self) -> str:
        """The sweep's name."""
        return self.spec.name

    @property
    def axis_names(self) -> list[str]:
        """Names of the axes present, in canonical order."""
        return [a for a in AXES if getattr(self.spec.axes, a) is not None]

    @property
    def objectives(self) -> list[str]:
        """Objective names, in the spec's order."""
        return list(self.spec.objectives)


def _digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def workload_uid(wl: Workload) -> str:
    """Short hash of what the cost depends on in a workload: its GEMM ops, its non-GEMM ops (a
    GEMM-only workload keeps the hash it had before they existed) and mask digests."""
    ops = [[o.name, o.kind, o.M, o.N, o.K, o.batch, str(o.weight_sparsity), o.act_density] for o in wl.ops]
    ops += [o.to_dict() for o in wl.nongemm]
    masks = {k: hashlib.sha1(v.tobytes()).hexdigest() for k, v in sorted(wl.masks.items())}
    return _digest([ops, masks])[:12]


def _resolve_base(text: str, folder: Path) -> Arch:
    looks_like_path = text.endswith((".yaml", ".yml")) or "/" in text
    return load_arch(referenced_path(text, folder, f"'{text}'") if looks_like_path else text)


def _build_workload(ref, folder: Path) -> Workload:
    from nmsim.workloads import zoo

    name, params = (ref, {}) if isinstance(ref, str) else (ref.name, dict(ref.params))
    looks_like_path = name.endswith((".yaml", ".yml")) or "/" in name or (folder / name).exists()
    if looks_like_path:
        if params:
            raise SpecError(f"workload '{name}' is a file: params apply to zoo models only")
        return Workload.load(referenced_path(name, folder, f"'{name}'"))
    return zoo.build(name, **params)


def _grid_points(spec: SweepSpec) -> int:
    """Points of a grid sweep: the product of the axes' value counts, workloads and patterns."""
    n = len(spec.workloads) * len(spec.patterns)
    for a in AXES:
        ax = getattr(spec.axes, a)
        n *= (ax.steps or 1) if isinstance(ax, Range) else len(ax) if isinstance(ax, list) else 1
    return n


def resolve(spec: SweepSpec, source: str = "<sweep>", lines: dict | None = None,
            folder: Path | None = None, base: Arch | None = None) -> Sweep:
    """Load the base arch (unless given) and workloads of a validated spec; SpecError naming
    source:line and field."""
    lines = lines or {}
    folder = folder or Path(".")

    def where(*key) -> str:
        line = lines.get(tuple(key)) or lines.get(tuple(key[:1]))
        return f"{source}:{line}" if line else source

    try:
        base = base or _resolve_base(spec.base, folder)
    except SpecError as exc:
        raise SpecError(f"{where('base')}: base: {exc}") from None
    if not isinstance(base, SystolicArch):
        raise SpecError(f"{where('base')}: base: '{spec.base}' is a {base.kind} preset; sweeps vary systolic "
                        "arrays (rows, cols, buffers, ...); pick sat, s4, dense-systolic or an arch YAML")
    levels = [lv.name for lv in base.memory]
    level = spec.design.buffer_level
    if level is not None and level not in levels:
        raise SpecError(f"{where('design', 'buffer_level')}: design.buffer_level: '{level}' is not a memory level "
                        f"of {base.name} (levels: {', '.join(levels)})")
    if level is None:
        if spec.axes.buffer_bytes is not None and len(levels) > 1:
            raise SpecError(f"{where('axes', 'buffer_bytes')}: axes.buffer_bytes: {base.name} has levels "
                            f"{', '.join(levels)}; name the one to size with design.buffer_level")
        level = levels[0]
    workloads, seen = [], set()
    for i, ref in enumerate(spec.workloads):
        try:
            wl = _build_workload(ref, folder)
        except SpecError as exc:
            raise SpecError(f"{where('workloads', i)}: workloads.{i}: {exc}") from None
        if wl.name in seen:
            raise SpecError(f"{where('workloads', i)}: workloads.{i}: '{wl.name}' is listed twice")
        seen.add(wl.name)
        workloads.append(SweepWorkload(wl.name, workload_uid(wl), wl))
    method = spec.sampling.method
    if method == "adaptive" and not any(getattr(spec.axes, a) is not None for a in AXES):
        raise SpecError(f"{where('sampling')}: sampling.method: adaptive search needs at least one axis to vary")
    if method == "grid":
        if _grid_points(spec) > MAX_POINTS:
            raise SpecError(f"{where('axes')}: axes: the grid has {_grid_points(spec):,} points (with workloads and "
                            f"patterns); at most {MAX_POINTS:,}: fewer values or random/lhs sampling with n")
        for a in RANGE_AXES:
            ax = getattr(spec.axes, a)
            if isinstance(ax, Range) and ax.steps is None and ax.min != ax.max:
                raise SpecError(f"{where('axes', a)}: axes.{a}: a range on a grid needs 'steps' "
                                f"(e.g. {{min: {ax.min:g}, max: {ax.max:g}, steps: 4}}), or use random/lhs sampling")
    sweep = Sweep(spec=spec, source=source, base=base, workloads=workloads, patterns=list(spec.patterns),
                  buffer_level=level)
    design_inputs = {"base": base.model_dump(mode="json"), "design": spec.design.model_dump(mode="json"),
                     "area": spec.area.model_dump(mode="json"), "buffer_level": level}
    sweep.design_hash = _digest(design_inputs)
    sweep.spec_hash = _digest({"spec": spec.model_dump(mode="json"), "design": sweep.design_hash,
                               "workloads": [w.uid for w in workloads]})
    return sweep


EXAMPLES_DIR = Path(__file__).parent / "examples"


def example_names() -> list[str]:
    """Names of the example sweeps shipped in dse/examples/ (file stems), sorted."""
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.yaml"))


def sweep_file(name_or_path: str | Path) -> Path:
    """The sweep file a text names: an existing path, else a shipped example by name (`sat_array`,
    from any folder); SpecError listing the examples otherwise."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    stem = path.stem if path.suffix in (".yaml", ".yml") else path.name
    if path.parent == Path(".") and stem in example_names():
        return EXAMPLES_DIR / f"{stem}.yaml"
    raise SpecError(f"{name_or_path}: no such sweep file, and not an example sweep name"
                    f"{did_you_mean(stem, example_names())}")


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and resolve a sweep YAML file, or an example sweep by name (see module
    docstring)."""
    path = sweep_file(path)
    data, lines = load_yaml(path)
    if data is None:
        raise SpecError(f"{path}: file is empty")
    spec = parse_model(SweepSpec, data, str(path), lines)
    return resolve(spec, str(path), lines, Path(path).parent)


def sweep_from_dict(data: dict, folder: str | Path = ".", source: str = "<sweep>") -> Sweep:
    """Validate and resolve a sweep given as a dict (notebooks); paths resolve against `folder`."""
    spec = parse_model(SweepSpec, data, source, {})
    return resolve(spec, source, {}, Path(folder))
