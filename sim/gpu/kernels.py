"""The kernel catalogue of the GPU model: kernel names and families, which kernels read our
compressed N:M format or run on the 2:4 sparse tensor cores, bytes per dtype element, one kernel
call (`GemmCase`), the rates a call computes at, and the N:M pattern text of measurement rows.

Kernel names are those of the measurement files (gpu_kernels.measurements.KERNELS); sim cannot
import gpu_kernels, so tests/sim/test_gpu_model.py checks that the two lists agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nmsim.accel.spec import GPU
from nmsim.specfile import SpecError

if TYPE_CHECKING:  # tiles.py imports this module; the annotation alone needs CtaTile
    from .tiles import CtaTile

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "fp32": 4, "tf32": 4, "int8": 1, "fp8": 1}

# cublas: torch.mm / F.linear; cutlass_dense: a CUTLASS library dense GEMM (the profiler's best
# kernel); cusparselt: cuSPARSELt 2:4; cutlass: torch's CUTLASS 2:4 backend (one tile, no split-K);
# cutlass_spgemm: a CUTLASS library 2:4 GEMM (the profiler's best kernel); triton_*: our kernels
KERNEL_FAMILY = {"cublas": "cublas", "cutlass_dense": "cublas", "cusparselt": "cusparselt",
                 "cutlass": "cutlass_sparse", "cutlass_spgemm": "cutlass_sparse",
                 "triton_dense": "triton", "triton_nm": "triton", "triton_nm_decode": "decode"}
SPARSE_TC_KERNELS = ("cusparselt", "cutlass", "cutlass_spgemm")      # run on the 2:4 sparse tensor cores
LIBRARY_KERNELS = ("cublas", "cutlass_dense", "cusparselt", "cutlass", "cutlass_spgemm")
NM_KERNELS = ("triton_nm", "triton_nm_decode")      # read our compressed format (gpu_kernels/formats.py)
NM_PREFILL_KERNEL = "triton_nm"
DECODE_KERNEL = "triton_nm_decode"
FAMILIES = ("cublas", "cusparselt", "cutlass_sparse", "triton", "decode")
# source: pytorch/pytorch@09bfdd9 aten/src/ATen/native/sparse/cuda/SparseSemiStructuredOps.cu,
# sparse_semi_structured_mad_op: "Supported only on GPUs with compute capability 8.x"
TORCH_CUTLASS_SPARSE_CC = 8


@dataclass(frozen=True)
class GemmCase:
    """One kernel call: kernel name (KERNEL_FAMILY), M tokens, N outputs, K inputs (counts of
    elements), dtype, the N:M pattern as n, m and index bits per nonzero (n == m == 1: dense),
    batch (count), tile (None: the kernel's fastest of its menu, tiles.candidate_tiles), how the
    call was timed (calls.TIMINGS) and its call-path variant (calls.VARIANTS)."""

    kernel: str
    M: int
    N: int
    K: int
    dtype: str = "fp16"
    n: int = 1
    m: int = 1
    index_bits: int = 0
    batch: int = 1
    tile: CtaTile | None = None
    timing: str = "cuda_graph"
    variant: tuple[str, ...] = ()


def eight_bit_tensor(kernel: str, dtype: str) -> bool:
    """Whether a call runs 1-byte operands (int8, fp8) on the tensor cores: what the 8-bit
    efficiency factor (params.py `tensor_eff_8bit`, a fraction) applies to; the decode kernel's
    CUDA-core gathers never."""
    return DTYPE_BYTES[dtype] == 1 and kernel != DECODE_KERNEL


def parse_kernel_pattern(pattern: str) -> tuple[int, int, int]:
    """A measurement row's pattern text as GemmCase fields: 'dense' -> (1, 1, 0); 'N:M' -> (n, m,
    ceil(log2 m) index bits per nonzero)."""
    if pattern == "dense":
        return 1, 1, 0
    try:
        n, m = (int(v) for v in pattern.split(":"))
    except ValueError:
        raise SpecError(f"pattern {pattern!r} is neither 'dense' nor 'N:M' (for example 2:4)") from None
    if not 1 <= n < m:
        raise SpecError(f"pattern {pattern!r}: need 1 <= N < M")
    return n, m, max(1, math.ceil(math.log2(m)))


def kernel_rates(gpu: GPU, case: GemmCase) -> tuple[float, float]:
    """(compute rate, CUDA-core rate) of `case` on `gpu`, both in FLOP/s; SpecError if the GPU
    cannot run it."""
    if case.kernel not in KERNEL_FAMILY:
        raise SpecError(f"kernel {case.kernel!r} is not one of {', '.join(KERNEL_FAMILY)}")
    if case.dtype not in DTYPE_BYTES:
        raise SpecError(f"dtype {case.dtype!r} is not one of {', '.join(DTYPE_BYTES)}")
    simt = gpu.cuda_core_flops["fp32"]
    if case.kernel == "cutlass" and int(gpu.compute_capability) != TORCH_CUTLASS_SPARSE_CC:
        raise SpecError(f"cutlass (PyTorch's CUTLASS 2:4 backend) runs on compute capability 8.x only, not "
                        f"{gpu.compute_capability}; use cusparselt, or cutlass_spgemm for a CUTLASS library build")
    if case.kernel == DECODE_KERNEL:
        return simt, simt      # fp32 FMAs on CUDA cores, whatever the storage dtype
    # fp32 rows are true fp32 (TF32 off in the bench): CUDA cores, except the 2:4 libraries, whose
    # fp32 path is the TF32 sparse tensor core (assumed: torch's semi-structured fp32 kernels).
    if case.kernel in SPARSE_TC_KERNELS:
        key = "tf32" if case.dtype == "fp32" else case.dtype
        if key not in gpu.sparse_tensor_flops:
            raise SpecError(f"{case.kernel} runs on 2:4 sparse tensor cores, which this GPU preset has no "
                            f"{key} rate for (sparse_tensor_flops); use a preset with sparse tensor cores")
        return gpu.sparse_tensor_flops[key], simt
    if case.dtype == "fp32":
        return simt, simt
    if case.dtype not in gpu.dense_tensor_flops:
        raise SpecError(f"dtype {case.dtype} has no dense_tensor_flops entry in this GPU preset; add its rate")
    return gpu.dense_tensor_flops[case.dtype], simt
