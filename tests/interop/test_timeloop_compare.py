"""nmsim under Timeloop's own mapping beside Timeloop's reference stats (docs/INTEROP.md 2.3):
the converter (interop/timeloop_convert.py), the comparison (interop/timeloop_compare.py) and
`nmsim timeloop compare`. Every difference is pinned by the formula that explains it."""
from __future__ import annotations

import math

import pytest

from nmsim.accel import load_arch
from nmsim.interop import read_mapping
from nmsim.interop.timeloop_compare import compare_design
from nmsim.mapping import load_mappings
from nmsim.sim import simulate_op
from tests.conftest import run_cli
from tests.interop.test_timeloop import FIX, files

WS = "simple_weight_stationary"


def _compare(design: str):
    prob, arch, mapping, stats = files(design)
    return compare_design(arch, prob, mapping, stats.parent / "timeloop-mapper.ERT.yaml", stats)


def _cli_args(design: str) -> list[str]:
    prob, arch, _, stats = files(design)
    return ["timeloop", "compare", "--arch", str(arch), "--problem", str(prob), "--stats", str(stats)]


def test_converted_weight_stationary_design():
    """The 12 utilized PEs as a 3 x 4 WS array, the per-PE weight levels as tiers, the one-word input
    and output registers as the array's forwarding registers, energies from the ERT."""
    d = _compare(WS).design
    assert (d.arch.compute.rows, d.arch.compute.cols, d.mapping.dataflow) == (3, 4, "ws")
    assert [lv.name for lv in d.arch.memory] == ["shared_glb", "pe_spad", "weight_reg"]
    assert [lv.instances for lv in d.arch.memory] == [1, 12, 12]
    assert d.forwarded == ["input_activation_reg", "output_activation_reg"]
    tiles = [(d.mapping.tile_m, d.mapping.tile_n, d.mapping.tile_k)] + \
        [(lv.tile_m, lv.tile_n, lv.tile_k) for lv in d.mapping.levels]
    assert tiles == [(896, 32, 27), (448, 4, 9), (112, 4, 3)]   # Q14 | S3 P2 M8 | C3 M4 spatial, R3 Q2 P2 | P28 Q4
    assert d.arch.energy.read_pj("shared_glb") == pytest.approx(32.377775 / 8)   # ERT read / 8-byte vector
    assert d.arch.energy.write_pj("pe_spad") == pytest.approx(1.582678 / 2)


def test_weight_stationary_beside_timeloop_every_difference_explained():
    """Every count equal but two, each difference the formula that explains it (docs/INTEROP.md 2.3)."""
    cmp = _compare(WS)
    d, s = cmp.design, cmp.stats
    rows, cols = d.arch.compute.rows, d.arch.compute.cols
    inner = d.mapping.levels[-1]
    # cycles: Timeloop's are MACs / utilized PEs (no fill, TL model/topology.cpp); nmsim adds the
    # systolic fill 2R + C - 2 to each fold, one fold per innermost tile (its K x N is the array)
    assert (inner.tile_k, inner.tile_n) == (rows, cols)
    folds = d.op.M * d.op.N * d.op.K // (inner.tile_m * inner.tile_n * inner.tile_k)
    assert s.cycles == d.op.macs // (rows * cols)
    assert cmp.row("cycles").nmsim == s.cycles + folds * (2 * rows + cols - 2)
    # outputs read at the global buffer: Timeloop counts reads = accesses - partition size (first-read
    # elision, TL loop-analysis/tiling.cpp) and no read for the final drain to DRAM; nmsim reads each
    # final output once more to drain it
    outputs = d.op.M * d.op.N
    glb = cmp.row("shared_glb Outputs reads")
    assert glb.nmsim - glb.timeloop == outputs
    drain_pj = outputs * d.word_bytes * d.arch.energy.read_pj("shared_glb")
    e = cmp.row("shared_glb energy")
    assert e.nmsim - e.timeloop == pytest.approx(drain_pj, rel=1e-3)
    # the one-word input/output registers have no nmsim level; their energy is Timeloop's alone
    forwarded_pj = sum(cmp.row(f"{n} energy").timeloop for n in d.forwarded)
    assert all(r.nmsim is None for r in cmp.rows if r.what.split()[0] in d.forwarded)
    assert forwarded_pj > 0
    _others_equal(cmp, {"cycles", "shared_glb Outputs reads", "shared_glb energy"})
    _total_explained(cmp, drain_pj)
    assert abs(cmp.row("total energy").ratio - 1) < 0.05


def _others_equal(cmp, explained: set[str]) -> None:
    """Every row both sides have and no formula above explains: counts equal, energies to Timeloop's
    rounding of accesses up to whole vectors (DRAM: 4 words)."""
    for r in cmp.rows:
        if r.nmsim is None or r.what in explained or r.what == "total energy":
            continue
        if r.unit == "pJ":
            assert r.nmsim == pytest.approx(r.timeloop, rel=1e-4), r.what
        else:
            assert r.nmsim == r.timeloop, r.what


