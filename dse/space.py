"""Design points from a sweep's axes: full grid, uniform random, Latin hypercube.

A point is a dict {axis name: value} over the axes the sweep varies (canonical order,
spec.AXES). Discrete axes (lists) are indexed; Range axes are continuous in [min, max], linear
or logarithmic, integer axes rounded. Random and LHS draw unit-cube samples and map each
coordinate through `Axis.value_at`, so both see every axis the same way. Grids are generated
lazily (a million-point grid is never held in memory); samples are deduplicated because
several unit-cube points can land on the same discrete value.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .spec import INTEGER_AXES, Range, Sweep


@dataclass(frozen=True)
class Axis:
    """One axis: discrete `values`, or a continuous range lo..hi (log-spaced if `log`)."""

    name: str
    values: tuple | None = None
    lo: float = 0.0
    hi: float = 0.0
    log: bool = False
    steps: int | None = None
    integer: bool = False

    @staticmethod
    def from_spec(name: str, ax) -> "Axis":
        """Axis from a spec value (list or spec.Range)."""
        integer = name in INTEGER_AXES
        if isinstance(ax, Range):
            return Axis(name, None, ax.min, ax.max, ax.log, ax.steps, integer)
        return Axis(name, tuple(dict.fromkeys(ax)), integer=integer)  # duplicates dropped, order kept

    @property
    def discrete(self) -> bool:
        """True for a list axis."""
        return self.values is not None

    def _cast(self, x: float):
        return int(round(x)) if self.integer else float(x)

    def grid_values(self) -> tuple:
        """The values a grid takes: the list, or `steps` points across the range (distinct)."""
        if self.discrete:
            return self.values
        n = self.steps or 1
        if n == 1 or self.lo == self.hi:
            xs = [self.lo]
        elif self.log:
            xs = np.geomspace(self.lo, self.hi, n)
        else:
            xs = np.linspace(self.lo, self.hi, n)
        return tuple(dict.fromkeys(self._cast(x) for x in xs))

    def value_at(self, u: float):
        """The value at unit coordinate u in [0, 1): a list index floor(u * len), or a point of the range."""
        if self.discrete:
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.log:
            x = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        else:
            x = self.lo + u * (self.hi - self.lo)
        return self._cast(min(max(x, self.lo), self.hi))


def axes_of(sweep: Sweep) -> list[Axis]:
    """The sweep's axes in canonical order."""
    return [Axis.from_spec(a, getattr(sweep.spec.axes, a)) for a in sweep.axis_names]


def grid_size(axes: list[Axis]) -> int:
    """Number of grid points (1 when no axis varies: the base design alone)."""
    return math.prod(len(a.grid_values()) for a in axes)


def grid_points(axes: list[Axis]) -> Iterator[dict]:
    """Every combination of the axes' grid values, lazily, last axis fastest."""
    names = [a.name for a in axes]
    for combo in itertools.product(*(a.grid_values() for a in axes)):
        yield dict(zip(names, combo))


def unit_random(n: int, d: int, seed: int) -> np.ndarray:
    """n x d uniform samples in [0, 1)."""
    return np.random.default_rng(seed).random((n, d))


def unit_lhs(n: int, d: int, seed: int) -> np.ndarray:
    """n x d Latin hypercube samples in [0, 1): in every dimension each of the n equal strata
    [k/n, (k+1)/n) holds exactly one sample, placed uniformly inside it; strata are paired
    across dimensions by independent random permutations (McKay, Beckman, Conover 1979)."""
    rng = np.random.default_rng(seed)
    strata = np.stack([rng.permutation(n) for _ in range(d)], axis=1) if d else np.zeros((n, 0))
    return (strata + rng.random((n, d))) / n


def sampled_points(axes: list[Axis], unit: np.ndarray) -> list[dict]:
    """Map unit-cube rows to points; duplicates (same values) kept once, first occurrence order."""
    seen: dict[tuple, dict] = {}
    for row in unit:
        p = {a.name: a.value_at(float(u)) for a, u in zip(axes, row)}
        seen.setdefault(tuple(p.values()), p)
    return list(seen.values())


def design_points(sweep: Sweep) -> tuple[Iterator[dict], int]:
    """(points, how many) for grid, random and lhs sampling (adaptive proposes its own)."""
    axes = axes_of(sweep)
    s = sweep.spec.sampling
    if s.method == "grid":
        return grid_points(axes), grid_size(axes)
    if s.method in ("random", "lhs"):
        unit = (unit_random if s.method == "random" else unit_lhs)(s.n, len(axes), s.seed)
        pts = sampled_points(axes, unit)
        return iter(pts), len(pts)
    raise ValueError(f"design_points: {s.method} sampling proposes points itself (dse.adaptive)")
