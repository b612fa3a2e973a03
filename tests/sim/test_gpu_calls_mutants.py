"""The per-call terms of the GPU model (sim/gpu/calls.py; docs/GPU.md, "Per-call terms: timing
methods and call paths"): call paths, activation padding of the tensor-subclass path, host costs,
cuSPARSELt plan setup, unfused epilogue bytes, and the call's seconds from the kernel's.

Expected values are derived by hand in the comments from the documented rules; no GPU, no torch.
"""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import (DENSE_MIN_ROWS, DTYPE_BYTES, CallTerms, GemmCase, call_path, call_terms, call_times,
                           default_params, gemm_times, padded_rows)


# --- call paths ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,variant,path", [
    # defaults: the 2:4 tensor subclass for cuSPARSELt and torch's CUTLASS 2:4; the C API for the CUTLASS
    # library kernels (the profiler); a framework op for the rest
    ("cusparselt", (), "torch_subclass"), ("cutlass", (), "torch_subclass"),
    ("cutlass_dense", (), "c_api"), ("cutlass_spgemm", (), "c_api"),
    ("cublas", (), "torch_op"), ("triton_nm", (), "torch_op"), ("triton_nm_decode", (), "torch_op"),
    # a variant naming a path wins; the mechanisms name none
    ("cusparselt", ("c_api",), "c_api"), ("cusparselt", ("torch_op",), "torch_op"),
    ("cutlass_dense", ("torch_op",), "torch_op"), ("cublas", ("c_api",), "c_api"),
    ("cusparselt", ("cached_plan",), "torch_subclass"), ("cutlass_spgemm", ("unfused_epilogue",), "c_api"),
])
def test_call_path(kernel, variant, path):
    assert call_path(kernel, variant) == path


# --- activation padding ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,q", [("fp16", 8), ("bf16", 8), ("int8", 16), ("fp8", 16), ("fp32", 4), ("tf32", 4)])
def test_subclass_pads_rows_to_the_dtype_minimum(dtype, q):
    # torch's _DTYPE_SHAPE_CONSTRAINTS dense_min_rows: fp16/bf16 8, int8 (and fp8) 16, fp32 (tf32) 4
    assert DENSE_MIN_ROWS[dtype] == q
    assert padded_rows(1, dtype, "torch_subclass") == q
    assert padded_rows(q + 1, dtype, "torch_subclass") == 2 * q
    assert padded_rows(3 * q, dtype, "torch_subclass") == 3 * q        # a multiple already: unchanged
    for path in ("torch_op", "c_api"):
        assert padded_rows(q + 1, dtype, path) == q + 1                 # only the subclass pads


def test_every_dtype_has_a_padding_rule():
    # the model accepts exactly DTYPE_BYTES' dtypes (kernel_rates refuses the rest), and each has its rule
    assert set(DENSE_MIN_ROWS) == set(DTYPE_BYTES)


# --- call terms -------------------------------------------------------------------------------------

def _terms(*cases):
    t = call_terms(list(cases), DTYPE_BYTES)
    return {f: getattr(t, f).tolist() for f in ("call_level", "host_op", "host_subclass", "cslt_setup", "pad_bytes",
                                                 "pad_launch", "epilogue_bytes")}


def test_host_flags_by_path_and_timing():
    t = _terms(GemmCase("cublas", 64, 128, 256, timing="torch_benchmark"),              # torch_op, call level
               GemmCase("cusparselt", 64, 128, 256, n=2, m=4, index_bits=2, timing="profiler"),  # subclass, kernel
               GemmCase("cutlass_dense", 64, 128, 256, timing="cuda_events"),           # c_api, call level
               GemmCase("cutlass", 64, 128, 256, n=2, m=4, index_bits=2, timing="cuda_graph"))
    assert t["call_level"] == [True, False, True, False]
    assert t["host_op"] == [True, False, False, False]
    assert t["host_subclass"] == [False, True, False, True]


@pytest.mark.parametrize("kernel,variant,setup", [
    ("cusparselt", (), True),                       # torch re-creates the plan on every call
    ("cusparselt", ("cached_plan",), False),        # ... unless the source cached it
    ("cusparselt", ("c_api",), False),              # the C API keeps its plan
    ("cusparselt", ("torch_op",), True),
    ("cutlass", (), False), ("cublas", (), False), ("cutlass_spgemm", (), False),
])
def test_cusparselt_plan_setup(kernel, variant, setup):
    t = _terms(GemmCase(kernel, 64, 128, 256, n=2, m=4, index_bits=2, variant=variant, timing="python_eager"))
    assert t["cslt_setup"] == [setup]


