"""Spec schemas: `StrictModel` (the input policy every schema inherits) and validation of parsed
data with errors that name file, line and field:

    arch.yaml:12: compute.rows: must be greater than 0 (got -4)
"""
from __future__ import annotations

import functools
import re
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .errors import SpecError
from .names import did_you_mean
from .numbers import MAX_INT
from .yamlfile import load_yaml

M = TypeVar("M", bound=BaseModel)


def _admits(annotation, kind: type) -> bool:
    """True when a value of type `kind` can be valid for `annotation` (any member of a union,
    Any, or the type itself)."""
    if annotation is Any or annotation is kind:
        return True
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None),
                                         typing.Annotated):
        return any(_admits(a, kind) for a in typing.get_args(annotation))
    return False


def _check_numbers(value, annotation, depth: int = 0) -> None:
    """ValueError for a bool where `annotation` wants a number, or an int beyond MAX_INT, looking
    into lists and dict values the annotation describes."""
    if depth > 8:
        return
    if isinstance(value, bool):
        if not _admits(annotation, bool) and (_admits(annotation, int) or _admits(annotation, float)):
            raise ValueError(f"{str(value).lower()} is a boolean, not a number")
        return
    if isinstance(value, int) and abs(value) > MAX_INT and not _admits(annotation, Any):
        raise ValueError(f"must be at most 2^53 = {MAX_INT:,} in magnitude (no quantity of a spec is larger)")
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, typing.Annotated) or type(annotation).__name__ == "UnionType":
        if origin is typing.Annotated:
            args = args[:1]
        for a in args:
            if typing.get_origin(a) in (list, dict) and isinstance(value, (list, dict)):
                _check_numbers(value, a, depth + 1)
    elif origin is list and isinstance(value, list) and args:
        for v in value:
            _check_numbers(v, args[0], depth + 1)
    elif origin is dict and isinstance(value, dict) and len(args) == 2:
        for v in value.values():
            _check_numbers(v, args[1], depth + 1)


@functools.lru_cache(maxsize=None)
def _numeric(annotation) -> bool:
    """True when `annotation` holds an int or a float somewhere (a union member, a list item, a
    dict value, Any): the fields whose values _check_numbers looks into."""
    if annotation in (int, float, Any):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return False  # a nested model applies the policy to its own fields
    return any(_numeric(a) for a in typing.get_args(annotation) if not isinstance(a, (str, bytes)))


class StrictModel(BaseModel):
    """Base for every spec schema: unknown keys are errors, instances are immutable, and numbers
    follow specfile.numbers' policy: finite (NaN and infinities refused everywhere, nested
    dicts and lists included), booleans refused where a number is expected, integers at most
    2^53 in magnitude (fields tighten this with bounded_int)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _number_policy(cls, value, info):
        # hot (every field of every model, the DSE builds thousands of archs): plain strings and
        # small ints and floats pass at once; the annotation is looked at only for the rest
        kind = type(value)
        if kind is str or kind is float or (kind is int and -MAX_INT <= value <= MAX_INT) or value is None:
            return value
        field = cls.model_fields.get(info.field_name)
        if field is not None and _numeric(field.annotation):
            _check_numbers(value, field.annotation)
        return value


def _field_names(model: type[BaseModel], loc: tuple) -> list[str]:
    """Best-effort: the field names allowed at `loc` inside `model` (for 'did you mean')."""
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


def _short(text: str) -> str:
    """`text` cut short: a 10^30 or a 100 kB string from a file stays one short line."""
    return text if len(text) <= 60 else text[:45] + f"... ({len(text)} characters)"


def _shown(value) -> str:
    """repr of an offending value, cut short."""
    return _short(repr(value))


def _describe(err: dict, model: type[BaseModel]) -> str:
    loc = tuple(err.get("loc", ()))
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        allowed = _field_names(model, loc[:-1])
        return f"unknown field '{_short(str(key))}'" + (did_you_mean(str(key), allowed) if allowed else "")
    if kind == "missing":
        return "required field is missing"
    msg = err.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "input" in err and kind not in ("model_type", "dict_type") and not isinstance(err["input"], (dict, list)):
        msg += f" (got {_shown(err['input'])})"
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
        raise _spec_error(exc, model, source, lines) from None


def _spec_error(exc: ValidationError, model: type[BaseModel], source: str, lines: dict[tuple, int]) -> SpecError:
    """The one-line SpecError for pydantic's first (most useful) error."""
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
    field = ".".join(_short(str(p)) for p in loc) or "(top level)"
    where = f"{source}:{line}" if line else source
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    head = "" if desc.startswith(field) else f"{field}: "
    return SpecError(f"{where}: {head}{desc}{more}")


def load_model(model: type[M], source: str | Path, text: str | None = None) -> M:
    """Load a YAML file and validate it as `model` (see parse_model)."""
    data, lines = load_yaml(source, text)
    if data is None:
        raise SpecError(f"{source}: file is empty")
    return parse_model(model, data, str(source), lines)
