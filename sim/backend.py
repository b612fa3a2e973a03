"""The protocol every cost backend follows, and the result record it fills.

A backend costs one op on one target: the systolic fast model and the detailed engine
(sim/systolic.py), the GPU tile model (sim/gpu_backend.py) and SCALE-Sim compatibility
(sim/scalesim_compat.py). `sim.backends.backend_for` is the one place that chooses among them;
`simulate_workload` is the same pipeline for all (plan, mapping, cost, result).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from nmsim.mapping import Mapping
from nmsim.workloads import NonGemmOp, Op

from .results import LayerResult


class CostBackend(Protocol):
    """What `simulate_workload` and the training step need of a backend."""

    name: str               # target's name (the arch or config), for results
    clock_hz: float         # clock of the cycles it reports (Hz)
    peak_macs_per_cycle: float  # dense MACs per cycle at that clock (MAC/cycle)
    engine: str             # "fast" or "detailed"
    takes_mappings: bool    # whether mappings, mappers and dataflows apply (systolic arrays)

    def cost(self, op: Op, mapping: Mapping | None = None, mask: np.ndarray | None = None) -> LayerResult:
        """Cycles, latency (s), bytes, energy (pJ) of `op`; `mapping` fixes how it runs where the
        backend has mappings; `mask` (bool [N, K]) carries a pruned weight's nonzeros."""
        ...

    def cost_nongemm(self, op: NonGemmOp) -> LayerResult:
        """Cycles, latency (s), bytes, energy (pJ) of a non-GEMM operator (vector unit, GPU
        kernel), or a zero-cost layer with a note where the target does not model them."""
        ...

    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        """Cycles of SAT's N:M mask pre-generation for a training step's fwd and bwd GEMMs
        (cycles; 0 where the target does not run it)."""
        ...
