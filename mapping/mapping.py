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
# K is shrunk first while it exceeds this many times the larger of the M and N tiles: a
# weight-gradient GEMM reduces over every token (K of 10^5..10^6), and shrinking M and N to one
# row first would re-read the K-long operands once per row, which costs far more than the
# partial sums that a split K spills (measured: 94x slower than the mapper on VGG-16 wgrad).
K_DOMINANCE = 4


def default_mapping_candidates(arch: Arch, op: Op, dataflow: str | None = None) -> list[Mapping]:
    """The default mapping's candidates (docs/MODEL.md 4): whole-layer tiles shrunk until they fit
    the buffers, then that tile split 2, 4 and 8 ways along M (duplicates dropped). Splitting M
    lets double buffering overlap loads with compute; callers cost the list and keep the first
    cheapest (`default_mapping`).

    Shrinking halves the largest of M, N, K (kept a multiple of the array extent it is spread
    over, and K a multiple of the N:M group) so the array stays fully used; K is shrunk last,
    because splitting K spills partial sums, unless the op's K exceeds K_DOMINANCE times its larger
    of M and N (weight-gradient GEMMs): then K is shrunk first, down to K_DOMINANCE times the
    larger of the M and N tiles. Loop order keeps the reduction innermost ("nmk"), so outputs are
    written once.
    """
    fitted = _fitted_mapping(arch, op, dataflow)
    q = arch.compute.rows if SPATIAL[fitted.dataflow][0] == "M" else 1
    cands, seen = [], set()
    for s in M_SPLITS:
        tm = min(fitted.tile_m, max(q, cdiv(cdiv(op.M, s), q) * q))
        if tm not in seen:
            seen.add(tm)
            cands.append(Mapping(fitted.dataflow, tm, fitted.tile_n, fitted.tile_k, fitted.loop_order))
    return cands


def default_mapping(arch: Arch, op: Op, dataflow: str | None = None,
                    cost: Callable[[list[Mapping]], Sequence[float]] | None = None) -> Mapping:
    """A reasonable mapping without search (`default_mapping_candidates`): with `cost`
    (candidates -> cycles, e.g. sim's fast model) the first cheapest candidate, without it the
    fitted whole-layer tile."""
    cands = default_mapping_candidates(arch, op, dataflow)
    if cost is None:
        return cands[0]
    cycles = list(cost(cands))
    return cands[cycles.index(min(cycles))]


def _fitted_mapping(arch: Arch, op: Op, dataflow: str | None) -> Mapping:
    df = dataflow or arch.compute.dataflows[0]
    plan = plan_sparsity(arch, op)
    gemm = executed_gemm(op, plan)
    rows_dim, cols_dim, _ = SPATIAL[df]
    c = arch.compute
    quantum = {"M": 1, "N": 1, "K": plan.m}
    quantum[rows_dim] = max(quantum[rows_dim], c.rows if rows_dim != "K" else plan.m)
    quantum[cols_dim] = max(quantum[cols_dim], c.cols)
    tile = {"M": op.M, "N": op.N, "K": op.K}
    sizes = {lv.name: lv.size_bytes for lv in arch.memory}

    def fits() -> bool:
        need = footprint_bytes(arch, gemm, tile["M"], tile["N"], tile["K"])
        return all(need[n] <= sizes[n] for n in need)

    k_dominated = op.K > K_DOMINANCE * max(op.M, op.N)
    while not fits():
        # Prefer shrinking M or N; touch K only when both are at their quantum or K dominates.
        cand = [d for d in ("M", "N") if tile[d] > quantum[d]]
        if k_dominated and tile["K"] > quantum["K"] and tile["K"] > K_DOMINANCE * max(tile["M"], tile["N"]):
            cand = ["K"]
        if not cand:
            cand = ["K"] if tile["K"] > quantum["K"] else []
        if not cand:
            raise SpecError(f"{arch.name}: even the smallest tile of {op.name} does not fit the on-chip buffers; "
                            "enlarge memory size_bytes")
        d = max(cand, key=lambda x: tile[x])
        tile[d] = _round_down(cdiv(tile[d], 2), quantum[d])
    return Mapping(dataflow=df, tile_m=tile["M"], tile_n=tile["N"], tile_k=tile["K"], loop_order="nmk")
