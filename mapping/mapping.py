"""Mappings: how a GEMM's loops are laid onto the array (dataflow, spatial split) and tiled into the
on-chip levels.

A `Mapping` fixes
* the dataflow, which decides the spatial unrolling (rows x cols x time, the dataflow table of
  problem.dataflow: WS K x N x M, OS M x N x K, IS K x M x N), and, on a flexible array, a split of
  the rows or columns into blocks that carry a second dimension (`SpatialSplit`, docs/MODEL.md 3.7);
* the tile of the outermost on-chip level (tile_m, tile_n, tile_k) in elements of the dense GEMM
  (partial edge tiles allowed), with tile_k a multiple of the executed N:M group size, and the order
  of the loops over those tiles, outermost first (e.g. "nmk");
* for every further tier of on-chip levels (Arch.tiers: levels side by side share a tier), outermost
  first, its tile inside its parent's tile and the order of the loops over it (`levels`,
  docs/MODEL.md 3.9). A mapping that gives none takes them by the fit rule (`with_inner_levels`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from nmsim.accel import Arch
from nmsim.problem import DATAFLOWS, SPATIAL, Gemm, cdiv, resident_bytes, tile_bytes
from nmsim.problem.spatial import DIMS, split_codes, valid_splits
from nmsim.specfile import SpecError, did_you_mean
from nmsim.workloads import Op

from .levels import inner_orders, inner_tiles
from .sparse_plan import SparsePlan, executed_gemm, plan_sparsity

LOOP_ORDERS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")
# the default mapping's loop order: the reduction innermost, so outputs are written once
DEFAULT_LOOP_ORDER = "nmk"


def check_names(dataflows=None, loop_orders=None) -> None:
    """Raise ValueError for an unknown dataflow or loop order (str or list of str); the spec
    schemas (mapping files, constraints) turn it into a file:line error."""
    for d in [dataflows] if isinstance(dataflows, str) else dataflows or []:
        if d not in DATAFLOWS:
            raise ValueError(f"'{d}' is not a dataflow{did_you_mean(d, DATAFLOWS)}")
    for o in [loop_orders] if isinstance(loop_orders, str) else loop_orders or []:
        if o not in LOOP_ORDERS:
            raise ValueError(f"'{o}' is not a loop order (a permutation of m, n, k, outermost first: "
                             f"{', '.join(LOOP_ORDERS)})")


@dataclass(frozen=True)
class LevelTile:
    """The tile an inner on-chip level holds (elements, inside its parent level's tile) and the order
    of the loops over such tiles within the parent's tile, outermost first."""

    tile_m: int
    tile_n: int
    tile_k: int
    loop_order: str = "nmk"

    def __post_init__(self) -> None:
        _check_tile(self, "mapping: levels")


@dataclass(frozen=True)
class SpatialSplit:
    """The array's rows (columns) cut into `row_blocks` (`col_blocks`) blocks, each carrying a slice of
    GEMM dimension `row_dim` (`col_dim`): M, N or K (docs/MODEL.md 3.7). 1 block: the whole axis."""

    row_blocks: int = 1
    row_dim: str | None = None
    col_blocks: int = 1
    col_dim: str | None = None

    def __post_init__(self) -> None:
        for blocks, dim, axis in ((self.row_blocks, self.row_dim, "row"), (self.col_blocks, self.col_dim, "col")):
            if blocks < 1:
                raise SpecError(f"mapping: spatial.{axis}_blocks must be >= 1 (got {blocks})")
            if (blocks > 1) != (dim is not None):
                raise SpecError(f"mapping: spatial.{axis}_dim names the dimension its {blocks} block(s) carry: "
                                f"one of {', '.join(DIMS)} when {axis}_blocks > 1, absent when 1")
            if dim is not None and dim not in DIMS:
                raise SpecError(f"mapping: spatial.{axis}_dim '{dim}' is not one of {', '.join(DIMS)}")

    @property
    def is_whole(self) -> bool:
        """True for the unsplit array."""
        return self.row_blocks == 1 and self.col_blocks == 1


WHOLE_ARRAY = SpatialSplit()


def _check_tile(obj, where: str) -> None:
    if obj.loop_order not in LOOP_ORDERS:
        raise SpecError(f"{where}: loop_order '{obj.loop_order}' is not one of {LOOP_ORDERS}")
    for k in ("tile_m", "tile_n", "tile_k"):
        if getattr(obj, k) <= 0:
            raise SpecError(f"{where}: {k} must be positive (got {getattr(obj, k)})")


@dataclass(frozen=True)
class Mapping:
    """Dataflow, outermost on-chip tile (elements) and tile-loop order (outermost first); the tiles of
    the inner on-chip levels (`levels`) and the spatial split, when the arch has them."""

    dataflow: str
    tile_m: int
    tile_n: int
    tile_k: int
    loop_order: str = "nmk"
    levels: tuple[LevelTile, ...] = ()
    spatial: SpatialSplit = field(default_factory=SpatialSplit)

    def __post_init__(self) -> None:
        if self.dataflow not in DATAFLOWS:
            raise SpecError(f"mapping: dataflow '{self.dataflow}' is not one of {DATAFLOWS}")
        _check_tile(self, "mapping")
        # Accept the dict forms of to_dict() (mapping files, JSON results) as well as objects.
        if self.levels:
            object.__setattr__(self, "levels", tuple(lv if isinstance(lv, LevelTile) else LevelTile(**lv)
                                                     for lv in self.levels))
        if not isinstance(self.spatial, SpatialSplit):
            object.__setattr__(self, "spatial", SpatialSplit(**(self.spatial or {})))

    def to_dict(self) -> dict:
        """Plain dict (YAML/JSON friendly); `levels` and `spatial` only when the mapping has them."""
        d = {k: getattr(self, k) for k in ("dataflow", "tile_m", "tile_n", "tile_k", "loop_order")}
        if self.levels:
            d["levels"] = [asdict(lv) for lv in self.levels]
        if not self.spatial.is_whole:
            d["spatial"] = {k: v for k, v in asdict(self.spatial).items() if v is not None}
        return d

    def tiles(self) -> list[tuple[int, int, int]]:
        """(tile_m, tile_n, tile_k) of every level given, outermost first."""
        return [(self.tile_m, self.tile_n, self.tile_k)] + [(lv.tile_m, lv.tile_n, lv.tile_k) for lv in self.levels]

    def completed(self, n_levels: int, op: Op | None = None) -> "Mapping":
        """This mapping for an arch of `n_levels` tiers of on-chip levels: missing inner tiers repeat the
        innermost tile, extra ones are an error; every tile clipped to its parent (and to `op`)."""
        if len(self.levels) > n_levels - 1:
            raise SpecError(f"mapping: {1 + len(self.levels)} level tiles for an arch with {n_levels} tiers of "
                            "memory levels")
        parent = (op.M, op.N, op.K) if op is not None else None
        out = []
        for i, (tm, tn, tk) in enumerate(self.tiles()):
            if parent is not None:
                tm, tn, tk = min(tm, parent[0]), min(tn, parent[1]), min(tk, parent[2])
            out.append((tm, tn, tk))
            parent = (tm, tn, tk)
        orders = [self.loop_order] + [lv.loop_order for lv in self.levels]
        while len(out) < n_levels:
            out.append(out[-1])
            orders.append("nmk")
        levels = tuple(LevelTile(*t, o) for t, o in zip(out[1:], orders[1:]))
        return replace(self, tile_m=out[0][0], tile_n=out[0][1], tile_k=out[0][2], levels=levels)


def footprint_bytes(arch: Arch, gemm: Gemm, tiles: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    """Bytes each on-chip level must hold for its tile (bytes), doubled where double-buffered: a level
    of tier j holds the tile `tiles[j]` (tm, tn, tk; outermost tier first) of the operands it keeps;
    sizes from problem.tile_bytes (partial sums at accumulator width). The level that keeps
    activations holds the resident operands whole, at operand width, instead of their tiles
    (outputs arrive there final; MODEL.md 3.10); inputs count as distinct pixels where feature maps are
    stored (MODEL.md 3.11). Levels of tiers beyond `tiles` are left out."""
    return _footprint(_footprint_layout(arch, gemm), gemm, tiles)


def _footprint_layout(arch: Arch, gemm: Gemm) -> tuple:
    """What footprint_bytes reads of `arch` for `gemm`, once: (operand bytes, accumulator bytes, per
    level (name, tier, the operands it holds as tiles, 2 if double-buffered else 1, the resident
    operands' bytes it holds whole))."""
    c = arch.compute
    ob = c.operand_bits / 8
    resident_level = arch.activation_level() if gemm.resident else None
    tier_of = arch.tier_of() if len(arch.memory) > 1 else (0,)
    levels = []
    for i, (lv, j) in enumerate(zip(arch.memory, tier_of)):
        whole = set()
        if i == resident_level and gemm.resident:
            whole = {{"A": "inputs", "B": "weights", "out": "outputs"}[x] for x in gemm.resident}
        levels.append((lv.name, j, tuple(o for o in lv.holds if o not in whole), 2 if lv.double_buffered else 1,
                       resident_bytes(gemm, ob) if i == resident_level else None))
    return ob, c.accumulator_bits / 8, levels


def _footprint(layout: tuple, gemm: Gemm, tiles: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    """footprint_bytes from its `_footprint_layout`."""
    ob, ab, levels = layout
    held: dict[str, float] = {}
    per_tier: dict[int, dict] = {}   # levels of one tier hold the same tile
    for name, j, holds, factor, resident in levels:
        if j >= len(tiles):
            continue
        need = per_tier.get(j)
        if need is None:
            tm, tn, tk = tiles[j]
            a, b, out = tile_bytes(gemm, tm, tn, tk, ob, ab)
            need = per_tier[j] = {"inputs": a * gemm.a_unique, "weights": b, "outputs": out}
        held[name] = sum(need[o] for o in holds) * factor
        if resident is not None:
            held[name] = held[name] + resident
    return held


def check_mapping(arch: Arch, op: Op, mapping: Mapping, plan: SparsePlan | None = None) -> None:
    """Raise SpecError naming the violated rule (and by how much) when `mapping` is invalid."""
    plan = plan or plan_sparsity(arch, op)
    if mapping.dataflow not in arch.compute.dataflows:
        raise SpecError(f"mapping: {arch.name} supports dataflows {arch.compute.dataflows}, not '{mapping.dataflow}'")
    full = mapping.completed(len(arch.tiers()), op)
    for tm, tn, tk in full.tiles():
        if tk % plan.m and tk < op.K:
            raise SpecError(f"mapping: tile_k={tk} is not a multiple of the N:M group size {plan.m}")
    sp = mapping.spatial
    ic = arch.compute.interconnect
    if (sp.row_blocks, sp.row_dim, sp.col_blocks, sp.col_dim) not in valid_splits(
            mapping.dataflow, ic.row_blocks, ic.col_blocks, ic.block_reduction):
        raise SpecError(f"mapping: spatial split {sp.row_blocks} row block(s) carrying {sp.row_dim}, "
                        f"{sp.col_blocks} column block(s) carrying {sp.col_dim} is not one {arch.name}'s "
                        f"interconnect supports under {mapping.dataflow} (row_blocks {ic.row_blocks}, "
                        f"col_blocks {ic.col_blocks}, block_reduction {ic.block_reduction})")
    for name, need in footprint_bytes(arch, executed_gemm(op, plan), full.tiles()).items():
        size = next(lv.capacity_bytes for lv in arch.memory if lv.name == name)
        if need > size:
            raise SpecError(f"mapping: tile needs {need:.0f} B in '{name}' but it holds {size} B "
                            f"(over by {need - size:.0f} B)")


def _round_down(x: int, q: int) -> int:
    return max(q, (x // q) * q)


M_SPLITS = (1, 2, 4, 8)
_DIMS = ("M", "N", "K")
# The "larger of M and N" order shrinks K first while it exceeds this many times the larger of the
# M and N tiles: a weight-gradient GEMM reduces over every token (K of 10^5..10^6), and shrinking
# M and N to one row first would re-read the K-long operands once per row, which costs far more
# than the partial sums that a split K spills (measured: 94x slower than the mapper on VGG-16 wgrad).
K_DOMINANCE = 4


def default_mapping_candidates(arch: Arch, op: Op, dataflow: str | None = None, *, inner: bool = True) -> list[Mapping]:
    """The default mapping's candidates (docs/MODEL.md 4), in a fixed order: every tile that fits
    the outermost tier's levels on three shrink paths from the whole layer (`_shrink_path`: halving
    the larger of M and N, with the array's extents as the smallest tiles and without; halving what
    frees the most bytes), for an N:M layer also the dense layer's tiles in whole groups, each split
    1, 2, 4 and 8 ways along M (duplicates dropped); all of them under every spatial split the
    array's interconnect allows (the unsplit array first). Callers cost the list and keep the first
    cheapest (`default_mapping`). Inner tiers take their tiles by the fit rule (mapping.levels);
    `inner=False` leaves them out (a caller that adds them for a whole batch at once).

    Why whole paths: they do not depend on the buffer sizes (with one on-chip level), so a bigger
    buffer only adds candidates; more bandwidth changes no candidate; below the array's extent the
    paths do not depend on the array either, so a bigger array keeps the tiles a smaller one would
    run; an N:M layer keeps the dense layer's tiles. Splitting M lets double buffering overlap loads
    with compute. Loop order "nmk" keeps the reduction innermost, so outputs are written once.
    Raises SpecError when not even the smallest tile fits."""
    df = dataflow or arch.compute.dataflows[0]
    key = _tiles_key(arch, op, df)
    done = _CANDIDATES.get((key, inner))
    if done is not None:
        return list(done)
    tiles = _default_tiles(arch, op, df, key)
    ic = arch.compute.interconnect
    splits = valid_splits(df, ic.row_blocks, ic.col_blocks, ic.block_reduction) if ic.flexible \
        else [(1, None, 1, None)]
    cands = [Mapping(df, tm, tn, tk, DEFAULT_LOOP_ORDER, spatial=SpatialSplit(*split) if ic.flexible else WHOLE_ARRAY)
             for split in splits for tm, tn, tk in tiles]
    if inner and len(arch.tiers()) > 1:
        cands = _with_inner_levels_all(arch, op, cands, key[-1])
    if len(_CANDIDATES) > 1024:
        _CANDIDATES.clear()
    _CANDIDATES[(key, inner)] = tuple(cands)
    return cands


def default_tiles(arch: Arch, op: Op, dataflow: str) -> list[tuple[int, int, int]]:
    """The (tile_m, tile_n, tile_k) of `default_mapping_candidates` under `dataflow`, in their order
    (elements; one list for every spatial split, each candidate takes loop order DEFAULT_LOOP_ORDER).
    Raises SpecError when not even the smallest tile fits."""
    return _default_tiles(arch, op, dataflow, _tiles_key(arch, op, dataflow))


def _default_tiles(arch: Arch, op: Op, dataflow: str, key: tuple) -> list[tuple[int, int, int]]:
    """`default_tiles` with its cache key (`_tiles_key`) already made."""
    tiles = _TILES.get(key)
    if tiles is None:
        tiles = _candidate_tiles(arch, op, key[-1], dataflow)
        if len(_TILES) > 4096:
            _TILES.clear()
        _TILES[key] = tiles
    if not tiles:
        raise SpecError(f"{arch.name}: even the smallest tile of {op.name} does not fit the on-chip buffers; "
                        "enlarge memory size_bytes")
    return tiles


def _tiles_key(arch: Arch, op: Op, dataflow: str) -> tuple:
    """Cache key of `default_tiles`: all executed_gemm reads, the plan last."""
    return (_arch_key(arch), dataflow, op.M, op.N, op.K, op.batch, op.act_density, plan_sparsity(arch, op))


# (arch structure, dataflow, op dims, plan) -> candidate tiles: repeated layers (BERT-base's 96 ops
# are 5 shapes) and the DSE's designs share them
_TILES: dict[tuple, list[tuple[int, int, int]]] = {}
# ((that key, inner) -> the candidate mappings (immutable): with their inner levels they cost more
# to build than to cost
_CANDIDATES: dict[tuple, tuple[Mapping, ...]] = {}


def clear_caches() -> None:
    """Forget the cached default-mapping tiles and candidates (benchmarks time a layer shape seen for
    the first time; results do not depend on the caches)."""
    _TILES.clear()
    _CANDIDATES.clear()


def _arch_key(arch: Arch) -> tuple:
    """What the candidate tiles and mappings depend on in `arch`: array extents and MACs per PE
    (quanta), operand widths, the interconnect (spatial splits), the levels (every field: capacity,
    holds, tiers and residency all enter footprint_bytes and the fit rule)."""
    c = arch.compute
    return (c.rows, c.cols, c.operand_bits, c.accumulator_bits, c.macs_per_pe, repr(c.interconnect),
            tuple(repr(lv) for lv in arch.memory))


def _candidate_tiles(arch: Arch, op: Op, plan: SparsePlan, df: str) -> list[tuple[int, int, int]]:
    """(tile_m, tile_n, tile_k) of default_mapping_candidates, fitting tiles only."""
    quantum = _quanta(arch, plan, df)
    gemm = executed_gemm(op, plan)
    footprint = _footprint_memo(arch, gemm)
    free = {"M": 1, "N": 1, "K": plan.m}
    tiles = [t for rule, q in ((_larger_of_m_n, quantum), (_larger_of_m_n, free), (_most_bytes_freed, free))
             for t in _shrink_path(arch, op, footprint, q, rule)]
    if plan.m > 1:
        # the dense layer's tiles, K cut to whole groups: every one that fits dense fits N:M
        dense_plan = replace(plan, n=1, m=1, index_bits=0, density=1.0, kind="dense", busy_k_scale=None)
        dense, dq = executed_gemm(op, dense_plan), _quanta(arch, dense_plan, df)
        dense_footprint = _footprint_memo(arch, dense)
        one = {"M": 1, "N": 1, "K": 1}
        for rule, q in ((_larger_of_m_n, dq), (_larger_of_m_n, one), (_most_bytes_freed, one)):
            for t in _shrink_path(arch, op, dense_footprint, q, rule):
                tiles.append(dict(t, K=t["K"] if t["K"] >= op.K else max(plan.m, t["K"] // plan.m * plan.m)))
    out, seen = [], set()
    sizes = {lv.name: lv.capacity_bytes for lv in arch.memory}
    for t in tiles:
        need = footprint(t["M"], t["N"], t["K"])   # the outermost tier (inner tiers take the fit rule)
        if not all(need[n] <= sizes[n] for n in need):
            continue
        for s in M_SPLITS:
            tm = min(t["M"], max(quantum["M"], cdiv(cdiv(op.M, s), quantum["M"]) * quantum["M"]))
            if (tm, t["N"], t["K"]) not in seen:
                seen.add((tm, t["N"], t["K"]))
                out.append((tm, t["N"], t["K"]))
    return out


def _footprint_memo(arch: Arch, gemm: Gemm) -> Callable[[int, int, int], dict[str, float]]:
    """(tm, tn, tk) -> footprint_bytes of the outermost tier for that tile, remembered: the shrink
    paths of one layer revisit the same tiles (they all start from the whole layer)."""
    seen: dict[tuple[int, int, int], dict[str, float]] = {}
    layout = _footprint_layout(arch, gemm)

    def footprint(tm: int, tn: int, tk: int) -> dict[str, float]:
        need = seen.get((tm, tn, tk))
        if need is None:
            need = seen[(tm, tn, tk)] = _footprint(layout, gemm, [(tm, tn, tk)])
        return need
    return footprint


def with_inner_levels(arch: Arch, op: Op, mapping: Mapping, plan: SparsePlan | None = None) -> Mapping:
    """`mapping` with every inner tier's tile by the fit rule (mapping.levels) and its fixed loop
    order when it gives none; the mapping itself when it gives them all (or on a one-tier arch)."""
    tiers = arch.tiers()
    if len(mapping.levels) == len(tiers) - 1:
        return mapping
    if mapping.levels:
        names = ["+".join(arch.memory[i].name for i in tier) for tier in tiers[1:]]
        raise SpecError(f"mapping: {len(mapping.levels)} inner level tile(s) for {arch.name}'s "
                        f"{len(tiers) - 1} inner tiers ({', '.join(names)}); "
                        "give one per inner tier, or none to take them by the fit rule")
    return _with_inner_levels_all(arch, op, [mapping], plan or plan_sparsity(arch, op))[0]


def _with_inner_levels_all(arch: Arch, op: Op, mappings: list[Mapping], plan: SparsePlan) -> list[Mapping]:
    """`with_inner_levels` of every mapping (none gives inner levels), the fit rule run once over
    all of them (inner_tiles is vectorized: one call instead of one per candidate)."""
    gemm = executed_gemm(op, plan)
    outer = tuple(np.minimum(np.array([getattr(m, f) for m in mappings], dtype=np.int64), d)
                  for f, d in (("tile_m", op.M), ("tile_n", op.N), ("tile_k", op.K)))
    dataflow = np.array([DATAFLOWS.index(m.dataflow) for m in mappings], dtype=np.int64)
    codes = [split_codes((m.spatial.row_blocks, m.spatial.row_dim, m.spatial.col_blocks, m.spatial.col_dim))
             for m in mappings]
    # the unsplit array as the codes of a split of one block (dim_extents gives it the same extents)
    split = None if all(c is None for c in codes) else \
        tuple(np.array(col, dtype=np.int64) for col in zip(*(c if c is not None else (1, -1, 1, -1) for c in codes)))
    tiles = inner_tiles(arch, gemm, dataflow, split, outer)
    orders = inner_orders(arch)
    return [replace(m, levels=tuple(LevelTile(int(tm[i]), int(tn[i]), int(tk[i]), o)
                                    for (tm, tn, tk), o in zip(tiles, orders)))
            for i, m in enumerate(mappings)]


def default_mapping(arch: Arch, op: Op, dataflow: str | None = None,
                    cost: Callable[[list[Mapping]], Sequence[float]] | None = None) -> Mapping:
    """A reasonable mapping without search (`default_mapping_candidates`): with `cost`
    (candidates -> cycles, e.g. sim's fast model) the first cheapest candidate, without it the
    largest tile that fits."""
    cands = default_mapping_candidates(arch, op, dataflow)
    if cost is None:
        return cands[0]
    cycles = list(cost(cands))
    return cands[cycles.index(min(cycles))]


def _quanta(arch: Arch, plan: SparsePlan, df: str) -> dict[str, int]:
    """Smallest tile per dimension (elements): the array extent it is spread over under `df`, and
    for K the executed N:M group of `plan`."""
    rows_dim, cols_dim, _ = SPATIAL[df]
    quantum = {"M": 1, "N": 1, "K": plan.m}
    quantum[rows_dim] = max(quantum[rows_dim], arch.compute.rows if rows_dim != "K" else plan.m)
    quantum[cols_dim] = max(quantum[cols_dim], arch.compute.cols)
    return quantum


def _larger_of_m_n(tile: dict, movable: list[str], freed, op: Op) -> str:
    """Halve the larger of M and N, K only last, except that K goes first while the op's K
    exceeds K_DOMINANCE x its larger of M and N and the K tile K_DOMINANCE x the larger tile."""
    if op.K > K_DOMINANCE * max(op.M, op.N) and "K" in movable and tile["K"] > K_DOMINANCE * max(tile["M"], tile["N"]):
        return "K"
    mn = [d for d in ("M", "N") if d in movable]
    return max(mn or movable, key=lambda d: tile[d])


def _most_bytes_freed(tile: dict, movable: list[str], freed, op: Op) -> str:
    """Halve what frees the most bytes of the levels over their size (of all levels once the tile
    fits); on a tie M and N before K (a split K spills partial sums), then the larger tile. Halving
    a dimension the overflowing level does not hold (M when the weights overflow) shrinks the tile
    for nothing: the larger-of-M-and-N order once took tile_m from 48 to 1 when the array doubled."""
    return max(movable, key=lambda d: (freed(d), d != "K", tile[d], -_DIMS.index(d)))


def _shrink_path(arch: Arch, op: Op, footprint, quantum: dict[str, int], rule) -> list[dict[str, int]]:
    """The tiles of the path from the whole layer that fit the buffers, `footprint` (_footprint_memo)
    giving the outermost tier's bytes of a tile as the layer executes, largest first. Each step halves
    the dimension `rule` picks (rounded down to its quantum) until every dimension is at its quantum."""
    sizes = {lv.name: lv.capacity_bytes for lv in arch.memory}
    tile = {"M": op.M, "N": op.N, "K": op.K}
    fitting = []
    while True:
        have = footprint(tile["M"], tile["N"], tile["K"])  # the outermost tier
        over = [n for n in have if have[n] > sizes[n]] or list(have)
        if all(have[n] <= sizes[n] for n in have):
            fitting.append(dict(tile))
        movable = [d for d in _DIMS if tile[d] > quantum[d]]
        if not movable:
            return fitting

        def freed(d: str) -> float:
            t = dict(tile, **{d: _round_down(cdiv(tile[d], 2), quantum[d])})
            after = footprint(t["M"], t["N"], t["K"])
            return sum(have[n] - after[n] for n in over)
        d = rule(tile, movable, freed, op)
        tile[d] = _round_down(cdiv(tile[d], 2), quantum[d])
