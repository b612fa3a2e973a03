"""First GPU cost model: a per-op roofline from datasheet rates (the GPU issue refines it into a
tile-level Triton GEMM model). time = max(FLOPs / tensor rate, bytes / HBM bandwidth) + launch.
The 2:4 sparse tensor-core rate applies when the op's weights execute as 2:4 (or sparser, via
mapping.plan_sparsity). Energy is bounded above by TDP x time: GPUs publish no per-action energy.
"""
from __future__ import annotations

from accel import Arch
from mapping import plan_sparsity
from workloads import Op

from .results import LayerResult

DTYPE_BYTES = {"fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "tf32": 4}


def gpu_op_cost(arch: Arch, op: Op) -> LayerResult:
    """Roofline latency (s), bytes moved from HBM and TDP-bound energy (pJ) of one op on a GPU."""
    g = arch.gpu
    plan = plan_sparsity(arch, op)
    b = DTYPE_BYTES[g.dtype]
    sparse_rate = g.sparse_tensor_flops.get(g.dtype)
    use_sparse = plan.kind == "nm" and sparse_rate is not None
    rate = sparse_rate if use_sparse else g.dense_tensor_flops[g.dtype]
    k_eff = plan.k_effective(op.K) if use_sparse else op.K
    # The sparse tensor core does the dense-equivalent work at twice the rate; MACs performed
    # are the nonzero ones.
    flops = 2.0 * op.M * op.N * op.K * op.batch
    w_bytes = op.batch * op.N * (k_eff * b + (k_eff * plan.index_bits / 8 if use_sparse else 0))
    hbm = op.batch * (op.M * op.K + op.M * op.N) * b + w_bytes
    t_compute = flops / rate
    t_mem = hbm / g.hbm_bytes_per_s
    t = max(t_compute, t_mem) + g.launch_overhead_s
    notes = [plan.note] if plan.note else []
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(op.weight_sparsity), executed_sparsity=plan.label if use_sparse else "dense",
        cycles=int(round(t * g.boost_clock_hz)), latency_s=t,
        utilization=flops / (t * g.dense_tensor_flops[g.dtype]) if not use_sparse else flops / (t * rate),
        macs_dense=op.macs, macs_effective=op.M * op.N * k_eff * op.batch,
        bytes={"hbm": float(hbm)}, energy_pj=g.tdp_w * t * 1e12,
        energy_breakdown_pj={"tdp_bound": g.tdp_w * t * 1e12},
        cycle_breakdown={"compute_s": t_compute, "memory_s": t_mem, "launch_s": g.launch_overhead_s},
        notes=notes, bottleneck="compute" if t_compute >= t_mem else "dram",
    )
