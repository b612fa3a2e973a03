"""Where a workload comes from: one text names it, whatever its origin (docs/INTEROP.md 1).

`--workload` (and `nmsim workloads show`, `nmsim prune --model`) accepts, tried in this order:

* `hf:NAME` - a Hugging Face model in the local cache (only its `config.json` is read);
* `FILE.onnx` - an ONNX graph (`workloads/onnx_model.py`, the `onnx` package);
* `path/to/file.py:factory` - a Python file and a callable in it returning an `nn.Module`;
* `package.module:Attr` - an importable module and a callable or `nn.Module` class in it;
* a folder holding `config.json` (and no `workload.yaml`), or a `config.json` file - a Hugging
  Face model configuration, built without weights;
* a workload YAML or a workload folder (`workload.yaml` + masks, what `nmsim prune` writes);
* anything else is a zoo name.

Torch models are built on the meta device (no memory for weights) and traced
(`workloads/ml/trace.py`); `-p key=value` pairs go to the factory and to the example inputs
(`workloads/ml/torch_source.py`). This module imports neither torch nor onnx.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nmsim.specfile import SpecError

from .workload import Workload

__all__ = ["SOURCE_KINDS", "WorkloadSource", "classify_source", "load_workload", "parse_value", "TORCH_SOURCES"]

SOURCE_KINDS = ("zoo", "workload", "python", "hf", "onnx")
TORCH_SOURCES = ("python", "hf")          # built and traced with torch (the `ml` extra)
_MODULE_ATTR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_SHAPE = re.compile(r"^\d+(x\d+)+$")


@dataclass(frozen=True)
class WorkloadSource:
    """A classified workload text: `kind` (one of SOURCE_KINDS), the text as given, the file or
    module or name it points at (`target`) and, for Python sources, the attribute (`attr`)."""

    kind: str
    text: str
    target: str
    attr: str = ""

    def to_dict(self) -> dict:
        """{kind, text}: how results record the workload's origin (provenance)."""
        return {"kind": self.kind, "text": self.text}


def parse_value(text: str) -> int | float | bool | str | tuple[int, ...]:
    """A `-p` value: an int, a float, true/false, a shape `AxBxC` (tuple of ints), else the text."""
    t = text.strip()
    if not t.isascii() or "_" in t:   # int() and float() read Unicode digits ('٣') and 1_0; not numbers here
        return t
    if _SHAPE.match(t):
        return tuple(int(v) for v in t.split("x"))
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def _is_hf_config_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and not (path / "workload.yaml").is_file()


def classify_source(text: str) -> WorkloadSource:
    """Classify a workload text (see the module docstring for the order); a path that does not
    exist is a SpecError naming it, so a typo never silently becomes a zoo lookup."""
    t = text.strip()
    if t.startswith("hf:"):
        if not t[3:]:
            raise SpecError("workload 'hf:': give a model name, e.g. hf:facebook/opt-125m")
        return WorkloadSource("hf", t, t[3:], "cache")
    if t.lower().endswith(".onnx"):
        return WorkloadSource("onnx", t, _existing(t, "ONNX file"))
    file, sep, attr = t.rpartition(":")
    if sep and file.endswith(".py"):
        if not attr.isidentifier():
            raise SpecError(f"workload '{t}': expected path/to/file.py:factory (a callable name after the colon)")
        return WorkloadSource("python", t, _existing(file, "Python file"), attr)
    if _MODULE_ATTR.match(t) and not Path(t).exists():
        module, _, attr = t.partition(":")
        return WorkloadSource("python", t, module, attr)
    path = Path(t)
    if _is_hf_config_dir(path):
        return WorkloadSource("hf", t, str(path), "folder")
    if path.is_file() and path.suffix == ".json":
        return WorkloadSource("hf", t, str(path), "config")
    if t.endswith((".yaml", ".yml")) or "/" in t or path.exists():
        return WorkloadSource("workload", t, t)
    return WorkloadSource("zoo", t, t)


def _existing(path: str, what: str) -> str:
    if not Path(path).is_file():
        raise SpecError(f"{path}: {what} not found")
    return path


def load_workload(text: str, params: dict | None = None) -> tuple[Workload, WorkloadSource]:
    """Build the Workload `text` names (zoo, workload file, Python factory, Hugging Face
    config, ONNX) with `params` (`-p` values: zoo/factory arguments, input sizes and shapes).
    SpecError, one line, on anything that cannot be built or traced."""
    src = classify_source(text)
    params = dict(params or {})
    if src.kind == "zoo":
        from . import zoo

        return zoo.build(src.target, **params), src
    if src.kind == "workload":
        if params:
            raise SpecError(f"`param` {next(iter(params))}=...: parameters apply to zoo models, Python factories, "
                            "Hugging Face configs and ONNX graphs, not to a workload file")
        return Workload.load(src.target), src
    if src.kind == "onnx":
        from .onnx_model import load_onnx

        return load_onnx(src.target, params), src
    try:
        from .ml import torch_source
    except ImportError as exc:
        raise SpecError(f"workload '{text}': tracing a torch model needs the `ml` extra "
                        f"(pip install 'nmsim[ml]'): {exc}") from None
    return torch_source.load_torch_source(src, params), src
