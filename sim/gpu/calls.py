"""One kernel *call* as a measurement sees it: the GEMM kernel plus what the call path adds around
it, by timing method (docs/GPU.md, "Per-call terms").

A profiler or a CUDA graph sees the GPU only: kernel time, the kernel's fixed overhead in a stream,
and any extra GPU work the call path launches (padding the activation rows, unfused epilogue
passes). A Python-level timer (torch.utils.benchmark, time.perf_counter, CUDA events around eager
calls) times back-to-back calls, so a call costs the larger of its GPU time and its host time: the
framework's dispatch, the 2:4 tensor subclass's Python dispatch, and cuSPARSELt's per-call
descriptor/plan setup when the plan is not cached (pytorch/pytorch#177866, #179642).

Vocabularies (shared with the measurement contracts of gpu_kernels):

* TIMINGS: profiler, cuda_graph (kernel level); cuda_events, torch_benchmark, python_eager and
  unknown (call level: the host time is a floor).
* VARIANTS: the call path when it is not the kernel's default (`torch_op`: a plain framework op
  such as a prototype module calling the kernel; `c_api`: the library's C API in a C++ loop) and
  two mechanisms: `cached_plan` (cuSPARSELt plan and descriptors reused between calls) and
  `unfused_epilogue` (the output is transposed and biased in extra passes over memory).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIMINGS: tuple[str, ...] = ("profiler", "cuda_graph", "cuda_events", "torch_benchmark", "python_eager", "unknown")
KERNEL_LEVEL_TIMINGS: tuple[str, ...] = ("profiler", "cuda_graph")
VARIANTS: tuple[str, ...] = ("torch_op", "c_api", "cached_plan", "unfused_epilogue")
CALL_PATHS: tuple[str, ...] = ("torch_op", "torch_subclass", "c_api")

# source: torch 2.13 torch/sparse/semi_structured.py, _DTYPE_SHAPE_CONSTRAINTS dense_min_rows of the
# CUTLASS and cuSPARSELt subclasses (fp16/bf16 8, int8 16, fp32 4): the subclass pads the activation
# rows up to a multiple of this with a copy and slices the result (pytorch/pytorch#111339: "we pad ...
# and then we slice the results"; torch 2.1 padded fp16 to 32)
DENSE_MIN_ROWS = {"fp16": 8, "bf16": 8, "int8": 16, "fp8": 16, "fp32": 4, "tf32": 4}
SUBCLASS_KERNELS = ("cusparselt", "cutlass")     # reached through torch's semi-structured tensor subclass


def call_path(kernel: str, variant: tuple[str, ...]) -> str:
    """The call path of a kernel: the variant's `torch_op` or `c_api`, else the default
    (cuSPARSELt and torch's CUTLASS 2:4: the tensor subclass; CUTLASS library kernels: the C API
    as the profiler runs them; the rest: a framework op)."""
    for path in ("torch_op", "c_api"):
        if path in variant:
            return path
    if kernel in SUBCLASS_KERNELS:
        return "torch_subclass"
    return "c_api" if kernel in ("cutlass_dense", "cutlass_spgemm") else "torch_op"


def padded_rows(M: int, dtype: str, path: str) -> int:
    """Activation rows (count) the kernel runs on: M rounded up to DENSE_MIN_ROWS[dtype] for the
    tensor subclass path, M otherwise (`dtype` one of its keys, the dtypes the model rates)."""
    if path != "torch_subclass":
        return M
    q = DENSE_MIN_ROWS[dtype]
    return -(-M // q) * q


@dataclass(frozen=True)
class CallTerms:
    """Per-case terms of the call around the kernel, as numpy arrays over cases: the timer sees
    the host floor (bool), which host costs apply (bool each), bytes the call path moves beside
    the kernel (padding copy, unfused epilogue passes per pass; B), and whether it launches a
    padding kernel (bool)."""

    call_level: np.ndarray
    host_op: np.ndarray
    host_subclass: np.ndarray
    cslt_setup: np.ndarray
    pad_bytes: np.ndarray
    pad_launch: np.ndarray
    epilogue_bytes: np.ndarray


def call_terms(cases: list, dtype_bytes: dict[str, int]) -> CallTerms:
    """The `CallTerms` (flags; bytes in B) of GemmCases (their timing, variant, kernel, shape)."""
    rows = []
    for c in cases:
        path = call_path(c.kernel, c.variant)
        e = dtype_bytes[c.dtype]
        mp = padded_rows(c.M, c.dtype, path)
        rows.append((c.timing not in KERNEL_LEVEL_TIMINGS, path == "torch_op", path == "torch_subclass",
                     c.kernel == "cusparselt" and path != "c_api" and "cached_plan" not in c.variant,
                     # F.pad reads the M x K rows and writes M_pad x K (B)
                     (c.M + mp) * c.K * e * c.batch if mp != c.M else 0.0, mp != c.M,
                     # one extra pass reads and writes the M x N output (B)
                     2.0 * c.M * c.N * e * c.batch if "unfused_epilogue" in c.variant else 0.0))
    cols = list(zip(*rows)) if rows else [()] * 7
    b = [np.asarray(col, dtype=bool) for col in cols[:4]]
    return CallTerms(call_level=b[0], host_op=b[1], host_subclass=b[2], cslt_setup=b[3],
                     pad_bytes=np.asarray(cols[4], dtype=np.float64), pad_launch=np.asarray(cols[5], dtype=bool),
                     epilogue_bytes=np.asarray(cols[6], dtype=np.float64))


def call_times(terms: CallTerms, kernel_s: np.ndarray, params: dict, hbm_bytes_per_s: float) -> dict[str, np.ndarray]:
    """Seconds per call from the kernel's seconds (`kernel_s`, overhead included) under `params`:
    gpu_s (kernel + padding copy + epilogue passes), host_s (the host time of one call), total_s
    (gpu_s at kernel-level timing, max(gpu_s, host_s) at call level) and extra_s (gpu_s - kernel_s)."""
    bw = hbm_bytes_per_s * params["mem_eff"]
    extra = (terms.pad_bytes / bw + terms.pad_launch * params["overhead_s_cublas"]
             + params["epilogue_passes"] * terms.epilogue_bytes / bw)
    gpu = kernel_s + extra
    host = (terms.host_op * params["host_s_torch_op"] + terms.host_subclass * params["host_s_subclass"]
            + terms.cslt_setup * params["host_s_cslt_setup"])
    total = np.where(terms.call_level, np.maximum(gpu, host), gpu)
    return {"total_s": total, "gpu_s": gpu, "host_s": np.where(terms.call_level, host, 0.0), "extra_s": extra}
