"""The GPU model's free parameters: efficiencies and overheads that datasheets do not give.

Each default is an `assumed:` value, used by `nmsim simulate` and as the starting point of
`calibrate.calibrate` against measured rows (docs/GPU.md, "What is calibrated, and why").
"""
from __future__ import annotations

from dataclasses import dataclass

from nmsim.accel.spec import GPU

from .kernels import DECODE_KERNEL, SPARSE_TC_KERNELS


@dataclass(frozen=True)
class Param:
    """A calibrated parameter: default (a number, or 'launch' = the preset's launch_overhead_s),
    bounds (the parameter's unit: fraction, operations per slot or seconds), the kernels whose
    time depends on it, and why the default."""

    name: str
    default: float | str
    lo: float
    hi: float
    kernels: tuple[str, ...]
    why: str


_GEMMS = ("cublas", "cusparselt", "cutlass", "triton_dense", "triton_nm")
PARAMS: tuple[Param, ...] = (
    Param("tensor_eff_cublas", 0.75, 0.02, 2.0, ("cublas",),
          "assumed: large cuBLAS GEMMs commonly sustain 70-80% of the datasheet tensor rate"),
    Param("tensor_eff_sparse_lib", 0.6, 0.02, 2.0, SPARSE_TC_KERNELS,
          "assumed: 2:4 libraries usually gain well under the 2x of the sparse rate over dense"),
    Param("tensor_eff_triton", 0.65, 0.02, 2.0, ("triton_dense", "triton_nm"),
          "assumed: Triton tiles reach somewhat less of the tensor peak than cuBLAS"),
    Param("mem_eff", 0.8, 0.02, 2.0, _GEMMS,
          "assumed: streaming kernels reach about 80% of peak HBM bandwidth"),
    Param("decode_eff", 0.6, 0.02, 2.0, (DECODE_KERNEL,),
          "assumed: gathers and per-row index decoding keep the decode kernel below streaming rate"),
    Param("expand_ops", 2.0, 0.01, 50.0, ("triton_nm",),
          "assumed: one compare and one select per stored slot per expanded dense weight element "
          "(gpu_kernels/nm_matmul.py expands with tl.where)"),
    Param("overhead_s_cublas", "launch", 1e-8, 1e-3, ("cublas",),
          "assumed: the preset's launch_overhead_s"),
    Param("overhead_s_sparse_lib", "launch", 1e-8, 1e-3, SPARSE_TC_KERNELS,
          "assumed: the preset's launch_overhead_s"),
    Param("overhead_s_triton", "launch", 1e-8, 1e-3, ("triton_dense", "triton_nm", DECODE_KERNEL),
          "assumed: the preset's launch_overhead_s"),
)
PARAM_NAMES = tuple(p.name for p in PARAMS)


def default_params(gpu: GPU) -> dict[str, float]:
    """The uncalibrated parameters (fractions, ops per slot, seconds) for `gpu`."""
    return {p.name: gpu.launch_overhead_s if p.default == "launch" else float(p.default) for p in PARAMS}
