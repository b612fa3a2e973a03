"""`nmsim reproduce sat|s4` (reproduce/, docs/REPRODUCTION.md): our figures against the papers'.

Each command runs once per module (sat with --quick: the simulated speedups are complete, the
algorithm experiments short). The SAT 2:8 average must stay within the tolerance stated in
docs/REPRODUCTION.md of the abstract's 1.75x; everything else the papers give no number for is
checked for structure and for what physics fixes (Amdahl bounds, monotonic trends).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from nmsim.cli.main import main
from nmsim.reproduce.papers import figure, load_papers, t4_measured_ms

from ..conftest import run_cli

PAPERS_MD = Path(__file__).resolve().parents[3] / "shared" / "PAPERS.md"


def _run(tmp_path_factory, *argv: str) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("reproduce")
    j, m = out / "r.json", out / "t.md"
    assert main(["reproduce", *argv, "--json", str(j), "--markdown", str(m)]) == 0
    return json.loads(j.read_text()), m.read_text()


@pytest.fixture(scope="module")
def sat(tmp_path_factory):
    return _run(tmp_path_factory, "sat", "--quick")


@pytest.fixture(scope="module")
def s4(tmp_path_factory):
    return _run(tmp_path_factory, "s4")


def test_paper_figures_are_cited_and_match_the_stored_abstracts():
    papers = load_papers()
    for paper in ("sat", "s4"):
        for key, fig in papers[paper]["figures"].items():
            assert fig["cite"], f"{paper}.{key} has no citation"
    assert figure("sat", "average_speedup_2_8") == 1.75 and figure("sat", "headline_pattern") == "2:8"
    assert figure("sat", "average_accuracy_loss_2_8") == 0.56 and figure("s4", "max_sparsity_acceleration") == 32
    assert figure("s4", "speedup_vs_t4") is None          # "several-times": no number to compare with
    assert t4_measured_ms("bert-base", 128, 8) == 4.66 and t4_measured_ms("bert-large", 128, 1) == 3.65
    assert t4_measured_ms("resnet50", 0, 8) is None
    if PAPERS_MD.is_file():                                # the project's stored abstracts
        text = PAPERS_MD.read_text()
        for quoted in ("2:8 sparse ratio achieves an average speedup of 1.75x", "0.56%", "up to 32 times",
                       "Nvidia T4", "VCU1525"):
            assert quoted in text


def test_step_of_unique_layers_equals_simulate_training():
    """The reproduction's step (repeated layers costed once, phase GEMMs memoized) is
    sim.training's step exactly, for the whole workload."""
    from nmsim.accel import load_arch
    from nmsim.reproduce.common import unique_ops
    from nmsim.reproduce.sat import PhaseCosts, step
    from nmsim.sim.training import simulate_training
    from nmsim.workloads import zoo

    arch = load_arch("sat")
    full = zoo.build("bert-base", batch=1, seq_len=32)
    wl, counts = unique_ops(full)
    assert len(wl.ops) == 5 and sum(counts) == len(full.ops) == 96
    costs = PhaseCosts(arch)
    for pattern, bdwp, mapper, ref_wl in (("2:8", True, None, full), ("2:8", False, None, full),
                                          ("2:8", True, "heuristic", wl), ("dense", True, "heuristic", wl)):
        ours = step(costs, wl, counts, pattern, bdwp, mapper)
        ref = simulate_training(arch, ref_wl, pattern, bdwp=bdwp, mapper=mapper)
        n = counts if ref_wl is wl else [1] * len(ref.layers)
        assert ours["cycles"] == sum(lr.cycles * c for lr, c in zip(ref.layers, n))
        assert ours["macs_effective"] == sum(lr.macs_effective * c for lr, c in zip(ref.layers, n))
        for ph in ("fwd", "bwd", "wgrad"):
            assert ours["phase_cycles"][ph] == sum(lr.phases[ph]["cycles"] * c for lr, c in zip(ref.layers, n))


