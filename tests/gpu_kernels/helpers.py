"""Shared helpers of the kernel tests: per-dtype tolerances, the pattern list, poisoned outputs."""
import torch

# Per-dtype tolerances against the fp32 torch reference (inputs already rounded to the dtype), so
# the error is the kernel's output rounding plus fp32 summation order: half an ulp is 2**-11
# relative for fp16 and 2**-8 for bf16; rtol leaves 2x margin, atol covers outputs near zero.
TOL = {torch.float16: dict(rtol=1e-3, atol=2e-3), torch.bfloat16: dict(rtol=8e-3, atol=2e-2),
       torch.float32: dict(rtol=1e-5, atol=1e-4)}

# every supported M with several N, including N = M-1 and N = 1
PATTERNS = [(1, 4), (2, 4), (3, 4), (1, 8), (2, 8), (4, 8), (7, 8), (1, 16), (2, 16), (8, 16), (15, 16),
            (1, 32), (2, 32), (16, 32), (31, 32)]


def k_for(n: int, m: int) -> int:
    """A K (multiple of m) whose rows hold >= 24 stored values, so 3- and 5-bit indices straddle
    int32 words, with an odd number of groups so K is not a multiple of the 32-wide K tile when m < 32."""
    groups = max(3, -(-24 // n))
    return m * (groups | 1)


def poisoned(M: int, N: int, dtype) -> torch.Tensor:
    """An output buffer full of NaN: any element a kernel fails to write stays NaN."""
    return torch.full((M, N), float("nan"), dtype=dtype)


def assert_matches(out: torch.Tensor, ref: torch.Tensor, dtype) -> None:
    """No unwritten element, and within the dtype's tolerance of the fp32 reference."""
    assert not torch.isnan(out).any(), f"{int(torch.isnan(out).sum())} output elements were not written"
    torch.testing.assert_close(out.float(), ref, **TOL[dtype])


def require_interpreter() -> None:
    """Skip the calling test module when triton was imported before TRITON_INTERPRET=1 was set
    (its kernels would then need a GPU driver)."""
    import pytest
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    if not isinstance(getattr(getattr(tl, "standard", None), "cdiv", None), InterpretedFunction):
        pytest.skip("triton was imported before tests/gpu_kernels/conftest.py set TRITON_INTERPRET=1; "
                    "run `pytest tests/gpu_kernels` in a process of its own", allow_module_level=True)
