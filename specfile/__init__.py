"""Spec files: YAML text -> validated pydantic models, with errors that name file, line and field.

Every package that reads user YAML (architectures, workloads, mappings, constraints, sweeps)
goes through here so that a bad file always produces the same kind of one-line message:

    arch.yaml:12: compute.rows: must be greater than 0 (got -4)

`SpecError` is the one exception type the CLI turns into "one line on stderr, exit code 2".
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["SpecError", "StrictModel", "load_yaml", "parse_model", "load_model", "closest", "did_you_mean",
           "check_plot_path", "PLOT_SUFFIXES"]

M = TypeVar("M", bound=BaseModel)


class SpecError(ValueError):
    """A user-input error: one line that says where, what, and how to fix it."""


class StrictModel(BaseModel):
    """Base for every spec schema: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice most similar to `name`, or None when nothing is close."""
    hits = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return hits[0] if hits else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean X?)' when a close choice exists, else ' (choices: a, b, c)'."""
    choices = sorted(choices)
    hit = closest(name, choices)
    if hit is not None:
        return f" (did you mean '{hit}'?)"
    return f" (choices: {', '.join(choices)})"


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path in a composed YAML tree to its 1-based line number."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _line_index(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_index(item, path + (i,), out)
    return out


def load_yaml(source: str | Path, text: str | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file (or `text` labelled `source`) into data plus a key-path -> line map.

    Raises SpecError for a missing file or malformed YAML, naming the file and line.
    """
    label = str(source)
    if text is None:
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"{label}: file not found")
        text = path.read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: malformed YAML: {problem}") from None
    lines = _line_index(node) if node is not None else {}
    return data, lines


def _field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Best-effort: the field names allowed at `loc` inside `model` (for 'did you mean')."""
    import typing

    cls: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return []
        ann = cls.model_fields[part].annotation
        # unwrap Optional / list / dict to the first BaseModel inside
        stack, cls = [ann], None
        while stack:
            t = stack.pop(0)
            if isinstance(t, type) and issubclass(t, BaseModel):
                cls = t
                break
            stack.extend(typing.get_args(t))
        if cls is None:
            return []
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return []


def _describe(err: dict, model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        allowed = _field_names(model, loc[:-1])
        return f"unknown field '{key}'" + (did_you_mean(str(key), allowed) if allowed else "")
    if kind == "missing":
        return "required field is missing"
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "input" in err and kind not in ("model_type", "dict_type") and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return msg


def _line_of(path: tuple, lines: dict[tuple, int]) -> int | None:
    """Line of the longest prefix of `path` present in the file, or None."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None


def parse_model(model: type[M], data: Any, source: str = "<spec>", lines: dict[tuple, int] | None = None) -> M:
    """Validate `data` against `model`; on failure raise SpecError naming source:line and field.

    A model with a `model_for(data)` classmethod (a family of schemas chosen by a field, like
    accel's Arch kinds) is first narrowed to the schema that `data` asks for."""
    lines = lines or {}
    if hasattr(model, "model_for"):
        try:
            model = model.model_for(data)
        except ValueError as exc:
            raise SpecError(f"{source}:{lines.get(('kind',), lines.get((), '?'))}: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelled key yields both "unknown field" and "required field is missing"; the
        # unknown field (with its did-you-mean) is the one that tells the user what to fix
        err = next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])
        loc = tuple(p for p in err.get("loc", ()) if not (isinstance(p, str) and p.startswith("function-")))
        # pydantic puts union member names into loc; keep only parts that exist in the file
        line = _line_of(loc, lines)
        desc = _describe(err, model)
        if not loc:
            # Cross-field validators have no location; point at the section their message names.
            for word in re.findall(r"[A-Za-z_]\w*(?:\.(?:[A-Za-z_]\w*|\d+))*", desc):
                path = tuple(int(x) if x.isdigit() else x for x in word.split("."))
                found = _line_of(path, lines)
                if found is not None:
                    line, loc = found, path
                    break
        if line is None:
            line = lines.get((), None)
        field = ".".join(str(p) for p in loc) or "(top level)"
        where = f"{source}:{line}" if line else source
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        head = "" if desc.startswith(field) else f"{field}: "
        raise SpecError(f"{where}: {head}{desc}{more}") from None


def load_model(model: type[M], source: str | Path, text: str | None = None) -> M:
    """Load a YAML file and validate it as `model` (see parse_model)."""
    data, lines = load_yaml(source, text)
    if data is None:
        raise SpecError(f"{source}: file is empty")
    return parse_model(model, data, str(source), lines)


PLOT_SUFFIXES = (".png", ".svg")


def check_plot_path(path: str | Path) -> Path:
    """`path` as a Path when its suffix picks a format plots are written in (.png or .svg), else SpecError.
    Checked before the work that draws the plot, so that a bad name fails at once."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise SpecError(f"plot '{path}': use a .png or .svg file name (the suffix picks the format)")
    return p
