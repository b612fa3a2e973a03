"""The GPU model's kernel catalogue (sim/gpu/kernels.py): bytes per dtype element, the dense
default of a GemmCase, the N:M pattern text of measurement rows, and the rates a call runs at,
derived by hand from the datasheet fields of accel/presets/{a100,h100,rtx3060,t4}.yaml."""
from __future__ import annotations

import math
import re

import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import kernels as kn
from nmsim.specfile import SpecError

A100, H100, T4 = (load_arch(n).gpu for n in ("a100", "h100", "t4"))


def test_dtype_bytes_are_the_bits_in_the_name_over_eight():
    # fp16/bf16: 16 bits, fp32: 32, int8/fp8: 8; tf32 keeps 19 significant bits but is stored in a
    # 32-bit container (it is fp32 in memory), so 4 bytes. Every one of them is a dtype the decode
    # kernel accepts (it computes in fp32 on CUDA cores whatever the storage dtype)
    for d in kn.DTYPE_BYTES:
        assert kn.kernel_rates(A100, kn.GemmCase(kn.DECODE_KERNEL, 1, 8, 8, dtype=d, n=2, m=4)) == (1.95e13, 1.95e13)
    bits = {d: int(re.search(r"\d+", d).group()) for d in kn.DTYPE_BYTES}
    for d, b in kn.DTYPE_BYTES.items():
        assert b == bits[d] // 8, d
    assert set(kn.DTYPE_BYTES) == {"fp16", "bf16", "fp32", "tf32", "int8", "fp8"}


def test_a_gemm_case_is_dense_by_default():
    # docstring: "n == m == 1: dense", no index bits: the same fields as the pattern text 'dense'
    c = kn.GemmCase("cublas", 8, 16, 32)
    assert (c.n, c.m, c.index_bits) == kn.parse_kernel_pattern("dense") == (1, 1, 0)
    assert (c.dtype, c.batch, c.tile, c.variant) == ("fp16", 1, None, ())


@pytest.mark.parametrize("text, want", [
    ("2:4", (2, 4, 2)),         # ceil(log2 4) = 2 index bits per nonzero (the A100's 2:4 metadata)
    ("1:2", (1, 2, 1)),         # log2 2 = 1
    ("1:4", (1, 4, 2)),
    ("2:8", (2, 8, 3)),         # log2 8 = 3
    ("3:5", (3, 5, 3)),         # ceil(log2 5) = ceil(2.32) = 3
    ("1:32", (1, 32, 5)),
])
def test_pattern_text_gives_n_m_and_ceil_log2_m_index_bits(text, want):
    assert kn.parse_kernel_pattern(text) == want
    n, m, b = want
    assert b == max(1, math.ceil(math.log2(m)))


@pytest.mark.parametrize("text", ["4:4", "2:2", "0:4", "5:4", "2-4", "x:y"])
def test_bad_pattern_text_is_refused(text):
    # need 1 <= N < M: N == M keeps every weight (that is 'dense'), N > M is impossible
    with pytest.raises(SpecError, match="pattern"):
        kn.parse_kernel_pattern(text)


def test_rates_by_hand_from_the_a100_datasheet():
    simt = 1.95e13                                               # a100.yaml cuda_core_flops.fp32
    assert kn.kernel_rates(A100, kn.GemmCase("cublas", 8, 8, 8)) == (3.12e14, simt)          # dense fp16
    assert kn.kernel_rates(A100, kn.GemmCase("cublas", 8, 8, 8, dtype="int8")) == (6.24e14, simt)
    assert kn.kernel_rates(A100, kn.GemmCase("cublas", 8, 8, 8, dtype="fp32")) == (simt, simt)    # TF32 off
    # 2:4 libraries: the sparse rate; their fp32 path is the TF32 sparse tensor core
    assert kn.kernel_rates(A100, kn.GemmCase("cusparselt", 8, 8, 8, n=2, m=4)) == (6.24e14, simt)
    assert kn.kernel_rates(A100, kn.GemmCase("cusparselt", 8, 8, 8, dtype="fp32", n=2, m=4)) == (3.12e14, simt)
    assert kn.kernel_rates(A100, kn.GemmCase("cutlass", 8, 8, 8, n=2, m=4)) == (6.24e14, simt)
    # the decode kernel: fp32 FMAs on CUDA cores whatever the storage dtype
    assert kn.kernel_rates(A100, kn.GemmCase(kn.DECODE_KERNEL, 1, 8, 8, n=2, m=4)) == (simt, simt)


def test_torchs_cutlass_backend_runs_on_compute_capability_8_only():
    # PyTorch's semi-structured CUTLASS op: "Supported only on GPUs with compute capability 8.x"
    case = kn.GemmCase("cutlass", 8, 8, 8, n=2, m=4)
    assert kn.kernel_rates(A100, case)[0] == 6.24e14                                   # 8.0
    rtx3060 = load_arch("rtx3060").gpu                                                 # 8.6
    assert kn.kernel_rates(rtx3060, case)[0] == rtx3060.sparse_tensor_flops["fp16"]
    for g in (H100, T4):                                                               # 9.0, 7.5
        with pytest.raises(SpecError, match="compute capability 8.x only"):
            kn.kernel_rates(g, case)
    # a CUTLASS library build of the 2:4 GEMM runs on Hopper at its sparse rate
    assert kn.kernel_rates(H100, kn.GemmCase("cutlass_spgemm", 8, 8, 8, n=2, m=4))[0] == 1.9788e15


def test_kernels_the_gpu_cannot_run_are_refused():
    with pytest.raises(SpecError, match="is not one of"):
        kn.kernel_rates(A100, kn.GemmCase("cudnn", 8, 8, 8))
    with pytest.raises(SpecError, match="is not one of"):
        kn.kernel_rates(A100, kn.GemmCase("cublas", 8, 8, 8, dtype="fp64"))
    with pytest.raises(SpecError, match="sparse_tensor_flops"):                        # Turing: no 2:4 cores
        kn.kernel_rates(T4, kn.GemmCase("cusparselt", 8, 8, 8, n=2, m=4))
    with pytest.raises(SpecError, match="dense_tensor_flops"):                         # t4.yaml: no bf16 rate
        kn.kernel_rates(T4, kn.GemmCase("cublas", 8, 8, 8, dtype="bf16"))