def test_sat_average_2_8_within_the_stated_tolerance_of_the_paper(sat):
    r, _ = sat
    assert r["tolerance"] == 0.15 and r["paper_average_speedup_2_8"] == 1.75
    ours = [x["speedup"] for x in r["rows"] if x["pattern"] == "2:8"]
    assert len(ours) == len(r["models"]) == 5
    assert r["average_speedup_2_8"] == pytest.approx(statistics.fmean(ours))
    assert abs(r["average_speedup_2_8"] / 1.75 - 1) <= r["tolerance"]
    assert r["within_tolerance"] is True


def test_sat_rows_obey_the_work_bound(sat):
    r, _ = sat
    for x in r["rows"]:
        n, m = map(int, x["pattern"].split(":"))
        # fwd and bwd shrink to n/m, the weight gradient stays dense: the work ratio is at most 3/(2n/m + 1)
        assert 1.0 < x["ideal_speedup"] <= 3 / (2 * n / m + 1) + 1e-9
        assert 1.0 < x["speedup"] <= x["ideal_speedup"] * 1.01
        assert x["phase_cycles"]["wgrad"] == x["dense_phase_cycles"]["wgrad"]   # wgrad is dense either way
        assert x["paper_speedup"] is None                                      # per-model figures not in reach
    for model in {x["model"] for x in r["rows"]}:
        s = [x["speedup"] for x in r["rows"] if x["model"] == model]
        assert s == sorted(s), f"{model}: sparser patterns must not be slower ({s})"


def test_sat_ablations(sat):
    r, _ = sat
    ab = {a["optimization"]: a for a in r["ablations"]}
    assert set(ab) == {"BDWP (N:M backward-data GEMM)", "pre-generation of N:M weights", "offline scheduling",
                       "interleave mapping"}
    assert ab["interleave mapping"]["modelled"] is False and "per_model" not in ab["interleave mapping"]
    for v in ab["BDWP (N:M backward-data GEMM)"]["per_model"].values():
        assert v["contribution"] > 1.05                   # the backward-data GEMM is a third of the work
    for v in ab["pre-generation of N:M weights"]["per_model"].values():
        assert 1.0 <= v["contribution"] < 1.1             # overlap can only help; selection is cheap
    assert all(a["paper_contribution"] is None for a in r["ablations"])


def test_sat_algorithm_half_quick(sat):
    r, md = sat
    alg = r["algorithm"]
    assert alg["quick"] is True and alg["digits"]["epochs"] == 2
    rows = {x["pattern"]: x for x in alg["digits"]["rows"]}
    assert list(rows) == ["dense", "2:4", "2:8", "2:16"]
    assert rows["dense"]["loss_points"] == 0 and rows["dense"]["method"] == "dense"
    for p in ("2:4", "2:8", "2:16"):
        assert rows[p]["method"] == "bdwp" and 0.2 < rows[p]["accuracy"] <= 1.0
        assert rows[p]["sat_step_speedup"] > 1.0
    mini = {x["pattern"]: x for x in alg["minilm"]["rows"]}
    assert alg["minilm"]["sentences"] == 16 and set(mini) == {"2:4", "2:8", "2:16"}
    # more zeros per group, further from the dense embeddings (magnitude pruning, no retraining)
    assert 1.0 > mini["2:4"]["cosine_similarity"] > mini["2:8"]["cosine_similarity"] > mini["2:16"]["cosine_similarity"] > 0
    assert 1.0 < mini["2:4"]["sat_step_speedup"] < mini["2:8"]["sat_step_speedup"]
    assert "| workload | N:M |" in md and "nmsim reproduce sat --quick" in md


