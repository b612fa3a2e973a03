"""Mappings: how a GEMM's loops are laid onto the array (dataflow) and tiled into on-chip buffers.

A `Mapping` fixes
* the dataflow, which decides the spatial unrolling (rows x cols x time, the dataflow table of
  problem.dataflow: WS K x N x M, OS M x N x K, IS K x M x N);
* the buffer-level tile (tile_m, tile_n, tile_k) in elements of the dense GEMM (partial edge
  tiles allowed), with tile_k a multiple of the executed N:M group size;
* the order of the three tile loops, outermost first (e.g. "nmk").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from nmsim.accel import Arch
from nmsim.problem import DATAFLOWS, SPATIAL, Gemm, cdiv, tile_bytes
from nmsim.specfile import SpecError, did_you_mean
from nmsim.workloads import Op

from .sparse_plan import SparsePlan, executed_gemm, plan_sparsity

LOOP_ORDERS = ("mnk", "mkn", "nmk", "nkm", "kmn", "knm")


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
class Mapping:
    """Dataflow, buffer tile (elements) and tile-loop order (outermost first)."""

    dataflow: str
    tile_m: int
    tile_n: int
    tile_k: int
    loop_order: str = "nmk"

    def __post_init__(self) -> None:
        if self.dataflow not in DATAFLOWS:
            raise SpecError(f"mapping: dataflow '{self.dataflow}' is not one of {DATAFLOWS}")
        if self.loop_order not in LOOP_ORDERS:
            raise SpecError(f"mapping: loop_order '{self.loop_order}' is not one of {LOOP_ORDERS}")
        for k in ("tile_m", "tile_n", "tile_k"):
            if getattr(self, k) <= 0:
                raise SpecError(f"mapping: {k} must be positive (got {getattr(self, k)})")

    def to_dict(self) -> dict:
        """Plain dict (YAML/JSON friendly)."""
        return asdict(self)


def footprint_bytes(arch: Arch, gemm: Gemm, tm: int, tn: int, tk: int) -> dict[str, float]:
    """Bytes each on-chip level must hold for one buffer tile (bytes), doubled where double-buffered;
    tile sizes come from problem.tile_bytes (partial sums at accumulator width)."""
    c = arch.compute
    a, b, out = tile_bytes(gemm, tm, tn, tk, c.operand_bits / 8, c.accumulator_bits / 8)
    need = {"inputs": a, "weights": b, "outputs": out}
    held: dict[str, float] = {}
    for operand, nbytes in need.items():
        lv = arch.level_for(operand)
        held[lv.name] = held.get(lv.name, 0.0) + nbytes * (2 if lv.double_buffered else 1)
    return held


def check_mapping(arch: Arch, op: Op, mapping: Mapping, plan: SparsePlan | None = None) -> None:
    """Raise SpecError naming the violated rule (and by how much) when `mapping` is invalid."""
    plan = plan or plan_sparsity(arch, op)
    if mapping.dataflow not in arch.compute.dataflows:
        raise SpecError(f"mapping: {arch.name} supports dataflows {arch.compute.dataflows}, not '{mapping.dataflow}'")
    if mapping.tile_k % plan.m and mapping.tile_k < op.K:
        raise SpecError(f"mapping: tile_k={mapping.tile_k} is not a multiple of the N:M group size {plan.m}")
    for name, need in footprint_bytes(arch, executed_gemm(op, plan), min(mapping.tile_m, op.M),
                                      min(mapping.tile_n, op.N), min(mapping.tile_k, op.K)).items():
        size = next(lv.size_bytes for lv in arch.memory if lv.name == name)
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


def default_mapping_candidates(arch: Arch, op: Op, dataflow: str | None = None) -> list[Mapping]:
    """The default mapping's candidates (docs/MODEL.md 4), in a fixed order: every tile that fits
    the buffers on three shrink paths from the whole layer (`_shrink_path`: halving the larger of
    M and N, with the array's extents as the smallest tiles and without; halving what frees the
    most bytes), for an N:M layer also the dense layer's tiles in whole groups, each split 1, 2, 4
    and 8 ways along M (duplicates dropped). Callers cost the list and keep the first cheapest
    (`default_mapping`).

    Why whole paths: they do not depend on the buffer sizes (with one on-chip level), so a bigger
    buffer only adds candidates; more bandwidth changes no candidate; below the array's extent the
    paths do not depend on the array either, so a bigger array keeps the tiles a smaller one would
    run; an N:M layer keeps the dense layer's tiles. Splitting M lets double buffering overlap loads
    with compute. Loop order "nmk" keeps the reduction innermost, so outputs are written once.
    Raises SpecError when not even the smallest tile fits."""
    df = dataflow or arch.compute.dataflows[0]
    plan = plan_sparsity(arch, op)
    key = (_arch_key(arch), df, op.M, op.N, op.K, plan.n, plan.m, plan.index_bits, plan.kind, plan.density,
           plan.busy_k_scale)
    tiles = _TILES.get(key)
    if tiles is None:
        tiles = _candidate_tiles(arch, op, plan, df)
        if len(_TILES) > 4096:
            _TILES.clear()
        _TILES[key] = tiles
    if not tiles:
        raise SpecError(f"{arch.name}: even the smallest tile of {op.name} does not fit the on-chip buffers; "
                        "enlarge memory size_bytes")
    return [Mapping(df, tm, tn, tk, "nmk") for tm, tn, tk in tiles]


# (arch structure, dataflow, op dims, plan) -> candidate tiles: repeated layers (BERT-base's 96 ops
# are 5 shapes) and the DSE's designs share them
_TILES: dict[tuple, list[tuple[int, int, int]]] = {}


def _arch_key(arch: Arch) -> tuple:
    """What the candidate tiles depend on in `arch`: array extents, operand widths, the levels."""
    c = arch.compute
    return (c.rows, c.cols, c.operand_bits, c.accumulator_bits,
            tuple((lv.name, lv.size_bytes, lv.double_buffered, tuple(lv.holds)) for lv in arch.memory))


def _candidate_tiles(arch: Arch, op: Op, plan: SparsePlan, df: str) -> list[tuple[int, int, int]]:
    """(tile_m, tile_n, tile_k) of default_mapping_candidates, fitting tiles only."""
    quantum = _quanta(arch, plan, df)
    gemm = executed_gemm(op, plan)
    free = {"M": 1, "N": 1, "K": plan.m}
    tiles = [t for rule, q in ((_larger_of_m_n, quantum), (_larger_of_m_n, free), (_most_bytes_freed, free))
             for t in _shrink_path(arch, op, gemm, q, rule)]
    if plan.m > 1:
        # the dense layer's tiles, K cut to whole groups: every one that fits dense fits N:M
        dense, dq = executed_gemm(op, SparsePlan()), _quanta(arch, SparsePlan(), df)
        one = {"M": 1, "N": 1, "K": 1}
        for rule, q in ((_larger_of_m_n, dq), (_larger_of_m_n, one), (_most_bytes_freed, one)):
            for t in _shrink_path(arch, op, dense, q, rule):
                tiles.append(dict(t, K=t["K"] if t["K"] >= op.K else max(plan.m, t["K"] // plan.m * plan.m)))
    sizes = {lv.name: lv.size_bytes for lv in arch.memory}
    out, seen = [], set()
    for t in tiles:
        need = footprint_bytes(arch, gemm, t["M"], t["N"], t["K"])
        if any(need[n] > sizes[n] for n in need):
            continue
        for s in M_SPLITS:
            tm = min(t["M"], max(quantum["M"], cdiv(cdiv(op.M, s), quantum["M"]) * quantum["M"]))
            if (tm, t["N"], t["K"]) not in seen:
                seen.add((tm, t["N"], t["K"]))
                out.append((tm, t["N"], t["K"]))
    return out


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


def _shrink_path(arch: Arch, op: Op, gemm: Gemm, quantum: dict[str, int], rule) -> list[dict[str, int]]:
    """The tiles of the path from the whole layer that fit the buffers when executed as `gemm`,
    largest first. Each step halves the dimension `rule` picks (rounded down to its quantum)
    until every dimension is at its quantum."""
    sizes = {lv.name: lv.size_bytes for lv in arch.memory}
    tile = {"M": op.M, "N": op.N, "K": op.K}
    fitting = []
    while True:
        have = footprint_bytes(arch, gemm, tile["M"], tile["N"], tile["K"])
        over = [n for n in have if have[n] > sizes[n]] or list(have)
        if all(have[n] <= sizes[n] for n in have):
            fitting.append(dict(tile))
        movable = [d for d in _DIMS if tile[d] > quantum[d]]
        if not movable:
            return fitting

        def freed(d: str) -> float:
            t = dict(tile, **{d: _round_down(cdiv(tile[d], 2), quantum[d])})
            after = footprint_bytes(arch, gemm, t["M"], t["N"], t["K"])
            return sum(have[n] - after[n] for n in over)
        d = rule(tile, movable, freed, op)
        tile[d] = _round_down(cdiv(tile[d], 2), quantum[d])
