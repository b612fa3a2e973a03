"""Outputs are all or nothing (issue 17): every output path is checked before the work, files are
written under a temporary name and moved into place, a failing command leaves nothing behind, and
one rule holds for missing folders in every command (README, "Output files")."""
from __future__ import annotations

import pytest
import yaml

from ..conftest import TINY, run_cli
from .test_bad_input import error_line, sim


def leftovers(folder) -> list[str]:
    """Every entry of `folder` (hidden staging folders included), sorted."""
    return sorted(p.name for p in folder.iterdir())


def test_simulate_json_then_csv_into_missing_folder_writes_nothing(tmp_path, capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", "batch=1", "--json", tmp_path / "ok.json",
                         "--csv", tmp_path / "missing" / "r.csv"), capsys)
    assert "--csv" in msg and "does not exist" in msg
    assert leftovers(tmp_path) == []


def test_simulate_failure_after_work_writes_nothing(tmp_path, capsys):
    # --save-mappings with a GPU preset is refused; --json must not appear either
    msg = error_line(sim("-a", "a100", "-w", "bert-base", "--json", tmp_path / "r.json",
                         "--save-mappings", tmp_path / "m.yaml"), capsys)
    assert "--save-mappings" in msg
    assert leftovers(tmp_path) == []


def test_map_out_and_json_into_missing_folder(tmp_path, capsys):
    error_line(["map", "-a", "sat", "-l", "gemm:M=64,N=64,K=64", "--out", tmp_path / "best.yaml",
                "--json", tmp_path / "nope" / "r.json"], capsys)
    assert leftovers(tmp_path) == []


def test_map_writes_both_on_success(tmp_path, capsys):
    code, _, err = run_cli(["map", "-a", "sat", "-l", "gemm:M=64,N=64,K=64", "--out", tmp_path / "best.yaml",
                            "--json", tmp_path / "r.json"], capsys)
    assert code == 0, err
    assert leftovers(tmp_path) == ["best.yaml", "r.json"]


@pytest.mark.parametrize("argv", [
    ["workloads", "show", "bert-base", "--save", "{d}/sub/w.yaml"],
    ["demo", "--out", "{d}/sub/demo.png"],
    ["demo", "--json", "{d}/sub/demo.json"],
    ["simulate", "-q", "-a", "sat", "-w", "bert-base", "--json", "{d}/sub/r.json"],
    ["map", "-a", "sat", "-l", "gemm:M=8,N=8,K=8", "--out", "{d}/sub/m.yaml"],
    ["dse", "run", "dse/examples/sat_array.yaml", "--out", "{d}/sub/r.sqlite"],
    ["reproduce", "s4", "--json", "{d}/sub/r.json"],
    ["rtl", "validate", "--json", "{d}/sub/r.json"],
])
def test_one_rule_for_missing_folders(tmp_path, capsys, argv):
    msg = error_line([a.format(d=tmp_path) for a in argv], capsys)
    assert "does not exist" in msg and "create it first" in msg
    assert leftovers(tmp_path) == []


def test_demo_out_folder_is_refused_not_suffixed(tmp_path, capsys):
    d = tmp_path / "plots"
    d.mkdir()
    msg = error_line(["demo", "--out", d], capsys)
    assert "--out" in msg
    assert leftovers(tmp_path) == ["plots"] and leftovers(d) == []


def test_two_flags_one_file(tmp_path, capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "--json", tmp_path / "r.x", "--csv", tmp_path / "r.x"),
                     capsys)
    assert "same file" in msg


def test_failed_dse_run_leaves_no_store(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "base": "sat", "workloads": ["no-such-model"]}))
    store = tmp_path / "r.sqlite"
    error_line(["dse", "run", spec, "--out", store, "--json", tmp_path / "r.json"], capsys)
    assert leftovers(tmp_path) == ["s.yaml"]


def test_dse_export_into_missing_folder(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "s", "base": "sat", "axes": {"rows": [8]},
                                    "workloads": [{"name": "bert-base", "params": {"seq_len": 8}}]}))
    code, _, err = run_cli(["dse", "run", spec, "--out", tmp_path / "r.sqlite", "--no-progress"], capsys)
    assert code == 0, err
    before = leftovers(tmp_path)
    error_line(["dse", "export", tmp_path / "r.sqlite", "--csv", tmp_path / "a.csv",
                "--parquet", tmp_path / "nope" / "b.parquet"], capsys)
    assert leftovers(tmp_path) == before


def test_existing_output_replaced_only_on_success(tmp_path, capsys):
    arch = tmp_path / "a.yaml"
    arch.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "r.json"
    out.write_text("old")
    error_line(sim("-a", arch, "-w", "no-such-model", "--json", out), capsys)
    assert out.read_text() == "old"
    code, _, err = run_cli(sim("-a", arch, "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=8", "--json", out),
                           capsys)
    assert code == 0, err
    assert out.read_text().startswith("{")
    assert leftovers(tmp_path) == ["a.yaml", "r.json"]
