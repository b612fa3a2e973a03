"""The GPU backend: ops on a GPU preset through the tile-level GEMM model (docs/GPU.md).

GPUs have no mappings, mappers or dataflows in nmsim (the libraries choose their own tiles), and
the detailed engine models arrays only: asking for them is an error, not silently ignored.
"""
from __future__ import annotations

import numpy as np

from nmsim.accel import GpuArch
from nmsim.mapping import Mapping
from nmsim.specfile import SpecError
from nmsim.workloads import NonGemmOp, Op

from .gpu import gpu_nongemm_cost, gpu_op_cost
from .results import LayerResult


class GpuBackend:
    """Costs ops on a GPU preset (`gpu_op_cost`: cuBLAS dense, cuSPARSELt 2:4 where it runs)."""

    engine = "fast"
    takes_mappings = False  # the libraries pick their own tiles

    def __init__(self, arch: GpuArch, *, dataflow: str | None = None, mapper: str | None = None,
                 objective: str = "latency", trace=None, hw=None):
        # objective, trace and hw have no meaning here (no mapping search, no event trace, no
        # array parameters); accepted so that one call shape serves every backend.
        for what, value in (("dataflow", dataflow), ("mapper", mapper)):
            if value is not None:
                raise SpecError(f"`{what}` {value}: {arch.name} is a GPU preset; mappers, mappings and dataflows "
                                "apply to systolic arrays only")
        self.arch = arch
        self.name, self.clock_hz, self.peak_macs_per_cycle = arch.name, arch.clock_hz, arch.peak_macs_per_cycle

    def cost(self, op: Op, mapping: Mapping | None = None, mask: np.ndarray | None = None) -> LayerResult:
        """Latency (s), HBM/L2 bytes and TDP-bound energy (pJ) of `op`; masks do not change a GPU
        library kernel's time, so `mask` is unused."""
        if mapping is not None:
            raise SpecError(f"`mapping`: {self.arch.name} is a GPU preset; mappers, mappings and dataflows "
                            "apply to systolic arrays only")
        return gpu_op_cost(self.arch, op)

    def cost_nongemm(self, op: NonGemmOp) -> LayerResult:
        """Latency (s), HBM/L2 bytes and TDP-bound energy (pJ) of a non-GEMM op as a memory-bound
        kernel with a launch overhead (sim/gpu/nongemm.py, docs/GPU.md "Non-GEMM kernels")."""
        return gpu_nongemm_cost(self.arch, op)

    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        """0: SAT's mask pre-generation is an accelerator mechanism, not modelled on GPUs (cycles)."""
        return 0
