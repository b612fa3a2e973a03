"""The functional model of the N:M datapath (sim/functional.py), checked without a simulator: hand
values of the two's-complement wrap and the top-n choice, and every function against plain Python
integer arithmetic on random operands (the RTL tests of tests/rtl_models/ check the RTL against it)."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.sim.functional import (_check_groups, nm_decompress, nm_gemm, nm_prune, pad_groups, signed_range, topn_select,
                                  wrap_signed)


def py_wrap(x: int, bits: int) -> int:
    """Two's complement of `bits` bits, by the definition."""
    x %= 1 << bits
    return x - (1 << bits) if x >= 1 << (bits - 1) else x


@pytest.mark.parametrize("x, bits, want", [
    (130, 8, -126), (-129, 8, 127), (127, 8, 127), (-128, 8, -128), (255, 8, -1), (256, 8, 0),
    (1, 1, -1), (0, 1, 0), (2**31, 32, -2**31), (-5, 64, -5), (2**62, 63, -2**62),
])
def test_wrap_signed_by_hand(x, bits, want):
    assert int(wrap_signed(x, bits)) == want == py_wrap(x, bits)


def test_wrap_signed_bounds_and_ranges():
    for bits in (0, 65):
        with pytest.raises(ValueError, match="bits must be in 1..64"):
            wrap_signed(3, bits)
    assert signed_range(8) == (-128, 127) and signed_range(1) == (-1, 0) and signed_range(16) == (-32768, 32767)
    rng = np.random.default_rng(1)
    x = rng.integers(-2**62, 2**62, size=200)
    for bits in (3, 8, 17, 32, 48):
        assert wrap_signed(x, bits).tolist() == [py_wrap(int(v), bits) for v in x]


def test_pad_groups():
    x = np.arange(1, 11).reshape(2, 5)
    p = pad_groups(x, 4)
    assert p.shape == (2, 8) and p[:, :5].tolist() == x.tolist() and not p[:, 5:].any()
    assert pad_groups(x, 5) is x and pad_groups(np.ones(3), 1).shape == (3,)


def test_topn_select_by_hand():
    # magnitudes 3, 5, 5, 1: the two largest are lanes 1 and 2 (ascending); ties go to the lower lane;
    # -128 is the largest 8-bit magnitude
    w = np.array([[3, -5, 5, 1, 0, 2, 2, 2, -128, 127, 0, 0]])
    v, i = topn_select(w, 2, 4)
    assert i.tolist() == [[[1, 2], [1, 2], [0, 1]]]
    assert v.tolist() == [[[-5, 5], [2, 2], [-128, 127]]]
    v, i = topn_select(w, 1, 4)
    assert i.tolist() == [[[1], [1], [0]]] and v.tolist() == [[[-5], [2], [-128]]]
    v, i = topn_select(w, 4, 4)     # n = m keeps everything in lane order
    assert v.reshape(1, -1).tolist() == w.tolist() and i.tolist() == [[[0, 1, 2, 3]] * 3]
    with pytest.raises(ValueError, match="1 <= n <= m"):
        topn_select(w, 5, 4)
    with pytest.raises(ValueError, match="1 <= n <= m"):
        topn_select(w, 0, 4)
    with pytest.raises(ValueError, match="K=12 is not a whole number of groups of 5"):
        topn_select(w, 2, 5)
    with pytest.raises(ValueError, match="group size m must be positive"):
        _check_groups(12, 0)            # unreachable through topn_select (n <= m is checked first)


def py_prune(row: list[int], n: int, m: int) -> list[int]:
    """Keep the n largest magnitudes of each group, lower lane first among equals."""
    out = []
    for g in range(0, len(row), m):
        grp = row[g:g + m]
        keep = sorted(range(m), key=lambda j: (-abs(grp[j]), j))[:n]
        out += [x if j in keep else 0 for j, x in enumerate(grp)]
    return out


