"""What a first-time user of `nmsim dse` sees: example sweeps by name from any folder, adaptive
runs that say why points were not evaluated, plots in the tables' units that tell patterns and
architectures apart."""
from __future__ import annotations

import json

import pytest

from nmsim.dse.spec import example_names, sweep_file

from ..conftest import run_cli


def test_example_sweeps_run_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    assert {"sat_array", "s4_array", "adaptive", "lhs_wide"} <= set(example_names())
    monkeypatch.chdir(tmp_path)                      # no dse/examples here
    assert sweep_file("sat_array").name == "sat_array.yaml" and sweep_file("sat_array.yaml").is_file()
    code, out, err = run_cli(["dse", "run", "sat_array", "--out", "s.sqlite", "-j", "1", "--no-progress",
                              "--json", "s.json"], capsys)
    assert code in (0, None), err
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["evaluated"] == doc["points"] > 0
    assert doc["provenance"]["inputs"]["sweep"].endswith("dse/examples/sat_array.yaml")
    assert doc["provenance"]["arch"]["name"] == "sat"
    code, _, err = run_cli(["dse", "run", "sat_aray", "--out", "x.sqlite"], capsys)
    assert code == 2 and "did you mean 'sat_array'" in err


def test_adaptive_run_explains_unevaluated_proposals(tmp_path, capsys):
    pytest.importorskip("optuna")
    from .test_dse_spec import write_sweep

    spec = write_sweep(tmp_path, axes={"rows": [8, 16], "cols": [16, 32]}, patterns=["2:8"],
                       objectives=["latency", "energy"], sampling={"method": "adaptive", "n": 24, "seed": 0,
                                                                     "population": 8})
    code, out, err = run_cli(["dse", "run", spec, "--out", tmp_path / "a.sqlite", "-j", "1", "--no-progress",
                              "--json", tmp_path / "a.json"], capsys)
    assert code in (0, None), err
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["evaluated"] <= 4 and doc["repeated"] == 24 - doc["evaluated"] > 0     # 4 designs exist
    assert f"{doc['repeated']} of the search's proposals repeated a design" in out


def test_plots_energy_in_joules_markers_per_pattern_and_arch_in_titles(tmp_path, capsys):
    from nmsim.dse import load_results, plots

    code, _, err = run_cli(["dse", "run", "sat_array", "--out", tmp_path / "s.sqlite", "-j", "1", "--no-progress"],
                           capsys)
    assert code in (0, None), err
    table = load_results(tmp_path / "s.sqlite")
    fig = plots.pareto_plot(table, ["latency", "energy"], arch="sat")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "energy (J)"
    assert "sat designs" in fig._suptitle.get_text()
    pattern_sets = [c for c in ax.collections if c.get_label() in set(table["pattern"])]
    assert len(pattern_sets) == len(set(table["pattern"])) >= 2
    assert len({c.get_paths()[0].vertices.tobytes() for c in pattern_sets}) == len(pattern_sets)   # distinct markers
    ys = [y for c in pattern_sets for _, y in c.get_offsets()]
    assert max(ys) < 100 and min(ys) > 1e-6            # joules, not picojoules
    heat = plots.utilization_heatmap(table, arch="sat")
    assert "sat" in heat.axes[0].get_title(loc="left")
    code, _, err = run_cli(["dse", "plot", tmp_path / "s.sqlite", "heatmap", "--out", tmp_path / "h.svg"], capsys)
    assert code in (0, None) and "sat" in (tmp_path / "h.svg").read_text()
