"""Rebuild a stored result's design from the store alone and simulate it layer by layer.

The store keeps totals per (point, workload, pattern), not per layer (10,000 points x 96 layers
would be most of the file). Plots that need layers (roofline, per-layer breakdown) take the few
designs they show, rebuild each from the sweep's stored spec, the stored base arch and the row's
inputs, and run `sim.simulate_workload` on it: the same numbers, recomputed in milliseconds.
"""
from __future__ import annotations

from pathlib import Path

from nmsim.accel import Arch
from nmsim.sim import RunResult, simulate_workload
from nmsim.specfile import SpecError

from .design import DesignBuilder
from .spec import AS_GIVEN, Sweep, SweepSpec, resolve
from .store import ResultStore


def stored_sweeps(store: str | Path, spec_hashes: set[str] | None = None) -> dict[str, Sweep]:
    """The sweeps recorded in `store` (those of `spec_hashes` when given), resolved, by spec hash;
    their workload files must still exist."""
    out = {}
    with ResultStore(store, readonly=True) as st:
        for rec in st.sweeps():
            if spec_hashes is not None and rec["spec_hash"] not in spec_hashes:
                continue
            spec = SweepSpec.model_validate(rec["spec"])
            folder = Path(rec["source"]).parent if rec["source"] else Path(".")
            out[rec["spec_hash"]] = resolve(spec, rec["source"] or "<store>", {}, folder,
                                            base=Arch.model_validate(rec["base_arch"]))
    return out


def replay(store: str | Path, result_keys: list[str]) -> list[tuple[dict, RunResult]]:
    """(stored row, per-layer RunResult) for each result key, simulated again (fast model)."""
    with ResultStore(store, readonly=True) as st:
        rows = {r["result_key"]: r for r in st.rows(errors=False, result_keys=list(result_keys))}
    missing = [k for k in result_keys if k not in rows]
    if missing:
        raise SpecError(f"{store}: no successful result with key {missing[0]}")
    sweeps = stored_sweeps(store, {r["spec_hash"] for r in rows.values()})
    out = []
    for key in result_keys:
        row = rows[key]
        sweep = sweeps[row["spec_hash"]]
        arch, _ = DesignBuilder(sweep).build(row["inputs"])
        wl = next(w.workload for w in sweep.workloads if w.label == row["workload"])
        pattern = None if row["pattern"] == AS_GIVEN else row["pattern"]
        out.append((row, simulate_workload(arch, wl, pattern)))
    return out
