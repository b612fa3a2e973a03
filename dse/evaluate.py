"""Evaluate design points: point -> Arch -> every workload x pattern with the fast model -> result rows.

This is the sweep's hot path, so it evaluates a *batch* of points at once and gives the same
numbers as `sim.simulate_workload` with the default mapping (tests/dse/test_dse_evaluate.py checks
that, design by design):

* a workload's ops are deduplicated by shape and pattern (BERT-base's 96 ops are 5 distinct
  GEMMs), each costed once and multiplied by its count;
* the default mapping's candidates (mapping.default_mapping_candidates) depend on the array shape,
  buffer size, dataflow and N:M set but not on the clock or DRAM bandwidth, so they are computed
  once per distinct (those knobs, op) and cached; the search then picks the fastest candidate
  per design exactly as `simulate_op` does (first minimum of cycles);
* all designs of a batch that share a memory-hierarchy structure are costed in ONE call of the
  fast model `sim.gemm_cost`: `HwParams` fields and the executed GEMM's (n, m, index bits,
  kept fraction) become `[designs, 1]` arrays (problem.Gemm allows it on purpose) and the
  candidates `[designs, candidates]` arrays, which the vectorized model broadcasts;
* the workload's non-GEMM ops (deduplicated the same way) run on each design's vector unit, all
  designs of a batch in one `sim.vector_terms` call per op (`VectorParams` fields as `[designs]`
  arrays); designs without a vector unit leave them uncosted, as `simulate_workload` does.

A design or op that raises records its error on that design's rows; the batch goes on.
Workloads whose ops carry masks and keep their own sparsity (pattern `as-given`) take the exact
per-op path (`simulate_workload`), since the mask's load imbalance depends on each tiling.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from nmsim.accel import Arch
from nmsim.mapping import Candidates, SparsePlan, default_mapping_candidates, plan_sparsity
from nmsim.problem import Gemm
from nmsim.sim import HwParams, VectorParams, gemm_cost, simulate_workload, vector_terms
from nmsim.workloads import NonGemmOp, Op

from .design import DesignBuilder
from .spec import AS_GIVEN, Sweep

# HwParams fields that stay scalars (they select code paths or index levels); designs that
# differ in any of them are costed in separate batches.
_STRUCTURAL = ("name", "level_names", "keepers", "level_latency_cycles", "all_double_buffered",
               "zero_skipping", "level_double_buffered", "tier_of", "level_per_pe",
               "level_ports_separate", "level_prefetch_steps")


class ResultRow(NamedTuple):
    """One (design point, workload, pattern) result as the store writes it. `inputs`/`outputs`
    are JSON text; the objective columns repeat outputs for SQL filtering; `error` is None on success."""

    result_key: str
    point_key: str
    workload: str
    pattern: str
    inputs: str
    outputs: str | None
    error: str | None
    latency_s: float | None
    energy_pj: float | None
    area_mm2: float | None
    edp_js: float | None
    throughput_per_area: float | None
    cycles: int | None
    utilization: float | None


OBJECTIVE_COLUMNS = ResultRow._fields[7:]


def failed_row(point_key: str, workload: str, workload_uid: str, pattern: str, inputs: str, error: str) -> ResultRow:
    """The row recording that (point, workload, pattern) failed with `error`."""
    return ResultRow(result_key(point_key, workload_uid, pattern), point_key, workload, pattern, inputs, None, error,
                     *([None] * len(OBJECTIVE_COLUMNS)))


def result_key(point_key: str, workload_uid: str, pattern: str) -> str:
    """Unique key of one result row: hash of the design, the workload's ops and the pattern."""
    return hashlib.sha1(f"{point_key}|{workload_uid}|{pattern}".encode()).hexdigest()


