"""Non-GEMM operators on a GPU preset: memory-bound kernels with a launch overhead (docs/GPU.md,
"Non-GEMM kernels").

Every unfused non-GEMM op is one kernel (what PyTorch eager and ONNX Runtime's unfused graphs
launch): its time is the launch overhead plus the larger of its memory time and its arithmetic
time,

    t = launch + max(hbm_bytes / (hbm_B/s * mem_eff) + l2_bytes / (l2_B/s * l2_eff),
                     (alu_ops + special_cost * special_ops) / (cuda_core_flops_fp32 / 2 * compute_eff))

Activation bytes (the op's input, written by the kernel before it, and its output, read by the
kernel after it) stay in L2 when together they fit in `l2_fraction` of it, else they go to HBM;
parameters (an embedding's gathered table rows, a norm's scale and shift) come from HBM. A fused activation (GEMM epilogue) has
no launch and no bytes, only its arithmetic. The parameters below are the only free numbers of
this model: defaults tagged assumed:/source:, each with the bounds a calibration may move it in
(another owner calibrates sim/gpu against published end-to-end latencies; keep them here).
"""
from __future__ import annotations

from nmsim.accel import GpuArch
from nmsim.workloads import NonGemmOp

from ..results import LayerResult
from .kernels import DTYPE_BYTES
from .params import Param

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
          "assumed: the preset's launch_overhead_s, one per unfused kernel"),
)
NONGEMM_PARAM_NAMES = tuple(p.name for p in NONGEMM_PARAMS)


def nongemm_default_params(launch_overhead_s: float) -> dict[str, float]:
    """The uncalibrated non-GEMM parameters (fractions, ALU slots per special op, seconds)."""
    return {p.name: launch_overhead_s if p.default == "launch" else float(p.default) for p in NONGEMM_PARAMS}


def nongemm_terms(arch: GpuArch, op: NonGemmOp, params: dict[str, float] | None = None) -> dict[str, float]:
    """The kernel's time terms (s) and bytes (B) under `params` (default: nongemm_default_params):
    launch_s, hbm_s, l2_s, memory_s, compute_s, total_s, hbm_bytes, l2_bytes, and bound
    (launch, dram, buffer or compute: the largest term)."""
    g = arch.gpu
    p = params or nongemm_default_params(g.launch_overhead_s)
    ob = DTYPE_BYTES[g.dtype]
    compute = (op.alu_ops + p["nongemm_special_cost"] * op.special_ops) / (
        g.cuda_core_flops["fp32"] / 2 * p["nongemm_compute_eff"])
    if op.fused:
        hbm, l2, launch = 0.0, 0.0, 0.0
    else:
        table = op.param_elements * ob
        act = (op.elements_read - op.param_elements + op.elements_written) * ob
        in_l2 = act <= p["nongemm_l2_fraction"] * g.l2_bytes
        hbm, l2, launch = table + (0.0 if in_l2 else act), act if in_l2 else 0.0, p["nongemm_launch_s"]
    hbm_s = hbm / (g.hbm_bytes_per_s * p["nongemm_mem_eff"])
    l2_s = l2 / (g.l2_bytes_per_s * p["nongemm_l2_eff"])
    memory = hbm_s + l2_s
    terms = {"launch": launch, "dram": hbm_s, "buffer": l2_s, "compute": compute}
    return {"launch_s": launch, "hbm_s": hbm_s, "l2_s": l2_s, "memory_s": memory, "compute_s": compute,
            "total_s": launch + max(memory, compute), "hbm_bytes": hbm, "l2_bytes": l2,
            "bound": max(terms, key=terms.get)}


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
