"""nmsim: a cycle-approximate co-design suite for N:M and high-sparsity DNN accelerators and GPUs.

The public API, listed once (README and notebooks use only these names):

    import nmsim
    arch = nmsim.load_arch("sat")                                  # presets or a YAML path
    wl = nmsim.zoo.build("bert-base", batch=8, seq_len=128)        # or nmsim.Workload.load(...)
    wl, src = nmsim.load_workload("model.onnx", {"batch": 8})      # any source: file.py:factory, HF, ONNX, ...
    run = nmsim.simulate_workload(arch, wl, "2:8")                 # RunResult: .layers, .total
    best = nmsim.map_op(arch, wl.ops[0], "heuristic", "edp")       # mapper search
    nmsim.gpu.gemm_times(...)                                      # the GPU GEMM model (sim/gpu)

The packages under it keep the folders the project was specified with (accel/, workloads/,
mapping/, sim/, rtl_models/, gpu_kernels/, dse/, reproduce/, cli/; docs/ARCHITECTURE.md).
Names that need an optional extra (torch for `run_prune`, dask/optuna for `dse`) are imported
on first use, so `import nmsim` stays light.
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from .accel import Arch, GpuArch, SystolicArch, load_arch, preset_names
from .mapping import Constraints, Mapping, load_constraints, load_mappings, save_mappings
from .sim import LayerResult, RunResult, backend_for, gpu, map_op, simulate_op, simulate_workload
from .sim.engine import Trace
from .sim.training import simulate_training
from .specfile import SpecError
from .workloads import NonGemmOp, Op, Sparsity, Workload, zoo
from .workloads.sources import load_workload

try:
    __version__ = version("nmsim")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

# name -> (module, attribute or None for the module itself); imported on first access.
_LAZY = {
    "dse": ("nmsim.dse", None),                                         # dist extra: sweeps, Pareto fronts, plots
    "run_prune": ("nmsim.workloads.ml.prune_run", "run_prune"),         # ml extra: prune, measure, trace
    "minilm_report": ("nmsim.workloads.ml.prune_run", "minilm_report"),
    "trace_module": ("nmsim.workloads.ml.trace", "trace_module"),
    "byte_ratio_bound": ("nmsim.gpu_kernels.formats", "byte_ratio_bound"),   # GPU: N:M format bound
    "read_measurements": ("nmsim.gpu_kernels.measurements", "read_measurements"),
    "validate_gpu": ("nmsim.gpu_kernels.validate", "validate"),          # GPU model vs measured rows
    "plot_gpu_validation": ("nmsim.gpu_kernels.validate", "plot"),
    "interop": ("nmsim.interop", None),                                 # Timeloop/Sparseloop/Accelergy files
}

__all__ = ["Arch", "SystolicArch", "GpuArch", "load_arch", "preset_names", "Op", "NonGemmOp", "Sparsity", "Workload", "zoo",
           "load_workload",
           "Mapping", "Constraints", "load_constraints", "load_mappings", "save_mappings", "simulate_op",
           "simulate_workload", "simulate_training", "map_op", "backend_for", "gpu", "LayerResult", "RunResult",
           "Trace", "SpecError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'nmsim' has no attribute '{name}'")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return value if attr is None else getattr(value, attr)