def test_padding_copy_and_epilogue_bytes():
    # cuSPARSELt fp16, M = 5 rows padded to 8, K = 3, N = 7, batch 2: F.pad reads 5 x 3 and writes
    # 8 x 3 values of 2 B per batch entry: (5 + 8) * 3 * 2 * 2 = 156 B, and launches a kernel
    # int8 M = 17 -> 32 rows: (17 + 32) * 3 * 1 = 147 B; fp16 M = 16: no padding, no copy
    # an unfused epilogue pass reads and writes the M x N output: 2 * 5 * 7 * 2 B * batch 2 = 280 B
    t = _terms(GemmCase("cusparselt", 5, 7, 3, n=2, m=4, index_bits=2, batch=2, variant=("unfused_epilogue",)),
               GemmCase("cusparselt", 17, 7, 3, "int8", n=2, m=4, index_bits=2),
               GemmCase("cusparselt", 16, 7, 3, n=2, m=4, index_bits=2),
               GemmCase("cublas", 5, 7, 3, variant=("unfused_epilogue",)))          # torch_op: no padding
    assert t["pad_bytes"] == [156.0, 147.0, 0.0, 0.0]
    assert t["pad_launch"] == [True, True, False, False]
    assert t["epilogue_bytes"] == [280.0, 0.0, 0.0, 2.0 * 5 * 7 * 2]


def test_no_cases_give_empty_terms():
    t = call_terms([], DTYPE_BYTES)
    for f in ("call_level", "host_op", "host_subclass", "cslt_setup", "pad_launch"):
        assert getattr(t, f).dtype == bool and getattr(t, f).shape == (0,)
    assert t.pad_bytes.shape == t.epilogue_bytes.shape == (0,)


# --- seconds of a call --------------------------------------------------------------------------------

PARAMS = {"mem_eff": 0.5, "overhead_s_cublas": 3e-6, "epilogue_passes": 2.0, "host_s_torch_op": 20e-6,
          "host_s_subclass": 30e-6, "host_s_cslt_setup": 100e-6}


def test_call_times_by_hand():
    terms = CallTerms(call_level=np.array([True, True, False, True]),
                      host_op=np.array([True, False, False, False]),
                      host_subclass=np.array([False, True, True, False]),
                      cslt_setup=np.array([False, True, True, False]),
                      pad_bytes=np.array([0.0, 1e6, 1e6, 0.0]), pad_launch=np.array([False, True, True, False]),
                      epilogue_bytes=np.array([5e5, 0.0, 0.0, 0.0]))
    kernel = np.array([10e-6, 10e-6, 10e-6, 10e-6])
    r = call_times(terms, kernel, PARAMS, 1e12)
    # HBM at 1e12 * 0.5 = 5e11 B/s: 2 epilogue passes of 5e5 B = 2 us; a 1e6 B copy 2 us + a launch of 3 us
    extra = np.array([2e-6, 5e-6, 5e-6, 0.0])
    np.testing.assert_allclose(r["extra_s"], extra, rtol=1e-12)
    np.testing.assert_allclose(r["gpu_s"], kernel + extra, rtol=1e-12)
    # host: the torch op 20 us; the subclass 30 us + plan setup 100 us; at kernel level no host time
    np.testing.assert_allclose(r["host_s"], [20e-6, 130e-6, 0.0, 0.0], rtol=1e-12, atol=0)
    # call level: the slower of GPU (12 us, 15 us, 10 us) and host; kernel level: the GPU time
    np.testing.assert_allclose(r["total_s"], [20e-6, 130e-6, 15e-6, 10e-6], rtol=1e-12)


def test_call_times_gpu_bound_call_and_pad_copy_alone():
    # a padded call with a GPU time above its host time: total is the GPU time
    terms = CallTerms(call_level=np.array([True]), host_op=np.array([True]), host_subclass=np.array([False]),
                      cslt_setup=np.array([False]), pad_bytes=np.array([4e6]), pad_launch=np.array([False]),
                      epilogue_bytes=np.array([0.0]))
    r = call_times(terms, np.array([50e-6]), PARAMS, 1e12)
    assert r["extra_s"][0] == pytest.approx(4e6 / 5e11, rel=1e-12)        # 8 us
    assert r["total_s"][0] == pytest.approx(58e-6, rel=1e-12)


def test_padding_runs_the_kernel_on_padded_rows_and_adds_the_copy():
    # end to end on an H100: cuSPARSELt fp16 at M = 9 rows runs the kernel of M = 16 (the next multiple of 8),
    # at kernel-level timing with its plan cached the call adds only the copy and its launch
    h100 = load_arch("h100").gpu
    params = default_params(h100) | {"mem_eff": 0.5, "overhead_s_cublas": 3e-6, "epilogue_passes": 0.0}
    kw = dict(n=2, m=4, index_bits=2, variant=("cached_plan",), timing="profiler")
    padded, exact = gemm_times(h100, [GemmCase("cusparselt", 9, 4096, 4096, **kw),
                                      GemmCase("cusparselt", 16, 4096, 4096, **kw)], params)
    assert padded.kernel_s == exact.kernel_s
    copy = (9 + 16) * 4096 * 2 / (h100.hbm_bytes_per_s * 0.5) + 3e-6
    assert padded.extra_s == pytest.approx(copy, rel=1e-12) and exact.extra_s == 0.0
    assert padded.total_s == pytest.approx(exact.total_s + copy, rel=1e-12)
    assert padded.host_s == exact.host_s == 0.0