@pytest.mark.parametrize("n, m", [(1, 2), (2, 4), (1, 4), (2, 8), (3, 8), (1, 32)])
def test_prune_and_decompress_against_python(n, m):
    rng = np.random.default_rng(n * 100 + m)
    w = rng.integers(-4, 5, size=(6, 4 * m))          # small range: many ties
    want = [py_prune(r, n, m) for r in w.tolist()]
    assert nm_prune(w, n, m).tolist() == want
    v, i = topn_select(w, n, m)
    assert v.shape == i.shape == (6, 4, n) and (np.diff(i, axis=-1) > 0).all()
    assert nm_decompress(v, i, m).tolist() == want


def test_decompress_repeated_lane_higher_slot_wins_and_errors():
    assert nm_decompress([[7, 9]], [[1, 1]], 4).tolist() == [0, 9, 0, 0]
    assert nm_decompress([[[7, 9]], [[1, 2]]], [[[0, 3]], [[3, 0]]], 4).tolist() == [[7, 0, 0, 9], [2, 0, 0, 1]]
    with pytest.raises(ValueError, match="differ in shape"):
        nm_decompress([[1, 2]], [[0]], 4)
    with pytest.raises(ValueError, match=r"indices must lie in 0..3"):
        nm_decompress([[1]], [[4]], 4)
    with pytest.raises(ValueError, match=r"indices must lie in 0..3"):
        nm_decompress([[1]], [[-1]], 4)


def py_gemm(a, dense_w, acc_bits, psum=None) -> list[list[int]]:
    M, N = len(a), len(dense_w)
    return [[py_wrap(sum(x * y for x, y in zip(a[r], dense_w[c])) + (psum[r][c] if psum else 0), acc_bits)
             for c in range(N)] for r in range(M)]


@pytest.mark.parametrize("n, m, acc_bits, lo, hi", [
    (2, 4, 32, -128, 128), (1, 8, 16, -128, 128), (2, 8, 8, -128, 128), (4, 4, 24, -2**15, 2**15),
    (1, 2, 64, -2**31, 2**31),
])
def test_gemm_against_python_integers(n, m, acc_bits, lo, hi):
    rng = np.random.default_rng(acc_bits + m)
    a = rng.integers(lo, hi, size=(5, 3 * m))
    w = rng.integers(lo, hi, size=(7, 3 * m))
    v, i = topn_select(w, n, m)
    dense = nm_decompress(v, i, m).tolist()
    assert nm_gemm(a, v, i, m, acc_bits).tolist() == py_gemm(a.tolist(), dense, acc_bits)
    psum = rng.integers(lo, hi, size=(5, 7))
    assert nm_gemm(a, v, i, m, acc_bits, psum).tolist() == py_gemm(a.tolist(), dense, acc_bits, psum.tolist())


def test_gemm_repeated_index_counts_twice_and_errors():
    a = np.array([[1, 10, 100, 1000]])
    # one column, one group of 4, two slots both naming lane 2 with weights 3 and 5: 300 + 500
    assert nm_gemm(a, [[[3, 5]]], [[[2, 2]]], 4, 32).tolist() == [[800]]
    assert nm_gemm(a, [[[3, 5]]], [[[0, 3]]], 4, 32).tolist() == [[3 + 5000]]
    assert nm_gemm(a, [[[100, 100]]], [[[3, 3]]], 4, 16).tolist() == [[py_wrap(200_000, 16)]]
    with pytest.raises(ValueError, match=r"must both be \[N, groups, n\]"):
        nm_gemm(a, [[3, 5]], [[2, 2]], 4, 32)
    with pytest.raises(ValueError, match="weights cover K = 2 groups x 4"):
        nm_gemm(a, [[[3], [5]]], [[[2], [2]]], 4, 32)
    with pytest.raises(ValueError, match=r"indices must lie in 0..3"):
        nm_gemm(a, [[[3]]], [[[4]]], 4, 32)