def _total_explained(cmp, level_diffs_pj: float) -> None:
    """Total energy: Timeloop's + the explained level differences - the forwarding registers' energy
    (no nmsim level) + the leakage difference over each model's cycles, to Timeloop's printed
    precision (0.01 uJ) and its vector rounding."""
    s, d = cmp.stats, cmp.design
    forwarded_pj = sum(cmp.row(f"{n} energy").timeloop for n in d.forwarded)
    tl_leak = s.energy_pj - sum(lv.total("energy_pj") for lv in s.levels.values()) - s.mac_energy_pj
    expect = s.energy_pj + level_diffs_pj - forwarded_pj + cmp.result.energy_breakdown_pj["static"] - tl_leak
    assert cmp.row("total energy").nmsim == pytest.approx(expect, abs=1.5e4)


def test_compare_cli_prints_the_table_and_writes_a_loadable_design(tmp_path, capsys):
    code, out, _ = run_cli(_cli_args(WS) + ["--out", str(tmp_path)], capsys)
    assert code == 0
    line = next(ln for ln in out.splitlines() if "shared_glb Outputs reads" in ln)
    assert "3,211,264" in line and "3,612,672" in line and "1.125" in line
    arch, mapping = load_arch(tmp_path / "arch.yaml"), load_mappings(tmp_path / "mapping.yaml")
    cmp = _compare(WS)
    again = simulate_op(arch, cmp.design.op, mapping.for_op(cmp.design.op))
    assert (again.cycles, again.energy_pj) == (cmp.result.cycles, pytest.approx(cmp.result.energy_pj))


def _at_or_below(mapping_path, level: str, dim: str) -> int:
    """Product of Timeloop's factors of `dim` at `level` and below it (its tile's extent)."""
    m = read_mapping(mapping_path)
    order = list(m.keep)   # innermost first
    return math.prod(lp.factor for lp in m.loops if lp.dim == dim and order.index(lp.level) <= order.index(level))


