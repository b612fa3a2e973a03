"""Hypothesis properties of the fast model: conservation, monotonicity, determinism."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nmsim.mapping import Mapping
from nmsim.sim import simulate_op, simulate_workload
from nmsim.workloads import Op, Sparsity, Workload

from ..conftest import make_arch

FINITE = {"dram.bytes_per_s": 4.0e9, "memory.0.size_bytes": 1 << 28, "memory.0.read_bytes_per_cycle": 16.0,
          "memory.0.write_bytes_per_cycle": 16.0, "dram.latency_s": 1.0e-7}
dims = st.integers(1, 600)
dataflows = st.sampled_from(["ws", "os", "is"])
patterns = st.sampled_from(["2:4", "1:4", "2:8"])


@settings(max_examples=60, deadline=None)
@given(M=dims, N=dims, K=dims, batch=st.integers(1, 4), pattern=st.sampled_from(["dense", "2:4", "1:8", "2:8"]))
def test_macs_conserved(M, N, K, batch, pattern):
    arch = make_arch(**FINITE)
    wl = Workload("w", [Op("a", "gemm", M=M, N=N, K=K, batch=batch),
                        Op("b", "attn_score", M=M, N=K, K=N, batch=batch)])
    res = simulate_workload(arch, wl, pattern)
    assert res.total["macs_dense"] == M * N * K * batch + M * K * N * batch
    for lr in res.layers:
        assert lr.macs_dense == lr.M * lr.N * lr.K * lr.batch
        assert lr.macs_effective <= lr.macs_dense + lr.M * lr.N * lr.batch * 8  # padding of the last group only
    assert res.layers[1].macs_effective == res.layers[1].macs_dense  # attention has no weights to prune


@settings(max_examples=80, deadline=None)
@given(M=dims, N=dims, groups=st.integers(1, 80), pattern=patterns, df=dataflows)
def test_nm_never_slower_than_dense(M, N, groups, pattern, df):
    arch = make_arch(**FINITE)
    sp = Sparsity.parse(pattern)
    K = groups * sp.m
    dense = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=K), Mapping(df, M, N, K))
    sparse = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=sp), Mapping(df, M, N, K))
    assert sparse.cycles <= dense.cycles
    # and with each one's own default mapping
    d2 = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=K))
    s2 = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=sp))
    assert s2.cycles <= d2.cycles


@settings(max_examples=60, deadline=None)
@given(M=dims, N=dims, K=dims, df=dataflows, order=st.sampled_from(["nmk", "kmn", "mnk"]),
       bw=st.floats(1e8, 1e11), factor=st.floats(1.0, 16.0))
def test_more_bandwidth_never_slower(M, N, K, df, order, bw, factor):
    mp = Mapping(df, max(1, M // 2), max(1, N // 3), K, order)
    op = Op("g", "gemm", M=M, N=N, K=K)
    slow = simulate_op(make_arch(**{**FINITE, "dram.bytes_per_s": bw}), op, mp)
    fast = simulate_op(make_arch(**{**FINITE, "dram.bytes_per_s": bw * factor}), op, mp)
    assert fast.cycles <= slow.cycles
    wide = simulate_op(make_arch(**{**FINITE, "dram.bytes_per_s": bw, "memory.0.read_bytes_per_cycle": 16.0 * factor,
                                    "memory.0.write_bytes_per_cycle": 16.0 * factor}), op, mp)
    assert wide.cycles <= slow.cycles


@settings(max_examples=60, deadline=None)
@given(a=st.integers(1, 6), b=st.integers(1, 6), c=st.integers(1, 6), df=dataflows,
       rows=st.sampled_from([2, 4, 8]), cols=st.sampled_from([2, 4, 8]), grow=st.sampled_from([(2, 1), (1, 2), (2, 2)]))
def test_bigger_array_never_slower(a, b, c, df, rows, cols, grow):
    # divisible shapes: every dim a multiple of the larger array's rows and cols
    big_r, big_c = rows * grow[0], cols * grow[1]
    q = big_r * big_c
    M, N, K = a * q, b * q, c * q
    op = Op("g", "gemm", M=M, N=N, K=K)
    mp = Mapping(df, M, N, K)
    small = simulate_op(make_arch(**{**FINITE, "compute.rows": rows, "compute.cols": cols}), op, mp)
    big = simulate_op(make_arch(**{**FINITE, "compute.rows": big_r, "compute.cols": big_c}), op, mp)
    assert big.cycles <= small.cycles


@settings(max_examples=20, deadline=None)
@given(M=dims, N=dims, K=dims, pattern=st.sampled_from(["dense", "2:4", "1:8"]))
def test_deterministic(M, N, K, pattern):
    arch = make_arch(**FINITE)
    wl = Workload("w", [Op("a", "gemm", M=M, N=N, K=K)])
    assert simulate_workload(arch, wl, pattern).to_dict() == simulate_workload(arch, wl, pattern).to_dict()
