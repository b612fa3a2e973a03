"""Result files carry their provenance and match their JSON Schema (specfile/results.py)."""
from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

import pytest

from nmsim.specfile import SpecError
from nmsim.specfile.results import RESULT_KINDS, SCHEMA_DIR, git_commit, nmsim_version, validate_result
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_one_schema_per_kind_and_each_is_valid():
    names = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert names == set(RESULT_KINDS) | {"provenance"}
    import jsonschema

    for p in SCHEMA_DIR.glob("*.schema.json"):
        jsonschema.Draft202012Validator.check_schema(json.loads(p.read_text()))


def test_simulate_result_carries_provenance(tmp_path, capsys):
    out = tmp_path / "r.json"
    code, _, err = run_cli(["simulate", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=16",
                            "--engine", "detailed", "-q", "--json", out], capsys)
    assert code in (0, None), err
    doc = json.loads(out.read_text())
    prov = doc["provenance"]
    assert prov["kind"] == "simulate" and prov["engine"] == "detailed"
    assert prov["nmsim_version"] == nmsim_version() != ""
    commit, _ = git_commit()
    assert prov["git_commit"] == commit and (commit is None or len(commit) == 40)
    assert prov["command"][:2] == ["nmsim", "simulate"] and "--engine" in prov["command"]
    arch = prov["arch"]
    assert arch["name"] == "sat" and arch["path"].endswith("accel/presets/sat.yaml")
    canon = json.dumps(arch["spec"], sort_keys=True, separators=(",", ":"))
    assert arch["sha256"] == hashlib.sha256(canon.encode()).hexdigest()
    from nmsim.accel import Arch

    assert Arch.model_validate(arch["spec"]).name == "sat"        # the spec rebuilds the arch
    assert prov["workload"] == {"kind": "zoo", "text": "bert-base", "params": {"batch": 1, "seq_len": 16}}


def test_map_and_dse_results_record_seeds_and_inputs(tmp_path, capsys):
    out = tmp_path / "m.json"
    code, _, err = run_cli(["map", "-a", "sat", "--layer", "gemm:M=64,N=64,K=64", "--mapper", "random",
                            "--samples", "200", "--seed", "7", "--json", out], capsys)
    assert code in (0, None), err
    prov = json.loads(out.read_text())["provenance"]
    assert prov["seeds"] == {"seed": 7} and prov["workload"]["text"] == "gemm:M=64,N=64,K=64"


def test_invalid_documents_are_refused():
    doc = {"arch": "x"}
    with pytest.raises(SpecError, match="simulate result does not match"):
        validate_result(doc, "simulate")
    with pytest.raises(SpecError, match="result kind"):
        validate_result({"provenance": {"kind": "nope"}})


def test_every_cli_json_goes_through_the_writer():
    """No command writes a --json result but through specfile.results (so every one carries
    provenance and is validated in the suite)."""
    offenders = []
    for path in (REPO / "cli").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dump", "dumps"):
                if isinstance(node.func.value, ast.Name) and node.func.value.id == "json":
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_version_names_the_commit_results_record(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    commit, _ = git_commit()
    assert code == 0 and out.startswith(f"nmsim {nmsim_version()}")
    assert commit is None or commit[:12] in out
