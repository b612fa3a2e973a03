"""One op of a workload on a GPU preset, as `sim.simulate` costs it: the kernel a framework would
call (cuBLAS, or cuSPARSELt when the weights execute as 2:4), at the model's default parameters,
as a `LayerResult` whose `kernel` field holds the per-kernel details."""
from __future__ import annotations

from nmsim.accel import Arch
from nmsim.mapping import executed_gemm, plan_sparsity
from nmsim.workloads import Op

from ..results import LayerResult
from .kernels import GemmCase
from .timing import GemmTime, gemm_times


def kernel_details(kernel: str, r: GemmTime) -> dict:
    """`LayerResult.kernel` of a GPU layer: kernel name, tile (block_m, block_n, block_k in
    elements; num_warps, num_stages, group_m counts), split_k, ctas, waves, occupancy (counts),
    compute_s, memory_s, hbm_s, l2_s (summed over waves) and launch_s (seconds), bound."""
    tl = r.tile
    return {"name": kernel,
            "tile": {"block_m": tl.block_m, "block_n": tl.block_n, "block_k": tl.block_k,
                     "num_warps": tl.num_warps, "num_stages": tl.num_stages, "group_m": tl.group_m},
            "split_k": tl.split_k, "ctas": r.ctas, "waves": r.waves, "occupancy": r.occupancy,
            "compute_s": r.compute_s, "memory_s": r.memory_s, "hbm_s": r.hbm_s, "l2_s": r.l2_s,
            "launch_s": r.overhead_s, "bound": r.bound}


def gpu_op_cost(arch: Arch, op: Op) -> LayerResult:
    """Latency (s), bytes from HBM and L2 (B), and TDP-bound energy (pJ) of one op on a GPU preset:
    cuBLAS for dense ops, cuSPARSELt on the 2:4 sparse tensor cores when the op's weights execute
    as N:M (mapping.plan_sparsity) and the preset rates its dtype; default parameters.
    `cycle_breakdown` stays empty: the kernel's time terms are seconds summed over waves, not the
    systolic engines' cycle terms, and live in `kernel` (`kernel_details`)."""
    g = arch.gpu
    plan = plan_sparsity(arch, op)
    use_sparse = plan.kind == "nm" and g.dtype in g.sparse_tensor_flops
    case = GemmCase("cusparselt" if use_sparse else "cublas", op.M, op.N, op.K, g.dtype,
                    plan.n if use_sparse else 1, plan.m if use_sparse else 1,
                    plan.index_bits if use_sparse else 0, op.batch)
    r = gemm_times(g, [case])[0]
    t = r.total_s
    k_eff = int(executed_gemm(op, plan).k_nnz(op.K)) if use_sparse else op.K
    rate = g.sparse_tensor_flops[g.dtype] if use_sparse else g.dense_tensor_flops[g.dtype]
    flops = 2.0 * op.M * op.N * op.K * op.batch
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(op.weight_sparsity), executed_sparsity=plan.label if use_sparse else "dense",
        cycles=int(round(t * g.boost_clock_hz)), latency_s=t, utilization=flops / (t * rate),
        macs_dense=op.macs, macs_effective=op.M * op.N * k_eff * op.batch,
        bytes={"hbm": r.hbm_bytes, "l2": r.l2_bytes}, energy_pj=g.tdp_w * t * 1e12,
        energy_breakdown_pj={"tdp_bound": g.tdp_w * t * 1e12},
        notes=[plan.note] if plan.note else [], bottleneck=r.bound, kernel=kernel_details(case.kernel, r),
    )
