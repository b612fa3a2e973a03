"""Non-GEMM operators on a GPU preset: memory-bound kernels with a launch overhead (docs/GPU.md,
"Non-GEMM kernels").

A kernel runs one or more non-GEMM ops (one op unfused, as PyTorch eager launches it; a run of ops
where a framework fuses them, gpu_kernels/fusion.py): its time is the launch overhead plus the
larger of its memory time and its arithmetic time,

    t = launch + max(hbm_bytes / (hbm_B/s * mem_eff) + l2_bytes / (l2_B/s * l2_eff),
                     (alu_ops + special_cost * special_ops) / (cuda_core_flops_fp32 / 2 * compute_eff))

Activation bytes (the kernel's input, written by the kernel before it, and its output, read by the
kernel after it) stay in L2 when together they fit in `l2_fraction` of it, else they go to HBM;
parameters (an embedding's gathered table rows, a norm's scale and shift) come from HBM. In a
kernel of several ops, each op's output but the last is consumed inside the kernel: it is neither
written nor read back. Ops that run inside another kernel (an activation in a GEMM's epilogue, a
softmax inside a fused attention kernel) have no launch and no bytes, only their arithmetic. The
parameters below are the only free numbers of this model: defaults tagged assumed:/source:, each
with the bounds a calibration may move it in; calibrated values, where the published end-to-end
rows constrain one, live in sim/gpu/calibrated.py (key 'any').
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from nmsim.accel import GpuArch
from nmsim.accel.spec import GPU
from nmsim.workloads import NonGemmOp

from ..results import LayerResult
from .calibrated import CALIBRATED
from .kernels import DTYPE_BYTES
from .params import Param, default_params

NONGEMM_KERNEL = "nongemm"

NONGEMM_PARAMS: tuple[Param, ...] = (
    Param("nongemm_mem_eff", 0.8, 0.02, 1.0, (NONGEMM_KERNEL,),
          "assumed: streaming elementwise kernels reach about 80% of peak HBM bandwidth, as the GEMM "
          "model's mem_eff (sim/gpu/params.py)"),
    Param("nongemm_l2_eff", 0.8, 0.02, 1.0, (NONGEMM_KERNEL,),
          "assumed: the same fraction of the preset's L2 bandwidth"),
    Param("nongemm_l2_fraction", 0.5, 0.0, 1.0, (NONGEMM_KERNEL,),
          "assumed: half of L2 can hold the activations passed from one kernel to the next (the rest "
          "holds weights and other tensors)"),
    Param("nongemm_compute_eff", 0.5, 0.02, 1.0, (NONGEMM_KERNEL,),
          "assumed: elementwise and reduction kernels issue about half of the CUDA-core peak (index "
          "arithmetic, warp reductions, type conversions)"),
    Param("nongemm_special_cost", 4.0, 1.0, 32.0, (NONGEMM_KERNEL,),
          "source: CUDA C++ Programming Guide, 'Arithmetic Instructions', throughput of native arithmetic "
          "instructions: 64 FP32 add/multiply vs 16 reciprocal, rsqrt, exp2 results per clock per SM on "
          "compute capability 7.x and 8.x, so one special operation costs 4 ALU issue slots"),
    Param("nongemm_launch_s", "launch", 0.0, 1e-4, (NONGEMM_KERNEL,),
          "assumed: the fixed time of one kernel in a stream, the same for every kernel: the GEMM "
          "model's overhead_s_cublas (calibrated, sim/gpu/calibrated.py), else the preset's launch_overhead_s"),
)
NONGEMM_PARAM_NAMES = tuple(p.name for p in NONGEMM_PARAMS)


class KernelWork(NamedTuple):
    """What one non-GEMM kernel moves and computes: HBM and L2 bytes (B), add/multiply/compare and
    special-function operations (operations)."""

    hbm_bytes: float
    l2_bytes: float
    alu_ops: float
    special_ops: float


def nongemm_prior_params(launch_s: float) -> dict[str, float]:
    """The assumed priors of the non-GEMM parameters (fractions, ALU slots per special op, seconds),
    with `launch_s` (s) as the launch overhead."""
    return {p.name: launch_s if p.default == "launch" else float(p.default) for p in NONGEMM_PARAMS}


def nongemm_default_params(gpu: GPU) -> dict[str, float]:
    """The values `gpu`'s non-GEMM kernels are modelled with (fractions, ALU slots, seconds): the
    calibrated ones (CALIBRATED['any']) where the published end-to-end rows gave one, else the prior;
    the launch is the GEMM model's per-kernel overhead (one launch model for every kernel)."""
    prior = nongemm_prior_params(default_params(gpu)["overhead_s_cublas"])
    return prior | {n: v for n, v in CALIBRATED.get("any", {}).items() if n in prior}


