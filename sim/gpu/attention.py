"""Fused attention on a GPU preset: the score matmul, its softmax and the context matmul in one
kernel whose scores never leave the chip (TensorRT's fused multi-head attention plugin, the
FlashAttention-style kernels behind PyTorch's scaled_dot_product_attention; docs/GPU.md, "Fused
attention").

Per (sequence, head) the kernel reads Q, K and V and writes the context; the S_q x S_k scores and
probabilities stay in registers and shared memory. Its time is

    t = max((t_tensor / tensor_eff_cublas + t_softmax) / util, t_mem)

with t_tensor the two matmuls' FLOPs at the dense tensor rate of the dtype, t_softmax the
softmax's arithmetic on the CUDA cores as a non-GEMM kernel computes it (nongemm.work_seconds), and
t_mem the Q, K, V and context bytes placed in L2 or HBM as a non-GEMM kernel's activations. The
matmuls and the softmax add up: the same warps issue both (Dao, "FlashAttention-2", 2023, section
3.1: non-matmul FLOPs run at a sixteenth of the matmul rate on A100 and the kernel is arranged to
cut them). `util` is the fraction of SMs the kernel's CTAs occupy, min(1, CTAs / SMs), with one
CTA per ATTN_BLOCK_Q query rows of one (sequence, head).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nmsim.accel.spec import GPU
from nmsim.workloads import NonGemmOp, Op

from .kernels import DTYPE_BYTES, GemmCase, kernel_rates
from .nongemm import KernelWork, kernel_work, placed_bytes, work_seconds

# assumed: fused attention kernels give a CTA 64 query rows of one head (FlashAttention-2's forward
# tiles are 64-128 rows; TensorRT's fused MHA kernels for BERT step through the sequence in 64-row
# tiles); only its count matters, for how many SMs a small batch keeps busy
ATTN_BLOCK_Q = 64


class AttentionWork(NamedTuple):
    """What one fused attention kernel does: tensor-core seconds at 100% of the rate (s), softmax
    arithmetic (`KernelWork` with no bytes), fraction of SMs busy, HBM and L2 bytes (B)."""

    tensor_s: float
    softmax: KernelWork
    util: float
    hbm_bytes: float
    l2_bytes: float


def attention_work(gpu: GPU, score: Op, context: Op, softmax: NonGemmOp | None, dtype: str,
                   l2_fraction: float) -> AttentionWork:
    """The `AttentionWork` of a score matmul (M = S_q, N = S_k, K = head dim; batch = sequences x
    heads), its softmax and the context matmul (M = S_q, N = head dim, K = S_k) fused at `dtype`."""
    rate, _ = kernel_rates(gpu, GemmCase("cublas", score.M, score.N, score.K, dtype))
    flops = 2.0 * (score.M * score.N * score.K * score.batch + context.M * context.N * context.K * context.batch)
    e = DTYPE_BYTES[dtype]
    # Q and K of the score matmul, V of the context matmul, the context written
    act = (score.M * score.K + score.N * score.K + context.K * context.N + context.M * context.N) * score.batch * e
    hbm, l2 = placed_bytes(gpu, act, 0.0, l2_fraction)
    ctas = score.batch * -(-score.M // ATTN_BLOCK_Q)
    sm = kernel_work(gpu, [softmax], dtype, l2_fraction, on_chip=True) if softmax else KernelWork(0.0, 0.0, 0.0, 0.0)
    return AttentionWork(flops / rate, sm, min(1.0, ctas / gpu.sms), hbm, l2)


def attention_seconds(gpu: GPU, work: AttentionWork, params: dict[str, float]) -> dict[str, float]:
    """Seconds (s) of a fused attention kernel without its launch: compute_s (matmuls at
    `tensor_eff_cublas` plus the softmax, over the busy SMs), memory_s, total_s (their max), under
    the GEMM and non-GEMM parameters in `params`; works on numpy arrays of work as well."""
    soft = work_seconds(gpu, work.softmax, params)["compute_s"]
    compute = (work.tensor_s / params["tensor_eff_cublas"] + soft) / work.util
    memory = work_seconds(gpu, KernelWork(work.hbm_bytes, work.l2_bytes, 0.0, 0.0), params)["memory_s"]
    return {"compute_s": compute, "memory_s": memory, "total_s": np.maximum(compute, memory)}
