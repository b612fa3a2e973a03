"""Systolic-array backends: the mapping step and the two ways to price a mapping.

Both backends choose the mapping the same way, with the fast model: the one given, else the
mapper's best for the objective (`mapper`), else the default mapping (docs/MODEL.md 4), each
optionally limited to one dataflow. `FastSystolic` prices it with the closed form
(`analytic.gemm_cost`), `DetailedSystolic` with the event-driven engine on the same tile schedule
(`engine.engine_cost`; stall cycles by cause join `cycle_breakdown`). A weight mask makes
unstructured sparsity pay its load imbalance (MODEL.md 2.1). Non-GEMM operators run on the
arch's vector unit (`cost_nongemm`, sim/vector.py, MODEL.md 11.2) in both backends.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable

import numpy as np

from nmsim.accel import SystolicArch
from nmsim.mapping import (Candidates, Constraints, Mapping, MappingSpace, SparsePlan, check_mapping,
                           default_mapping_candidates, executed_gemm, plan_sparsity, search, with_inner_levels)
from nmsim.specfile import SpecError
from nmsim.workloads import NonGemmOp, Op

from .analytic import gemm_cost
from .engine import STALL_CAUSES, Trace, engine_cost
from .hw import HwParams
from .imbalance import busy_k_scale, fold_lanes, lane_prefix_counts
from .results import LayerResult
from .vector import VectorParams, uncosted_nongemm, vector_cost

BOTTLENECKS = ("compute", "buffer", "dram")
FAST_BREAKDOWN = ("compute_cycles", "buffer_cycles", "dram_cycles")
ENERGY_PARTS = ("mac", "index", "buffer", "dram", "static")   # + "vector" on non-GEMM layers


def bottleneck(f: dict) -> str:
    """Which of compute / buffer (port) / dram cycles is largest in a cost record (cycles keys)."""
    return max(BOTTLENECKS, key=lambda b: f[f"{b}_cycles"])


def energy_actions(hw: HwParams, f: dict) -> dict[str, float]:
    """Energy of a cost record by action and level (pJ): mac, index decode, reads and writes at every
    on-chip level and at DRAM, static (docs/MODEL.md 3.8)."""
    out = {"mac": float(f["energy_mac_pj"]), "index_decode": float(f["energy_index_pj"])}
    for name in (*hw.level_names, "dram"):
        for action in ("read", "write"):
            out[f"{name}.{action}"] = float(f[f"energy_{name}_{action}_pj"])
    out["static"] = float(f["energy_static_pj"])
    return out


def op_cost(hw: HwParams, op: Op, plan: SparsePlan, mappings: list[Mapping] | Candidates, *,
            detail: bool = True) -> dict[str, np.ndarray]:
    """Fast-model cost of `op` executed as `plan` under each of `mappings` (arrays indexed like
    them): the batch evaluator the mappers and `nmsim simulate` share (analytic.gemm_cost; `detail`
    as there)."""
    if isinstance(mappings, Candidates):
        c = mappings
    else:
        c = Candidates.one(mappings[0]) if len(mappings) == 1 else Candidates.from_mappings(mappings)
    return gemm_cost(hw, executed_gemm(op, plan), c, detail=detail)


def _scalars(r: dict, best: int) -> dict:
    """Entry `best` of every array of a cost record as Python scalars (scalars broadcast)."""
    return {k: (np.asarray(v).reshape(-1)[best] if np.ndim(v) else np.asarray(v)).item() for k, v in r.items()}


def map_op(arch: SystolicArch, op: Op, mapper: str = "heuristic", objective: str = "latency",
           constraints: Constraints | None = None, *, hw: HwParams | None = None,
           plan: SparsePlan | None = None, **kw):
    """Search the mapping space of `op` on `arch` with the fast model (mapping.search kwargs);
    `plan` overrides the space's own SparsePlan in the cost (e.g. one carrying mask imbalance)."""
    hw = hw or HwParams.from_arch(arch)
    space = MappingSpace(arch, op, constraints=constraints)
    # the mappers rank on cycles and energy: the per-level detail is costed for the winner only
    return search(space, lambda c: op_cost(hw, op, plan or space.plan, c, detail=False), objective, mapper, **kw)


