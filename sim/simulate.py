"""Cost an op or a whole workload: one pipeline for every backend.

    workload (+ sparsity override) -> per op, in model order:
        GEMM:     backend.cost(op, mapping, mask)
        non-GEMM: backend.cost_nongemm(op)          -> RunResult

The backend (sim/backends.py) owns the plan (which N:M the hardware runs), the mapping (given,
searched or default) and the pricing (fast model, detailed engine, GPU model; the vector unit or
memory-bound kernels for non-GEMM operators, docs/MODEL.md 11).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from nmsim.accel import Arch
from nmsim.accel.scalesim import ScaleSimConfig
from nmsim.mapping import Mapping
from nmsim.workloads import NonGemmOp, Op, Sparsity, Workload
from nmsim.workloads.scalesim import ScaleSimTopology

from .backends import ENGINES, backend_for
from .engine import Trace
from .hw import HwParams
from .results import LayerResult, RunResult
from .systolic import bottleneck, map_op, op_cost

__all__ = ["simulate_op", "simulate_workload", "simulate_scalesim", "map_op", "op_cost", "bottleneck", "ENGINES"]


def simulate_op(arch: Arch, op: Op, mapping: Mapping | None = None, *, hw: HwParams | None = None,
                dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                engine: str = "fast", trace: Trace | None = None, mask: np.ndarray | None = None) -> LayerResult:
    """Cost one op on `arch` under `mapping` (cycles, latency in s, bytes, energy in pJ).

    Without a mapping: with `mapper` (heuristic|random|exhaustive) the best mapping for
    `objective`, else the default mapping; either restricted to `dataflow` when given. Mappings
    are always chosen with the fast model; `engine="detailed"` then costs the chosen one with the
    SimPy engine (stall cycles by cause join `cycle_breakdown`), recording into `trace` when
    given. `mask` (bool `[N, K]` or `[batch, N, K]`, True = kept) makes unstructured sparsity
    pay the mask's load imbalance (MODEL.md 2.1) on an arch with unstructured support.
    """
    backend = backend_for(arch, engine, hw=hw, dataflow=dataflow, mapper=mapper, objective=objective, trace=trace)
    return backend.cost(op, mapping, mask)


def simulate_workload(arch: Arch, workload: Workload, sparsity: Sparsity | str | None = None, *,
                      dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                      mappings: Mapping | Callable[[Op], Mapping | None] | None = None, engine: str = "fast",
                      trace: Trace | None = None, progress: Callable[[int, int], None] | None = None) -> RunResult:
    """Cost every op of `workload` on `arch`, GEMM or not, in model order; `sparsity` overrides
    the weight pattern of all ops.

    `mapper` searches each GEMM's mapping for `objective`; `mappings` (a Mapping for every GEMM,
    or a callable op -> Mapping | None) fixes them. `engine` and `trace` as in `simulate_op`; layers
    follow one another in the trace. The workload's masks drive unstructured imbalance unless
    `sparsity` overrides the patterns. `progress(done, total)` is called after each op.
    """
    sp = Sparsity.parse(sparsity) if isinstance(sparsity, str) else sparsity
    wl = workload.with_sparsity(sp) if sp is not None else workload
    backend = backend_for(arch, engine, dataflow=dataflow, mapper=mapper, objective=objective, trace=trace)
    given = mappings if callable(mappings) else (lambda op: mappings)
    masks = wl.masks if sp is None else {}   # an overriding pattern replaces the masks
    preflight = getattr(backend, "preflight", None)   # a backend that can refuse a run up front
    if preflight is not None:
        preflight([op for op in wl.layers if not isinstance(op, NonGemmOp) and op.name not in masks], given)
    layers = []
    for i, op in enumerate(wl.layers):
        if isinstance(op, NonGemmOp):
            layers.append(backend.cost_nongemm(op))
        else:
            layers.append(backend.cost(op, given(op), masks.get(op.name)))
        if trace is not None:
            trace.advance(layers[-1].cycles)
        if progress:
            progress(i + 1, len(wl.layers))
    return RunResult(arch=arch.name, workload=wl.name, sparsity=str(sp) if sp is not None else "as-given", layers=layers,
                     clock_hz=backend.clock_hz, peak_macs_per_cycle=backend.peak_macs_per_cycle)


def simulate_scalesim(cfg: ScaleSimConfig, topology: ScaleSimTopology) -> RunResult:
    """Cost every layer of a SCALE-Sim topology under a SCALE-Sim config (compatibility mode,
    sim/scalesim_compat.py): `cycles` per layer is SCALE-Sim's "Total Cycles"; the config's and the
    topology's reading notes travel on the first layer, per-layer notes on each."""
    backend = backend_for(cfg, nm_patterns=topology.nm_patterns, scalesim_m=topology.scalesim_m,
                          notes=list(cfg.notes) + list(topology.notes))
    layers = [backend.cost(op) for op in topology.workload.ops]
    return RunResult(arch=backend.name, workload=topology.workload.name, sparsity="as-given", layers=layers,
                     clock_hz=backend.clock_hz, peak_macs_per_cycle=backend.peak_macs_per_cycle)
