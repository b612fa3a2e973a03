"""The functional (bit-exact) model of the N:M sparse datapath, in numpy.

This is the golden model of the RTL in rtl_models/ (its cocotb testbenches import it) and the
definition of what an N:M datapath computes:

* groups of `m` consecutive weights along K (the last axis); `topn_select` keeps the `n` of
  largest magnitude. Tie-break: equal magnitudes go to the lower index (a stable sort), and
  `|-2^(b-1)| = 2^(b-1)` is the largest magnitude of a b-bit operand. Kept weights are stored in
  ascending index order, as (values, indices) arrays of shape [..., groups, n];
* `nm_decompress` scatters (values, indices) back to a dense [..., groups * m] array; should two
  slots of a group name the same lane, the higher slot wins;
* `nm_gemm` is `out[M, N] = A[M, K] . W[N, K]^T` with W compressed, computed the way the
  index-multiplexed datapath does it: every stored weight multiplies the activation its index
  selects (a repeated index therefore counts twice; for a well-formed group this equals
  decoding first). Integer operands, exact products, and a two's-complement accumulator of
  `acc_bits` that wraps (mod 2^acc_bits), like the hardware.

Integers are int64 throughout. The GEMM is summed in uint64, whose arithmetic is defined to
wrap mod 2^64; wrapping that to `acc_bits <= 64` afterwards gives the same residue as an
accumulator that wraps at every step, whatever the operand widths and K.
"""
from __future__ import annotations

import numpy as np

MAX_ACC_BITS = 64


def wrap_signed(x, bits: int) -> np.ndarray:
    """`x` reduced to a signed two's-complement integer of `bits` bits (int64 array)."""
    if not 1 <= bits <= MAX_ACC_BITS:
        raise ValueError(f"bits must be in 1..{MAX_ACC_BITS} (got {bits})")
    x = np.asarray(x, dtype=np.int64)
    if bits == MAX_ACC_BITS:
        return x
    shift = np.int64(MAX_ACC_BITS - bits)
    # Shift the kept bits to the top and back: the arithmetic right shift sign-extends.
    return (x << shift) >> shift


def signed_range(bits: int) -> tuple[int, int]:
    """(lowest, highest) value of a signed `bits`-bit integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _check_groups(k: int, m: int) -> int:
    if m < 1:
        raise ValueError(f"group size m must be positive (got {m})")
    if k % m:
        raise ValueError(f"K={k} is not a whole number of groups of {m}; pad with pad_groups first")
    return k // m


def pad_groups(x, m: int) -> np.ndarray:
    """`x` with its last axis zero-padded up to a multiple of `m` (elements)."""
    x = np.asarray(x)
    extra = (-x.shape[-1]) % m
    if not extra:
        return x
    pad = [(0, 0)] * (x.ndim - 1) + [(0, extra)]
    return np.pad(x, pad)


def topn_select(w, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the `n` largest magnitudes of every `m` weights along the last axis.

    `w` is an integer array [..., K] with K a multiple of m. Returns (values, indices), both
    [..., K // m, n] int64: indices are lane numbers 0..m-1 within the group, ascending.
    """
    if not 1 <= n <= m:
        raise ValueError(f"need 1 <= n <= m (got {n}:{m})")
    w = np.asarray(w, dtype=np.int64)
    groups = _check_groups(w.shape[-1], m)
    g = w.reshape(*w.shape[:-1], groups, m)
    # Stable sort on descending magnitude: among equals the lower lane comes first.
    order = np.argsort(-np.abs(g), axis=-1, kind="stable")
    idx = np.sort(order[..., :n], axis=-1)
    return np.take_along_axis(g, idx, axis=-1), idx.astype(np.int64)


def nm_decompress(values, indices, m: int) -> np.ndarray:
    """Dense [..., groups * m] int64 array from (values, indices) of shape [..., groups, n]."""
    values = np.asarray(values, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if values.shape != indices.shape:
        raise ValueError(f"values {values.shape} and indices {indices.shape} differ in shape")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        raise ValueError(f"indices must lie in 0..{m - 1}")
    dense = np.zeros(values.shape[:-1] + (m,), dtype=np.int64)
    # Slot by slot, so that a later slot overwrites an earlier one naming the same lane.
    for s in range(values.shape[-1]):
        np.put_along_axis(dense, indices[..., s:s + 1], values[..., s:s + 1], axis=-1)
    return dense.reshape(*values.shape[:-2], values.shape[-2] * m)


def nm_prune(w, n: int, m: int) -> np.ndarray:
    """`w` with all but the `n` largest magnitudes of every `m` (along the last axis) zeroed."""
    return nm_decompress(*topn_select(w, n, m), m)


def nm_gemm(a, values, indices, m: int, acc_bits: int, psum=None) -> np.ndarray:
    """`out[M, N] = psum + A[M, K] . W[N, K]^T` wrapped to `acc_bits`, W given compressed.

    `a` is [M, K] with K = groups * m; `values`/`indices` are [N, groups, n] (N:M weights of
    the output columns, e.g. from `topn_select`); `psum` (optional, [M, N]) is an incoming
    partial sum. Each stored weight multiplies the activation its index selects within its
    group (the multiplexer of the PE); products are exact and the sum wraps like an
    `acc_bits` two's-complement accumulator.
    """
    a = np.asarray(a, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if values.shape != indices.shape or values.ndim != 3:
        raise ValueError(f"values {values.shape} and indices {indices.shape} must both be [N, groups, n]")
    cols, groups, _ = values.shape
    if a.ndim != 2 or a.shape[1] != groups * m:
        raise ValueError(f"A has shape {a.shape} but the weights cover K = {groups} groups x {m}")
    if indices.size and (indices.min() < 0 or indices.max() >= m):
        raise ValueError(f"indices must lie in 0..{m - 1}")
    a_groups = np.broadcast_to(a.reshape(a.shape[0], 1, groups, m), (a.shape[0], cols, groups, m))
    picked = np.take_along_axis(a_groups, np.broadcast_to(indices, (a.shape[0],) + indices.shape), axis=-1)
    # uint64 wraps by definition (signed overflow would not), and mod 2^64 is all we keep.
    out = (picked.astype(np.uint64) * values.astype(np.uint64)).sum(axis=(2, 3), dtype=np.uint64)
    if psum is not None:
        out = out + np.asarray(psum, dtype=np.int64).astype(np.uint64)
    return wrap_signed(out.view(np.int64), acc_bits)
