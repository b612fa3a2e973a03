"""One op of a workload on a GPU preset, as `sim.simulate` costs it: the kernel a framework would
call (cuBLAS, or cuSPARSELt when the weights execute as 2:4), at the model's default parameters,
as a `LayerResult`."""
from __future__ import annotations

from nmsim.accel import Arch
from nmsim.mapping import plan_sparsity
from nmsim.workloads import Op

from ..results import LayerResult
from .kernels import GemmCase
from .timing import gemm_times


def gpu_op_cost(arch: Arch, op: Op) -> LayerResult:
    """Latency (s), bytes from HBM and L2 (B), and TDP-bound energy (pJ) of one op on a GPU preset:
    cuBLAS for dense ops, cuSPARSELt on the 2:4 sparse tensor cores when the op's weights execute
    as N:M (mapping.plan_sparsity) and the preset rates its dtype; default parameters."""
    g = arch.gpu
    plan = plan_sparsity(arch, op)
    use_sparse = plan.kind == "nm" and g.dtype in g.sparse_tensor_flops
    case = GemmCase("cusparselt" if use_sparse else "cublas", op.M, op.N, op.K, g.dtype,
                    plan.n if use_sparse else 1, plan.m if use_sparse else 1,
                    plan.index_bits if use_sparse else 0, op.batch)
    r = gemm_times(g, [case])[0]
    t = r.total_s
    k_eff = plan.k_effective(op.K) if use_sparse else op.K
    rate = g.sparse_tensor_flops[g.dtype] if use_sparse else g.dense_tensor_flops[g.dtype]
    flops = 2.0 * op.M * op.N * op.K * op.batch
    tl = r.tile
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(op.weight_sparsity), executed_sparsity=plan.label if use_sparse else "dense",
        cycles=int(round(t * g.boost_clock_hz)), latency_s=t, utilization=flops / (t * rate),
        macs_dense=op.macs, macs_effective=op.M * op.N * k_eff * op.batch,
        bytes={"hbm": r.hbm_bytes, "l2": r.l2_bytes}, energy_pj=g.tdp_w * t * 1e12,
        energy_breakdown_pj={"tdp_bound": g.tdp_w * t * 1e12},
        cycle_breakdown={"compute_s": r.compute_s, "memory_s": r.memory_s, "launch_s": r.overhead_s,
                         "ctas": r.ctas, "waves": r.waves, "block_m": tl.block_m, "block_n": tl.block_n,
                         "block_k": tl.block_k, "split_k": tl.split_k},
        notes=[plan.note] if plan.note else [], bottleneck=r.bound,
    )
