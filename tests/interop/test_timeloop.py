"""Timeloop/Sparseloop/Accelergy files (interop/): the readers against the public exercise designs'
own reference outputs (tests/interop/fixtures/timeloop, SOURCE.txt), refusal of what nmsim lacks,
export round trips, ERT energies."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from nmsim.interop import (ert_energies, export_timeloop, read_arch, read_ert, read_mapping, read_problem, read_stats,
                           unsupported_features)
from nmsim.interop.timeloop import sparse_opt_features
from nmsim.specfile import SpecError
from tests.conftest import run_cli

FIX = Path(__file__).parent / "fixtures" / "timeloop"
DESIGNS = {   # design: (problem, arch) inside the fixture folder
    "simple_weight_stationary": ("inputs/problem.yaml", "inputs/arch.yaml"),
    "simple_output_stationary": ("inputs/problem.yaml", "inputs/arch.yaml"),
    "eyeriss_like_gating": ("inputs/problem.yaml", "inputs/arch.yaml"),
    "eyeriss_like_onchip_compression": ("inputs/problem.yaml", "inputs/arch.yaml"),
    "sparse_tensor_core_like_2to4_v3": ("inputs/prob/prob.yaml", "inputs/arch/arch.yaml"),
}


def files(design: str) -> tuple[Path, Path, Path, Path]:
    prob, arch = DESIGNS[design]
    ref = FIX / design / "ref_outputs"
    return FIX / design / prob, FIX / design / arch, ref / "timeloop-mapper.map.yaml", ref / "timeloop-mapper.stats.txt"


@pytest.mark.parametrize("design", DESIGNS)
def test_problem_macs_equal_timeloops_algorithmic_computes(design):
    prob, _, mapping, stats = files(design)
    p, s = read_problem(prob), read_stats(stats)
    assert p.macs == s.algorithmic_computes == p.op.macs
    m = read_mapping(mapping)                 # the reference mapping covers the problem exactly
    assert {d: m.factor(d) for d in p.dims} == p.dims


def test_gemm_views_of_the_problems():
    """docs/INTEROP.md 2.1 (the research notes' table): conv -> im2col GEMM; gemm-ABZ A = weights."""
    sws = read_problem(files("simple_weight_stationary")[0])
    assert (sws.op.kind, sws.op.M, sws.op.N, sws.op.K) == ("conv2d", 12544, 32, 27)
    eye = read_problem(files("eyeriss_like_gating")[0])
    assert (eye.op.M, eye.op.N, eye.op.K, eye.op.act_density) == (676, 384, 2304, 0.275)
    assert eye.op.weight_sparsity.density == pytest.approx(0.446133)
    stc = read_problem(files("sparse_tensor_core_like_2to4_v3")[0])
    assert (stc.op.kind, stc.op.M, stc.op.N, stc.op.K) == ("gemm", 256, 512, 1024)
    assert stc.gemm_dims == {"M": ["N"], "N": ["M"], "K": ["K"]}


@pytest.mark.parametrize("design", DESIGNS)
def test_reference_stats_obey_timeloops_own_rules(design):
    """Cycles = max over the compute level and every storage level (TL topology.cpp); energy =
    levels + MACs (leakage and metadata residuals under 0.2%); actual computes / cycles bound the
    utilized MACs."""
    s = read_stats(files(design)[3])
    assert s.cycles == max(lv.cycles for lv in s.levels.values())
    parts = sum(lv.total("energy_pj") for lv in s.levels.values()) + s.mac_energy_pj
    assert parts == pytest.approx(s.energy_pj, rel=2e-3)
    assert s.computes <= s.algorithmic_computes


def test_stats_levels_match_the_research_notes():
    s = read_stats(files("simple_weight_stationary")[3])
    glb = s.levels["shared_glb"].spaces
    assert glb["Outputs"]["updates"] == 3_612_672 and glb["Outputs"]["reads"] == 3_211_264   # first-read elision
    assert s.levels["input_activation_reg"].spaces["Inputs"]["fills"] == 10_838_016
    g = read_stats(files("eyeriss_like_gating")[3])
    w = g.levels["weights_spad"].spaces["Weights"]
    assert (w["reads"], w["gated_reads"], w["algorithmic_reads"]) == (164_472_516, 433_609_020, 598_081_536)
    assert g.computes == 164_472_423


@pytest.mark.parametrize("design, named", [
    ("eyeriss_like_gating", "sparse_optimizations on 'weights_spad' (action_optimization)"),
    ("eyeriss_like_onchip_compression", "sparse_optimizations on 'shared_glb'"),
    ("sparse_tensor_core_like_2to4_v3", "2 nested spatial fan-outs (Subpartition[0..3], PE[0..255])"),
])
def test_features_nmsim_lacks_are_named_and_exit_2(design, named, capsys):
    _, arch, _, _ = files(design)
    assert any(named in f for f in unsupported_features(read_arch(arch)))
    code, _, err = run_cli(["timeloop", "read", "--arch", arch], capsys)
    assert code == 2 and named in err and err.count("\n") == 1


@pytest.mark.parametrize("design", ["simple_weight_stationary", "simple_output_stationary"])
def test_per_pe_levels_read_without_refusal(design, capsys):
    """Per-PE scratchpads and registers map onto the memory hierarchy (docs/INTEROP.md 2.2)."""
    _, arch, _, _ = files(design)
    assert unsupported_features(read_arch(arch)) == []
    code, out, _ = run_cli(["timeloop", "read", "--arch", arch], capsys)
    assert code == 0 and "pe_spad" in out


def test_sparse_opt_file_of_the_2022_design(capsys):
    feats = sparse_opt_features(FIX / "sparse_tensor_core_like_2to4_v3/inputs/sparse-opt/sparse-opt.yaml")
    assert "sparse_optimizations on 'RF' (action_optimization)" in feats
    assert "sparse_optimizations on 'SMEM' (representation_format)" in feats


def test_ert_energies_reproduce_the_reference_level_energy():
    """DRAM energy of a reference = vector accesses x ERT energy: 864 weight words / 4 per 64-bit
    vector x 512 pJ (TL buffer.cpp); the per-byte energy we derive gives the same figure."""
    ert = read_ert(FIX / "simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml")
    assert ert["DRAM"].actions["read"] == 512.0 and ert["mac"].actions["compute"] == 0.315
    _, arch, _, stats = files("simple_weight_stationary")
    widths = {lv.name: lv.attributes for lv in read_arch(arch)}
    got = ert_energies(FIX / "simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml",
                       {"gbuf": "shared_glb", "dram": "DRAM"}, widths, mac="mac")
    assert got["per_byte_pj"]["dram"] == 64.0 and got["mac_pj"] == 0.315
    assert got["per_byte_pj"]["gbuf"] == {"read": pytest.approx(32.377775 / 8), "write": pytest.approx(26.156875 / 8)}
    s = read_stats(stats)
    words = s.levels["DRAM"].spaces["Weights"]["reads"]
    assert words * 2 * got["per_byte_pj"]["dram"] == s.levels["DRAM"].spaces["Weights"]["energy_pj"]
    assert s.mac_energy_pj == pytest.approx(s.computes * got["mac_pj"])
    with pytest.raises(SpecError, match="did you mean 'shared_glb'"):
        ert_energies(FIX / "simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml", {"gbuf": "shared_gbl"},
                     widths)


def test_ert_into_an_nmsim_arch(tmp_path, capsys):
    _, arch, _, _ = files("simple_weight_stationary")
    out = tmp_path / "a.yaml"
    code, _, err = run_cli(["timeloop", "ert", FIX / "simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml",
                            "--timeloop-arch", arch, "--arch", "dense-systolic", "--level", "dram=DRAM",
                            "--mac", "mac", "--out", out], capsys)
    assert code in (0, None), err
    from nmsim.accel import load_arch

    a = load_arch(out)
    assert a.energy.per_byte_pj["dram"] == 64.0 and a.energy.mac_pj == 0.315
    assert "derived: DRAM read 512 pJ / 8 B per vector" in out.read_text()
    code, _, err = run_cli(["timeloop", "ert", FIX / "simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml",
                            "--timeloop-arch", arch, "--arch", "dense-systolic", "--level", "l2=DRAM", "--out", out],
                           capsys)
    assert code == 2 and "no such level" in err


def test_export_round_trip(tmp_path, capsys):
    code, out, err = run_cli(["timeloop", "export", "-a", "rtl-array", "--layer", "gemm:M=64,N=48,K=64,sparsity=2:4",
                              "--out", tmp_path], capsys)
    assert code in (0, None), err
    p = read_problem(tmp_path / "problem.yaml")
    assert (p.op.M, p.op.N, p.op.K) == (64, 48, 64) and p.op.weight_sparsity.density == 0.5
    levels = read_arch(tmp_path / "arch.yaml")
    assert unsupported_features(levels) == []            # what nmsim writes it can read back whole
    fan = next(lv for lv in levels if lv.kind == "fanout")
    assert fan.fanout == 4 * 6
    m = read_mapping(tmp_path / "mapping.yaml")
    assert {d: m.factor(d) for d in "MNK"} == {"M": 64, "N": 48, "K": 64}
    assert math.prod(lp.factor for lp in m.loops if lp.spatial) <= 24
    code, _, err = run_cli(["timeloop", "read", "--problem", tmp_path / "problem.yaml", "--arch",
                            tmp_path / "arch.yaml", "--mapping", tmp_path / "mapping.yaml"], capsys)
    assert code in (0, None), err


def test_export_refuses_non_dividing_tiles():
    from nmsim.accel import load_arch
    from nmsim.mapping import Mapping
    from nmsim.workloads import Op

    with pytest.raises(SpecError, match="tile_m 48 does not divide M = 100"):
        export_timeloop(load_arch("rtl-array"), Op("g", "gemm", M=100, N=8, K=8), Mapping("ws", 48, 8, 8))


def test_bad_timeloop_files(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("problem:\n  shape: {name: x}\n")
    code, _, err = run_cli(["timeloop", "read", "--problem", bad], capsys)
    assert code == 2 and "problem.instance" in err
    bad.write_text("architecture: {nodes: [!Component {name: buf, class: SRAM}]}\n")
    code, _, err = run_cli(["timeloop", "read", "--arch", bad], capsys)
    assert code == 2 and "no compute unit" in err
    code, _, err = run_cli(["timeloop", "read", "--stats", tmp_path / "none.txt"], capsys)
    assert code == 2 and "not found" in err
