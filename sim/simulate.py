"""Cost an op or a whole workload on an arch with the fast analytic model (or the GPU tile model)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from nmsim.accel import Arch
from nmsim.mapping import (Candidates, Constraints, Mapping, MappingSpace, SparsePlan, check_mapping,
                     default_mapping_search, plan_sparsity, search)
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity, Workload

from .analytic import DATAFLOW_CODES, gemm_cost
from .engine import STALL_CAUSES, engine_cost
from .gpu import gpu_op_cost
from .hw import HwParams
from .imbalance import busy_k_scale, fold_lanes, lane_prefix_counts
from .results import LayerResult, RunResult

ENGINES = ("fast", "detailed")
BOTTLENECKS = ("compute", "buffer", "dram")


def bottleneck(f: dict) -> str:
    """Which of compute / buffer (port) / dram cycles is largest in a cost record (cycles keys)."""
    return max(BOTTLENECKS, key=lambda b: f[f"{b}_cycles"])


def op_cost(hw: HwParams, op: Op, plan: SparsePlan, mappings: list[Mapping] | Candidates) -> dict[str, np.ndarray]:
    """Vectorized cost of `op` under each of `mappings` (arrays indexed like `mappings`).

    This is the one batch evaluator: `nmsim simulate` and the mappers both call it.
    """
    c = mappings if isinstance(mappings, Candidates) else Candidates.from_mappings(mappings)
    return gemm_cost(hw, op.M, op.N, op.K, c.dataflow, c.tile_m, c.tile_n, c.tile_k, c.loop_order,
                     n=plan.n, m=plan.m, index_bits=plan.index_bits, batch=op.batch, act_density=op.act_density,
                     k_scale=plan.density if plan.kind == "unstructured" else None,
                     k_scale_busy=plan.busy_k_scale if plan.kind == "unstructured" else None)


def map_op(arch: Arch, op: Op, mapper: str = "heuristic", objective: str = "latency",
           constraints: Constraints | None = None, hw: HwParams | None = None,
           plan: SparsePlan | None = None, **kw):
    """Search the mapping space of `op` on `arch` with sim's fast model (mapping.search kwargs);
    `plan` overrides the space's own SparsePlan in the cost (e.g. one carrying mask imbalance)."""
    hw = hw or HwParams.from_arch(arch)
    space = MappingSpace(arch, op, constraints=constraints)
    return search(space, lambda c: op_cost(hw, op, plan or space.plan, c), objective, mapper, **kw)


def _mask_plan(arch: Arch, hw: HwParams, op: Op, plan: SparsePlan, cum, mapping: Mapping | None) -> SparsePlan:
    """`plan` with the busiest-lane K fraction of the mask (MODEL.md 2.1) for `mapping`'s tiling, or,
    before a mapping is chosen, for whole-layer tiles (what the mapping search is steered by)."""
    window = arch.sparsity.unstructured.window
    if mapping is None:
        ks = busy_k_scale(cum, op.N, op.K, hw.cols, window)
    else:
        tn = min(mapping.tile_n, op.N)
        lanes = fold_lanes(DATAFLOW_CODES[mapping.dataflow], hw.cols, tn)
        ks = busy_k_scale(cum, tn, min(mapping.tile_k, op.K), lanes, window)
    note = (f"{op.name}: unstructured imbalance from its mask: the busiest lane holds "
            f"{ks / plan.density:.3f}x the mean nonzeros (window {window} lanes)")
    return replace(plan, busy_k_scale=ks, note=note)


