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


def test_validate_memory_one_layer_json_contract(tmp_path, capsys):
    out_json = tmp_path / "m.json"
    code, out, err = run_cli(["rtl", "validate", "--memory", "--only", "os-1:8-small", "--json", out_json], capsys)
    assert code == 0, err
    assert "SoC RTL" in out and "|error| mean/max" in out
    data = json.loads(out_json.read_text())
    assert data["preset"] == "rtl-soc" and data["dram_module"] == "MT40A512M16"
    (case,) = data["cases"]
    assert case["name"] == "os-1:8-small" and case["mismatches"] == 0 and case["checked_bytes"] == 20 * 24
    assert {"rtl_cycles", "fast_cycles", "detailed_cycles", "bound", "rtl_dram_bytes", "model_dram_bytes",
            "fast_error", "detailed_error", "bytes_error"} <= set(case)
    assert case["rtl_dram_bytes"] == case["model_dram_bytes"]
    assert data["summary"]["cases"] == 1


def test_validate_memory_bad_input_is_one_line(tmp_path, capsys):
    is_map = tmp_path / "is.yaml"
    is_map.write_text("dataflow: is\ntile_m: 64\ntile_n: 64\ntile_k: 64\n")
    code, _, err = run_cli(["rtl", "validate", "--memory", "--layer", "128,96,256", "--mapping", is_map], capsys)
    assert code == 2 and err.count("\n") == 1 and "runs the ws and os dataflows, not is" in err
    odd = tmp_path / "odd.yaml"
    odd.write_text("dataflow: ws\ntile_m: 64\ntile_n: 40\ntile_k: 100\n")
    code, _, err = run_cli(["rtl", "validate", "--memory", "--layer", "128,96,256", "--mapping", odd], capsys)
    assert code == 2 and err.count("\n") == 1 and "use a multiple of 16 for tile_k" in err
    code, _, err = run_cli(["rtl", "validate", "--memory", "--only", "ws-dense-smal"], capsys)
    assert code == 2 and "did you mean 'ws-dense-small'" in err
    code, _, err = run_cli(["rtl", "validate", "--memory", "--layer", "1,2"], capsys)
    assert code == 2 and "--layer needs --mapping" in err
    code, _, err = run_cli(["rtl", "validate", "--memory", "--only", "ws-dense-small", "--dram-module", "MT40A512M61"],
                           capsys)
    assert code == 2 and err.count("\n") == 1 and "no DRAM module 'MT40A512M61'" in err and "MT40A512M16" in err
    code, _, err = run_cli(["rtl", "validate", "--only", "ws-dense-small"], capsys)
    assert code == 2 and "add --memory" in err