class FastSystolic:
    """Costs ops on a systolic arch with the fast analytic model (docs/MODEL.md 3)."""

    engine = "fast"
    takes_mappings = True

    def __init__(self, arch: SystolicArch, *, hw: HwParams | None = None, dataflow: str | None = None,
                 mapper: str | None = None, objective: str = "latency", trace: Trace | None = None):
        if dataflow is not None and dataflow not in arch.compute.dataflows:
            raise SpecError(f"`dataflow` {dataflow}: {arch.name} supports {', '.join(arch.compute.dataflows)}")
        self.arch, self.hw = arch, hw or HwParams.from_arch(arch)
        self.dataflow, self.mapper, self.objective, self.trace = dataflow, mapper, objective, trace
        self.name, self.clock_hz, self.peak_macs_per_cycle = arch.name, arch.clock_hz, arch.peak_macs_per_cycle
        self.vp = VectorParams.from_arch(arch)
        self._searched: dict = {}   # (op without its name, plan) -> the mapper's mapping

    # --- the pipeline of one op ------------------------------------------------------------
    def cost(self, op: Op, mapping: Mapping | None = None, mask: np.ndarray | None = None, *,
             check: bool = True) -> LayerResult:
        """Cost `op` (see module docstring); `mask` bool `[N, K]` or `[batch, N, K]`, True = kept.
        `check=False` costs a given mapping even where its tiles overflow the buffers."""
        plan = plan_sparsity(self.arch, op)
        counts = self._mask_counts(op, plan, mask)
        if counts is not None:
            plan = self._mask_plan(op, plan, counts, None)
        mapping, record = self._choose(op, plan, mapping, check)
        if counts is not None:  # re-cost with the imbalance of the chosen mapping's own tiling
            plan = self._mask_plan(op, plan, counts, mapping)
            record = _scalars(op_cost(self.hw, op, plan, [mapping]), 0)
        record, breakdown = self._price(op, plan, mapping, record)
        return self._result(op, plan, mapping, record, breakdown)

    def cost_nongemm(self, op: NonGemmOp) -> LayerResult:
        """Cycles, latency (s), bytes and energy (pJ) of a non-GEMM op on the vector unit (MODEL.md
        11.2); a zero-cost layer with a note when the arch describes none."""
        if self.vp is None:
            return uncosted_nongemm(op, [*self.hw.level_names, "dram"], self.hw.operand_bytes,
                                    f"{self.arch.name} describes no vector unit: non-GEMM ops are not costed "
                                    "(add a `vector:` section, docs/MODEL.md 11.2)")
        return vector_cost(self.arch, op, self.vp)

    def _choose(self, op: Op, plan: SparsePlan, mapping: Mapping | None, check: bool = True) -> tuple[Mapping, dict]:
        """The mapping to run and its fast-model record."""
        if mapping is None and self.mapper is not None:
            # a search depends on the op's shape and plan, not its name: repeated layers (a
            # transformer's blocks) search once per backend
            key = (replace(op, name=""), plan)
            mapping = self._searched.get(key)
            if mapping is None:
                constraints = Constraints(dataflow=self.dataflow) if self.dataflow else None
                found = map_op(self.arch, op, self.mapper, self.objective, constraints, hw=self.hw, plan=plan, top=1)
                mapping = self._searched[key] = found.best.mapping
        if mapping is None:
            cands = default_mapping_candidates(self.arch, op, self.dataflow)
            r = op_cost(self.hw, op, plan, cands)
            cycles = list(np.asarray(r["cycles"]).reshape(-1))
            best = cycles.index(min(cycles))  # the first of equals, as the default mapping promises
            if self.hw.n_tiers > 1:  # the outermost tier fits by construction; inner ones may not
                check_mapping(self.arch, op, cands[best], plan)
            return cands[best], _scalars(r, best)
        mapping = with_inner_levels(self.arch, op, mapping, plan)
        if check:
            check_mapping(self.arch, op, mapping, plan)
        return mapping, _scalars(op_cost(self.hw, op, plan, [mapping]), 0)

    def _price(self, op: Op, plan: SparsePlan, mapping: Mapping, record: dict) -> tuple[dict, list[str]]:
        """The cost record of the chosen mapping and the cycle-breakdown keys it reports."""
        return record, list(FAST_BREAKDOWN)

    def _mask_counts(self, op: Op, plan: SparsePlan, mask):
        """Per-lane nonzero prefix counts of `mask` when it drives imbalance here, else None."""
        if mask is None or plan.kind != "unstructured":
            return None
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if tuple(np.shape(mask)) != want:
            raise SpecError(f"op '{op.name}': mask has shape {tuple(np.shape(mask))}, expected {want}")
        return lane_prefix_counts(mask)

    def _mask_plan(self, op: Op, plan: SparsePlan, counts, mapping: Mapping | None) -> SparsePlan:
        """`plan` with the busiest-lane K fraction of the mask (MODEL.md 2.1) for `mapping`'s tiling,
        or, before a mapping is chosen, for whole-layer tiles (what the mapping search is steered by)."""
        window = self.arch.sparsity.unstructured.window
        if mapping is None:
            ks = busy_k_scale(counts, op.N, op.K, self.hw.cols, window)
        else:
            tn = min(mapping.tile_n, op.N)
            lanes = fold_lanes(mapping.dataflow, self.hw.cols, tn)
            ks = busy_k_scale(counts, tn, min(mapping.tile_k, op.K), lanes, window)
        # the op's declared density sets its MACs; a mask sparser than declared (all zeros, say) may only
        # add imbalance, never make the busiest lane lighter than the mean (utilization would pass 1)
        ks = max(ks, plan.density)
        note = (f"{op.name}: unstructured imbalance from its mask: the busiest lane holds "
                f"{ks / plan.density:.3f}x the mean nonzeros (window {window} lanes)")
        return replace(plan, busy_k_scale=ks, note=note)

    def _result(self, op: Op, plan: SparsePlan, mapping: Mapping, f: dict, breakdown: list[str]) -> LayerResult:
        return LayerResult(
            name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
            sparsity=str(op.weight_sparsity), executed_sparsity=plan.label,
            cycles=int(f["cycles"]), latency_s=float(f["latency_s"]), utilization=float(f["utilization"]),
            macs_dense=op.macs, macs_effective=int(f["macs_effective"]),
            bytes={**{lv: float(f[f"bytes_{lv}"]) for lv in self.hw.level_names}, "dram": float(f["bytes_dram"])},
            energy_pj=float(f["energy_pj"]),
            energy_breakdown_pj={p: float(f[f"energy_{p}_pj"]) for p in ENERGY_PARTS},
            energy_actions_pj=energy_actions(self.hw, f),
            cycle_breakdown={k: float(f[k]) for k in breakdown},
            mapping=mapping.to_dict(), notes=plan.notes, bottleneck=bottleneck(f),
        )

    # --- training ----------------------------------------------------------------------------
    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        """Cycles of SAT's N:M mask pre-generation for the next step (cycles): top-N selection over
        every group of M weights of each executed N:M direction, one group per cycle per selector,
        with as many selectors as array columns (assumed). 0 when nothing runs N:M."""
        groups = 0
        for o in (fwd, bwd):
            plan = plan_sparsity(self.arch, o)
            if plan.kind == "nm":
                groups += o.batch * o.N * math.ceil(o.K / plan.m)
        return math.ceil(groups / self.arch.compute.cols)


