"""Compressed N:M weights for the Triton kernels, and PyTorch's 2:4 format as the vendor reference.

Layout of `NMWeight` (docs/GPU.md "Formats"), for a weight `w[N, K]` (torch's `[out, in]`) with
N:M groups running along K (the reduction dimension):

* `values[N, K*n/m]`, the weight's dtype: row r holds, group after group, the n kept values of
  each group of m consecutive columns, in ascending column order.
* `indices[N, W]`, int32, `W = ceil((K*n/m) * b / 32)` words per row with `b = log2(m)` bits per
  nonzero (2, 3, 4, 5 for M = 4, 8, 16, 32): the position inside its group (0..m-1) of nonzero j
  of the row occupies bits `[j*b, j*b + b)` of the row's little-endian bit stream (bit t of the
  stream is bit `t % 32` of word `t // 32`). An index may straddle two words when 32 is not a
  multiple of b; each row starts on a word boundary. Words are stored as int32 (the bit pattern
  of the uint32 word).

Index storage is therefore exactly b bits per nonzero, plus at most 31 bits of padding per row.
A group that holds fewer than n nonzeros is stored with explicit zero values at unused positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nmsim.problem import index_bits
from nmsim.specfile import SpecError

if TYPE_CHECKING:
    import torch

__all__ = ["SUPPORTED_M", "NMWeight", "parse_format_nm", "check_nm", "index_bits", "compress_nm", "decompress",
           "unpack_indices", "nonzero_columns", "pack_indices", "byte_ratio_bound", "to_semi_structured_2_4"]

SUPPORTED_M: tuple[int, ...] = (4, 8, 16, 32)
_WORD_BITS = 32  # indices are packed into int32 words


def check_nm(n: int, m: int, K: int | None = None, where: str = "N:M pattern") -> None:
    """SpecError (one line) unless 1 <= n < m, m in SUPPORTED_M and, when given, K % m == 0."""
    if m not in SUPPORTED_M:
        raise SpecError(f"{where} {n}:{m}: M must be one of {', '.join(map(str, SUPPORTED_M))} (e.g. 2:4, 1:8)")
    if not 1 <= n < m:
        raise SpecError(f"{where} {n}:{m}: N must be between 1 and M-1={m - 1} (N:M keeps N of every M values)")
    if K is not None and K % m:
        raise SpecError(f"{where} {n}:{m}: K={K} input features is not a multiple of M={m}; "
                        f"pad K to {K + (-K) % m} or pick M dividing {K}")


def parse_format_nm(text: str) -> tuple[int, int]:
    """'2:4' -> (2, 4); SpecError for anything the kernels cannot run (dense, N>=M, M not in SUPPORTED_M)."""
    from nmsim.workloads.sparsity import Sparsity

    sp = Sparsity.parse(text)
    if sp.kind != "nm" or sp.axis != "K":
        raise SpecError(f"pattern '{text}': the N:M kernels need N:M along K with N < M, e.g. 2:4 or 1:8")
    check_nm(sp.n, sp.m, where="pattern")
    return sp.n, sp.m


@dataclass(frozen=True)
class NMWeight:
    """An N:M-compressed weight `[N, K]`: values `[N, K*n/m]` and packed int32 indices (module docstring)."""

    values: "torch.Tensor"
    indices: "torch.Tensor"
    n: int
    m: int
    K: int

    @property
    def N(self) -> int:
        """Rows (output features)."""
        return int(self.values.shape[0])

    @property
    def nnz_per_row(self) -> int:
        """Stored values per row (K*n/m)."""
        return self.K * self.n // self.m

    @property
    def index_bits(self) -> int:
        """Bits per stored index (log2 m)."""
        return index_bits(self.m)

    @property
    def words_per_row(self) -> int:
        """int32 index words per row."""
        return int(self.indices.shape[1])

    @property
    def dtype(self) -> "torch.dtype":
        """Dtype of the values (and of the dense weight)."""
        return self.values.dtype

    @property
    def device(self) -> "torch.device":
        """Device holding values and indices."""
        return self.values.device

    @property
    def value_bytes(self) -> int:
        """Bytes of the values array."""
        return self.values.numel() * self.values.element_size()

    @property
    def index_bytes(self) -> int:
        """Bytes of the packed index words."""
        return self.indices.numel() * self.indices.element_size()

    @property
    def dense_bytes(self) -> int:
        """Bytes of the dense `[N, K]` weight in the same dtype."""
        return self.N * self.K * self.values.element_size()

    def to(self, device) -> "NMWeight":
        """The same weight on `device`."""
        return NMWeight(self.values.to(device), self.indices.to(device), self.n, self.m, self.K)

    def clone(self) -> "NMWeight":
        """A copy with its own storage (the bench rotates copies so L2 cannot hold the weight)."""
        return NMWeight(self.values.clone(), self.indices.clone(), self.n, self.m, self.K)


def _words_per_row(nnz: int, bits: int) -> int:
    return -(-nnz * bits // _WORD_BITS)


def pack_indices(pos: "torch.Tensor", bits: int) -> "torch.Tensor":
    """Pack positions `pos[R, J]` (each < 2**bits) into int32 words `[R, ceil(J*bits/32)]`, LSB first."""
    import torch

    R, J = pos.shape
    words = torch.zeros(R, _words_per_row(J, bits), dtype=torch.int64, device=pos.device)
    if J:
        start = torch.arange(J, device=pos.device, dtype=torch.int64) * bits
        p = pos.to(torch.int64)
        # bit by bit so that an index straddling two words needs no special case; bit positions
        # are distinct, so scatter_add is a bitwise or
        for t in range(bits):
            at = start + t
            word, shift = (at // _WORD_BITS).expand(R, J), (at % _WORD_BITS)
            words.scatter_add_(1, word, ((p >> t) & 1) << shift)
    # the uint32 bit pattern stored as int32 (two's complement wrap)
    words = torch.where(words >= 2 ** 31, words - 2 ** 32, words)
    return words.to(torch.int32)


def unpack_indices(nm: NMWeight) -> "torch.Tensor":
    """Positions inside their group (int64 `[N, K*n/m]`, values 0..m-1) of every stored value."""
    import torch

    bits, J = nm.index_bits, nm.nnz_per_row
    w = nm.indices.to(torch.int64) & 0xFFFFFFFF
    w = torch.cat([w, torch.zeros_like(w[:, :1])], dim=1)  # a zero word after each row for straddles
    start = torch.arange(J, device=w.device, dtype=torch.int64) * bits
    lo_i, shift = start // _WORD_BITS, start % _WORD_BITS
    lo = w.index_select(1, lo_i)
    hi = w.index_select(1, lo_i + 1)
    return ((lo | (hi << _WORD_BITS)) >> shift) & (nm.m - 1)


def nonzero_columns(nm: NMWeight) -> "torch.Tensor":
    """Dense column (0..K-1, int64 `[N, K*n/m]`) of every stored value."""
    import torch

    j = torch.arange(nm.nnz_per_row, device=nm.indices.device, dtype=torch.int64)
    return (j // nm.n) * nm.m + unpack_indices(nm)


def compress_nm(w: "torch.Tensor", n: int, m: int, prune: bool = False) -> NMWeight:
    """Compress a weight `w[N, K]` (out, in) to N:M along K.

    Without `prune`, `w` must already be N:M (at most n nonzeros in every group of m); with
    `prune`, the n largest magnitudes of every group are kept (ties: the lower column). Raises
    SpecError for impossible patterns, K not a multiple of m, or a weight that breaks the pattern.
    """
    import torch

    if not isinstance(w, torch.Tensor) or w.dim() != 2:
        raise SpecError(f"compress_nm: weight must be a 2-D tensor [N, K] (got {getattr(w, 'shape', type(w))})")
    if not w.dtype.is_floating_point:
        raise SpecError(f"compress_nm: weight dtype {w.dtype} is not floating point (use fp16, bf16 or fp32)")
    check_nm(n, m, K=int(w.shape[1]), where="compress_nm: pattern")
    N, K = (int(s) for s in w.shape)
    G = K // m
    g = w.reshape(N, G, m)
    pos = torch.arange(m, device=w.device)
    if prune:
        # a stable sort keeps the lower column first among equal magnitudes
        order = torch.argsort(g.abs().float(), dim=2, descending=True, stable=True)
        keep = torch.zeros_like(g, dtype=torch.bool).scatter_(2, order[..., :n], True)
    else:
        keep = g != 0
        per_group = keep.sum(dim=2)
        worst = int(per_group.max()) if per_group.numel() else 0
        if worst > n:
            bad = int((per_group > n).sum())
            raise SpecError(f"compress_nm: weight is not {n}:{m}: {bad} of {N * G} groups of {m} hold more than "
                            f"{n} nonzeros (up to {worst}); prune it first (compress_nm(..., prune=True) keeps the "
                            f"largest magnitudes)")
    # exactly n slots per group: kept positions first, then the lowest free positions (stored as zeros)
    score = keep.to(torch.int64) * (2 * m) + (m - 1 - pos)
    slots = torch.topk(score, n, dim=2).indices.sort(dim=2).values  # [N, G, n] ascending positions
    values = torch.gather(g, 2, slots).reshape(N, G * n).contiguous()
    indices = pack_indices(slots.reshape(N, G * n), index_bits(m))
    return NMWeight(values, indices, n, m, K)


def decompress(nm: NMWeight) -> "torch.Tensor":
    """The dense weight `[N, K]` (same dtype and device as the values)."""
    import torch

    dense = torch.zeros(nm.N, nm.K, dtype=nm.values.dtype, device=nm.values.device)
    return dense.scatter_(1, nonzero_columns(nm), nm.values)


def byte_ratio_bound(n: int, m: int, elem_bytes: int, K: int | None = None) -> float:
    """Upper bound of an N:M kernel's speedup over dense when weight bytes dominate (decode):
    dense weight bytes / (value bytes + index bytes).

    With K=None the per-row word padding is ignored: m*e*8 / (n*(e*8 + log2 m)) with e = elem_bytes;
    with K the exact bytes of this layout for rows of K inputs (index words rounded up per row).
    """
    check_nm(n, m, K)
    bits = index_bits(m)
    if K is None:
        return m * elem_bytes * 8 / (n * (elem_bytes * 8 + bits))
    nnz = K * n // m
    return K * elem_bytes / (nnz * elem_bytes + 4 * _words_per_row(nnz, bits))


# --- vendor reference: PyTorch 2:4 semi-structured -------------------------------------------

SEMI_STRUCTURED_BACKENDS = ("cusparselt", "cutlass")


def to_semi_structured_2_4(w: "torch.Tensor", backend: str = "cusparselt"):
    """`w[N, K]` (already 2:4 along K) as torch's SparseSemiStructuredTensor for `backend`
    ('cusparselt' or 'cutlass', chosen through SparseSemiStructuredTensor._FORCE_CUTLASS).

    Use as `torch.nn.functional.linear(x, result)` = x @ w^T. CUDA only: SpecError elsewhere, and
    when the backend is unavailable or the dtype/shape is outside torch's constraints.
    """
    import torch
    from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

    if backend not in SEMI_STRUCTURED_BACKENDS:
        raise SpecError(f"semi-structured backend '{backend}': choose one of {', '.join(SEMI_STRUCTURED_BACKENDS)}")
    if not (isinstance(w, torch.Tensor) and w.is_cuda):
        raise SpecError("to_semi_structured_2_4: torch's 2:4 semi-structured sparsity runs on CUDA only; "
                        "move the weight to a CUDA device (w.cuda())")
    if backend == "cusparselt" and not torch.backends.cusparselt.is_available():
        raise SpecError("to_semi_structured_2_4: this torch build has no cuSPARSELt; use backend='cutlass'")
    cls = (torch.sparse.SparseSemiStructuredTensorCUTLASS if backend == "cutlass"
           else torch.sparse.SparseSemiStructuredTensorCUSPARSELT)
    supported = getattr(cls, "_DTYPE_SHAPE_CONSTRAINTS", None)  # private in torch: absent means "let torch decide"
    if supported is not None and w.dtype not in supported:
        raise SpecError(f"to_semi_structured_2_4: {backend} does not support {w.dtype} "
                        f"(supported: {', '.join(str(d) for d in supported)})")
    previous = SparseSemiStructuredTensor._FORCE_CUTLASS
    SparseSemiStructuredTensor._FORCE_CUTLASS = backend == "cutlass"
    try:
        return to_sparse_semi_structured(w)
    except (RuntimeError, ValueError) as exc:
        raise SpecError(f"to_semi_structured_2_4: {backend} rejected weight {tuple(w.shape)} {w.dtype}: "
                        f"{str(exc).splitlines()[0]}") from None
    finally:
        SparseSemiStructuredTensor._FORCE_CUTLASS = previous