def test_output_stationary_beside_timeloop_every_difference_explained():
    """Its PEs keep a weight in a register across P14 and accumulate 56 outputs in pe_spad: a 1 x 16 WS
    array whose pe_spad and weight_reg start tiers of their own (Timeloop tiles them apart from the
    buffer and from each other). Differences: fill per 14-step fold, drain reads at pe_spad, input
    halos Timeloop counts and nmsim does not, the forwarding registers."""
    cmp = _compare("simple_output_stationary")
    d, s = cmp.design, cmp.stats
    assert (d.arch.compute.rows, d.arch.compute.cols, d.mapping.dataflow) == (1, 16, "ws")
    assert [(lv.name, lv.starts_tier) for lv in d.arch.memory] == \
        [("shared_glb", False), ("pe_spad", True), ("weight_reg", True)]
    assert d.arch.tiers() == [(0,), (1,), (2,)]
    rows, cols = d.arch.compute.rows, d.arch.compute.cols
    inner = d.mapping.levels[-1]
    folds = d.op.M * d.op.N * d.op.K // (inner.tile_m * inner.tile_n * inner.tile_k)
    assert s.cycles == d.op.macs // (rows * cols)
    assert cmp.row("cycles").nmsim == s.cycles + folds * (2 * rows + cols - 2)     # 14 + 16 per fold
    outputs = d.op.M * d.op.N
    spad = cmp.row("pe_spad Outputs reads")
    assert spad.nmsim - spad.timeloop == outputs                                    # drain reads, as (b)
    # inputs: Timeloop fetches each buffer tile's window, halo included; nmsim the distinct pixels
    prob, _, mapping, _ = files("simple_output_stationary")
    tp, tq = _at_or_below(mapping, "shared_glb", "P"), _at_or_below(mapping, "shared_glb", "Q")
    dims = d.problem.dims
    tiles = (dims["P"] // tp) * (dims["Q"] // tq)
    window = dims["C"] * ((tp - 1) * 2 + dims["R"]) * ((tq - 1) * 2 + dims["S"])
    unique = dims["C"] * ((dims["P"] - 1) * 2 + dims["R"]) * ((dims["Q"] - 1) * 2 + dims["S"])
    halo = tiles * window - unique
    for what in ("DRAM Inputs reads", "shared_glb Inputs fills"):
        assert (cmp.row(what).timeloop, cmp.row(what).nmsim) == (tiles * window, unique)
    wb = d.word_bytes
    diffs = {"pe_spad energy": outputs * wb * d.arch.energy.read_pj("pe_spad"),
             "shared_glb energy": -halo * wb * d.arch.energy.write_pj("shared_glb"),
             "DRAM energy": -halo * wb * d.arch.energy.read_pj("dram")}
    for what, diff in diffs.items():
        assert cmp.row(what).nmsim - cmp.row(what).timeloop == pytest.approx(diff, rel=1e-3), what
    explained = {"cycles", "pe_spad Outputs reads", "DRAM Inputs reads", "shared_glb Inputs fills", *diffs}
    _others_equal(cmp, explained)
    _total_explained(cmp, sum(diffs.values()))
    assert abs(cmp.row("total energy").ratio - 1) < 0.05


@pytest.mark.parametrize("design, named", [
    ("eyeriss_like_gating", "sparse_optimizations on 'weights_spad' (action_optimization)"),
    ("eyeriss_like_onchip_compression", "sparse_optimizations on 'ifmap_spad' (representation_format)"),
    ("eyeriss_like_gating", "spatial factors over K, M, N at once"),
])
def test_sparse_designs_are_refused_by_name(design, named, capsys):
    code, _, err = run_cli(_cli_args(design), capsys)
    assert code == 2 and named in err and err.count("\n") == 1


def test_sparse_opt_file_is_refused_by_name(capsys):
    stc = FIX / "sparse_tensor_core_like_2to4_v3"
    ref = stc / "ref_outputs"
    code, _, err = run_cli(["timeloop", "compare", "--arch", str(stc / "inputs/arch/arch.yaml"), "--problem",
                            str(stc / "inputs/prob/prob.yaml"), "--stats", str(ref / "timeloop-mapper.stats.txt"),
                            "--sparse-opt", str(stc / "inputs/sparse-opt/sparse-opt.yaml")], capsys)
    assert code == 2 and "sparse_optimizations on 'SMEM' (representation_format)" in err


def test_ratio_is_nmsim_over_timeloop_and_none_without_both():
    from nmsim.interop.timeloop_compare import Row
    assert Row("x", 1, 3, "words").ratio == 3
    assert Row("x", 4, 2, "words").ratio == 0.5
    assert [Row("x", tl, ours, "words").ratio for tl, ours in ((0, 3), (None, 3), (2, None))] == [None] * 3


def test_rows_where_only_one_side_counts_are_listed(monkeypatch):
    """A count only Timeloop has (the forwarding registers, no nmsim level) and a count only nmsim has
    (Timeloop's zeroed here) are rows; rows never hide a difference."""
    import nmsim.interop.timeloop_compare as tc
    cmp = _compare(WS)
    macs = cmp.design.op.macs
    fwd = cmp.row("input_activation_reg Inputs reads")
    assert (fwd.timeloop, fwd.nmsim) == (macs, None)
    real = tc.read_stats

    def zeroed(path):
        s = real(path)
        s.levels["DRAM"].spaces["Weights"]["reads"] = 0
        return s
    monkeypatch.setattr(tc, "read_stats", zeroed)
    prob, arch, mapping, stats = files(WS)
    got = tc.compare_design(arch, prob, mapping, stats.parent / "timeloop-mapper.ERT.yaml", stats)
    assert (got.row("DRAM Weights reads").timeloop, got.row("DRAM Weights reads").nmsim) == (0, 864)
    assert not [r for r in got.rows if r.what == "DRAM Weights fills"]   # zero on both sides: no row


def test_actions_of_outputs_kept_at_two_levels_conserve_every_word():
    """dense-systolic keeps outputs in the accumulators and the buffer. K in 4 steps, K outermost,
    one 2 MiB image of 32-bit partial sums P = M N 4 B that does not fit beside the operands: each K
    step sends P up to the buffer, three steps spill it to DRAM and read it back, the last sends the
    M N one-byte outputs O. Counted by hand from that loop nest, in bytes (word_bytes 1)."""
    from dataclasses import replace
    from types import SimpleNamespace

    from nmsim.interop.timeloop_compare import nmsim_actions
    from nmsim.mapping import default_mapping
    from nmsim.workloads import Op
    arch = load_arch("dense-systolic")
    assert [lv.name for lv in arch.memory] == ["gbuf", "acc"]
    op = Op(name="g", kind="gemm", M=512, N=1024, K=4096)
    m = default_mapping(arch, op)
    m = replace(m, tile_k=1024, loop_order="knm", levels=(replace(m.levels[0], tile_k=1024, loop_order="knm"),))
    got = nmsim_actions(SimpleNamespace(arch=arch, op=op, mapping=m, word_bytes=1))
    P, O = op.M * op.N * 4, op.M * op.N
    assert got["DRAM"]["outputs"] == {"reads": 3 * P, "fills": 0, "updates": 3 * P + O}
    gbuf, acc = got["gbuf"]["outputs"], got["acc"]["outputs"]
    assert gbuf == {"reads": 3 * P + (3 * P + O), "fills": 3 * P, "updates": 4 * P}
    assert acc["fills"] == 3 * P
    # the accumulators give the array back every partial sum it wrote but the first fold's of each
    # output (it starts from zero; later K steps start from the read-back image): the writes less one
    # image P; and they send 4 P up
    assert acc["updates"] == op.M * op.N * (op.K // arch.compute.rows) * 4
    assert acc["reads"] == acc["updates"] - P + 4 * P
    # inputs and weights are read only from the buffer: no updates anywhere
    assert all(got[lv][o]["updates"] == 0 for lv in ("gbuf", "DRAM") for o in ("inputs", "weights"))
