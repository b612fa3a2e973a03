"""Numbers in user input: one policy for schemas and for the text parsers (CSV, INI, flags).

* finite: NaN and infinities are refused (schemas: StrictModel's `allow_inf_nan=False`);
* booleans are not numbers (`true` is not 1 Hz; StrictModel refuses them in numeric fields);
* every integer has an upper bound, and every rate a lower one, each with its reason, so that
  nothing the model computes from accepted inputs leaves 64-bit integers or floats. Schemas use
  `bounded_int` / `bounded_float` (pydantic annotated types); text parsers use `parse_int` /
  `parse_float` with the same bounds and messages.

A field without its own bound still meets MAX_INT: no integer in any spec file exceeds 2^53
(exact in a float64, which the vectorized model computes in).
"""
from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field

from .errors import SpecError

MAX_INT = 2 ** 53


def _check(value, lo, hi, lo_open: bool, why: str):
    """`value` when lo (<) <= value <= hi, else ValueError saying which bound and why."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    why_lo = "" if lo == 0 and lo_open else why  # positivity needs no reason
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"must be {'greater than' if lo_open else 'at least'} {lo:,}" + (f" ({why_lo})" if why_lo else ""))
    if hi is not None and value > hi:
        raise ValueError(f"must be at most {hi:,}" + (f" ({why})" if why else ""))
    return value


def bounded_int(lo: int | None = 1, hi: int = MAX_INT, why: str = "") -> type:
    """An int field type: lo <= value <= hi (`why` says where the bound comes from). A count (lo 1)
    reads 'must be greater than 0', as pydantic says it."""
    lo, lo_open = (0, True) if lo == 1 else (lo, False)
    return Annotated[int, AfterValidator(lambda v: _check(v, lo, hi, lo_open, why))]


def bounded_float(lo: float | None = None, hi: float | None = None, why: str = "", lo_open: bool = False) -> type:
    """A finite float field type: lo <= value (lo < value with lo_open) <= hi, `why` the reason."""
    return Annotated[float, Field(allow_inf_nan=False), AfterValidator(lambda v: _check(v, lo, hi, lo_open, why))]


def parse_int(text: str, what: str, lo: int | None = 1, hi: int = MAX_INT, why: str = "") -> int:
    """`text` (ASCII decimal digits, optional sign) as an int within [lo, hi]; SpecError
    '<what>: ...' otherwise. Unicode digits ('²', '٣') and underscores are not numbers here."""
    t = str(text).strip()
    body = t[1:] if t[:1] in "+-" else t
    if not (body.isascii() and body.isdigit()):
        raise SpecError(f"{what} '{text}' is not an integer")
    if len(body) > 30:
        raise SpecError(f"{what}: '{t[:20]}...' ({len(body)} digits) is too large" + (f" ({why})" if why else ""))
    try:
        return _check(int(t), lo, hi, False, why)
    except ValueError as exc:
        raise SpecError(f"{what}: {exc} (got {t})") from None


def parse_float(text: str, what: str, lo: float | None = None, hi: float | None = None, why: str = "",
                lo_open: bool = False) -> float:
    """`text` as a finite float within the bounds (see bounded_float); SpecError '<what>: ...' otherwise."""
    t = str(text).strip()
    try:
        if not t.isascii():
            raise ValueError
        v = float(t)
    except ValueError:
        raise SpecError(f"{what} '{text}' is not a number") from None
    try:
        return _check(v, lo, hi, lo_open, why)
    except ValueError as exc:
        raise SpecError(f"{what}: {exc} (got {t})") from None


def check_number(value, what: str, lo=None, hi=None, why: str = "", lo_open: bool = False, integer: bool = False):
    """`value` when it is a number (not a bool; an int when `integer`) within the bounds; SpecError
    '<what>: ...' otherwise. For values that come from Python callers or parsed files."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise SpecError(f"{what}: must be {'an integer' if integer else 'a number'} (got {value!r})")
    try:
        return _check(value, lo, hi, lo_open, why)
    except ValueError as exc:
        raise SpecError(f"{what}: {exc} (got {value!r})") from None
