"""The executed GEMM: out[M,N] = A[M,K] · B[K,N] (B the weights), as the hardware runs it.

`Gemm` is built once per op from the op and its sparse plan (mapping.executed_gemm) and read
by every cost engine and the mapping space: dimensions, batch, the executed N:M (n of every m
weights along K kept), index bits per kept weight, and the densities. docs/MODEL.md 2-3.

Array-valued fields on purpose: the design-space evaluator costs many designs in one call, so
`n`, `m`, `index_bits` and `k_scale` may be `[designs, 1]` numpy arrays that broadcast with
`[designs, candidates]` tile arrays (tests/dse pins it); the fast model also accepts arrays of
M, N, K (one GEMM per candidate). The cost code reads every field through numpy and never
branches on its value; the detailed engine's schedule needs scalars.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

IntLike = Union[int, np.ndarray]

# Bounds of a GEMM (docs/RELIABILITY.md). The vectorized model counts elements and bytes in 64-bit
# integers and cycles in float64: a dimension up to 2^31 and up to 2^53 MACs per GEMM (exact in a
# float64) leave 2^10 of int64 headroom for byte counts, which stay below 64 bytes per MAC. The
# largest LLM layer at a million tokens (70B FFN, 1M x 28672 x 8192) is 2.4e14 MACs, 2^53 is 9.0e15.
MAX_DIM = 1 << 31
MAX_MACS = 1 << 53
DIM_WHY = "2^31 elements along one dimension"
MACS_WHY = "2^53 MACs per GEMM keep every count the model makes inside 64-bit integers"
FloatLike = Union[float, np.ndarray]


def cdiv(a, b):
    """Ceiling division of integers or integer arrays (exact: no float rounding)."""
    return -(-a // b)


@dataclass(frozen=True)
class Gemm:
    """One executed (batched) GEMM. Dimensions in elements of the dense GEMM.

    `k_scale`, when set, replaces n/m as the kept fraction of K (unstructured sparsity: kept
    nonzeros per K tile = max(1, ceil(k * k_scale))); `k_scale_busy` is the busiest lane's
    fraction under a real mask (MODEL.md 2.1), which sets compute cycles only. `act_density`
    is the fraction of nonzero activations (zero-skipping gates MAC energy, MODEL.md 2.2).
    `resident` names the operands kept on chip between ops (MODEL.md 3.10); `a_unique`,
    `a_dram_scale` and `out_dram_scale` scale A's stored and DRAM bytes and the outputs' DRAM bytes
    (feature maps instead of im2col rows, run-length coding; MODEL.md 3.11).
    """

    M: IntLike
    N: IntLike
    K: IntLike
    batch: int = 1
    n: IntLike = 1
    m: IntLike = 1
    index_bits: IntLike = 0
    k_scale: FloatLike | None = None
    k_scale_busy: FloatLike | None = None
    act_density: float = 1.0
    # operands ("A", "B", "out") whose whole tensors stay on chip across ops (MODEL.md 3.10): they
    # cross no DRAM interface and occupy their level whole
    resident: frozenset = frozenset()
    # A as distinct input pixels over its lowered elements, at the levels that store feature maps, and
    # A and final outputs as DRAM bytes over their dense bytes (pixels and zero coding; MODEL.md 3.11)
    a_unique: float = 1.0
    a_dram_scale: float = 1.0
    out_dram_scale: float = 1.0

    def k_nnz(self, k):
        """Kept weights per output column along `k` dense K elements, after padding to whole
        N:M groups (elements); `k` an int or an int array."""
        if self.k_scale is None:
            if type(self.n) is int and type(self.m) is int:  # one design: plain ints are faster than numpy scalars
                return cdiv(k, self.m) * self.n
            return cdiv(k, np.asarray(self.m, dtype=np.int64)) * np.asarray(self.n, dtype=np.int64)
        return np.maximum(1, np.ceil(k * np.asarray(self.k_scale, dtype=np.float64))).astype(np.int64)

    def k_nnz_busy(self, k):
        """Kept weights of the busiest lane along `k` elements (elements): `k_nnz` unless a mask's
        imbalance (`k_scale_busy`) is known."""
        if self.k_scale_busy is None:
            return self.k_nnz(k)
        return np.maximum(1, np.ceil(k * np.asarray(self.k_scale_busy, dtype=np.float64))).astype(np.int64)

    @property
    def has_busy_lanes(self) -> bool:
        """True when a mask's imbalance changes the compute cycles (k_scale_busy is set)."""
        return self.k_scale_busy is not None

    def acts_per_unit(self, macs_per_pe: int):
        """Activations streamed per K unit of a PE with `macs_per_pe` multipliers (elements):
        P x m/n for N:M (a PE muxes n of every m activations, so it reads all m), P / k_scale
        for unstructured."""
        if self.k_scale is None:
            return macs_per_pe * np.asarray(self.m) / np.asarray(self.n)
        return macs_per_pe / np.asarray(self.k_scale)

    @property
    def sparse(self):
        """Whether index decode is paid (bool or bool array): N:M with n < m, or unstructured."""
        if self.k_scale is not None:
            return True
        return np.asarray(self.n) < np.asarray(self.m)

    def weight_bytes(self, operand_bytes: float):
        """Bytes of one stored weight: value plus its index metadata (bytes)."""
        if type(self.index_bits) is int:
            return operand_bytes + self.index_bits / 8.0
        return operand_bytes + np.asarray(self.index_bits) / 8.0

    @property
    def macs_effective(self):
        """MACs that are executed (MAC): batch x M x N x kept K."""
        return self.batch * self.M * self.N * self.k_nnz(self.K)


