"""Timeloop's `timeloop-mapper.stats.txt` (and `timeloop-model.stats.txt`) read into numbers, for
comparing nmsim with Timeloop's reference outputs (docs/INTEROP.md 2).

Read, per level (`=== name ===` blocks, innermost first as Timeloop prints them): the level's
`Cycles`, and per data space the utilized instances and the per-instance scalar reads, fills and
updates (`Scalar reads` in dense runs; `Actual scalar ...` in Sparseloop runs, whose `Algorithmic`
and `Gated` counts are kept too) and `Energy (total)` in pJ; for the compute level the computes
and its energy. `Summary Stats` gives total Cycles, Energy (uJ) and Utilization. Totals are
per-instance counts x utilized instances, as Timeloop defines them (TL src/model/buffer.cpp).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nmsim.specfile import SpecError, foreign_reader, read_text

__all__ = ["TimeloopStats", "LevelStats", "read_stats"]

_SPACE = re.compile(r"^    ([A-Za-z_][\w]*):\s*$")
_KV = re.compile(r"^\s+([A-Za-z][\w ()./-]*?)\s*:\s*(-?\d[\d.]*(?:[eE][-+]?\d+)?)")


@dataclass
class LevelStats:
    """One storage level: cycles and, per data space, {instances, reads, fills, updates (totals),
    algorithmic_reads, gated_reads, energy_pj}."""

    name: str
    cycles: int = 0
    spaces: dict[str, dict[str, float]] = field(default_factory=dict)

    def total(self, what: str) -> float:
        """Sum of `what` (reads, fills, updates, energy_pj, ...) over the level's data spaces."""
        return sum(s.get(what, 0.0) for s in self.spaces.values())


@dataclass
class TimeloopStats:
    """A stats file: total cycles, energy (pJ), utilization, computes and compute energy, levels."""

    cycles: int
    energy_pj: float
    utilization: float
    computes: int
    algorithmic_computes: int
    mac_energy_pj: float
    levels: dict[str, LevelStats]


def _per_space(block: list[str]) -> dict[str, dict[str, float]]:
    spaces: dict[str, dict[str, float]] = {}
    cur: dict[str, float] | None = None
    raw: dict[str, float] = {}
    for line in block:
        m = _SPACE.match(line)
        if m:
            raw = {}
            cur = spaces.setdefault(m.group(1), {})
            cur["_raw"] = raw  # type: ignore[assignment]
            continue
        kv = _KV.match(line)
        if kv and cur is not None:
            raw[kv.group(1).strip().lower()] = float(kv.group(2))
    out = {}
    for name, d in spaces.items():
        r = d["_raw"]
        inst = r.get("utilized instances (max)", 1.0)
        get = lambda *keys: next((r[k] for k in keys if k in r), 0.0)  # noqa: E731
        out[name] = {"instances": inst,
                     "reads": inst * get("actual scalar reads (per-instance)", "scalar reads (per-instance)"),
                     "fills": inst * get("actual scalar fills (per-instance)", "scalar fills (per-instance)"),
                     "updates": inst * get("actual scalar updates (per-instance)", "scalar updates (per-instance)"),
                     "algorithmic_reads": inst * get("algorithmic scalar reads (per-instance)",
                                                     "scalar reads (per-instance)"),
                     "gated_reads": inst * get("gated scalar reads (per-instance)"),
                     "energy_pj": get("energy (total)")}
    return out


@foreign_reader("Timeloop stats file")
def read_stats(path: str | Path) -> TimeloopStats:
    """Parse a Timeloop stats.txt; SpecError when its Summary Stats are missing."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{path}: Timeloop stats file not found")
    text = read_text(p, "Timeloop stats file")
    head, sep, summary = text.partition("\nSummary Stats")
    if not sep:
        raise SpecError(f"{path}: no 'Summary Stats' section (not a Timeloop stats file)")
    num = lambda key, src=summary: float(re.search(rf"^{key}:\s*([-\d.eE+]+)", src, re.M).group(1))  # noqa: E731
    levels_text = re.split(r"^(?:Networks|Operational Intensity Stats)\s*$", head, maxsplit=1, flags=re.M)[0]
    blocks = re.split(r"^=== (\S+) ===\s*$", levels_text, flags=re.M)
    levels: dict[str, LevelStats] = {}
    computes = alg = 0
    mac_e = 0.0
    for name, body in zip(blocks[1::2], blocks[2::2]):
        lines = body.splitlines()
        if "Computes" in body:
            c = re.search(r"^\s+(?:Actual )?Computes \(total\)\s*:\s*(\d+)", body, re.M)
            a = re.search(r"Algorithmic Computes \(total\)\s*:\s*(\d+)", body)
            e = re.search(r"Energy \(total\)\s*:\s*([\d.]+) pJ", body)
            computes = int(c.group(1)) if c else 0
            alg = int(a.group(1)) if a else computes
            mac_e = float(e.group(1)) if e else 0.0
            continue
        cyc = re.search(r"^\s+Cycles\s*:\s*(\d+)", body, re.M)
        levels[name] = LevelStats(name, int(cyc.group(1)) if cyc else 0, _per_space(lines))
    return TimeloopStats(int(num("Cycles")), num("Energy") * 1e6, _utilization(summary), computes, alg, mac_e, levels)


def _utilization(summary: str) -> float:
    """'Utilization: 4.69%' (v0.4) or 'Utilization: 1.00' (2022) as a fraction."""
    m = re.search(r"^Utilization:\s*([\d.]+)\s*(%?)", summary, re.M)
    return float(m.group(1)) / (100.0 if m.group(2) else 1.0)
