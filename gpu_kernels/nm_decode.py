"""Skinny N:M decode kernel for 1 to 16 tokens (Triton), with its torch reference.

    out[M, N] = x[M, K] @ W^T,   M <= 16,   W[N, K] stored N:M along K (formats.NMWeight)

At decode the weight dominates memory traffic and a dense tile wastes (m-n)/m of it. This kernel
never forms a dense weight tile: each program owns BLOCK_N output rows and walks the row's stored
values BLOCK_J at a time, decodes each value's packed position into its dense column
`(j // n) * m + position`, gathers the activations of every token at that column (x is tiny and
stays in L1/L2), multiplies by the values and reduces over j with fp32 accumulation. Memory read
per weight element is its value plus its b index bits, which sets the byte-ratio bound of
docs/GPU.md. No tl.dot, so bf16 is exact in the interpreter too.
"""
import torch
import triton
import triton.language as tl

from nmsim.sim.gpu.tiles import DECODE_TILES, fit_decode_tiles
from nmsim.specfile import SpecError

from .formats import NMWeight, nonzero_columns
from .nm_matmul import INTERPRET, check_operands, check_weight, unpack_positions

__all__ = ["nm_decode", "nm_decode_reference", "MAX_DECODE_TOKENS", "DECODE_CONFIGS", "decode_configs", "KERNEL"]

MAX_DECODE_TOKENS = 16

# The GPU menu and the register budget that prunes it live in sim/gpu/tiles.py (shared with the
# GPU cost model).
_INTERPRET_TILES = [(8, 16, 4, 1)]


def decode_configs(gpu: bool) -> list:
    """The autotune menu as triton.Configs: the GPU menu, or the interpreter's single tile."""
    return [triton.Config({"BLOCK_N": bn, "BLOCK_J": bj}, num_warps=w, num_stages=s)
            for bn, bj, w, s in (DECODE_TILES if gpu else _INTERPRET_TILES)]


DECODE_CONFIGS = decode_configs(gpu=not INTERPRET)


def _shape(config) -> tuple[int, int, int]:
    return config.kwargs["BLOCK_N"], config.kwargs["BLOCK_J"], config.num_warps


def _fit_registers(configs, named_args, **kwargs):
    """Drop configs whose gather tile exceeds the register budget for this token block (keep the
    smallest if none fits): sim.gpu.tiles.fit_decode_tiles, the rule the GPU model applies too."""
    bt = kwargs.get("BLOCK_T", named_args.get("BLOCK_T", 1))
    return fit_decode_tiles(configs, bt, _shape)


@triton.autotune(configs=DECODE_CONFIGS, key=["M", "N", "K", "NSEL", "GROUP"],
                 prune_configs_by={"early_config_prune": _fit_registers})
@triton.jit
def _nm_decode_kernel(x_ptr, val_ptr, idx_ptr, out_ptr, M, N, K,
                      stride_xm, stride_xk, stride_vn, stride_in, stride_om, stride_on,
                      NSEL: tl.constexpr, GROUP: tl.constexpr, BITS: tl.constexpr, BLOCK_T: tl.constexpr,
                      BLOCK_N: tl.constexpr, BLOCK_J: tl.constexpr):
    pid = tl.program_id(0)
    offs_n = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_t = tl.arange(0, BLOCK_T)
    n_ok = offs_n < N
    t_ok = offs_t < M
    n_stored = (K // GROUP) * NSEL
    val_rows = val_ptr + offs_n[:, None] * stride_vn
    idx_rows = offs_n[:, None] * stride_in
    x_rows = x_ptr + offs_t[:, None, None] * stride_xm

    acc = tl.zeros([BLOCK_T, BLOCK_N], dtype=tl.float32)
    for j0 in range(0, n_stored, BLOCK_J):
        j = (j0 + tl.arange(0, BLOCK_J))[None, :]
        mask = n_ok[:, None] & (j < n_stored)
        v = tl.load(val_rows + j, mask=mask, other=0.0).to(tl.float32)
        col = (j // NSEL) * GROUP + unpack_positions(idx_ptr, idx_rows, j, BITS, mask)
        xg = tl.load(x_rows + col[None, :, :] * stride_xk, mask=t_ok[:, None, None] & mask[None, :, :], other=0.0)
        acc += tl.sum(xg.to(tl.float32) * v[None, :, :], axis=2)

    out = out_ptr + offs_t[:, None] * stride_om + offs_n[None, :] * stride_on
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=t_ok[:, None] & n_ok[None, :])


KERNEL = _nm_decode_kernel  # KERNEL.best_config: the config of the last launch


def nm_decode(x: torch.Tensor, w: NMWeight, out: torch.Tensor | None = None) -> torch.Tensor:
    """x[M, K] @ W^T for M <= 16 tokens reading only W's stored values and indices; returns
    out[M, N] in x's dtype (fp32 accumulation). `out`, when given, is written in full and returned."""
    check_weight("nm_decode", w)
    out = check_operands("nm_decode", x, w.K, w.N, w.dtype, w.device, out)
    M, N, K = x.shape[0], w.N, w.K
    if M > MAX_DECODE_TOKENS:
        raise SpecError(f"nm_decode: {M} tokens; the decode kernel takes 1..{MAX_DECODE_TOKENS} "
                        f"(use gpu_kernels.nm_matmul.nm_matmul for more)")
    block_t = triton.next_power_of_2(M)

    def grid(meta):
        return (triton.cdiv(N, meta["BLOCK_N"]),)

    _nm_decode_kernel[grid](x, w.values, w.indices, out, M, N, K,
                            x.stride(0), x.stride(1), w.values.stride(0), w.indices.stride(0),
                            out.stride(0), out.stride(1),
                            NSEL=w.n, GROUP=w.m, BITS=w.index_bits, BLOCK_T=block_t)
    return out


def nm_decode_reference(x: torch.Tensor, w: NMWeight) -> torch.Tensor:
    """Pure-torch reference in the sparse form: out[t, r] = sum_j values[r, j] * x[t, column[r, j]],
    in fp32; returns fp32 [M, N]. (Independent of formats.decompress.)"""
    cols = nonzero_columns(w)                      # [N, J]
    gathered = x.float()[:, cols]                  # [M, N, J]
    return (gathered * w.values.float()[None]).sum(dim=2)
