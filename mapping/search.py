"""Mappers: exhaustive, random and heuristic search over a `MappingSpace`.

Candidates are costed in batches by a caller-supplied `evaluate(Candidates) -> {name: array}`
(in nmsim that is `sim`'s fast model, the same function `nmsim simulate` uses), so the mappers
never import `sim` and never cost one Python object at a time.

* exhaustive: every candidate of the pruned space, in chunks (memory stays bounded);
* random: `samples` draws from the whole unpruned space (log-uniform tiles), seeded;
* heuristic: on a pruned space of at most SMALL_SPACE candidates, all of them; otherwise, per
  dataflow, a strided subgrid of the pruned space (at most HEURISTIC_GRID candidates in all; on a
  flexible array the unsplit array and the GRID_SPLITS splits whose default candidates score best)
  and MappingSpace.boundary (tiles that fill the buffers) for the unsplit array and the split of the
  best candidate, both over MappingSpace.innermost_orders, then a descent from the best `beam`
  distinct tiles: each round costs every move of MappingSpace.neighbors around the seeds not
  expanded before, until a round brings no gain.

Every mapper costs the default mapping's candidates too (once per dataflow), so none returns a
mapping worse than the default mapping; they are not counted in `evaluated`.

Objectives: latency (cycles), energy (pJ), edp (cycles x pJ). Ties break on the other
objective, then on the order candidates were generated, so results are deterministic.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from nmsim.specfile import SpecError

from .mapping import LOOP_ORDERS, Mapping
from .space import Candidates, MappingSpace

OBJECTIVES = ("latency", "energy", "edp")
MAPPERS = ("heuristic", "random", "exhaustive")
CHUNK = 1 << 18  # pragma: no mutate (memory only: any chunk gives the same result)
EVAL_SLICE = 4096  # pragma: no mutate (speed only: any slice gives the same result)
# Below this many pruned candidates, costing them all is about as fast as the descent
# (docs/PERFORMANCE.md, "Mappers"; 100,000, then 30,000 until stop 24: the descent got cheaper;
# the suite's worst ratios are the same at 8,000 and 15,000).
SMALL_SPACE = 10_000  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
# Stage-1 grid size of the heuristic: large enough to keep quality, small enough for the per-layer
# time goal (the trade-off is measured in docs/PERFORMANCE.md, "Mappers": 20,000, then 10,000 until
# stop 24, which kept the suite's worst ratios where 6,000 did not). Since stop 24 stage 1 costs 3 of
# the 6 loop orders (MappingSpace.innermost_orders), so 5,000 gives the strides 10,000 gave.
HEURISTIC_GRID = 5_000  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
# Spatial splits whose boundary tiles the heuristic costs (besides the unsplit array's): those of
# its best candidates so far. A flexible array has tens of splits per dataflow; boundary tiles for
# all of them cost more than the whole rest of the search (docs/PERFORMANCE.md, "Mappers"; 3 until
# stop 24: 1 gives the same worst ratios on s4).
BOUNDARY_KEYS = 1  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
# On a flexible array, the spatial splits (besides the unsplit array) whose candidates stage 1's
# grid covers, per dataflow: those whose best default-mapping candidate (costed first anyway) scores
# best. The descent still moves to every split. On s4's 11 keys 2 kept the suite's worst ratios
# (docs/PERFORMANCE.md, "Mappers", stop 24).
GRID_SPLITS = 2  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
CostFn = Callable[[Candidates], dict]


def objective_values(cost: dict, objective: str) -> np.ndarray:
    """Score to minimize per candidate: cycles, pJ, or cycles x pJ."""
    if objective == "latency":
        return np.asarray(cost["cycles"], dtype=np.float64)
    if objective == "energy":
        return np.asarray(cost["energy_pj"], dtype=np.float64)
    if objective == "edp":
        return np.asarray(cost["cycles"], dtype=np.float64) * np.asarray(cost["energy_pj"], dtype=np.float64)
    raise SpecError(f"objective '{objective}' is not one of {', '.join(OBJECTIVES)}")


@dataclass
class RankedMapping:
    """One mapping with its cost record (scalars: cycles, energy_pj, ...) and objective score."""

    mapping: Mapping
    cost: dict
    score: float


@dataclass
class SearchResult:
    """Outcome of a search: the ranked best mappings and what the search cost."""

    mapper: str
    objective: str
    ranked: list[RankedMapping]
    evaluated: int
    valid: int
    seconds: float
    space_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> RankedMapping:
        """The winning mapping."""
        return self.ranked[0]

    def to_dict(self) -> dict:
        """JSON-friendly summary."""
        return {"mapper": self.mapper, "objective": self.objective, "evaluated": self.evaluated,
                "valid": self.valid, "seconds": self.seconds, "pruned_space_size": self.space_size,
                "ranked": [{"mapping": r.mapping.to_dict(), "score": r.score, "cost": r.cost} for r in self.ranked],
                "notes": self.notes}


class _TopK:
    """Keeps the `k` best distinct candidates seen so far, with their cost rows."""

    def __init__(self, k: int, objective: str) -> None:
        self.k, self.objective = k, objective
        self.cands: Candidates | None = None
        self.cost: dict[str, np.ndarray] = {}
        self.evaluated = 0
        self.valid = 0

    def offer(self, space: MappingSpace, evaluate: CostFn, c: Candidates) -> None:
        """Cost `c` (buffer-fitting ones only) and keep the best, counted in `evaluated` and `valid`."""
        self.evaluated += len(c)
        for sl, cost in _costed_slices(space, evaluate, c):
            self.add(sl, cost, count=True)

    def add(self, c: Candidates, cost: dict, *, count: bool) -> None:
        """Keep the best of `c`, fitting candidates already costed (`cost`: arrays like `c`); `count`
        adds them to `valid` (`offer` counts them as evaluated; the default mapping's candidates,
        which every search adds, are not counted)."""
        self.valid += len(c) if count else 0
        if not len(c):
            return
        near = self._near_best(objective_values(cost, self.objective))
        pieces, costs = [] if self.cands is None else [self.cands], [] if self.cands is None else [self.cost]
        self._merge(pieces + [c.take(near)], costs + [{k: v[near] for k, v in cost.items()}])

    def _merge(self, pieces: list[Candidates], costs: list[dict]) -> None:
        c = Candidates.concat(pieces)
        cost = {k: np.concatenate([x[k] for x in costs]) for k in costs[0]}
        score = objective_values(cost, self.objective)
        near = self._near_best(score)
        c, score, cost = c.take(near), score[near], {k: v[near] for k, v in cost.items()}
        other = objective_values(cost, "energy" if self.objective == "latency" else "latency")
        order = np.lexsort((np.arange(len(score)), other, score))
        # the first k distinct mappings in that order (neighbors re-propose seeds: a repeat is
        # dropped, its first occurrence kept); rows compared as bytes, in order until k are found
        rows = c.stacked()
        seen, keep = set(), []
        for i in order.tolist():
            row = rows[i].tobytes()
            if row not in seen:
                seen.add(row)
                keep.append(i)
                if len(keep) == self.k:
                    break
        keep = np.array(keep, dtype=np.int64)
        self.cands = c.take(keep)
        self.cost = {k: v[keep] for k, v in cost.items()}

    def absorb(self, other: "_TopK") -> None:
        """Merge another pool (already costed) into this one, as `offer` merges: one tie-break, and
        a mapping both pools hold (the default candidates are costed in both) kept once."""
        self.evaluated += other.evaluated
        self.valid += other.valid
        if other.cands is None:
            return
        if self.cands is None:
            self.cands, self.cost = other.cands, other.cost
            return
        self._merge([self.cands, other.cands], [self.cost, other.cost])

    def _near_best(self, score: np.ndarray) -> np.ndarray:
        """Indices that can still make the top k: the best 8k, plus every tie at the cut."""
        if len(score) <= 8 * self.k:  # pragma: no mutate (a speed/quality margin over k, not a correctness property)
            return np.arange(len(score))
        cut = np.partition(score, 8 * self.k)[8 * self.k]
        return np.flatnonzero(score <= cut)

    def score(self) -> float:
        return float(objective_values(self.cost, self.objective)[0]) if self.cands is not None else np.inf

    def result(self, mapper: str, seconds: float, space: MappingSpace) -> SearchResult:
        if self.cands is None:
            raise SpecError(space.explain_empty())
        scores = objective_values(self.cost, self.objective)
        ranked = [RankedMapping(self.cands.mapping(i), {k: v[i].item() for k, v in self.cost.items()}, float(scores[i]))
                  for i in range(len(self.cands))]
        return SearchResult(mapper, self.objective, ranked, self.evaluated, self.valid, seconds, space.size())


def _costed_slices(space: MappingSpace, evaluate: CostFn, c: Candidates):
    """(fitting candidates, their cost) per slice of EVAL_SLICE candidates of `c`: costing in slices
    keeps numpy's temporaries in cache (faster than one big batch, docs/PERFORMANCE.md)."""
    for s in range(0, len(c), EVAL_SLICE):
        sl = c.take(slice(s, s + EVAL_SLICE))
        sl = sl.take(space.fits(sl))
        if len(sl):
            yield sl, {k: np.broadcast_to(np.asarray(v), (len(sl),)) for k, v in evaluate(sl).items()}


