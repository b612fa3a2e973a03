"""Skinny decode kernel (1..16 tokens, nonzeros only) vs its sparse-form torch reference (Triton
interpreter). No tl.dot here, so bf16 runs natively in the interpreter too."""
import pytest

pytest.importorskip("torch", reason="the ml extra (torch, triton) is not installed")
pytest.importorskip("triton", reason="the ml extra (torch, triton) is not installed")

import torch

from nmsim.gpu_kernels.formats import compress_nm
from nmsim.gpu_kernels.nm_decode import MAX_DECODE_TOKENS, nm_decode, nm_decode_reference
from nmsim.gpu_kernels.nm_matmul import nm_matmul_reference
from nmsim.specfile import SpecError

from .helpers import PATTERNS, assert_matches, k_for, poisoned, require_interpreter

require_interpreter()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
@pytest.mark.parametrize("n,m", PATTERNS)
def test_every_pattern(n, m, dtype, gen):
    # M=3 tokens (padded to a 4-token block), N=11 rows (not a multiple of the 8-row block)
    M, N, K = 3, 11, k_for(n, m)
    nm = compress_nm(torch.randn(N, K, generator=gen).to(dtype), n, m, prune=True)
    x = torch.randn(M, K, generator=gen).to(dtype)
    assert_matches(nm_decode(x, nm, out=poisoned(M, N, dtype)), nm_decode_reference(x, nm), dtype)


@pytest.mark.parametrize("M", [1, 2, 5, 16])
def test_token_counts(M, gen):
    nm = compress_nm(torch.randn(9, 96, generator=gen).half(), 1, 8, prune=True)
    x = torch.randn(M, 96, generator=gen).half()
    assert_matches(nm_decode(x, nm, out=poisoned(M, 9, torch.float16)), nm_decode_reference(x, nm), torch.float16)


def test_references_agree(gen):
    # the sparse-form reference (gather by column) and the dense-form one (decompress) are independent
    nm = compress_nm(torch.randn(13, 160, generator=gen), 3, 16, prune=True)
    x = torch.randn(4, 160, generator=gen)
    torch.testing.assert_close(nm_decode_reference(x, nm), nm_matmul_reference(x, nm), rtol=1e-5, atol=1e-5)


def test_too_many_tokens(gen):
    nm = compress_nm(torch.randn(8, 32, generator=gen), 2, 4, prune=True)
    with pytest.raises(SpecError, match=f"takes 1..{MAX_DECODE_TOKENS}"):
        nm_decode(torch.randn(MAX_DECODE_TOKENS + 1, 32), nm)


def test_register_pruning_of_the_gpu_menu():
    import triton

    from nmsim.gpu_kernels import nm_decode as mod

    menu = mod.decode_configs(gpu=True)
    for bt in (1, 2, 4, 8, 16):
        kept = mod._fit_registers(menu, {}, BLOCK_T=bt)
        assert len(kept) >= 5, bt  # every token count keeps a real choice
        assert all(bt * c.kwargs["BLOCK_N"] * c.kwargs["BLOCK_J"] <= 32 * 32 * c.num_warps for c in kept)
    assert len(mod._fit_registers(menu, {}, BLOCK_T=1)) == len(menu)
    big = [triton.Config({"BLOCK_N": bn, "BLOCK_J": 256}, num_warps=4) for bn in (64, 32)]
    assert mod._fit_registers(big, {}, BLOCK_T=16) == [big[1]]  # none fits: the smallest survives


def test_gpu_model_predicts_over_the_autotuned_menus():
    # a Triton row without a recorded config is predicted at the best of exactly the configs the
    # kernel's autotuner would try (sim/gpu/tiles.py), read back through the bench's config text
    from nmsim.accel import load_arch
    from nmsim.gpu_kernels import dense_matmul, nm_decode as dec, nm_matmul as mm
    from nmsim.sim import gpu as gm

    h100 = load_arch("h100").gpu
    assert dense_matmul.KERNEL.configs == mm.MM_CONFIGS  # the dense kernel tunes over the prefill menu
    prefill = [gm.parse_config("triton_nm", mm.config_text(c), 64) for c in mm.tile_configs(gpu=True)]
    for kernel, n, m, b in (("triton_nm", 1, 8, 3), ("triton_dense", 1, 1, 0)):
        assert gm.candidate_tiles(h100, gm.GemmCase(kernel, 64, 4096, 4096, n=n, m=m, index_bits=b)) == prefill
    menu = dec.decode_configs(gpu=True)
    for tokens, bt in ((1, 1), (3, 4), (9, 16), (16, 16)):
        kept = dec._fit_registers(menu, {}, BLOCK_T=bt)
        want = [gm.parse_config("triton_nm_decode", mm.config_text(c), tokens) for c in kept]
        case = gm.GemmCase("triton_nm_decode", tokens, 4096, 4096, n=2, m=4, index_bits=2)
        assert gm.candidate_tiles(h100, case) == want and all(t.block_m == bt for t in want)
