"""`nmsim rtl validate` and `nmsim rtl area` from the command line (in-process)."""
from __future__ import annotations

import json

from nmsim.accel.area import pe_area_factor

from ..conftest import run_cli


def test_validate_prints_the_table_and_writes_the_contract_json(tmp_path, capsys):
    out_json = tmp_path / "r.json"
    code, out, err = run_cli(["rtl", "validate", "--cases", "20", "--seed", "4", "--json", out_json], capsys)
    assert code == 0, err
    assert "RTL cycles" in out and "sim cycles" in out and "max |error| 0.00%" in out
    data = json.loads(out_json.read_text())
    assert len(data["cases"]) == 20 and data["max_error"] == 0.0
    for case in data["cases"]:
        assert {"M", "N", "K", "sparsity", "rtl_cycles", "sim_cycles", "error"} <= set(case)
        assert case["rtl_cycles"] == case["sim_cycles"]


def test_validate_rejects_bad_input_with_one_line(capsys):
    code, out, err = run_cli(["rtl", "validate", "--cases", "0"], capsys)
    assert code == 2 and err.strip() == "nmsim: error: --cases must be at least 1 (got 0)"
    code, _, err = run_cli(["rtl", "validate", "--simulator", "vcs"], capsys)
    assert code == 2 and "invalid choice: 'vcs'" in err


def test_area_json(tmp_path, capsys):
    out_json = tmp_path / "a.json"
    code, out, err = run_cli(["rtl", "area", "--json", out_json], capsys)
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert set(data["factors"]) == {"2:4", "1:8"}
    assert {p["label"] for p in data["pes"]} == {"dense1", "dense2", "2:4", "1:8"}
    assert data["factors"] == {nm: pe_area_factor(nm) for nm in ("2:4", "1:8")}
    assert "2:4" in out and "1:8" in out
