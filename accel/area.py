"""Area factors of N:M processing elements, measured by synthesizing the project's own RTL.

`pe_area_factors.yaml` (next to this file) is written by `nmsim rtl area --write` from Yosys
synthesis of rtl_models/nm_pe.v; see docs/RTL.md, "Area". accel reads it and never imports
rtl_models (packages only import the ones below them).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from nmsim.specfile import SpecError

FACTOR_FILE = Path(__file__).parent / "pe_area_factors.yaml"


@lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load(FACTOR_FILE.read_text())


def pe_area_factor(pattern: str) -> float:
    """Area of one PE running `pattern` ('dense', '2:4', '1:8') over a dense PE with as many
    multipliers (dimensionless; 1.0 for dense). SpecError for a pattern not synthesized."""
    if pattern == "dense":
        return 1.0
    table = _table()["factors"]
    if pattern not in table:
        raise SpecError(f"no synthesized PE area factor for '{pattern}' (have: dense, {', '.join(table)})")
    return float(table[pattern])