def error_text(exc: BaseException) -> str:
    """One line describing an exception (type name unless it is a user-input SpecError)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    kind = type(exc).__name__
    return (first if kind == "SpecError" else f"{kind}: {first}")[:500]


@dataclass
class Combo:
    """One (workload, pattern) every design runs: distinct ops with their multiplicity."""

    workload: str
    uid: str
    pattern: str
    ops: list[tuple[Op, int]]
    macs_dense: int
    exact: object = None  # the Workload, when it must take the per-op path (masks kept)
    nongemm: list[tuple[NonGemmOp, int]] = ()


@dataclass
class Design:
    """A built design point: its arch (None if building failed), flat hardware view, area."""

    point_key: str
    descriptor: dict
    inputs: str
    arch: Arch | None = None
    hw: HwParams | None = None
    area: dict | None = None
    error: str | None = None
    hw_key: tuple = ()
    map_key: tuple = ()


def _pad(c: np.ndarray, width: int) -> np.ndarray:
    """Candidates `[fields, n]` widened to `width` by repeating the last one: argmin keeps the first
    minimum, so a repeat never wins over the original, as in the default mapping's own choice."""
    return np.concatenate([c, np.repeat(c[:, -1:], width - c.shape[1], axis=1)], axis=1)


def _add(acc: dict[str, np.ndarray], key: str, idx, values, n: int) -> None:
    """acc[key][idx] += values, creating an n-long int64 (integer values) or float64 array; an
    integer sum becomes float64 when float values join it."""
    a = acc.get(key)
    floats = np.asarray(values).dtype.kind not in "iu"
    if a is None:
        a = acc[key] = np.zeros(n, dtype=np.float64 if floats else np.int64)
    elif floats and a.dtype.kind in "iu":
        a = acc[key] = a.astype(np.float64)
    a[idx] += values


def stack_hw(hws: list[HwParams]) -> HwParams:
    """One HwParams whose numeric fields are `[len(hws), 1]` arrays (structural fields from the first)."""
    first = hws[0]
    kw = {}
    for f in fields(HwParams):
        v = getattr(first, f.name)
        if f.name in _STRUCTURAL:
            kw[f.name] = v
        elif isinstance(v, tuple):
            kw[f.name] = tuple(np.array([getattr(h, f.name)[i] for h in hws])[:, None] for i in range(len(v)))
        else:
            kw[f.name] = np.array([getattr(h, f.name) for h in hws])[:, None]
    return HwParams(**kw)


