"""Turn CLI arguments into objects: arch names/paths, workload names/paths, zoo parameters."""
from __future__ import annotations

from pathlib import Path

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, parse_int
from nmsim.workloads import Workload


def parse_params(pairs: list[str] | None) -> dict[str, int]:
    """Parse repeated `KEY=VALUE` (integers) from --param; SpecError on malformed pairs."""
    out: dict[str, int] = {}
    for p in pairs or []:
        key, sep, val = p.partition("=")
        if not sep or not key:
            raise SpecError(f"--param '{p}': expected KEY=VALUE, e.g. --param batch=8")
        try:
            out[key.strip().replace("-", "_")] = parse_int(val, "value", None, MAX_DIM, DIM_WHY)  # zoo checks > 0
        except SpecError as exc:
            raise SpecError(f"--param '{p}': {exc}".replace("value: ", "value ")) from None
    return out


def is_path(text: str) -> bool:
    """True when `text` names a file or a workload directory rather than a preset or zoo entry."""
    return text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file() or Path(text).is_dir()


def resolve_workload(text: str, params: dict[str, int]) -> Workload:
    """Zoo name (with --param values), workload YAML path or workload directory -> Workload."""
    from nmsim.workloads import zoo

    if is_path(text):
        if params:
            raise SpecError("--param applies to zoo models only, not to a workload file")
        return Workload.load(text)
    return zoo.build(text, **params)
