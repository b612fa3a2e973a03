"""Integer and float flags under specfile's number policy: ASCII digits, a lower and an upper bound.

`int_flag(lo, hi)` is an argparse `type`; a bad value becomes the one-line error
`nmsim: error: --top must be at least 1 (got 0)` (cli.main's parser turns argparse's messages
into that form).
"""
from __future__ import annotations

import argparse

from nmsim.specfile import SpecError, parse_float, parse_int

# Upper bounds of the CLI's counts, each with why (docs/RELIABILITY.md).
SEED_MAX = 2 ** 32 - 1       # numpy's legacy seed range; every seed the commands take is stored or printed
WORKERS_MAX = 1024           # processes or threads of one machine
SAMPLES_MAX = 10_000_000     # candidates of one random search: minutes of work; more is a typo


def int_flag(lo: int = 1, hi: int = 1_000_000, why: str = ""):
    """argparse type: an int in [lo, hi] written in ASCII digits."""
    def parse(text: str) -> int:
        try:
            return parse_int(text, "@", lo, hi, why)
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("@: ")) from None
    parse.__name__ = "integer"
    return parse


def float_flag(lo: float | None = None, hi: float | None = None, why: str = "", lo_open: bool = False):
    """argparse type: a finite float in [lo, hi] (lo excluded with `lo_open`)."""
    def parse(text: str) -> float:
        try:
            return parse_float(text, "@", lo, hi, why, lo_open)
        except SpecError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("@: ")) from None
    parse.__name__ = "number"
    return parse
