"""N:M-sparse x dense matmul for prefill-sized token counts (Triton), with its torch reference.

    out[M, N] = x[M, K] @ W^T,   W[N, K] stored N:M along K (gpu_kernels.formats.NMWeight)

Each program owns a BLOCK_M x BLOCK_N output tile and walks K in steps of KT = BLOCK_G * m dense
columns (BLOCK_G = ceil(BLOCK_K / m) whole groups). Per step it loads, for every group g and output
row, the n stored values and their packed b-bit positions (decoded once per group, not once per
dense element), expands them in registers into a dense [BLOCK_G, m, BLOCK_N] tile by comparing
each slot's position with 0..m-1, reshapes that to the [KT, BLOCK_N] operand of W^T and runs
`tl.dot` with an fp32 accumulator. Weight bytes read from memory are the compressed ones; the
tensor-core work is dense (docs/GPU.md "Kernels").

Triton compatibility: only APIs present in Triton 3.6 and 3.9 (tl.reshape, tl.static_range,
tl.dot with input_precision). Under TRITON_INTERPRET=1 a single small tile config is tuned over
and bf16 operands are cast to fp32 before `tl.dot`, because the interpreter's bf16 dot returns
garbage (ENVIRONMENT.md); on a GPU bf16 goes to the tensor cores as is.
"""
from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from nmsim.sim.gpu.tiles import GEMM_GROUP_M, GEMM_TILES
from nmsim.specfile import SpecError

from .formats import NMWeight, decompress

__all__ = ["nm_matmul", "nm_matmul_reference", "INTERPRET", "MM_CONFIGS", "tile_configs", "config_text", "KERNEL"]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "0").strip().lower() in ("1", "true", "on", "yes")


# read once, like the @triton.jit decorators below, so configs and kernels agree
INTERPRET: bool = _env_flag("TRITON_INTERPRET")

# The GPU menu lives in sim/gpu/tiles.py, shared with the GPU cost model; dense_matmul uses it too.
_INTERPRET_TILES = [(16, 16, 32, 4, 1)]  # one config: the interpreter is slow and has nothing to tune


def tile_configs(gpu: bool) -> list:
    """The autotune menu as triton.Configs: the GPU menu, or the interpreter's single tile."""
    return [triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": GEMM_GROUP_M}, num_warps=w,
                          num_stages=s)
            for bm, bn, bk, w, s in (GEMM_TILES if gpu else _INTERPRET_TILES)]


MM_CONFIGS = tile_configs(gpu=not INTERPRET)


def config_text(config) -> str:
    """'BLOCK_M=64,BLOCK_N=128,...,num_warps=4,num_stages=3' for a triton.Config (the CSV `config` column)."""
    parts = [f"{k}={v}" for k, v in config.kwargs.items()]
    return ",".join(parts + [f"num_warps={config.num_warps}", f"num_stages={config.num_stages}"])


@triton.jit
def unpack_positions(idx_ptr, row_off, j, BITS: tl.constexpr, mask):
    """Position in its group of stored value j of each row: bits [j*BITS, j*BITS+BITS) of the row's
    little-endian int32 word stream starting at idx_ptr + row_off (formats.py layout)."""
    bit = j * BITS
    word = bit // 32
    sh = bit % 32
    straddle = (sh + BITS) > 32
    lo = tl.load(idx_ptr + row_off + word, mask=mask, other=0)
    hi = tl.load(idx_ptr + row_off + word + 1, mask=mask & straddle, other=0)
    # `>>` is arithmetic on int32: keep only the bits that came from `lo`; both shift amounts stay in [0, 31]
    low_bits = tl.where(straddle, 32 - sh, BITS)
    shl = tl.where(straddle, 32 - sh, 0)
    return (((lo >> sh) & ((1 << low_bits) - 1)) | (hi << shl)) & ((1 << BITS) - 1)