def test_s4_against_t4(s4):
    r, md = s4
    assert r["baseline"]["dtype"] == "int8" and len(r["rows"]) == 6 * 6
    assert r["max_speedup_vs_t4"] == max(x["speedup_vs_t4"] for x in r["rows"])
    meas = [x for x in r["rows"] if x["t4_measured_latency_s"] is not None]
    assert {x["workload"].split("(")[0] for x in meas} == {"bert-base", "bert-large"}
    assert r["max_speedup_vs_t4_measured"] == max(x["speedup_vs_t4_measured"] for x in meas)
    for wl in {x["workload"] for x in r["rows"]}:
        s = [x["speedup_vs_s4_dense"] for x in r["rows"] if x["workload"] == wl]
        assert s[0] == 1.0 and all(b >= a * 0.99 for a, b in zip(s, s[1:])), wl
        t4 = {x["t4_latency_s"] for x in r["rows"] if x["workload"] == wl}
        assert len(t4) == 1                              # T4 has no sparse tensor cores: one dense figure
    # The claims' outcomes as docs/REPRODUCTION.md reports them (update it with these when they move):
    # "several-times" over T4: yes against the t4 preset (5.20x) and against NVIDIA's measured T4 (6.60x,
    # BERT-base batch 1 at 1:32) since the s4 preset has an accumulator level, row blocks that take N and
    # activations kept on chip (docs/MODEL.md 3.7, 3.9, 3.10; 1.56x and 1.99x before);
    # "up to 32x": no (17.7x, DRAM-bound).
    c = r["claims"]
    st = c["several_times_vs_t4"]
    assert st["threshold"] == 2.0
    assert st["reproduced_vs_t4_preset"] is True and 4.6 <= r["max_speedup_vs_t4"] <= 5.8
    assert st["reproduced_vs_t4_measured"] is True and 5.8 <= r["max_speedup_vs_t4_measured"] <= 7.2
    cap = {x["level"]: x for x in r["capability"]}
    for level, degree in (("1:2", 2), ("1:4", 4)):   # nothing but the array binds at low degrees
        assert cap[level]["speedup_vs_dense"] >= 0.9 * degree
    assert c["sparsity_acceleration_32x"]["reproduced"] is False
    assert 16.0 <= cap["1:32"]["speedup_vs_dense"] <= 19.5 and cap["1:32"]["bottleneck"] == "dram"
    assert "vs T4 measured" in md and "nmsim reproduce s4" in md


def test_reproduce_bad_input_is_one_line(tmp_path, capsys):
    code, out, err = run_cli(["reproduce", "s4", "--quick"], capsys)
    assert code == 2 and err.count("\n") == 1 and "apply to `reproduce sat`" in err
    code, out, err = run_cli(["reproduce", "s4", "--json", tmp_path / "missing" / "r.json"], capsys)
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
    code, out, err = run_cli(["reproduce", "sat4"], capsys)
    assert code == 2 and "invalid choice" in err


def test_eyeriss_workloads_carry_the_measured_zeros():
    from nmsim.reproduce.eyeriss import conv_workload

    wl = conv_workload("alexnet")
    assert [op.name for op in wl.ops] == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert sum(op.macs for op in wl.ops) == 4 * 665_784_864          # the paper's 2.66 G (Table V)
    dens = [op.act_density for op in wl.ops]
    assert dens == pytest.approx([0.9999, 0.613, 0.275, 0.207, 0.224])
    # each output carries the next layer's input zeros; the last one's are not published
    assert [op.out_density for op in wl.ops] == pytest.approx(dens[1:] + [1.0])
    vgg = conv_workload("vgg16")
    assert len(vgg.ops) == 13 and sum(op.macs for op in vgg.ops) == pytest.approx(46.04e9, rel=0.01)


def test_eyeriss_check_report(tmp_path, capsys):
    md = tmp_path / "e.md"
    js = tmp_path / "e.json"
    code, out, err = run_cli(["reproduce", "eyeriss", "--markdown", md, "--json", js], capsys)
    assert code == 0, err
    r = json.loads(js.read_text())
    assert r["objective"] == "energy" and r["tolerance"] == 0.2
    nets = {n["network"]: n for n in r["networks"]}
    for net, key in (("alexnet", "alexnet"), ("vgg16", "vgg16")):
        c = nets[net]["compare"]
        assert c["frames_per_s"]["paper"] == {"alexnet": 34.7, "vgg16": 0.7}[key]
        for fig in c.values():
            assert fig["within"] == (abs(fig["ours"] / fig["paper"] - 1) <= 0.2)
        assert [x["layer"] for x in nets[net]["layers"]][0] in ("conv1", "features.0")
    assert "DRAM accesses/MAC" in md.read_text() and "nmsim reproduce eyeriss" in md.read_text()
    code, _, err = run_cli(["reproduce", "eyeriss", "--quick"], capsys)
    assert code == 2 and "apply to `reproduce sat`" in err
