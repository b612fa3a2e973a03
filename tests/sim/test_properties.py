"""Properties of the fast model against oracles written out here, on random layers and mappings.

Each property recomputes one part of the model the slow, obvious way (docs/MODEL.md 3): compute
cycles by enumerating tiles and folds, array traffic fold by fold, DRAM traffic by walking the tile
loop nest and counting when an operand tile changes, the overlap from its parts, energy from the
action counts, MACs from the kept weights, and exact relations between layers (an N:M layer
computes as the dense layer of its kept K; DRAM time scales with 1/bandwidth). A wrong term in the
model fails one of them.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from hypothesis import given, settings
from hypothesis import strategies as st

from nmsim.mapping import Mapping
from nmsim.problem import index_bits
from nmsim.sim import simulate_op, simulate_workload
from nmsim.workloads import Op, Sparsity, Workload

from ..conftest import make_arch

FINITE = {"dram.bytes_per_s": 4.0e9, "memory.0.size_bytes": 1 << 28, "memory.0.read_bytes_per_cycle": 16.0,
          "memory.0.write_bytes_per_cycle": 16.0, "dram.latency_s": 1.0e-7}
ROLES = {"ws": ("K", "N", "M"), "os": ("M", "N", "K"), "is": ("K", "M", "N")}   # array rows, cols, time
STREAMS = {"ws": ("row", "stationary", "col"), "os": ("row", "col", "stationary"), "is": ("stationary", "row", "col")}
ACC_BYTES, OP_BYTES = 4, 1                                                        # tiny arch: int32 sums, int8


def tiles(D: int, t: int) -> list[int]:
    """Sizes of the tiles of a dimension D cut into tiles of t."""
    return [min(t, D - i) for i in range(0, D, t)]


def kept(k: int, sp: Sparsity) -> int:
    """Kept weights per output column along k dense rows (whole N:M groups)."""
    return k if sp.kind != "nm" else -(-k // sp.m) * sp.n


@st.composite
def layers(draw, max_dim=160):
    """(op, mapping, array rows, cols): random dims, tiles, dataflow, loop order, sparsity."""
    pattern = draw(st.sampled_from(["dense", "2:4", "1:4", "2:8"]))   # what the tiny arch executes
    sp = Sparsity.parse(pattern)
    group = sp.m if sp.kind == "nm" else 1
    M, N = draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim))
    K = group * draw(st.integers(1, max_dim // group))
    tm, tn = (max(1, d // draw(st.integers(1, 4))) for d in (M, N))
    tk = group * max(1, K // group // draw(st.integers(1, 4)))
    mp = Mapping(draw(st.sampled_from(["ws", "os", "is"])), tm, tn, tk,
                 draw(st.sampled_from(["mnk", "mkn", "nmk", "nkm", "kmn", "knm"])))
    return Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=sp), mp, draw(st.sampled_from([2, 4, 8])), draw(
        st.sampled_from([2, 4, 8]))


def arch_for(rows: int, cols: int, **extra):
    return make_arch(**{**FINITE, "compute.rows": rows, "compute.cols": cols, **extra})


def tile_grid(op: Op, mp: Mapping):
    """Every tile of the layer as {M, N, K (kept, in units of one multiplier)} and its dense K."""
    for m, n, k in itertools.product(tiles(op.M, mp.tile_m), tiles(op.N, mp.tile_n), tiles(op.K, mp.tile_k)):
        yield {"M": m, "N": n, "K": kept(k, op.weight_sparsity)}, k


def fold_oracle(op: Op, mp: Mapping, R: int, C: int) -> tuple[int, dict]:
    """Compute cycles and array traffic (units per stream) tile by tile, fold by fold."""
    rows_d, cols_d, time_d = ROLES[mp.dataflow]
    fill = R + C - 2 if mp.dataflow == "os" else 2 * R + C - 2
    cycles, streams = 0, {"stationary": 0, "row": 0, "col": 0}
    for t, _ in tile_grid(op, mp):
        for r0, c0 in itertools.product(range(0, t[rows_d], R), range(0, t[cols_d], C)):
            r, c = min(R, t[rows_d] - r0), min(C, t[cols_d] - c0)
            cycles += fill + t[time_d]
            streams["stationary"] += r * c            # the stationary block, loaded once per fold
            streams["row"] += t[time_d] * r           # streamed along the used rows
            streams["col"] += t[time_d] * c           # streamed along the used columns
    return cycles, streams


def dram_oracle(op: Op, mp: Mapping) -> float:
    """DRAM bytes by walking the tile loops in order: an operand tile is fetched whenever it differs
    from the one of the previous iteration; an output tile left before its last K tile spills its
    partial sums (written at accumulator width, read back on return)."""
    sp = op.weight_sparsity
    w_bytes = OP_BYTES + (index_bits(sp.m) if sp.kind == "nm" else 0) / 8
    size = {"m": tiles(op.M, mp.tile_m), "n": tiles(op.N, mp.tile_n), "k": tiles(op.K, mp.tile_k)}
    total, prev, runs = 0.0, {}, {}
    for idx in itertools.product(*(range(len(size[d])) for d in mp.loop_order)):
        i = dict(zip(mp.loop_order, idx))
        m, n, k = size["m"][i["m"]], size["n"][i["n"]], size["k"][i["k"]]
        for name, key, nbytes in (("A", (i["m"], i["k"]), m * k * OP_BYTES),
                                  ("B", (i["k"], i["n"]), kept(k, sp) * n * w_bytes)):
            if prev.get(name) != key:
                total += nbytes
                prev[name] = key
        if prev.get("C") != (i["m"], i["n"]):
            runs[(i["m"], i["n"])] = runs.get((i["m"], i["n"]), 0) + 1
            prev["C"] = (i["m"], i["n"])
    for (mi, ni), r in runs.items():
        out = size["m"][mi] * size["n"][ni]
        total += out * OP_BYTES + 2 * (r - 1) * out * ACC_BYTES
    return total


@settings(max_examples=80, deadline=None)
@given(case=layers())
def test_compute_cycles_enumerate_tiles_and_folds(case):
    op, mp, R, C = case
    r = simulate_op(arch_for(R, C), op, mp)
    assert r.cycle_breakdown["compute_cycles"] == fold_oracle(op, mp, R, C)[0]


@settings(max_examples=80, deadline=None)
@given(case=layers())
def test_dram_bytes_walk_the_loop_nest(case):
    op, mp, R, C = case
    r = simulate_op(arch_for(R, C), op, mp)
    assert math.isclose(r.bytes["dram"], dram_oracle(op, mp), rel_tol=1e-12)


@settings(max_examples=80, deadline=None)
@given(case=layers())
def test_buffer_bytes_are_array_traffic_plus_dram(case):
    # array side (MODEL.md 3.3): A streams dense activations (m/n per kept weight), B compressed weights,
    # outputs written at accumulator width and read back except on their first write
    op, mp, R, C = case
    sp = op.weight_sparsity
    ratio, w_bytes = (sp.m / sp.n, OP_BYTES + index_bits(sp.m) / 8) if sp.kind == "nm" else (1.0, OP_BYTES)
    streams = fold_oracle(op, mp, R, C)[1]
    a_s, b_s, c_s = (streams[s] for s in STREAMS[mp.dataflow])
    array = a_s * ratio * OP_BYTES + b_s * w_bytes + c_s * ACC_BYTES + (c_s - op.M * op.N) * ACC_BYTES
    r = simulate_op(arch_for(R, C), op, mp)
    assert math.isclose(r.bytes["gbuf"], array + dram_oracle(op, mp), rel_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(case=layers(), gbps=st.floats(0.5, 64.0), latency_ns=st.floats(0.0, 500.0), level=st.integers(0, 9))
def test_double_buffered_cycles_expose_first_load_last_store_and_latency(case, gbps, latency_ns, level):
    op, mp, R, C = case
    arch = arch_for(R, C, **{"dram.bytes_per_s": gbps * 1e9, "dram.latency_s": latency_ns * 1e-9,
                             "memory.0.latency_cycles": level})
    r = simulate_op(arch, op, mp)
    b = r.cycle_breakdown
    tm, tn, tk = min(mp.tile_m, op.M), min(mp.tile_n, op.N), min(mp.tile_k, op.K)
    sp = op.weight_sparsity
    w_bytes = OP_BYTES + (index_bits(sp.m) if sp.kind == "nm" else 0) / 8
    first_in = (tm * tk * OP_BYTES + kept(tk, sp) * tn * w_bytes) / gbps
    last_out = tm * tn * OP_BYTES / gbps
    assert math.isclose(b["dram_cycles"], dram_oracle(op, mp) / gbps, rel_tol=1e-12)
    hidden = max(b["dram_cycles"] - first_in - last_out, 0.0)
    steady = max(b["compute_cycles"], b["buffer_cycles"], hidden)
    assert r.cycles == math.ceil(first_in + steady + last_out + 2 * (latency_ns + level))


@settings(max_examples=60, deadline=None)
@given(case=layers(), mac=st.floats(0.1, 5.0), idx=st.floats(0.0, 1.0), static_w=st.floats(0.0, 2.0))
def test_energy_prices_every_action(case, mac, idx, static_w):
    op, mp, R, C = case
    arch = arch_for(R, C, **{"energy.mac_pj": mac, "energy.index_decode_pj": idx, "energy.static_w": static_w})
    r = simulate_op(arch, op, mp)
    e = r.energy_breakdown_pj
    macs = op.M * op.N * kept(op.K, op.weight_sparsity)
    assert r.macs_effective == macs and r.macs_dense == op.M * op.N * op.K
    assert math.isclose(e["mac"], macs * mac, rel_tol=1e-12)
    assert math.isclose(e["index"], macs * idx if op.weight_sparsity.kind == "nm" else 0.0, rel_tol=1e-12)
    assert math.isclose(e["buffer"], r.bytes["gbuf"] * 2.0, rel_tol=1e-12)      # tiny arch: gbuf 2 pJ/B
    assert math.isclose(e["dram"], r.bytes["dram"] * 100.0, rel_tol=1e-12)      # DRAM 100 pJ/B
    assert math.isclose(e["static"], static_w * r.cycles / 1e9 * 1e12, rel_tol=1e-12)
    assert math.isclose(r.energy_pj, sum(e.values()), rel_tol=1e-12)
    assert math.isclose(r.utilization, macs / (r.cycles * R * C), rel_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(M=st.integers(1, 300), N=st.integers(1, 300), groups=st.integers(1, 60),
       pattern=st.sampled_from(["2:4", "1:4", "2:8"]), df=st.sampled_from(["ws", "os", "is"]),
       batch=st.integers(1, 4))
def test_nm_layer_computes_as_the_dense_layer_of_its_kept_k(M, N, groups, pattern, df, batch):
    # K = groups x m with n kept per group: the array sees a dense K of groups x n
    sp = Sparsity.parse(pattern)
    arch = arch_for(4, 4)
    sparse = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=groups * sp.m, batch=batch, weight_sparsity=sp),
                         Mapping(df, M, N, groups * sp.m))
    dense = simulate_op(arch, Op("g", "gemm", M=M, N=N, K=groups * sp.n, batch=batch), Mapping(df, M, N, groups * sp.n))
    assert sparse.cycle_breakdown["compute_cycles"] == dense.cycle_breakdown["compute_cycles"]
    assert sparse.macs_effective == dense.macs_effective == batch * M * N * groups * sp.n
    assert sparse.macs_dense * sp.n == dense.macs_dense * sp.m


@settings(max_examples=40, deadline=None)
@given(case=layers(), factor=st.sampled_from([2.0, 3.0, 8.0]))
def test_dram_time_scales_with_one_over_bandwidth(case, factor):
    op, mp, R, C = case
    slow = simulate_op(arch_for(R, C), op, mp).cycle_breakdown
    fast = simulate_op(arch_for(R, C, **{"dram.bytes_per_s": FINITE["dram.bytes_per_s"] * factor}), op, mp).cycle_breakdown
    assert math.isclose(slow["dram_cycles"], fast["dram_cycles"] * factor, rel_tol=1e-12)
    assert slow["compute_cycles"] == fast["compute_cycles"] and slow["buffer_cycles"] == fast["buffer_cycles"]


@settings(max_examples=40, deadline=None)
@given(M=st.integers(1, 400), N=st.integers(1, 400), K=st.integers(1, 400), batch=st.integers(1, 4),
       pattern=st.sampled_from(["dense", "2:4", "1:8"]))
def test_workload_totals_are_layer_sums(M, N, K, batch, pattern):
    wl = Workload("w", [Op("a", "gemm", M=M, N=N, K=K, batch=batch), Op("b", "attn_score", M=M, N=K, K=N, batch=batch)])
    res = simulate_workload(make_arch(**FINITE), wl, pattern)
    a, b = res.layers
    assert res.total["macs_dense"] == 2 * M * N * K * batch
    assert b.macs_effective == b.macs_dense                 # attention has no weights to prune
    for key in ("cycles", "energy_pj", "macs_effective"):
        assert math.isclose(res.total[key], getattr(a, key) + getattr(b, key), rel_tol=1e-12)
    assert res.to_dict() == simulate_workload(make_arch(**FINITE), wl, pattern).to_dict()   # deterministic


@settings(max_examples=30, deadline=None)
@given(cases=st.lists(layers(max_dim=96), min_size=3, max_size=3), gbps=st.lists(st.floats(0.5, 64.0), min_size=3,
                                                                                max_size=3))
def test_designs_in_one_call_cost_as_one_design_at_a_time(cases, gbps):
    # the design-space evaluator stacks designs as [designs, 1] arrays (dse/evaluate.py stack_hw); each row
    # of one call must be that design's own cost of the same candidates
    from nmsim.dse.evaluate import stack_hw
    from nmsim.mapping import Candidates
    from nmsim.problem import Gemm
    from nmsim.sim import HwParams, gemm_cost

    op = cases[0][0]
    # designs of one batch share the structural fields (dse/evaluate.py _STRUCTURAL): vary the numbers
    hws = [HwParams.from_arch(arch_for(4, 4, **{"dram.bytes_per_s": g * 1e9, "memory.0.read_bytes_per_cycle": 4.0 * g,
                                                "energy.mac_pj": 0.5 + i})) for i, g in enumerate(gbps)]
    cands = Candidates.from_mappings([Mapping(mp.dataflow, min(mp.tile_m, op.M), min(mp.tile_n, op.N), op.K,
                                              mp.loop_order) for _, mp, _, _ in cases])
    gemm = Gemm(M=op.M, N=op.N, K=op.K)
    together = gemm_cost(stack_hw(hws), gemm, cands)
    for d, hw in enumerate(hws):
        alone = gemm_cost(hw, gemm, cands)
        for key in ("cycles", "bytes_dram", "energy_pj", "compute_cycles", "buffer_cycles"):
            assert np.allclose(np.broadcast_to(together[key], (len(hws), len(cands)))[d], alone[key], rtol=1e-12), key
