"""N:M compression format: layout by hand, round trips for every pattern, the byte-ratio bound, bad input."""
import pytest

pytest.importorskip("torch", reason="the ml extra (torch, triton) is not installed")

import torch

from nmsim.gpu_kernels.formats import (NMWeight, byte_ratio_bound, compress_nm, decompress, index_bits, nonzero_columns,
                                 pack_indices, parse_format_nm, to_semi_structured_2_4, unpack_indices)
from nmsim.specfile import SpecError

from .helpers import PATTERNS


def _nm_weight(N, K, n, m, gen, dtype=torch.float32):
    return decompress(compress_nm(torch.randn(N, K, generator=gen).to(dtype), n, m, prune=True))


def test_two_bit_layout_by_hand():
    # 2:4, one row, groups keep positions (1, 3) and (0, 2): bits 01 | 11 | 00 | 10 from the LSB
    w = torch.tensor([[0.0, 5.0, 0.0, 6.0, 7.0, 0.0, 8.0, 0.0]])
    nm = compress_nm(w, 2, 4)
    assert nm.values.tolist() == [[5.0, 6.0, 7.0, 8.0]]
    assert nm.indices.dtype == torch.int32 and nm.indices.tolist() == [[1 + (3 << 2) + (0 << 4) + (2 << 6)]]
    assert nm.index_bits == 2 and nm.words_per_row == 1


def test_three_bit_index_straddles_words():
    # 1:8 with every value at position 7 (0b111): 11 indices = 33 one-bits, the 11th straddles words 0 and 1
    w = torch.zeros(1, 88)
    w[0, 7::8] = torch.arange(1.0, 12.0)
    nm = compress_nm(w, 1, 8)
    assert nm.indices.tolist() == [[-1, 1]]  # 0xFFFFFFFF as int32, then the 33rd bit
    assert unpack_indices(nm).tolist() == [[7] * 11]
    assert nonzero_columns(nm).tolist() == [list(range(7, 88, 8))]


@pytest.mark.parametrize("n,m", PATTERNS)
def test_round_trip_every_pattern(n, m, gen):
    w = _nm_weight(7, m * 9, n, m, gen)
    nm = compress_nm(w, n, m)
    assert nm.values.shape == (7, 9 * n) and nm.index_bits == index_bits(m)
    assert nm.words_per_row == -(-9 * n * index_bits(m) // 32)
    assert torch.equal(decompress(nm), w)
    pos = unpack_indices(nm).reshape(7, 9, n)
    assert (pos.diff(dim=2) > 0).all() and int(pos.max()) < m  # ascending, distinct, in range


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_dtype_and_bytes(dtype, gen):
    nm = compress_nm(torch.randn(3, 64, generator=gen).to(dtype), 1, 8, prune=True)
    assert nm.dtype == dtype and decompress(nm).dtype == dtype
    assert nm.value_bytes == 3 * 8 * dtype.itemsize and nm.index_bytes == 3 * 1 * 4  # 8 x 3 bits -> 1 word
    assert nm.dense_bytes == 3 * 64 * dtype.itemsize


def test_prune_keeps_largest_magnitudes_lower_column_on_ties():
    w = torch.tensor([[1.0, -4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0]])
    d = decompress(compress_nm(w, 2, 4, prune=True))
    assert d.tolist() == [[0.0, -4.0, 3.0, 0.0, 1.0, 1.0, 0.0, 0.0]]


def test_sparser_groups_are_padded_with_zero_values():
    w = torch.tensor([[0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0]])
    nm = compress_nm(w, 2, 4)
    assert nm.values.tolist() == [[0.0, 9.0, 0.0, 0.0]]
    assert unpack_indices(nm).tolist() == [[0, 3, 0, 1]]
    assert torch.equal(decompress(nm), w)


def test_pack_matches_unpack_random(gen):
    for bits in (2, 3, 4, 5):
        pos = torch.randint(0, 2 ** bits, (4, 37), generator=gen)
        nm = NMWeight(torch.zeros(4, 37), pack_indices(pos, bits), 1, 2 ** bits, 37 * 2 ** bits)
        assert torch.equal(unpack_indices(nm), pos)


def test_byte_ratio_bound():
    assert byte_ratio_bound(2, 4, 2) == pytest.approx(16 / 9)        # 2:4 fp16, 2-bit indices
    assert byte_ratio_bound(1, 8, 2) == pytest.approx(128 / 19)      # 1:8 fp16, 3-bit indices
    assert byte_ratio_bound(2, 4, 4) == pytest.approx(128 / 68)      # 2:4 fp32
    # exact with per-row word padding: K=768 at 1:32 stores 24 values, 120 index bits -> 4 words
    assert byte_ratio_bound(1, 32, 2, K=768) == pytest.approx(768 * 2 / (24 * 2 + 16))
    nm = compress_nm(torch.randn(5, 768), 1, 32, prune=True).to("cpu")
    nm16 = NMWeight(nm.values.half(), nm.indices, 1, 32, 768)
    assert nm16.dense_bytes / (nm16.value_bytes + nm16.index_bytes) == pytest.approx(byte_ratio_bound(1, 32, 2, K=768))


@pytest.mark.parametrize("n,m,match", [(5, 4, "N must be between 1 and M-1"), (4, 4, "N must be between"),
                                        (0, 8, "N must be between"), (2, 6, "M must be one of 4, 8, 16, 32"),
                                        (1, 64, "M must be one of")])
def test_impossible_patterns(n, m, match):
    with pytest.raises(SpecError, match=match) as info:
        compress_nm(torch.randn(2, 64), n, m, prune=True)
    assert "\n" not in str(info.value)  # one line for the CLI


def test_bad_weights():
    with pytest.raises(SpecError, match="K=30 input features is not a multiple of M=4; pad K to 32"):
        compress_nm(torch.randn(2, 30), 2, 4, prune=True)
    with pytest.raises(SpecError, match=r"not 2:4: 1 of 4 groups of 4 hold more than 2 nonzeros \(up to 3\)"):
        w = torch.zeros(2, 8)
        w[0, :3] = 1.0
        compress_nm(w, 2, 4)
    with pytest.raises(SpecError, match="2-D tensor"):
        compress_nm(torch.randn(8), 2, 4)
    with pytest.raises(SpecError, match="not floating point"):
        compress_nm(torch.ones(2, 8, dtype=torch.int32), 2, 4)


@pytest.mark.parametrize("text,match", [("dense", "N:M along K"), ("4:4", "N:M along K"), ("2:4@N", "along K"),
                                        ("5:4", "cannot exceed"), ("2:6", "M must be one of"),
                                        ("x", "expected one of")])
def test_parse_nm(text, match):
    with pytest.raises(SpecError, match=match):
        parse_format_nm(text)


def test_parse_nm_ok():
    assert parse_format_nm("2:4") == (2, 4) and parse_format_nm(" 1:32 ") == (1, 32)


def test_semi_structured_needs_cuda():
    w = torch.zeros(64, 64, dtype=torch.float16)
    w[:, ::2] = 1.0
    with pytest.raises(SpecError, match="CUDA only"):
        to_semi_structured_2_4(w)
    with pytest.raises(SpecError, match="choose one of cusparselt, cutlass"):
        to_semi_structured_2_4(w, backend="cublas")
