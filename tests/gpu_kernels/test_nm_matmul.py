"""Prefill N:M kernel and the Triton dense kernel vs their torch references (Triton interpreter).

bf16: the interpreter's bf16 tl.dot returns garbage (ENVIRONMENT.md), so under the interpreter the
kernels cast bf16 tiles to fp32 before tl.dot; these tests cover that path and the bf16 loads and
stores. The native bf16 tensor-core dot is exercised only on a GPU (bench correctness columns).
"""
import pytest

pytest.importorskip("torch", reason="the ml extra (torch, triton) is not installed")
pytest.importorskip("triton", reason="the ml extra (torch, triton) is not installed")

import torch

from nmsim.gpu_kernels.dense_matmul import dense_matmul, dense_matmul_reference
from nmsim.gpu_kernels.formats import compress_nm
from nmsim.gpu_kernels.nm_matmul import INTERPRET, KERNEL, MM_CONFIGS, config_text, nm_matmul, nm_matmul_reference
from nmsim.specfile import SpecError

from .helpers import PATTERNS, assert_matches, k_for, poisoned, require_interpreter

require_interpreter()

DTYPES = [torch.float16, torch.bfloat16, torch.float32]


def test_interpreter_is_on_with_one_config():
    assert INTERPRET and len(MM_CONFIGS) == 1


# bf16 under the interpreter takes the fp32-cast dot, the same code for every pattern: three suffice
@pytest.mark.parametrize("n,m,dtype", [(n, m, d) for n, m in PATTERNS for d in (torch.float16, torch.float32)]
                         + [(2, 4, torch.bfloat16), (1, 8, torch.bfloat16), (3, 32, torch.bfloat16)], ids=str)
def test_every_pattern(n, m, dtype, gen):
    # M=5 and N=13: neither a multiple of the 16x16 tile (several tiles: test_odd_sizes); K from
    # k_for leaves a partial K tile
    M, N, K = 5, 13, k_for(n, m)
    nm = compress_nm(torch.randn(N, K, generator=gen).to(dtype), n, m, prune=True)
    x = torch.randn(M, K, generator=gen).to(dtype)
    out = nm_matmul(x, nm, out=poisoned(M, N, dtype))
    assert_matches(out, nm_matmul_reference(x, nm), dtype)


@pytest.mark.parametrize("M,N", [(1, 1), (3, 16), (16, 33), (40, 7)])
def test_odd_sizes(M, N, gen):
    nm = compress_nm(torch.randn(N, 72, generator=gen).half(), 2, 8, prune=True)
    x = torch.randn(M, 72, generator=gen).half()
    assert_matches(nm_matmul(x, nm, out=poisoned(M, N, torch.float16)), nm_matmul_reference(x, nm), torch.float16)


def test_strided_activations_and_fresh_output(gen):
    nm = compress_nm(torch.randn(20, 64, generator=gen), 2, 4, prune=True)
    x = torch.randn(64, 9, generator=gen).t()  # [9, 64], column-major
    out = nm_matmul(x, nm)
    assert out.shape == (9, 20) and out.dtype == torch.float32
    assert_matches(out, nm_matmul_reference(x, nm), torch.float32)
    assert config_text(KERNEL.best_config).startswith("BLOCK_M=16,BLOCK_N=16,BLOCK_K=32,GROUP_M=8,num_warps=")


def test_reference_is_dense_product(gen):
    w = torch.randn(6, 16, generator=gen)
    nm = compress_nm(w, 1, 4, prune=True)
    x = torch.randn(3, 16, generator=gen)
    kept = w.abs().reshape(6, 4, 4).argmax(dim=2)
    dense = torch.zeros(6, 4, 4).scatter_(2, kept[..., None], w.reshape(6, 4, 4).gather(2, kept[..., None]))
    torch.testing.assert_close(nm_matmul_reference(x, nm), x @ dense.reshape(6, 16).t())


def test_bad_operands(gen):
    nm = compress_nm(torch.randn(8, 32, generator=gen), 2, 4, prune=True)
    with pytest.raises(SpecError, match=r"activations must be \[M>=1, K=32\]"):
        nm_matmul(torch.randn(2, 16), nm)
    with pytest.raises(SpecError, match="must share one of fp16, bf16, fp32"):
        nm_matmul(torch.randn(2, 32).half(), nm)
    with pytest.raises(SpecError, match=r"out must be \[2, 8\]"):
        nm_matmul(torch.randn(2, 32), nm, out=torch.empty(8, 2))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("M,N,K", [(17, 19, 40), (1, 5, 96), (32, 16, 32)])
def test_dense_kernel(M, N, K, dtype, gen):
    w = torch.randn(N, K, generator=gen).to(dtype)
    x = torch.randn(M, K, generator=gen).to(dtype)
    assert_matches(dense_matmul(x, w, out=poisoned(M, N, dtype)), dense_matmul_reference(x, w), dtype)


def test_dense_kernel_bad_weight():
    with pytest.raises(SpecError, match="weight must be a 2-D tensor"):
        dense_matmul(torch.randn(2, 4), torch.randn(4))