def resident_bytes(gemm: Gemm, operand_bytes: float):
    """Bytes the resident operands of `gemm` occupy, every GEMM of the batch, at operand width
    (final outputs are stored at operand width; MODEL.md 3.10)."""
    if not gemm.resident:
        return 0.0
    a, b, out = tile_bytes(gemm, gemm.M, gemm.N, gemm.K, operand_bytes, operand_bytes)
    parts = {"A": a * gemm.a_unique, "B": b, "out": out}
    return gemm.batch * sum(parts[x] for x in gemm.resident)


def whole_accesses(run_bytes, access_bytes):
    """Bytes a contiguous run of `run_bytes` moves in whole accesses of `access_bytes` (bytes);
    the run itself when accesses are single bytes (docs/MODEL.md 3.4, DRAM efficiency)."""
    if not isinstance(access_bytes, np.ndarray):  # scalars: the hot path
        if access_bytes <= 1:
            return run_bytes
        return np.ceil(np.asarray(run_bytes, dtype=np.float64) / access_bytes) * access_bytes
    g = np.asarray(access_bytes, dtype=np.float64)
    run = np.asarray(run_bytes, dtype=np.float64)
    return np.where(g > 1, np.ceil(run / np.maximum(g, 1.0)) * g, run)


def tile_bytes(gemm: Gemm, tm, tn, tk, operand_bytes: float, out_bytes, access_bytes=1):
    """Bytes of one tile of each operand (bytes): (A block tm x tk, compressed B block tk x tn
    with its index bits, out block tm x tn at `out_bytes` per element). `out_bytes` is the
    accumulator width for partial sums (on chip, spills), the operand width for final outputs.
    `access_bytes` > 1 rounds every row of a block (A and out rows, one output column's weight
    run) up to whole DRAM accesses: DRAM transfers pass it, buffer footprints do not.

    The one definition of tile size: buffer footprints (mapping), DRAM transfers (both engines).
    """
    if not isinstance(access_bytes, np.ndarray) and access_bytes <= 1:
        return tm * tk * operand_bytes, gemm.k_nnz(tk) * tn * gemm.weight_bytes(operand_bytes), tm * tn * out_bytes
    return (tm * whole_accesses(tk * operand_bytes, access_bytes),
            tn * whole_accesses(gemm.k_nnz(tk) * gemm.weight_bytes(operand_bytes), access_bytes),
            tm * whole_accesses(tn * out_bytes, access_bytes))