# Tiles of one layer the detailed engine simulates: it runs 7,000-14,000 tiles/s (docs/PERFORMANCE.md),
# so this is 7-15 s per layer, 10x the largest layer of the zoo's models under their default mappings
# (llama2-7b on dense-systolic: 615,648 tiles in 289 layers); beyond it the layer is refused (the fast
# model costs any size).
MAX_DETAILED_TILES = 100_000
# Tiles of one run (a backend's layers together): 1-2 minutes; llama2-7b on dense-systolic is 615,648.
MAX_DETAILED_RUN_TILES = 1_000_000


def _tiles(op: Op, mapping: Mapping) -> int:
    """Tiles of `op` under `mapping` (its outermost tier), all batch members."""
    return op.batch * math.prod(-(-d // min(t, d)) for d, t in
                                ((op.M, mapping.tile_m), (op.N, mapping.tile_n), (op.K, mapping.tile_k)))


def _check_tiles(op: Op, mapping: Mapping, tiles: int, run_tiles: int) -> None:
    """SpecError when a layer or the run up to it passes the detailed engine's tile caps."""
    if tiles > MAX_DETAILED_TILES:
        raise SpecError(f"layer '{op.name}': {tiles:,} tiles under mapping {mapping.tile_m}x{mapping.tile_n}x"
                        f"{mapping.tile_k}; the detailed engine simulates at most {MAX_DETAILED_TILES:,} per layer "
                        "(7-15 s of SimPy events): use larger tiles or the fast engine")
    if run_tiles > MAX_DETAILED_RUN_TILES:
        raise SpecError(f"layer '{op.name}': the layers up to it add up to {run_tiles:,} tiles; the detailed "
                        f"engine simulates at most {MAX_DETAILED_RUN_TILES:,} per run (1-2 minutes of SimPy "
                        "events): a smaller batch or workload, or the fast engine")


class DetailedSystolic(FastSystolic):
    """Costs ops on a systolic arch with the event-driven engine (docs/MODEL.md 9); the mapping is
    chosen with the fast model, as in FastSystolic. Records into `trace` when given."""

    engine = "detailed"
    _run_tiles = 0   # tiles simulated so far by this backend (an instance attribute from the first layer on)

    def cost_nongemm(self, op: NonGemmOp) -> LayerResult:
        """As the fast backend (the vector unit streams; no tiles to schedule), recorded in the
        trace as one `vector` event."""
        lr = super().cost_nongemm(op)
        if self.trace is not None:
            self.trace.layer = op.name
            self.trace.add("vector", op.kind, 0.0, float(lr.cycles))
        return lr

    def preflight(self, ops: list[Op], given: Callable[[Op], Mapping | None]) -> None:
        """Refuse before any event is simulated a run that `cost` would refuse part-way (the tile
        caps above): each GEMM's tiles under the mapping `cost` will choose for it (`given(op)`,
        the mapper's or the default; ops costed with a mask may choose another and are left to
        `cost`'s own check). Without it a refused run spent its minutes first."""
        total = 0
        for op in ops:
            mapping, _ = self._choose(op, plan_sparsity(self.arch, op), given(op), check=False)
            tiles = _tiles(op, mapping)
            total += tiles
            _check_tiles(op, mapping, tiles, total)

    def _price(self, op: Op, plan: SparsePlan, mapping: Mapping, record: dict) -> tuple[dict, list[str]]:
        tiles = _tiles(op, mapping)
        self._run_tiles += tiles
        _check_tiles(op, mapping, tiles, self._run_tiles)
        f = engine_cost(self.hw, executed_gemm(op, plan), mapping, self.trace, op.name)
        return f, [*FAST_BREAKDOWN, *(f"stall_{c}_cycles" for c in STALL_CAUSES)]
