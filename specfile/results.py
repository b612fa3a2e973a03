"""Result files: the provenance every JSON result carries, one JSON Schema per result kind, and
the one writer (docs/INTEROP.md 3).

Every `--json` of every command goes through `write_result(path, kind, doc, prov)`: the document
gets a `provenance` block (`provenance(...)`: result kind, nmsim version, git commit when the code
runs from a git work tree, the command line, engine, the resolved architecture as its full
validated spec plus a SHA-256 of that spec and the file it came from, the workload's source,
seeds), is checked against `schemas/<kind>.schema.json` when `NMSIM_VALIDATE_RESULTS` is set (the
test suite sets it, so every result a test writes is validated), and lands atomically (a temporary
file renamed into place). Schemas are JSON Schema draft 2020-12; `provenance.schema.json` is
shared by reference.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import ImpossibleFigure, SpecError
from .outputs import atomic_path

__all__ = ["RESULT_KINDS", "SCHEMA_DIR", "provenance", "arch_record", "write_result", "validate_result",
           "set_command", "current_command", "nmsim_version", "git_commit", "VALIDATED", "result_json"]

SCHEMA_DIR = Path(__file__).parent / "schemas"
RESULT_KINDS = ("simulate", "map", "prune", "prune-quality", "prune-report", "dse-run", "dse-report", "reproduce-sat",
                "reproduce-s4", "reproduce-eyeriss", "rtl-validate", "rtl-validate-memory", "rtl-area", "gpu-bench",
                "gpu-validate", "gpu-calibrate", "demo")
VALIDATE_ENV = "NMSIM_VALIDATE_RESULTS"
VALIDATED: Counter = Counter()          # kind -> result files validated in this process
_COMMAND: list[str] | None = None


def set_command(argv: list[str] | None) -> None:
    """Record the command line results should carry (the CLI calls this with its argv)."""
    global _COMMAND
    _COMMAND = None if argv is None else [str(a) for a in argv]


def current_command() -> list[str] | None:
    """The command line recorded by set_command (None outside the CLI)."""
    return _COMMAND


def nmsim_version() -> str:
    """The installed nmsim version ('unknown' when run from a tree that is not installed)."""
    try:
        return metadata.version("nmsim")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def git_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree this code runs from, or (None, None) outside one
    (an installed wheel) or without git."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def arch_record(name: str, spec: dict, path: str | Path | None) -> dict:
    """{name, path, sha256, spec}: an architecture as it was resolved (its validated spec), the
    SHA-256 of that spec's canonical JSON, and the file it was read from (None if built in code)."""
    return {"name": name, "path": None if path is None else str(Path(path).resolve()),
            "sha256": hashlib.sha256(_canonical(spec).encode()).hexdigest(), "spec": spec}


def provenance(kind: str, *, engine: str | None = None, arch: dict | None = None, workload: dict | None = None,
               seeds: dict | None = None, inputs: dict | None = None) -> dict:
    """The provenance block of a `kind` result. `arch`: an `arch_record` (or None when the result
    spans many designs: `inputs` then names the spec files); `workload`: {kind, text} of its
    source; `seeds`: every seed that drew a random number; `inputs`: other input files by role."""
    if kind not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {kind!r}; add it to RESULT_KINDS with its schema")
    commit, dirty = git_commit()
    return {"kind": kind, "nmsim_version": nmsim_version(), "git_commit": commit, "git_dirty": dirty,
            "python": platform.python_version(), "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": _COMMAND, "engine": engine, "arch": arch, "workload": workload, "seeds": seeds or {},
            "inputs": inputs or {}}


@functools.lru_cache(maxsize=None)
def _validator(kind: str):
    import jsonschema
    from referencing import Registry, Resource

    schemas = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_DIR.glob("*.schema.json")}
    registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in schemas.values()]
        + [(name, Resource.from_contents(s)) for name, s in schemas.items()])
    schema = schemas[f"{kind}.schema.json"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate_result(doc: dict, kind: str | None = None) -> None:
    """Check `doc` against the schema of its kind (`provenance.kind` unless given); SpecError
    naming the first failing field."""
    kind = kind or (doc.get("provenance") or {}).get("kind")
    if kind not in RESULT_KINDS:
        raise SpecError(f"result kind {kind!r} is not one of {', '.join(RESULT_KINDS)}")
    errors = sorted(_validator(kind).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise SpecError(f"{kind} result does not match specfile/schemas/{kind}.schema.json at {where}: "
                        f"{e.message[:300]}")


def result_json(kind: str, doc: dict, prov: dict) -> dict:
    """`doc` with its provenance block (validated when NMSIM_VALIDATE_RESULTS is set)."""
    if prov.get("kind") != kind:
        raise ValueError(f"provenance kind {prov.get('kind')!r} does not match result kind {kind!r}")
    out = {**doc, "provenance": prov}
    if os.environ.get(VALIDATE_ENV):
        validate_result(out, kind)
        VALIDATED[kind] += 1
    return out


def write_result(path: str | Path, kind: str, doc: dict, prov: dict, indent: int = 1) -> Path:
    """Write `doc` + provenance as strict JSON to `path` (a NaN or infinity is an error, never invalid
    JSON), atomically (specfile.atomic_path: a temporary file, then rename)."""
    path = Path(path)
    try:
        text = json.dumps(result_json(kind, doc, prov), indent=indent, default=_jsonable, allow_nan=False) + "\n"
    except ValueError as exc:
        raise ImpossibleFigure(f"{kind} result: {exc} (a bug in nmsim: every figure must be finite)") from None
    if not path.parent.resolve().is_dir():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def _jsonable(obj: Any) -> Any:
    """numpy scalars and arrays, paths and sets in results become plain JSON values."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


if __name__ == "__main__":          # python -m nmsim.specfile.results FILE.json: validate a result file
    for f in sys.argv[1:]:
        validate_result(json.loads(Path(f).read_text(encoding="utf-8")))
        print(f"{f}: valid")
