"""User constraints on the mapping space, kept in their own YAML file (as Timeloop keeps its
constraints apart from the architecture and the problem).

Example (every key optional):

    dataflow: ws                 # or [ws, os]
    loop_order: [nmk, mnk]       # outermost first, letters m, n, k
    tile_m: 128                  # exact value, or a list of values
    tile_n: {min: 64, max: 1024, multiple_of: 32}
    tile_k: {max: 2048}

Tile values are in elements of the dense GEMM (K counts weights before pruning).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import ValidationError, field_validator, model_validator

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, StrictModel, bounded_int, load_model

from .mapping import check_names


TileSize = bounded_int(1, MAX_DIM, DIM_WHY)


class TileBound(StrictModel):
    """Bounds on one tile size (elements): inclusive min/max and a required multiple."""

    min: TileSize | None = None
    max: TileSize | None = None
    multiple_of: TileSize | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "TileBound":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min={self.min} is larger than max={self.max}")
        return self

    def describe(self) -> str:
        """Short human form, e.g. 'min=64, multiple_of=32'."""
        return ", ".join(f"{k}={v}" for k, v in self.model_dump().items() if v is not None)


TileRule = TileSize | list[TileSize] | TileBound


def _as_list(v):
    return [v] if isinstance(v, str) else v


class Constraints(StrictModel):
    """Restrictions on the mapping space; None leaves a dimension free."""

    dataflow: str | list[str] | None = None
    loop_order: str | list[str] | None = None
    tile_m: TileRule | None = None
    tile_n: TileRule | None = None
    tile_k: TileRule | None = None

    @field_validator("dataflow")
    @classmethod
    def _dataflows(cls, v):
        check_names(dataflows=v)
        return v

    @field_validator("loop_order")
    @classmethod
    def _orders(cls, v):
        check_names(loop_orders=v)
        return v

    @field_validator("tile_m", "tile_n", "tile_k", mode="before")
    @classmethod
    def _bound(cls, v):
        # parse the {min, max, multiple_of} form first so its own error reaches the user,
        # not "input should be a valid integer" from the first member of the union
        if isinstance(v, dict):
            try:
                return TileBound.model_validate(v)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(str(p) for p in e["loc"])
                raise ValueError(f"{where + ': ' if where else ''}{e['msg'].removeprefix('Value error, ')}") from None
        return v

    def dataflows(self) -> list[str] | None:
        """Allowed dataflows, or None for all."""
        return _as_list(self.dataflow)

    def loop_orders(self) -> list[str] | None:
        """Allowed loop orders, or None for all."""
        return _as_list(self.loop_order)

    def active(self) -> list[str]:
        """Names of the constraints that are set (for 'which constraint emptied the space')."""
        return [k for k in ("dataflow", "loop_order", "tile_m", "tile_n", "tile_k") if getattr(self, k) is not None]

    def without(self, name: str) -> "Constraints":
        """A copy with constraint `name` removed."""
        return self.model_copy(update={name: None})

    def describe(self, name: str) -> str:
        """'tile_k: max=2048' style text for one constraint."""
        v = getattr(self, name)
        return f"{name}: {v.describe() if isinstance(v, TileBound) else v}"

    def allows(self, mapping, extents: dict[str, int]) -> bool:
        """True when `mapping` (a mapping.Mapping) meets every constraint for a layer of `extents`
        ({'m': M, 'n': N, 'k': K}); tiles larger than a dimension count as that dimension."""
        tiles = {d: np.array([getattr(mapping, f"tile_{d}")], dtype=np.int64) for d in extents}
        return bool(self.allows_tiles(mapping.dataflow, mapping.loop_order, tiles, extents)[0])

    def allows_tiles(self, dataflow: str, loop_order: str, tiles: dict[str, np.ndarray],
                     extents: dict[str, int]) -> np.ndarray:
        """`allows` for a batch of one dataflow and loop order: boolean per candidate, `tiles` the
        arrays {'m': tile_m, ...} (elements)."""
        n = len(next(iter(tiles.values())))
        if (self.dataflows() is not None and dataflow not in self.dataflows()) or \
                (self.loop_orders() is not None and loop_order not in self.loop_orders()):
            return np.zeros(n, dtype=bool)
        ok = np.ones(n, dtype=bool)
        for d, extent in extents.items():
            t = np.minimum(tiles[d], extent)
            ok &= np.isin(t, self.tile_filter(d, t, extent))
        return ok

    def tile_filter(self, dim: str, choices: np.ndarray, extent: int) -> np.ndarray:
        """Apply the tile_<dim> rule to candidate tile sizes (elements) of a dimension of `extent`.

        Exact values replace the generated choices (clipped to the extent: a tile larger than
        the dimension is the whole dimension).
        """
        rule = getattr(self, f"tile_{dim}")
        if rule is None:
            return choices
        if isinstance(rule, (int, list)):
            vals = np.array([rule] if isinstance(rule, int) else rule, dtype=np.int64)
            return np.unique(np.minimum(vals, extent))
        keep = np.ones(choices.shape, dtype=bool)
        if rule.min is not None:
            keep &= choices >= min(rule.min, extent)
        if rule.max is not None:
            keep &= choices <= rule.max
        if rule.multiple_of is not None:
            keep &= (choices % rule.multiple_of == 0) | (choices == extent)
        return choices[keep]


def load_constraints(path: str | Path) -> Constraints:
    """Read a constraints YAML file; SpecError with file:line on any problem."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{path}: constraints file not found")
    return load_model(Constraints, p)