class DesignEvaluator:
    """Evaluates batches of points of one sweep; keeps its caches between batches."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.builder = DesignBuilder(sweep)
        self.combos: list[Combo] = []
        for sw in sweep.workloads:
            for pattern in sweep.patterns:
                wl = sw.workload if pattern == AS_GIVEN else sw.workload.with_sparsity(pattern)
                exact = wl if (pattern == AS_GIVEN and wl.masks) else None
                nongemm = [(op, n) for op, n in wl.distinct_layers() if isinstance(op, NonGemmOp)]
                self.combos.append(Combo(sw.label, sw.uid, pattern, wl.distinct_ops(), wl.macs, exact, nongemm))
        self._plans: dict = {}
        self._cands: dict = {}

    # --- designs -------------------------------------------------------------------------
    def design(self, point_key: str, point: dict) -> Design:
        """Build the design of `point` (errors recorded, not raised)."""
        desc = self.builder.descriptor(point)
        d = Design(point_key, desc, json.dumps(desc))
        try:
            d.arch, d.area = self.builder.build(desc)
            d.hw = HwParams.from_arch(d.arch)
        except Exception as exc:  # noqa: BLE001 - a bad point is recorded and the sweep goes on
            d.error = f"design: {error_text(exc)}"
            return d
        d.hw_key = tuple(repr(getattr(d.hw, f)) for f in _STRUCTURAL if f != "name")
        # The default mapping reads the array shape, dataflows, buffer sizes and the N:M set; the
        # clock and DRAM bandwidth only enter its cost, which is recomputed for every design.
        d.map_key = tuple(v for k, v in desc.items() if k not in ("clock_hz", "dram_bytes_per_s"))
        return d

    def _plan(self, d: Design, op: Op) -> SparsePlan:
        k = (d.descriptor["nm_patterns"], op)
        if k not in self._plans:
            self._plans[k] = plan_sparsity(d.arch, op)
        return self._plans[k]

    def _candidates(self, d: Design, op: Op) -> tuple[np.ndarray, tuple]:
        """The default mapping's candidates for (design, op): int64 `[fields, n]` (Candidates.stacked,
        transposed) and their layout."""
        k = (d.map_key, op)
        got = self._cands.get(k)
        if got is None:
            cands = default_mapping_candidates(d.arch, op, None)
            packed = Candidates.from_mappings(cands)
            got = (packed.stacked().T, packed.layout)
            self._cands[k] = got
        return got

    # --- costing ---------------------------------------------------------------------------
    def _batch(self, op: Op, designs: list[Design], members: list, unstructured: bool) -> dict[str, np.ndarray]:
        """Cost `op` on the member designs (one gemm_cost call); fields at each design's best candidate."""
        hw = stack_hw([designs[i].hw for i, _, _ in members])
        plans = [p for _, p, _ in members]
        col = lambda xs, dt: np.array(xs, dtype=dt)[:, None]  # noqa: E731
        gemm = Gemm(M=op.M, N=op.N, K=op.K, batch=op.batch, n=col([p.n for p in plans], np.int64),
                    m=col([p.m for p in plans], np.int64), index_bits=col([p.index_bits for p in plans], np.int64),
                    k_scale=col([p.density for p in plans], np.float64) if unstructured else None,
                    act_density=op.act_density, resident=plans[0].resident)
        width = max(c.shape[1] for _, _, (c, _) in members)
        cand = np.stack([c if c.shape[1] == width else _pad(c, width) for _, _, (c, _) in members], axis=1)
        r = gemm_cost(hw, gemm, Candidates.from_arrays(cand, members[0][2][1]))
        shape = (len(members), width)
        best = np.broadcast_to(r["cycles"], shape).argmin(axis=1)
        pick = np.arange(len(members))
        return {k: np.broadcast_to(v, shape)[pick, best] for k, v in r.items() if k != "utilization"}

    def _combo_totals(self, designs: list[Design], combo: Combo):
        """Per-design sums over the combo's ops: ({field: array}, {design index: error}, executed labels)."""
        n = len(designs)
        err = {i: d.error for i, d in enumerate(designs) if d.error}
        labels: list[set] = [set() for _ in designs]
        acc: dict[str, np.ndarray] = {}
        if combo.exact is not None:
            return self._exact_totals(designs, combo, err, labels)
        for op, count in combo.ops:
            groups: dict[tuple, list] = {}
            for i, d in enumerate(designs):
                if i in err:
                    continue
                try:
                    plan = self._plan(d, op)
                    cands = self._candidates(d, op)
                except Exception as exc:  # noqa: BLE001
                    err[i] = f"{op.name}: {error_text(exc)}"
                    continue
                if op.has_weights:
                    labels[i].add(plan.label)
                key = (d.hw_key, plan.kind == "unstructured", cands[1], plan.resident)
                groups.setdefault(key, []).append((i, plan, cands))
            for (_, unstructured, _, _), members in groups.items():
                try:
                    parts = [(members, self._batch(op, designs, members, unstructured))]
                except Exception:  # noqa: BLE001 - isolate the design that fails
                    parts = []
                    for m in members:
                        try:
                            parts.append(([m], self._batch(op, designs, [m], unstructured)))
                        except Exception as exc:  # noqa: BLE001
                            err[m[0]] = f"{op.name}: {error_text(exc)}"
                for mem, res in parts:
                    idx = np.array([i for i, _, _ in mem])
                    for k, v in res.items():
                        _add(acc, k, idx, count * v, n)
        self._nongemm_totals(designs, combo, acc, err)
        return acc, err, labels

    def _nongemm_totals(self, designs: list[Design], combo: Combo, acc: dict, err: dict) -> None:
        """Add the combo's non-GEMM ops on every design's vector unit into `acc` (MODEL.md 11.2)."""
        members = [i for i, d in enumerate(designs) if i not in err and d.arch.vector is not None]
        if not combo.nongemm or not members:
            return
        vps = [VectorParams.from_arch(designs[i].arch) for i in members]
        idx = np.array(members)
        for level in {vp.level for vp in vps}:
            sel = [j for j, vp in enumerate(vps) if vp.level == level]
            vp, at = VectorParams.stack([vps[j] for j in sel]), idx[sel]
            for op, count in combo.nongemm:
                r = vector_terms(vp, op)
                r[f"bytes_{level}"] = r.pop("bytes_level")
                for k, v in r.items():
                    _add(acc, k, at, count * np.broadcast_to(v, at.shape), len(designs))

    def _exact_totals(self, designs, combo, err, labels):
        acc: dict[str, np.ndarray] = {}
        for i, d in enumerate(designs):
            if i in err:
                continue
            try:
                res = simulate_workload(d.arch, combo.exact)
            except Exception as exc:  # noqa: BLE001
                err[i] = error_text(exc)
                continue
            tot = res.total
            vals = {"cycles": tot["cycles"], "latency_s": tot["latency_s"], "energy_pj": tot["energy_pj"],
                    "macs_effective": tot["macs_effective"], **{f"bytes_{k}": v for k, v in tot["bytes"].items()}}
            for part in ("mac", "index", "vector", "buffer", "dram", "static"):
                vals[f"energy_{part}_pj"] = sum(lr.energy_breakdown_pj.get(part, 0.0) for lr in res.layers)
            for c in ("compute_cycles", "buffer_cycles", "dram_cycles"):
                vals[c] = sum(lr.cycle_breakdown.get(c, 0.0) for lr in res.layers)
            labels[i].update(lr.executed_sparsity for lr in res.layers if lr.op in ("gemm", "conv2d"))
            for k, v in vals.items():
                _add(acc, k, i, v, len(designs))
        return acc, err, labels

    def _row(self, d: Design, combo: Combo, acc: dict, i: int, error: str | None, labels: set) -> ResultRow:
        if error is not None:
            return failed_row(d.point_key, combo.workload, combo.uid, combo.pattern, d.inputs, error)
        key = result_key(d.point_key, combo.uid, combo.pattern)
        hw = d.hw
        out = {k: acc[k][i].item() for k in acc
               if not k.startswith("bytes_") or k == "bytes_dram" or k[6:] in hw.level_names}
        peak = hw.rows * hw.cols * hw.macs_per_pe
        cycles, lat, e_pj = out["cycles"], out["latency_s"], out["energy_pj"]
        area = d.area["area_mm2"]
        out.update(d.area)
        out.update(macs_dense=combo.macs_dense, peak_macs_per_cycle=peak, clock_hz=hw.clock_hz,
                   utilization=out["macs_effective"] / (cycles * peak) if cycles else 0.0,
                   edp_js=lat * e_pj * 1e-12,
                   throughput_per_area=combo.macs_dense / lat / area if lat > 0 and area > 0 else math.inf,
                   executed_sparsity=",".join(sorted(labels)) or "dense")
        return ResultRow(key, d.point_key, combo.workload, combo.pattern, d.inputs, json.dumps(out), None,
                         lat, e_pj, area, out["edp_js"], out["throughput_per_area"], cycles, out["utilization"])

    def evaluate(self, items: list[tuple[str, dict]]) -> list[ResultRow]:
        """Rows for every (point, workload, pattern) of `items` = [(point_key, point), ...]."""
        designs = [self.design(k, p) for k, p in items]
        rows = []
        for combo in self.combos:
            acc, err, labels = self._combo_totals(designs, combo)
            rows.extend(self._row(d, combo, acc, i, err.get(i), labels[i]) for i, d in enumerate(designs))
        return rows


_EVALUATORS: dict[str, DesignEvaluator] = {}


def evaluate_chunk(sweep: Sweep, items: list[tuple[str, dict]]) -> list[ResultRow]:
    """Evaluate `items` = [(point_key, point)] of `sweep` (the task executors run; the process
    keeps one DesignEvaluator per sweep so its caches persist across chunks)."""
    ev = _EVALUATORS.get(sweep.spec_hash)
    if ev is None:
        _EVALUATORS.clear()
        ev = _EVALUATORS[sweep.spec_hash] = DesignEvaluator(sweep)
    return ev.evaluate(items)
