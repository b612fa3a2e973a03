"""Issue 17's model properties under the default mapping and the mappers (docs/MODEL.md 4 and
"Properties that hold"): more resources are never slower, the mappers never return worse than the
default mapping. Where physics says otherwise the property is stated in the form that holds, with
the reason next to it. The first test of each group is the issue's own counter-example."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nmsim.mapping import Mapping, plan_sparsity
from nmsim.mapping.search import objective_values
from nmsim.sim import map_op, simulate_op
from nmsim.workloads import Op, Sparsity

from ..conftest import make_arch

dims = st.sampled_from([1, 2, 3, 7, 16, 48, 64, 100, 128, 384, 512, 1000])
edges = st.sampled_from([2, 4, 8, 16])
sizes = st.sampled_from([1024, 4096, 16384, 65536, 1 << 20])
bandwidths = st.sampled_from([1e8, 1e9, 1e10, 1e11])
ports = st.sampled_from([4.0, 16.0, 64.0])
dataflows = st.sampled_from(["ws", "os", "is"])
# 40 examples per property per commit; `make fuzz` runs them with NMSIM_PROPERTY_EXAMPLES=2000.
# Derandomized: the same examples on every run (a CI run once drew a case no local run had).
SETTINGS = settings(max_examples=int(os.environ.get("NMSIM_PROPERTY_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow], derandomize=True, database=None)


def arch(rows=4, cols=4, size=65536, bw=1e9, port=16.0, df="ws", **more):
    """The tiny arch with these fields; inside a property, a combination the spec refuses (a buffer
    smaller than one array fold of its operands) is not an example of the property."""
    try:
        return _arch(rows, cols, size, bw, port, df, **more)
    except ValueError:
        assume(False)
        raise


def _arch(rows, cols, size, bw, port, df, **more):
    return make_arch(**{"compute.rows": rows, "compute.cols": cols, "memory.0.size_bytes": size,
                        "dram.bytes_per_s": bw, "memory.0.read_bytes_per_cycle": port,
                        "memory.0.write_bytes_per_cycle": port, "compute.dataflows": [df], "dram.latency_s": 1e-7,
                        **more})


def cycles(a, op, mapper=None):
    return simulate_op(a, op, mapper=mapper).cycles


def fits_smallest_tile(a, op) -> bool:
    from nmsim.specfile import SpecError
    try:
        simulate_op(a, op)
        return True
    except SpecError:
        return False


# --- the counter-examples -------------------------------------------------------------------------

def test_doubling_columns_keeps_tile_m():
    # 16x16 WS, 4 KiB buffer, 128x100x64: the default mapping took tile_m from 8 to 1 and split K
    # (3.3x slower, 250,568 cycles) when cols doubled, because it halved M, which the overflowing
    # weights do not depend on. Now it keeps tile_m and K whole; the 11% left is the layer not
    # filling the wider array (N=100 in tiles of 13 re-reads the inputs 8 times, not 7), outside
    # the restated property below.
    small = arch(16, 16, 4096, 1e9)
    big = arch(16, 32, 4096, 1e9)
    op = Op("g", "gemm", M=128, N=100, K=64)
    s, b = simulate_op(small, op), simulate_op(big, op)
    assert b.mapping["tile_m"] == s.mapping["tile_m"] == 8 and b.mapping["tile_k"] == 64
    assert b.cycles <= 1.2 * s.cycles


def test_bigger_buffer_on_s4_layer():
    # s4, 100x3072x4096: a 2x buffer took the whole layer as one tile and exposed all of its load
    from nmsim.accel import load_arch
    s4 = load_arch("s4")
    d = s4.model_dump(mode="python")
    d["memory"][0]["size_bytes"] *= 2
    big = type(s4).model_validate(d)
    op = Op("g", "gemm", M=100, N=3072, K=4096)
    assert cycles(big, op) <= cycles(s4, op)


# --- a bigger buffer -----------------------------------------------------------------------------------------

@SETTINGS
@given(M=dims, N=dims, K=dims, rows=edges, cols=edges, size=sizes, grow=st.sampled_from([2, 4, 16]),
       bw=bandwidths, df=dataflows)
def test_bigger_buffer_never_slower(M, N, K, rows, cols, size, grow, bw, df):
    # with one on-chip level the default mapping's candidates only grow with the buffer (MODEL.md 4)
    op = Op("g", "gemm", M=M, N=N, K=K)
    small, big = arch(rows, cols, size, bw, df=df), arch(rows, cols, size * grow, bw, df=df)
    if not fits_smallest_tile(small, op):
        return
    assert cycles(big, op) <= cycles(small, op)
    # the mappers: never worse than the default mapping on the smaller buffer either
    assert cycles(big, op, "heuristic") <= cycles(small, op)


# --- more bandwidth ------------------------------------------------------------------------------------------

@SETTINGS
@given(M=dims, N=dims, K=dims, rows=edges, cols=edges, size=sizes, bw=bandwidths, port=ports,
       factor=st.sampled_from([1.5, 2.0, 10.0]), df=dataflows)
def test_more_bandwidth_never_slower_default_mapping(M, N, K, rows, cols, size, bw, port, factor, df):
    op = Op("g", "gemm", M=M, N=N, K=K)
    slow = arch(rows, cols, size, bw, port, df)
    if not fits_smallest_tile(slow, op):
        return
    base = cycles(slow, op)
    assert cycles(arch(rows, cols, size, bw * factor, port, df), op) <= base
    assert cycles(arch(rows, cols, size, bw, port * factor, df), op) <= base
    assert cycles(arch(rows, cols, size, bw * factor, port, df), op, "heuristic") <= base


# --- a bigger array ------------------------------------------------------------------------------------------

@SETTINGS
@given(a=st.integers(1, 4), b=st.integers(1, 4), c=st.integers(1, 4), rows=edges, cols=edges,
       grow=st.sampled_from([(2, 1), (1, 2), (2, 2)]), size=st.sampled_from([65536, 1 << 20]), bw=bandwidths,
       df=dataflows)
def test_bigger_array_never_slower_on_layers_that_fill_it(a, b, c, rows, cols, grow, size, bw, df):
    # Restated (physics): a systolic array pays fill and drain of about 2R + C cycles per fold
    # (MODEL.md 3.2), so work that does not fill a bigger array runs slower on it: a layer smaller
    # than the array (M=1, N=3: the same single fold, C more cycles of skew), or tiles narrower
    # than the array because the buffer holds no wider ones (1 KiB: tiles of 8 columns on 8 or
    # 16 columns alike). On layers whose M, N and K are multiples of the bigger array's rows and
    # cols, with a buffer that holds tiles filling it (here 64 KiB and up; a 32x32x32 tile takes
    # 12 KiB), more PEs are never slower.
    big_r, big_c = rows * grow[0], cols * grow[1]
    q = big_r * big_c
    op = Op("g", "gemm", M=a * q, N=b * q, K=c * q)
    small = arch(rows, cols, size, bw, df=df)
    big = arch(big_r, big_c, size, bw, df=df)
    if not fits_smallest_tile(small, op) or not fits_smallest_tile(big, op):
        return
    assert cycles(big, op) <= cycles(small, op)


def test_bigger_array_slower_only_by_fill_on_a_tiny_layer():
    # the restatement's reason, pinned: M=1, N=3, K=512 WS on 4x4 vs 4x8 costs the same single
    # column fold, plus 4 more cycles of skew (C) per row fold (512 / 4 = 128 folds)
    op = Op("g", "gemm", M=1, N=3, K=512)
    mp = Mapping("ws", 1, 3, 512)
    small = simulate_op(arch(4, 4, 1 << 20, 1e11), op, mp).cycle_breakdown["compute_cycles"]
    big = simulate_op(arch(4, 8, 1 << 20, 1e11), op, mp).cycle_breakdown["compute_cycles"]
    assert big - small == 128 * 4


# --- supported N:M -------------------------------------------------------------------------------------------

@SETTINGS
@given(M=dims, N=dims, groups=st.integers(2, 64), pattern=st.sampled_from(["1:2", "2:4", "1:4", "2:8", "1:8"]),
       rows=edges, cols=edges, size=sizes, bw=bandwidths, df=dataflows)
def test_supported_nm_never_slower_than_dense(M, N, groups, pattern, rows, cols, size, bw, df):
    # Restated (physics): K is at least two groups (an N:M layer's K tiles are whole groups, so a
    # single group is one K tile, while the dense layer may split it in two and overlap the second
    # load with the first tile: test_one_group_cannot_be_split_along_k), K a whole number of groups (a K shorter than M is padded to one group
    # of M, which can hold more kept weights than K: 1:2 with K=1 keeps 1 of a padded 2 and adds
    # its index bits), and the stored weight with its index bits is smaller than a dense one,
    # (n/m)(8 + log2 m) < 8 bits, true for every pattern tested here. Then N:M is never slower.
    sp = Sparsity.parse(pattern)
    K = groups * sp.m
    a = arch(rows, cols, size, bw, df=df, **{"sparsity.nm.patterns": ["1:2", "2:4", "1:4", "2:8", "1:8"]})
    dense, sparse = Op("g", "gemm", M=M, N=N, K=K), Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=sp)
    if not fits_smallest_tile(a, dense):
        return
    assert plan_sparsity(a, sparse).label == pattern
    assert cycles(a, sparse) <= cycles(a, dense)
    assert cycles(a, sparse, "heuristic") <= cycles(a, dense)


def test_one_group_cannot_be_split_along_k():
    # Found by hypothesis in CI: M = N = 1, K = 2 at 1:2 on a 2 x 8 WS array with 0.1 B/cycle of DRAM.
    # Dense runs two K tiles of 1 and overlaps the second tile's load (252 cycles); the 1:2 layer has one
    # group, hence one K tile whose load is all exposed (253 cycles), though it moves fewer bytes.
    a = arch(2, 8, 1024, 1e8, df="ws", **{"sparsity.nm.patterns": ["1:2"]})
    dense = simulate_op(a, Op("g", "gemm", M=1, N=1, K=2))
    sparse = simulate_op(a, Op("g", "gemm", M=1, N=1, K=2, weight_sparsity=Sparsity.parse("1:2")))
    assert (dense.mapping["tile_k"], sparse.mapping["tile_k"]) == (1, 2)
    assert sparse.bytes["dram"] < dense.bytes["dram"] and sparse.cycles == dense.cycles + 1


def test_one_to_two_on_s4():
    # the case: 1:2 slower than dense on s4, for a K of one weight (padded to a group of 2,
    # plus index bits): outside the restated property; with whole groups it holds
    from nmsim.accel import load_arch
    s4 = load_arch("s4")
    for M, N, K in ((7, 11008, 2), (64, 384, 64), (1, 4096, 4096), (3, 3072, 6)):
        dense = cycles(s4, Op("g", "gemm", M=M, N=N, K=K))
        assert cycles(s4, Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=Sparsity.parse("1:2"))) <= dense


# --- the mappers against the default mapping ----------------------------------------------------------------

@SETTINGS
@given(M=dims, N=dims, K=dims, rows=edges, cols=edges, size=sizes, bw=bandwidths,
       objective=st.sampled_from(["latency", "energy", "edp"]), mapper=st.sampled_from(["heuristic", "random"]))
def test_mappers_never_worse_than_default(M, N, K, rows, cols, size, bw, objective, mapper):
    a = make_arch(**{"compute.rows": rows, "compute.cols": cols, "memory.0.size_bytes": size,
                     "dram.bytes_per_s": bw, "memory.0.read_bytes_per_cycle": 16.0,
                     "memory.0.write_bytes_per_cycle": 16.0})
    op = Op("g", "gemm", M=M, N=N, K=K)
    if not fits_smallest_tile(a, op):
        return
    default = simulate_op(a, op)
    found = map_op(a, op, mapper, objective, samples=200, top=1).best
    want = objective_values({"cycles": [default.cycles], "energy_pj": [default.energy_pj]}, objective)[0]
    assert found.score <= want * (1 + 1e-12)