def _best_keys(space: MappingSpace, costed: list, objective: str, count: int) -> list:
    """The unsplit key of `space` and the `count` other keys (dataflow, split) whose best candidate
    among `costed` ((candidates, cost) slices) scores best, in `space.keys` order."""
    c = Candidates.concat([sl for sl, _ in costed])
    score = np.concatenate([objective_values(cost, objective) for _, cost in costed])
    order = np.argsort(score, kind="stable")
    key_cols = np.stack([c.dataflow, *(c.split if c.split is not None else ())], axis=1)
    _, first = np.unique(key_cols[order], axis=0, return_index=True)
    ranked = [space._key_of(c, int(i)) for i in order[np.sort(first)]]
    others = [k for k in ranked if k != space.keys[0]][:count]
    return [k for k in space.keys if k == space.keys[0] or k in others]


def _distinct_tiles(c: Candidates, count: int) -> Candidates:
    """The first `count` candidates that differ in dataflow or tiles (loop-order variants often
    tie; seeding the descent with them would waste the beam on one point)."""
    rows = c.stacked()[:, :4]
    _, first = np.unique(rows, axis=0, return_index=True)
    return c.take(np.sort(first)[:count])


def search(space: MappingSpace, evaluate: CostFn, objective: str = "latency", mapper: str = "heuristic",
           top: int = 5,
           samples: int = 20_000,  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
           seed: int = 0,
           beam: int = 6,  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
           progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Find the best mapping of `space` under `objective` with `mapper` (see module docstring).

    Returns the `top` best distinct mappings. `progress(done, total)` is called per chunk by the
    exhaustive and random mappers. Raises SpecError when nothing valid exists.
    """
    if objective not in OBJECTIVES:
        raise SpecError(f"`objective` {objective}: choose one of {', '.join(OBJECTIVES)}")
    t0 = time.perf_counter()
    # one pool entry per loop order of each beam tile, so that `beam` distinct tiles survive loop-order ties
    best = _TopK(max(top, len(LOOP_ORDERS) * beam), objective)
    # every mapper costs the default mapping's candidates too, so none returns worse than the default
    # mapping; costed once per dataflow (the heuristic's per-dataflow pools take the same rows)
    defaults = {}
    for df in space.dataflows:
        d = space.restricted(df).defaults()
        if d is not None:
            defaults[df] = [(sl, cost) for sl, cost in _costed_slices(space, evaluate, d)]
    for sl, cost in (x for parts in defaults.values() for x in parts):
        best.add(sl, cost, count=False)
    if mapper == "exhaustive" or (mapper == "heuristic"
                                  and space.size() <= SMALL_SPACE):  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
        grid = space.grid()
        for s in range(0, len(grid), CHUNK):
            best.offer(space, evaluate, grid.take(slice(s, s + CHUNK)))
            if progress:
                progress(min(s + CHUNK, len(grid)), len(grid))
    elif mapper == "random":
        rng = np.random.default_rng(seed)
        for s in range(0, samples, CHUNK):
            best.offer(space, evaluate, space.sample(min(CHUNK, samples - s), rng))
            if progress:
                progress(min(s + CHUNK, samples), samples)
    elif mapper == "heuristic":
        # Stage 1: a strided subgrid of the pruned space (the smallest stride that keeps it
        # under HEURISTIC_GRID candidates) plus the buffer-filling boundary tiles. Stage 2: per
        # dataflow, descent from the best `beam` distinct tiles until a round brings no gain.
        orders = space.innermost_orders()   # stage 1's loop orders; the descent tries every one
        stride = 1  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
        while space.size(stride, orders) > HEURISTIC_GRID:  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
            stride += 1  # pragma: no mutate (speed/quality trade-off, docs/PERFORMANCE.md)
        for df in space.dataflows:
            sub = space.restricted(df)
            local = _TopK(best.k, objective)
            gsub = sub   # the grid's keys: on a flexible array the unsplit one and the best splits
            if len(sub.keys) > 1 + GRID_SPLITS and defaults.get(df):
                gsub = sub.restricted(df, _best_keys(sub, defaults[df], objective, GRID_SPLITS))
            local.offer(sub, evaluate, gsub.grid(stride=stride, orders=orders))
            for sl, cost in defaults.get(df, ()):  # the descent may start from the default mapping too
                local.add(sl, cost, count=False)
            # buffer-filling tiles for the unsplit array and the splits the best candidates use
            keys = [sub.keys[0]] + (sub.keys_of(local.cands)[:BOUNDARY_KEYS] if local.cands is not None else [])
            local.offer(sub, evaluate, sub.boundary(list(dict.fromkeys(keys)), orders))
            if local.cands is None:
                # a strided grid can miss a narrow feasible band; the full grid settles it
                local.offer(sub, evaluate, sub.grid())
            previous, expanded = np.inf, set()
            while local.cands is not None and local.score() < previous:
                previous = local.score()
                # a seed already expanded in an earlier round is skipped: its neighbours were costed
                # then, and one that did not make the pool cannot make it now (the pool only improves)
                seeds = _distinct_tiles(local.cands, beam)
                rows = [r.tobytes() for r in seeds.stacked()]
                new = [i for i, r in enumerate(rows) if r not in expanded]
                expanded.update(rows)
                if new:
                    local.offer(sub, evaluate, sub.neighbors(seeds.take(np.array(new))))
            best.absorb(local)
    else:
        raise SpecError(f"`mapper` {mapper}: choose one of {', '.join(MAPPERS)}")
    res = best.result(mapper, time.perf_counter() - t0, space)
    res.ranked = res.ranked[:top]
    return res