def simulate_op(arch: Arch, op: Op, mapping: Mapping | None = None, hw: HwParams | None = None,
                dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                engine: str = "fast", trace=None, mask: np.ndarray | None = None) -> LayerResult:
    """Cost one op on `arch` under `mapping`.

    Without a mapping: with `mapper` (heuristic|random|exhaustive) the best mapping for
    `objective`, else mapping.default_mapping; either restricted to `dataflow` when given.
    Mappings are always chosen with the fast model; `engine="detailed"` then costs the chosen
    one with the SimPy engine (sim/engine.py; stall cycles by cause join `cycle_breakdown`),
    recording into `trace` (an engine.Trace) when given. `mask` (bool `[N, K]` or `[batch, N, K]`,
    True = kept) makes unstructured sparsity pay the mask's load imbalance (MODEL.md 2.1) on an
    arch with unstructured support; otherwise it is ignored and ideal balance is assumed.
    """
    if engine not in ENGINES:
        raise SpecError(f"engine '{engine}' is not one of {', '.join(ENGINES)}")
    if arch.kind == "gpu" and engine == "detailed":
        raise SpecError(f"the detailed engine models systolic arrays; {arch.name} is a GPU preset (use the fast engine)")
    if arch.kind == "gpu":
        return gpu_op_cost(arch, op)
    hw = hw or HwParams.from_arch(arch)
    plan = plan_sparsity(arch, op)
    cum = None
    if mask is not None and plan.kind == "unstructured":
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if tuple(np.shape(mask)) != want:
            raise SpecError(f"op '{op.name}': mask has shape {tuple(np.shape(mask))}, expected {want}")
        cum = lane_prefix_counts(mask)
        plan = _mask_plan(arch, hw, op, plan, cum, None)
    if mapping is None and mapper is not None:
        found = map_op(arch, op, mapper, objective, Constraints(dataflow=dataflow) if dataflow else None, hw,
                       plan=plan, top=1)
        mapping = found.best.mapping
    if mapping is None:
        evaluated = {}

        def cost(cands):
            evaluated["r"] = op_cost(hw, op, plan, cands)
            return evaluated["r"]["cycles"]

        mapping, best = default_mapping_search(arch, op, dataflow, cost)
        r = evaluated["r"]
    else:
        check_mapping(arch, op, mapping, plan)
        r, best = op_cost(hw, op, plan, [mapping]), 0
    if cum is not None:  # re-cost with the imbalance of the chosen mapping's own tiling
        plan = _mask_plan(arch, hw, op, plan, cum, mapping)
        r, best = op_cost(hw, op, plan, [mapping]), 0
    # Scalars (e.g. energy of a static-free arch) broadcast; arrays hold one entry per candidate.
    f = {k: (np.asarray(v).reshape(-1)[best] if np.ndim(v) else np.asarray(v)).item() for k, v in r.items()}
    breakdown = ["compute_cycles", "buffer_cycles", "dram_cycles"]
    if engine == "detailed":
        f = engine_cost(hw, op, plan, mapping, trace)
        breakdown += [f"stall_{c}_cycles" for c in STALL_CAUSES]
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(op.weight_sparsity), executed_sparsity=plan.label,
        cycles=int(f["cycles"]), latency_s=float(f["latency_s"]), utilization=float(f["utilization"]),
        macs_dense=op.macs, macs_effective=int(f["macs_effective"]),
        bytes={**{lv: float(f[f"bytes_{lv}"]) for lv in hw.level_names}, "dram": float(f["bytes_dram"])},
        energy_pj=float(f["energy_pj"]),
        energy_breakdown_pj={p: float(f[f"energy_{p}_pj"]) for p in ("mac", "index", "buffer", "dram", "static")},
        cycle_breakdown={k: float(f[k]) for k in breakdown},
        mapping=mapping.to_dict(), notes=[plan.note] if plan.note else [], bottleneck=bottleneck(f),
    )


def simulate_workload(arch: Arch, workload: Workload, sparsity: Sparsity | str | None = None,
                      dataflow: str | None = None, progress=None, mapper: str | None = None,
                      objective: str = "latency", mappings=None, engine: str = "fast", trace=None) -> RunResult:
    """Cost every op of `workload` on `arch`; `sparsity` overrides the weight pattern of all ops.

    `mapper` searches each op's mapping for `objective`; `mappings` (a Mapping for every op, or a
    callable op -> Mapping | None) fixes them. `progress`, if given, is called with (done, total)
    after each op. `engine` and `trace` as in `simulate_op`; layers follow one another in the trace.
    The workload's masks drive unstructured imbalance unless `sparsity` overrides the patterns.
    """
    sp = Sparsity.parse(sparsity) if isinstance(sparsity, str) else sparsity
    wl = workload.with_sparsity(sp) if sp is not None else workload
    hw = HwParams.from_arch(arch) if arch.kind == "systolic" else None
    layers = []
    for i, op in enumerate(wl.ops):
        given = mappings(op) if callable(mappings) else mappings
        mask = wl.masks.get(op.name) if sp is None else None
        layers.append(simulate_op(arch, op, given, hw, dataflow, mapper, objective, engine, trace, mask))
        if trace is not None:
            trace.advance(layers[-1].cycles)
        if progress:
            progress(i + 1, len(wl.ops))
    return RunResult(arch=arch.name, workload=wl.name, sparsity=str(sp) if sp is not None else "as-given", layers=layers,
                     clock_hz=arch.clock_hz, peak_macs_per_cycle=peak_macs_per_cycle(arch))


def peak_macs_per_cycle(arch: Arch) -> float:
    """Dense MACs per cycle of `arch` (MAC/cycle): the array's, or a GPU's dense tensor rate per clock."""
    if arch.kind == "systolic":
        return arch.peak_macs_per_cycle
    return arch.gpu.dense_tensor_flops[arch.gpu.dtype] / 2 / arch.gpu.boost_clock_hz
