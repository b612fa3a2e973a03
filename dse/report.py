"""Summaries of a result store: Pareto fronts per workload, counts, best point per objective.

`report()` returns the dict `nmsim dse report --json` writes (design contract: `{"pareto": [...],
"points": n, ...}`). Within a workload every (design, pattern) row competes: the weight pattern
is a co-design choice like the array shape, so the front says which hardware *and* sparsity to
pick. `--pattern` restricts the comparison to one pattern.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nmsim.specfile import SpecError

from .pareto import objective_matrix, pareto_mask
from .spec import AXES, DSE_OBJECTIVES
from .store import ResultStore, ResultTable, load_results

SHOWN = ("latency_s", "energy_pj", "area_mm2", "edp_js", "throughput_per_area", "utilization", "cycles",
         "executed_sparsity")


def parse_objectives(text: str | list[str]) -> list[str]:
    """'latency,energy' -> ['latency', 'energy']; SpecError naming an unknown or repeated one."""
    names = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    for n in names:
        if n not in DSE_OBJECTIVES:
            from nmsim.specfile import did_you_mean

            raise SpecError(f"`objectives`: unknown objective '{n}'{did_you_mean(n, DSE_OBJECTIVES)}")
    if len(set(names)) != len(names) or not 1 <= len(names) <= 3:
        raise SpecError(f"`objectives`: give 1 to 3 distinct objectives, e.g. latency,energy (got '{text}')")
    return names


def front_rows(table: ResultTable, objectives: list[str]) -> list[int]:
    """Indices of the rows on each workload's front (workloads in table order, each sorted by the
    first objective)."""
    out: list[int] = []
    for wl in dict.fromkeys(table["workload"]):
        idx = np.flatnonzero(table["workload"] == wl)
        vals, maxi = objective_matrix(table.take(idx), objectives)
        f = idx[pareto_mask(vals, maxi)]
        out.extend(f[np.argsort(np.asarray(table[DSE_OBJECTIVES[objectives[0]][0]], float)[f], kind="stable")])
    return out


def _entry(table: ResultTable, i: int) -> dict:
    def plain(v):
        return v.item() if isinstance(v, np.generic) else v

    rec = {k: plain(table[k][i]) for k in ("workload", "pattern", "point_key", "result_key")}
    rec["design"] = {a: plain(table[a][i]) for a in AXES if a in table}
    rec.update({k: plain(table[k][i]) for k in SHOWN if k in table})
    return rec


def report(store: str | Path, objectives: list[str] | str, workload: str | None = None,
           pattern: str | None = None, table: ResultTable | None = None) -> dict:
    """Fronts and counts of `store` for `objectives` (see module docstring); `table`, when
    given, is the already loaded `load_results(store, workload, pattern)`."""
    objectives = parse_objectives(objectives)
    table = table if table is not None else load_results(store, workload, pattern)
    with ResultStore(store, readonly=True) as st:
        errors = sum(1 for _ in st.rows(workload, pattern, errors=True))
        sweeps = [{"name": s["name"], "spec_hash": s["spec_hash"], "source": s["source"], "runs": s["runs"]}
                  for s in st.sweeps()]
    if workload is not None and not len(table) and not errors:
        raise SpecError(f"{store}: no results for workload '{workload}'" + (f" and pattern '{pattern}'" if pattern else ""))
    front = front_rows(table, objectives) if len(table) else []
    best = {}
    for o in objectives:
        col, direction = DSE_OBJECTIVES[o]
        v = np.asarray(table[col], float) if len(table) else np.zeros(0)
        if len(v) and np.isfinite(v).any():
            best[o] = _entry(table, int(np.nanargmax(v) if direction == "max" else np.nanargmin(v)))
    return {
        "store": str(store), "objectives": objectives, "points": len(table),
        "design_points": len(set(table["point_key"])) if len(table) else 0, "errors": errors,
        "workloads": list(dict.fromkeys(table["workload"])) if len(table) else [],
        "patterns": list(dict.fromkeys(table["pattern"])) if len(table) else [],
        "fronts": {wl: int(sum(1 for i in front if table["workload"][i] == wl))
                   for wl in dict.fromkeys(table["workload"])} if len(table) else {},
        "pareto": [_entry(table, i) for i in front], "best": best, "sweeps": sweeps,
    }


def base_arch_label(store: str | Path) -> str:
    """The base architectures of a store's sweeps, e.g. 'sat' or 'sat, s4' (for plot titles)."""
    with ResultStore(store, readonly=True) as st:
        return ", ".join(dict.fromkeys(s["base_arch"]["name"] for s in st.sweeps()))
