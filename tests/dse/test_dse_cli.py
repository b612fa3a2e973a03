"""`nmsim dse run|report|export|plot`: JSON contracts, plot files (PNG and SVG), bad input
(exit 2, one line)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import run_cli
from .test_dse_spec import write_sweep

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("dse_cli")
    spec = write_sweep(tmp, axes={"rows": [8, 16, 32], "cols": [16, 32], "nm_patterns": ["dense", ["2:4", "2:8"]],
                                  "dram_bytes_per_s": [3e10, 1e11]}, patterns=["dense", "2:8"])
    out = tmp / "r.sqlite"
    from nmsim.cli.main import main

    assert main(["dse", "run", str(spec), "--out", str(out), "--workers", "1", "--no-progress",
                 "--json", str(tmp / "run.json")]) == 0
    return out


def test_run_json_summary(store):
    s = json.loads((store.parent / "run.json").read_text())
    assert s["points"] == 24 and s["evaluated"] == 24 and s["rows_written"] == 48 and s["errors"] == 0
    assert s["store"] == str(store)


def test_report_json_contract_and_plots(store, tmp_path, capsys):
    for plot in ("front.png", "front.svg"):
        code, out, err = run_cli(["dse", "report", store, "--pareto", "latency,energy", "--plot", tmp_path / plot,
                                  "--json", tmp_path / "r.json"], capsys)
        assert code == 0, err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert {"pareto", "points", "design_points", "errors", "objectives", "fronts", "best"} <= set(rep)
    assert rep["points"] == 48 and rep["design_points"] == 24 and rep["errors"] == 0
    assert rep["objectives"] == ["latency", "energy"]
    front = rep["pareto"]
    assert front and all({"latency_s", "energy_pj", "area_mm2", "design", "pattern", "result_key"} <= set(e)
                         for e in front)
    lat = [e["latency_s"] for e in front]
    en = [e["energy_pj"] for e in front]
    assert lat == sorted(lat) and all(b <= a for a, b in zip(en, en[1:]))  # a front trades one for the other
    assert rep["best"]["latency"]["latency_s"] == min(lat)
    assert (tmp_path / "front.png").read_bytes().startswith(PNG)
    assert b"<svg" in (tmp_path / "front.svg").read_bytes()[:500]
    assert "Pareto front on latency, energy" in out


def test_report_three_objectives_filtered(store, tmp_path, capsys):
    code, _, err = run_cli(["dse", "report", store, "--pareto", "latency,energy,area", "--pattern", "2:8",
                            "--json", tmp_path / "r3.json", "--plot", tmp_path / "f3.svg"], capsys)
    assert code == 0, err
    rep = json.loads((tmp_path / "r3.json").read_text())
    assert rep["points"] == 24 and {e["pattern"] for e in rep["pareto"]} == {"2:8"}
    assert (tmp_path / "f3.svg").stat().st_size > 1000


@pytest.mark.parametrize("kind, name", [("pareto", "p.svg"), ("heatmap", "h.png"), ("roofline", "roof.png"),
                                        ("layers", "l.svg")])
def test_plot_kinds(store, tmp_path, capsys, kind, name):
    code, out, err = run_cli(["dse", "plot", store, kind, "--out", tmp_path / name, "--top", "2"], capsys)
    assert code == 0, err
    data = (tmp_path / name).read_bytes()
    assert data.startswith(PNG) if name.endswith(".png") else b"<svg" in data[:500]


def test_export(store, tmp_path, capsys):
    code, out, err = run_cli(["dse", "export", store, "--csv", tmp_path / "e.csv", "--parquet", tmp_path / "e.parquet"],
                             capsys)
    assert code == 0, err
    assert "48 rows" in out
    assert len((tmp_path / "e.csv").read_text().splitlines()) == 49


def bad(argv, capsys) -> str:
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmsim: error: ")
    return lines[0]


def test_bad_input(store, tmp_path, capsys):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: t\nbase: sat\nworkloads: [bert-base]\naxes: {nm_patterns: ['5:4']}\n")
    assert "'5:4'" in bad(["dse", "run", spec, "--out", tmp_path / "x.sqlite"], capsys)
    assert "unknown objective 'speed'" in bad(["dse", "report", store, "--pareto", "latency,speed"], capsys)
    assert ".png or .svg" in bad(["dse", "report", store, "--plot", tmp_path / "f.jpg"], capsys)
    assert "no such result store" in bad(["dse", "report", tmp_path / "none.sqlite"], capsys)
    assert "--csv" in bad(["dse", "export", store], capsys)
    good = write_sweep(tmp_path, axes={"rows": [8]})
    assert "--workers must be at least 1" in bad(["dse", "run", good, "--out", tmp_path / "y.sqlite",
                                                  "--workers", "0"], capsys)
    assert not (tmp_path / "y.sqlite").exists()
    assert "tcp://HOST:PORT" in bad(["dse", "run", good, "--out", tmp_path / "z.sqlite", "--scheduler", "localhost"],
                                    capsys)
    assert "no successful result" in bad(["dse", "plot", store, "roofline", "--out", tmp_path / "r.png",
                                          "--keys", "nope"], capsys)
