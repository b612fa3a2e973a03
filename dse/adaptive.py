"""Adaptive multi-objective search with optuna (NSGA-II or multi-objective TPE), ask/tell.

The search proposes `population` design points at a time (`study.ask` with the axes' fixed
distributions), evaluates them through the sweep's executor like any other chunk, writes the rows
to the same store and tells optuna each point's objective values. Points already in the store are
not evaluated again: on a rerun every stored point of this sweep is added to the study as a
finished trial first, so a killed search resumes where it stopped (same store, same rows).

A point's objective value is the geometric mean over its (workload, pattern) rows (every
objective is positive); a point with any failed row is a failed trial. A proposal of a design that
is already stored is not evaluated again (counted as `repeated`: the search samples a discrete
space and proposes some designs twice). Why optuna: docs/DSE.md.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .chunks import KeyedPoints, evaluate_into, progress_bar
from .evaluate import OBJECTIVE_COLUMNS
from .space import Axis, axes_of
from .spec import DSE_OBJECTIVES, Sweep
from .store import ResultStore


def distributions(axes: list[Axis]) -> dict:
    """optuna distributions of the axes: lists are categorical, ranges int/float (log if asked)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for a in axes:
        if a.discrete:
            out[a.name] = CategoricalDistribution(list(a.values))
        elif a.integer:
            lo, hi = math.ceil(a.lo), max(math.ceil(a.lo), math.floor(a.hi))
            out[a.name] = IntDistribution(lo, hi, log=a.log)
        else:
            out[a.name] = FloatDistribution(a.lo, a.hi, log=a.log)
    return out


def _inside(dist, value) -> bool:
    """True when `value` is a possible draw of optuna distribution `dist` (a stored point of an
    older version of the spec may not be)."""
    if hasattr(dist, "choices"):
        return value in dist.choices
    return isinstance(value, (int, float)) and dist.low <= value <= dist.high


def point_values(rows: list[dict], objectives: list[str]) -> list[float] | None:
    """Objective values of one design point from its rows (geometric mean over workload x
    pattern), or None when a row failed."""
    if not rows or any(r["error"] for r in rows):
        return None
    vals = []
    for name in objectives:
        col = DSE_OBJECTIVES[name][0]
        xs = np.array([r[col] for r in rows], dtype=float)
        vals.append(float(np.exp(np.mean(np.log(xs)))) if np.all(xs > 0) else float(np.mean(xs)))
    return vals


def make_study(sweep: Sweep):
    """An in-memory optuna study with the sweep's directions and seeded sampler."""
    import optuna

    s = sweep.spec.sampling
    directions = ["maximize" if DSE_OBJECTIVES[o][1] == "max" else "minimize" for o in sweep.objectives]
    if s.algorithm == "nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=s.seed, population_size=s.population)
    else:
        sampler = optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.population)
    return optuna.create_study(directions=directions, sampler=sampler)


def run_adaptive(sweep: Sweep, store: ResultStore, ex, progress: bool) -> dict:
    """Run (or resume) the adaptive search of `sweep` into `store` on executor `ex`; returns counts."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    axes = axes_of(sweep)
    dists = distributions(axes)
    keyed = KeyedPoints(sweep)
    n = sweep.spec.sampling.n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        study = make_study(sweep)
    counts = {"points": n, "evaluated": 0, "skipped": 0, "repeated": 0}

    # Resume: every stored design point of this sweep becomes a finished trial.
    by_point: dict[str, list] = {}
    for r in store.rows(spec_hash=sweep.spec_hash):
        by_point.setdefault(r["point_key"], []).append(r)
    resumed = []
    for pk, rows in by_point.items():
        params = {a: rows[0]["inputs"][a] for a in dists}
        if not all(_inside(d, params[a]) for a, d in dists.items()):
            continue
        flat = [{"error": r["error"], **{c: (r["outputs"] or {}).get(c) for c in OBJECTIVE_COLUMNS}} for r in rows]
        values = point_values(flat, sweep.objectives)
        resumed.append(create_trial(params=params, distributions=dists, values=values,
                                    state=TrialState.COMPLETE if values else TrialState.FAIL))
        if len(resumed) >= n:
            break
    study.add_trials(resumed)
    counts["skipped"] = len(resumed)

    with progress_bar(n, f"{sweep.name} (adaptive)", progress) as bar:
        bar.update(len(resumed))
        done = len(resumed)
        workers = getattr(ex, "workers", 1)
        while done < n:
            trials = [study.ask(dists) for _ in range(min(sweep.spec.sampling.population, n - done))]
            items = [(keyed.key(dict(t.params)), dict(t.params)) for t in trials]
            wanted = {pk: keyed.result_keys(pk) for pk, _ in items}
            have = store.existing([rk for rks in wanted.values() for rk in rks])
            todo = list({pk: (pk, p) for pk, p in items if not all(rk in have for rk in wanted[pk])}.values())
            # proposals of a design already stored (earlier in this search, or twice in this batch)
            # are told their stored result instead of being evaluated again
            counts["repeated"] += len(items) - len(todo)
            size = max(1, -(-len(todo) // workers))
            chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
            counts["evaluated"] += evaluate_into(sweep, store, ex, chunks, keyed)
            stored = store.lookup([rk for rks in wanted.values() for rk in rks], ("error", *OBJECTIVE_COLUMNS))
            for t, (pk, _) in zip(trials, items):
                values = point_values([stored[rk] for rk in wanted[pk] if rk in stored], sweep.objectives)
                if values is None:
                    study.tell(t, state=TrialState.FAIL)
                else:
                    study.tell(t, values)
            done += len(trials)
            bar.update(len(trials))
    return counts