@triton.jit
def tile_position(M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """(row tile, column tile) of this program in grouped launch order: GROUP_M row tiles run
    next to each other over one weight column tile, so it is reused while it sits in L2."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    width = GROUP_M * num_n
    first_m = (pid // width) * GROUP_M
    size_m = min(num_m - first_m, GROUP_M)
    return first_m + (pid % width) % size_m, (pid % width) // size_m


@triton.jit
def dot_step(x_tile, w_tile, acc, DOT_FP32: tl.constexpr, PRECISION: tl.constexpr):
    """acc + x_tile @ w_tile; operands cast to fp32 first when DOT_FP32 (bf16 under the interpreter)."""
    if DOT_FP32:
        acc = tl.dot(x_tile.to(tl.float32), w_tile.to(tl.float32), acc, input_precision=PRECISION)
    else:
        acc = tl.dot(x_tile, w_tile, acc, input_precision=PRECISION)
    return acc


@triton.autotune(configs=MM_CONFIGS, key=["M", "N", "K", "NSEL", "GROUP"])
@triton.jit
def _nm_matmul_kernel(x_ptr, val_ptr, idx_ptr, out_ptr, M, N, K,
                      stride_xm, stride_xk, stride_vn, stride_in, stride_om, stride_on,
                      NSEL: tl.constexpr, GROUP: tl.constexpr, BITS: tl.constexpr,
                      DOT_FP32: tl.constexpr, PRECISION: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid_m, pid_n = tile_position(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    # annotated, so these stay compile-time ints (also under the interpreter, which turns plain
    # assignments into tensors): whole groups per K step, >= 1 even when m > BLOCK_K
    BLOCK_G: tl.constexpr = (BLOCK_K + GROUP - 1) // GROUP
    KT: tl.constexpr = BLOCK_G * GROUP
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = offs_m < M
    n_ok = offs_n < N
    ar_g = tl.arange(0, BLOCK_G)
    ar_p = tl.arange(0, GROUP)
    ar_k = tl.arange(0, KT)
    n_groups = K // GROUP
    val_rows = val_ptr + offs_n[None, :] * stride_vn
    idx_rows = offs_n[None, :] * stride_in

    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, KT):
        g = k0 // GROUP + ar_g
        wmask = (g < n_groups)[:, None] & n_ok[None, :]
        wt = tl.zeros([BLOCK_G, GROUP, BLOCK_N], dtype=val_ptr.dtype.element_ty)
        for s in tl.static_range(NSEL):
            j = (g * NSEL + s)[:, None]
            v = tl.load(val_rows + j, mask=wmask, other=0.0)
            p = unpack_positions(idx_ptr, idx_rows, j, BITS, wmask)
            # the n positions of a group are distinct, so each dense slot takes at most one value
            wt = tl.where(p[:, None, :] == ar_p[None, :, None], v[:, None, :], wt)
        w_tile = tl.reshape(wt, (KT, BLOCK_N))
        kk = k0 + ar_k
        x_tile = tl.load(x_ptr + offs_m[:, None] * stride_xm + kk[None, :] * stride_xk,
                         mask=m_ok[:, None] & (kk < K)[None, :], other=0.0)
        acc = dot_step(x_tile, w_tile, acc, DOT_FP32, PRECISION)

    out = out_ptr + offs_m[:, None] * stride_om + offs_n[None, :] * stride_on
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=m_ok[:, None] & n_ok[None, :])


KERNEL = _nm_matmul_kernel  # the autotuner: KERNEL.best_config is the config of the last launch

_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


def dot_flags(dtype: torch.dtype) -> tuple[bool, str]:
    """(cast operands to fp32 before tl.dot, tl.dot input_precision) for operand dtype `dtype`:
    fp32 is multiplied in IEEE fp32 (not TF32) so it compares with torch's fp32 matmul."""
    dot_fp32 = INTERPRET and dtype == torch.bfloat16
    return dot_fp32, "ieee" if (dtype == torch.float32 or dot_fp32) else "tf32"


def check_operands(name: str, x: torch.Tensor, K: int, N: int, dtype: torch.dtype, device, out):
    """SpecError unless x is [M, K] of `dtype` on `device` and `out` (if given) is [M, N] of `dtype`; returns out."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != K or x.shape[0] < 1:
        raise SpecError(f"{name}: activations must be [M>=1, K={K}] (got {tuple(getattr(x, 'shape', ()))})")
    if x.dtype != dtype or dtype not in _DTYPES:
        raise SpecError(f"{name}: activations {x.dtype} and weight {dtype} must share one of fp16, bf16, fp32")
    if x.device != device:
        raise SpecError(f"{name}: activations on {x.device} but weight on {device}; move both to one device")
    M = x.shape[0]
    if out is None:
        return torch.empty((M, N), dtype=dtype, device=device)
    if tuple(out.shape) != (M, N) or out.dtype != dtype or out.device != device:
        raise SpecError(f"{name}: out must be [{M}, {N}] {dtype} on {device} (got {tuple(out.shape)} {out.dtype})")
    return out


def check_weight(name: str, w: NMWeight) -> None:
    """SpecError unless the compressed arrays have unit stride along a row (what the kernels index)."""
    if w.values.stride(1) != 1 or w.indices.stride(1) != 1 or w.indices.dtype != torch.int32:
        raise SpecError(f"{name}: NMWeight values/indices must be row-contiguous (indices int32); "
                        f"build them with gpu_kernels.formats.compress_nm")


def nm_matmul(x: torch.Tensor, w: NMWeight, out: torch.Tensor | None = None) -> torch.Tensor:
    """x[M, K] @ W^T for an N:M-compressed W[N, K]; returns out[M, N] in x's dtype (fp32 accumulation).
    `out`, when given, is written in full and returned."""
    check_weight("nm_matmul", w)
    out = check_operands("nm_matmul", x, w.K, w.N, w.dtype, w.device, out)
    M, N, K = x.shape[0], w.N, w.K
    dot_fp32, precision = dot_flags(x.dtype)

    def grid(meta):
        return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

    _nm_matmul_kernel[grid](x, w.values, w.indices, out, M, N, K,
                            x.stride(0), x.stride(1), w.values.stride(0), w.indices.stride(0),
                            out.stride(0), out.stride(1),
                            NSEL=w.n, GROUP=w.m, BITS=w.index_bits, DOT_FP32=dot_fp32, PRECISION=precision)
    return out


def nm_matmul_reference(x: torch.Tensor, w: NMWeight) -> torch.Tensor:
    """Pure-torch reference: x @ decompress(w)^T computed in fp32; returns fp32 [M, N]."""
    return x.float() @ decompress(w).float().t()
