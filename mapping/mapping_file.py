"""Mapping files: one mapping for every layer, or per-layer mappings, as YAML.

    # single mapping (applied to every layer; tiles larger than a layer are that layer)
    dataflow: ws
    tile_m: 128
    tile_n: 768
    tile_k: 768
    loop_order: nmk

    # per layer (what `nmsim simulate --mapper ... --save-mappings` writes)
    default: {dataflow: ws, tile_m: 128, tile_n: 256, tile_k: 768, loop_order: nmk}   # optional
    layers:
      layer0.attn.q: {dataflow: is, tile_m: 128, tile_n: 768, tile_k: 128, loop_order: nkm}

    # an arch with more on-chip levels and a flexible array (docs/MAPPING.md)
    dataflow: ws
    tile_m: 512                       # the outermost level's tile
    tile_n: 768
    tile_k: 768
    loop_order: nmk
    levels:                           # memory[1], memory[2], ...: tiles inside the parent's tile
      - {tile_m: 512, tile_n: 64, tile_k: 768, loop_order: nmk}
    spatial: {row_blocks: 2, row_dim: N}
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml
from pydantic import Field, field_validator

from nmsim.accel.spec import BlockCount
from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, StrictModel, atomic_path, bounded_int, did_you_mean, load_yaml, parse_model
from nmsim.workloads import Op

from .mapping import Mapping, check_names


TileSize = bounded_int(1, MAX_DIM, DIM_WHY + " (a tile is at most its layer)")


class LevelSpec(StrictModel):
    """The tile of one inner on-chip level as written in a file."""

    tile_m: TileSize
    tile_n: TileSize
    tile_k: TileSize
    loop_order: str = "nmk"

    @field_validator("loop_order")
    @classmethod
    def _order(cls, v):
        check_names(loop_orders=v)
        return v


class SpatialSpec(StrictModel):
    """A spatial split as written in a file (docs/MODEL.md 3.7)."""

    row_blocks: BlockCount = 1
    row_dim: str | None = None
    col_blocks: BlockCount = 1
    col_dim: str | None = None


class MappingSpec(StrictModel):
    """One mapping as written in a file."""

    dataflow: str
    tile_m: TileSize
    tile_n: TileSize
    tile_k: TileSize
    loop_order: str = "nmk"
    levels: list[LevelSpec] = Field(default_factory=list)
    spatial: SpatialSpec | None = None

    @field_validator("dataflow", "loop_order")
    @classmethod
    def _names(cls, v, info):
        check_names(**{"dataflows" if info.field_name == "dataflow" else "loop_orders": v})
        return v

    def to_mapping(self) -> Mapping:
        """The Mapping object."""
        d = self.model_dump()
        d["levels"] = tuple(d["levels"])
        d["spatial"] = d["spatial"] or {}
        return Mapping(**d)


class LayerMappings(StrictModel):
    """Per-layer mappings with an optional default for layers not listed."""

    default: MappingSpec | None = None
    layers: dict[str, MappingSpec] = Field(default_factory=dict)


class MappingFile:
    """A loaded mapping file; `for_op(op)` gives the mapping to use for an op."""

    def __init__(self, source: str, single: Mapping | None = None, layers: dict[str, Mapping] | None = None,
                 default: Mapping | None = None) -> None:
        self.source, self.single, self.layers, self.default = source, single, layers or {}, default

    def for_op(self, op: Op) -> Mapping:
        """The op's mapping, clipped to its dims; SpecError when the file has none for it."""
        m = self.single or self.layers.get(op.name) or self.default
        if m is None:
            raise SpecError(f"{self.source}: no mapping for layer '{op.name}' and no 'default'"
                            f"{did_you_mean(op.name, self.layers)}")
        return replace(m, tile_m=min(m.tile_m, op.M), tile_n=min(m.tile_n, op.N), tile_k=min(m.tile_k, op.K))


def load_mappings(path: str | Path) -> MappingFile:
    """Read a mapping file (single or per-layer form); SpecError naming file:line on problems."""
    data, lines = load_yaml(path)
    src = str(path)
    if not isinstance(data, dict):
        raise SpecError(f"{src}: expected a mapping (dataflow, tile_m, tile_n, tile_k, loop_order) or 'layers:'")
    if "layers" in data or "default" in data:
        f = parse_model(LayerMappings, data, src, lines)
        return MappingFile(src, layers={k: v.to_mapping() for k, v in f.layers.items()},
                           default=f.default.to_mapping() if f.default else None)
    return MappingFile(src, single=parse_model(MappingSpec, data, src, lines).to_mapping())


def save_mappings(path: str | Path, mappings: Mapping | dict[str, Mapping], header: str = "") -> Path:
    """Write one mapping, or {layer name: mapping}, as a mapping file; returns the path."""
    doc = mappings.to_dict() if isinstance(mappings, Mapping) else \
        {"layers": {k: m.to_dict() for k, m in mappings.items()}}
    p = Path(path)
    text = "".join(f"# {line}\n" for line in header.splitlines()) + yaml.safe_dump(doc, sort_keys=False)
    with atomic_path(p) as tmp:
        tmp.write_text(text)
    return p
