"""Dense matmul in Triton with the tiling of nm_matmul (the `triton_dense` kernel), and its reference.

    out[M, N] = x[M, K] @ W^T,   W[N, K] dense

Same tile menu (nm_matmul.MM_CONFIGS), grouped launch order, masking and fp32 accumulation as the
N:M prefill kernel; only the weight tile is loaded dense instead of expanded from values and
indices. Comparing the two isolates what sparsity costs or saves inside one code generator, apart
from cuBLAS's own tuning.
"""
import torch
import triton
import triton.language as tl

from nmsim.specfile import SpecError

from .nm_matmul import MM_CONFIGS, check_operands, dot_flags, dot_step, tile_position

__all__ = ["dense_matmul", "dense_matmul_reference", "KERNEL"]


@triton.autotune(configs=MM_CONFIGS, key=["M", "N", "K"])
@triton.jit
def _dense_matmul_kernel(x_ptr, w_ptr, out_ptr, M, N, K,
                         stride_xm, stride_xk, stride_wn, stride_wk, stride_om, stride_on,
                         DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid_m, pid_n = tile_position(M, N, BLOCK_M, BLOCK_N, GROUP_M)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    ar_k = tl.arange(0, BLOCK_K)
    m_ok = offs_m < M
    n_ok = offs_n < N

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + ar_k
        k_ok = kk < K
        x_tile = tl.load(x_ptr + offs_m[:, None] * stride_xm + kk[None, :] * stride_xk,
                         mask=m_ok[:, None] & k_ok[None, :], other=0.0)
        w_tile = tl.load(w_ptr + kk[:, None] * stride_wk + offs_n[None, :] * stride_wn,
                         mask=k_ok[:, None] & n_ok[None, :], other=0.0)
        acc = dot_step(x_tile, w_tile, acc, DOT_FP32, PRECISION)

    out = out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


KERNEL = _dense_matmul_kernel  # KERNEL.best_config: the config of the last launch


def dense_matmul(x: torch.Tensor, w: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """x[M, K] @ w[N, K]^T with our Triton tiles; returns out[M, N] in x's dtype (fp32 accumulation)."""
    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise SpecError(f"dense_matmul: weight must be a 2-D tensor [N, K] (got {getattr(w, 'shape', type(w))})")
    N, K = w.shape
    out = check_operands("dense_matmul", x, K, N, w.dtype, w.device, out)
    M = x.shape[0]
    dot_fp32, precision = dot_flags(x.dtype)

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    _dense_matmul_kernel[grid](x, w, out, M, N, K, x.stride(0), x.stride(1), w.stride(0), w.stride(1),
                               out.stride(0), out.stride(1), DOT_FP32=dot_fp32, PRECISION=precision)
    return out


def dense_matmul_reference(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Pure-torch reference: x @ w^T in fp32; returns fp32 [M, N]."""
    return x.float() @ w.float().t()