def placed_bytes(gpu: GPU, act_bytes: float, param_bytes: float, l2_fraction: float) -> tuple[float, float]:
    """(HBM bytes, L2 bytes) of a kernel: its activation bytes (B) stay in L2 when they fit
    `l2_fraction` of it, else they go to HBM; parameter bytes (B) come from HBM."""
    in_l2 = act_bytes <= l2_fraction * gpu.l2_bytes
    return param_bytes + (0.0 if in_l2 else act_bytes), (act_bytes if in_l2 else 0.0)


def kernel_work(gpu: GPU, ops: Sequence[NonGemmOp], dtype: str, l2_fraction: float, *,
                on_chip: bool = False) -> KernelWork:
    """The `KernelWork` of `ops` run as one kernel at `dtype` (module docstring): bytes of the
    parameters, of the activations the kernel reads from outside (every op's output but the last is
    consumed inside) and of the last output; `on_chip` (inside another kernel): arithmetic only."""
    alu = float(sum(op.alu_ops for op in ops))
    special = float(sum(op.special_ops for op in ops))
    if on_chip:
        return KernelWork(0.0, 0.0, alu, special)
    e = DTYPE_BYTES[dtype]
    params = sum(op.param_elements for op in ops)
    reads = sum(op.elements_read - op.param_elements for op in ops)
    inner = sum(op.elements_written for op in ops[:-1])
    act = (max(reads - inner, 0) + ops[-1].elements_written) * e
    hbm, l2 = placed_bytes(gpu, act, params * e, l2_fraction)
    return KernelWork(hbm, l2, alu, special)


def work_seconds(gpu: GPU, work: KernelWork, params: dict[str, float]) -> dict[str, float]:
    """Seconds of a kernel's work without its launch: hbm_s, l2_s, memory_s (their sum) and
    compute_s (CUDA cores at one operation per core per clock: fp32 FLOP/s / 2); works on numpy
    arrays of work as well."""
    hbm_s = work.hbm_bytes / (gpu.hbm_bytes_per_s * params["nongemm_mem_eff"])
    l2_s = work.l2_bytes / (gpu.l2_bytes_per_s * params["nongemm_l2_eff"])
    compute = (work.alu_ops + params["nongemm_special_cost"] * work.special_ops) / (
        gpu.cuda_core_flops["fp32"] / 2 * params["nongemm_compute_eff"])
    return {"hbm_s": hbm_s, "l2_s": l2_s, "memory_s": hbm_s + l2_s, "compute_s": compute}


def fused_kernel_terms(arch: GpuArch, ops: Sequence[NonGemmOp], params: dict[str, float] | None = None, *,
                       on_chip: bool = False) -> dict[str, float]:
    """The time terms (s) and bytes (B) of `ops` run as one kernel at the preset's dtype, under
    `params` (default: nongemm_default_params): launch_s, hbm_s, l2_s, memory_s, compute_s,
    total_s, hbm_bytes, l2_bytes, and bound (launch, dram, buffer or compute: the largest term);
    `on_chip`: inside another kernel (no launch, no bytes)."""
    g = arch.gpu
    p = params or nongemm_default_params(g)
    w = kernel_work(g, ops, g.dtype, p["nongemm_l2_fraction"], on_chip=on_chip)
    s = work_seconds(g, w, p)
    launch = 0.0 if on_chip else p["nongemm_launch_s"]
    terms = {"launch": launch, "dram": s["hbm_s"], "buffer": s["l2_s"], "compute": s["compute_s"]}
    return s | {"launch_s": launch, "total_s": launch + max(s["memory_s"], s["compute_s"]),
                "hbm_bytes": w.hbm_bytes, "l2_bytes": w.l2_bytes, "bound": max(terms, key=terms.get)}


def nongemm_terms(arch: GpuArch, op: NonGemmOp, params: dict[str, float] | None = None) -> dict[str, float]:
    """`fused_kernel_terms` (seconds, bytes) of one op as its own kernel, or in its GEMM's epilogue
    when `fused`."""
    return fused_kernel_terms(arch, [op], params, on_chip=op.fused)


def gpu_nongemm_cost(arch: GpuArch, op: NonGemmOp) -> LayerResult:
    """Latency (s), HBM/L2 bytes and TDP-bound energy (pJ) of a non-GEMM op on a GPU preset, at
    the default parameters; `kernel` holds the time terms (nongemm_terms)."""
    g = arch.gpu
    r = nongemm_terms(arch, op)
    t = r["total_s"]
    name = f"{NONGEMM_KERNEL}:{op.kind}" + (" (fused epilogue)" if op.fused else "")
    return LayerResult.for_nongemm(
        op, operand_bytes=DTYPE_BYTES[g.dtype], cycles=int(round(t * g.boost_clock_hz)), latency_s=t,
        bytes={"hbm": r["hbm_bytes"], "l2": r["l2_bytes"]}, energy_pj=g.tdp_w * t * 1e12,
        energy_breakdown_pj={"tdp_bound": g.tdp_w * t * 1e12}, cycle_breakdown={}, bottleneck=r["bound"],
        kernel={"name": name, **{k: r[k] for k in ("launch_s", "hbm_s", "l2_s", "memory_s", "compute_s", "bound")}})
