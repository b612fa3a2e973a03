"""Bad input never produces a traceback: exit code 2 and ONE line `nmsim: error: ...` on stderr
that names the problem (and, where one exists, the fix). Plus the documented pad-with-warning
policy for K that M does not divide.
"""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from nmsim.accel import load_arch
from nmsim.workloads import Workload
from nmsim.workloads.ops import Op

from ..conftest import TINY, run_cli


run = run_cli


def error_line(argv: list, capsys) -> str:
    """Assert the bad-input contract for `nmsim argv` and return the message after the prefix."""
    code, out, err = run(argv, capsys)
    assert "Traceback" not in out + err
    assert code == 2, f"exit code {code}; stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one stderr line, got {lines!r}"
    assert lines[0].startswith("nmsim: error: "), lines[0]
    msg = lines[0][len("nmsim: error: "):]
    assert msg.strip()
    return msg


def arch_file(tmp_path: Path, edit=None, name: str = "arch.yaml") -> Path:
    """The conftest TINY arch written as YAML after `edit(spec)`."""
    spec = copy.deepcopy(TINY)
    if edit:
        edit(spec)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def sim(*args) -> list:
    return ["simulate", "-q", *args]


# --- names -----------------------------------------------------------------------------------

def test_unknown_preset_suggests_closest(capsys):
    msg = error_line(sim("-a", "sta", "-w", "bert-base"), capsys)
    assert "unknown preset 'sta'" in msg and "did you mean 'sat'" in msg


def test_presets_show_unknown_preset(capsys):
    msg = error_line(["presets", "show", "sta"], capsys)
    assert "'sta'" in msg and "'sat'" in msg


def test_unknown_zoo_model_suggests_closest(capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-bse"), capsys)
    assert "'bert-bse'" in msg and "did you mean 'bert-base'" in msg
    msg = error_line(["workloads", "show", "bert-bse"], capsys)
    assert "did you mean 'bert-base'" in msg


# --- arch YAML -------------------------------------------------------------------------------

def test_arch_yaml_malformed_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "broken_arch.yaml"
    path.write_text("name: broken\nkind: systolic\ncompute:\n  rows: 4\n   cols: 4\n")   # bad indent, line 5
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert f"{path}:5" in msg
    assert "broken_arch.yaml" in msg and "malformed YAML" in msg


def test_arch_yaml_unknown_field_suggests_closest(tmp_path, capsys):
    path = arch_file(tmp_path, lambda s: s["compute"].update(rowz=s["compute"].pop("rows")))
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert "rowz" in msg and "did you mean 'rows'" in msg
    assert "arch.yaml:" in msg


def test_arch_yaml_missing_required_field(tmp_path, capsys):
    path = arch_file(tmp_path, lambda s: s["compute"].pop("clock_hz"))
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert "compute.clock_hz" in msg and "missing" in msg and "arch.yaml:" in msg


def test_arch_yaml_missing_section(tmp_path, capsys):
    path = arch_file(tmp_path, lambda s: s.pop("dram"))
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert "'dram'" in msg


@pytest.mark.parametrize("rows", [0, -4])
def test_arch_yaml_rows_not_positive(tmp_path, capsys, rows):
    path = arch_file(tmp_path, lambda s: s["compute"].update(rows=rows))
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert "compute.rows" in msg and "greater than 0" in msg and f"got {rows}" in msg
    assert "arch.yaml:4" in msg     # the line of `rows:` under `compute:`


# --- the memory hierarchy and the energy basis (docs/MODEL.md 3.8, 3.9) ------------------------

def test_operand_without_a_path_to_the_array(tmp_path, capsys):
    path = arch_file(tmp_path, lambda s: s["memory"][0].update(holds=["weights", "inputs"]))
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert msg.startswith(f"{path}:") and "memory: operand 'outputs' has no path from DRAM to the array" in msg


def test_level_smaller_than_the_smallest_tile(tmp_path, capsys):
    def add_acc(s):
        s["memory"].append({"name": "acc", "size_bytes": 8, "read_bytes_per_cycle": 8, "write_bytes_per_cycle": 8,
                            "holds": ["outputs"]})
        s["energy"]["per_byte_pj"]["acc"] = 0.5
    path = arch_file(tmp_path, add_acc)
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "size_bytes: 8" in ln)
    assert msg.startswith(f"{path}:{line}: memory.1.size_bytes: level 'acc' holds 8 B"), msg
    assert "smallest mapping's tile, needs 32 B; enlarge size_bytes" in msg


def test_tech_table_missing_an_action(tmp_path, capsys):
    def refer(s):
        s["tech"] = "45nm"
        s["energy"]["mac_pj"] = "mac_pj.int4_acc32"
    path = arch_file(tmp_path, refer)
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert msg.startswith(f"{path}:") and "energy.mac_pj: tech table '45nm'" in msg and "int4_acc32" in msg


def test_arch_yaml_not_found(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    msg = error_line(sim("-a", path, "-w", "bert-base"), capsys)
    assert "nope.yaml" in msg and "not found" in msg


# --- sparsity patterns -----------------------------------------------------------------------

@pytest.mark.parametrize("pattern, needles", [
    ("5:4", ("'5:4'", "cannot exceed")),
    ("two:four", ("'two:four'", "N:M (e.g. 2:4)")),
    ("unstructured:1.5", ("'unstructured:1.5'", "[0, 1)", "1.5")),
    ("0:4", ("'0:4'", "at least 1")),
])
def test_bad_sparsity_pattern(capsys, pattern, needles):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-s", pattern), capsys)
    for n in needles:
        assert n in msg, msg


# --- zoo parameters --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "-3"])
def test_zoo_param_not_positive(capsys, value):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", f"batch={value}"), capsys)
    assert "'batch'" in msg and "positive integer" in msg


def test_zoo_param_not_integer(capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", "batch=x"), capsys)
    assert "batch=x" in msg and "integer" in msg


def test_zoo_param_malformed_pair(capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", "batch"), capsys)
    assert "KEY=VALUE" in msg


def test_zoo_param_unknown(capsys):
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", "batchh=2"), capsys)
    assert "unknown parameter 'batchh'" in msg and "did you mean 'batch'" in msg
    msg = error_line(sim("-a", "sat", "-w", "resnet50", "-p", "seq_len=64"), capsys)
    assert "'seq_len'" in msg and "image_size" in msg       # lists what is allowed


# --- workload YAML ---------------------------------------------------------------------------

def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_workload_zero_dimension(tmp_path, capsys):
    path = write(tmp_path / "wl.yaml", "name: w\nops:\n  - {name: a, kind: gemm, M: 16, N: 16, K: 16}\n"
                                       "  - {name: b, kind: gemm, M: 16, N: 0, K: 16}\n")
    msg = error_line(sim("-a", "sat", "-w", path), capsys)
    assert "wl.yaml:4" in msg and "ops.1.N" in msg and "greater than 0" in msg


def test_workload_malformed_yaml(tmp_path, capsys):
    path = write(tmp_path / "wl.yaml", "name: w\nops:\n  - {name: a, kind: gemm, M: 16\n  - name: b\n")
    msg = error_line(sim("-a", "sat", "-w", path), capsys)
    assert "wl.yaml:" in msg and "malformed YAML" in msg


def test_workload_unknown_key(tmp_path, capsys):
    path = write(tmp_path / "wl.yaml", "name: w\nops:\n  - {name: a, kind: gemm, M: 16, N: 16, K: 16, sparsty: '2:4'}\n")
    msg = error_line(sim("-a", "sat", "-w", path), capsys)
    assert "wl.yaml:3" in msg and "sparsty" in msg and "did you mean 'sparsity'" in msg


def test_workload_bad_op_pattern(tmp_path, capsys):
    path = write(tmp_path / "wl.yaml", "name: w\nops:\n  - {name: a, kind: gemm, M: 16, N: 16, K: 16, sparsity: '5:4'}\n")
    msg = error_line(sim("-a", "sat", "-w", path), capsys)
    assert "wl.yaml:3" in msg and "cannot exceed" in msg


def test_workload_masks_file_missing(tmp_path, capsys):
    wl = Workload("masked", [Op("fc", "gemm", M=8, N=4, K=8)], masks={"fc": np.ones((4, 8), dtype=bool)})
    path = wl.save(tmp_path / "masked.yaml")
    npz = tmp_path / "masked.masks.npz"
    assert npz.is_file()
    npz.unlink()
    msg = error_line(sim("-a", "sat", "-w", path), capsys)
    assert "masks file" in msg and "masked.masks.npz" in msg and "not found" in msg


def test_workload_file_not_found(tmp_path, capsys):
    msg = error_line(sim("-a", "sat", "-w", tmp_path / "gone.yaml"), capsys)
    assert "gone.yaml" in msg and "not found" in msg


def test_param_with_workload_file(tmp_path, capsys):
    path = Workload("w", [Op("fc", "gemm", M=8, N=4, K=8)]).save(tmp_path / "w.yaml")
    msg = error_line(sim("-a", "sat", "-w", path, "-p", "batch=2"), capsys)
    assert "--param" in msg and "zoo" in msg


# --- dataflows -------------------------------------------------------------------------------

def test_dataflow_the_preset_lacks(capsys):
    supported = load_arch("s4").compute.dataflows
    lacking = [d for d in ("ws", "os", "is") if d not in supported]
    if not lacking:
        pytest.skip("s4 supports every dataflow; covered by test_dataflow_the_arch_file_lacks")
    msg = error_line(sim("-a", "s4", "-w", "bert-base", "--dataflow", lacking[0]), capsys)
    assert f"--dataflow {lacking[0]}" in msg and "s4 supports" in msg


def test_dataflow_the_arch_file_lacks(tmp_path, capsys):
    path = arch_file(tmp_path, lambda s: s["compute"].update(dataflows=["ws"]))
    msg = error_line(sim("-a", path, "-w", "bert-base", "--dataflow", "os"), capsys)
    assert "--dataflow os" in msg and "tiny supports ws" in msg


def test_dataflow_on_gpu_preset(capsys):
    msg = error_line(sim("-a", "h100", "-w", "bert-base", "--dataflow", "ws"), capsys)
    assert "h100" in msg and "GPU" in msg


# --- output paths ----------------------------------------------------------------------------

def test_json_into_missing_folder(tmp_path, capsys):
    target = tmp_path / "no_such_dir" / "r.json"
    msg = error_line(sim("-a", "sat", "-w", "bert-base", "-p", "batch=1", "--json", target), capsys)
    assert "r.json" in msg and "does not exist" in msg and "create it first" in msg


def test_presets_show_without_name(capsys):
    msg = error_line(["presets", "show"], capsys)
    assert "NAME" in msg


# --- K that M does not divide: padded, with a warning (documented policy) --------------------

def test_k_not_divisible_by_m_is_padded_with_warning(tmp_path, capsys):
    j = tmp_path / "r.json"
    code, out, err = run(sim("-a", "sat", "-w", "resnet50", "-s", "2:8", "--json", j), capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    warnings = [line for line in err.splitlines() if line.startswith("nmsim: warning:")]
    assert all(line.startswith("nmsim: warning:") for line in err.splitlines())
    pad = [w for w in warnings if "padded" in w and "conv1" in w]
    assert pad and "K=147" in pad[0] and "152" in pad[0], err
    import json
    conv1 = next(lr for lr in json.loads(j.read_text())["layers"] if lr["name"] == "conv1")
    assert conv1["K"] == 147 and conv1["executed_sparsity"] == "2:8"


# --- argparse --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["simulate", "-w", "bert-base"], ["simulate", "-a", "sat"], [],
                                  ["frobnicate"], ["simulate", "-a", "sat", "-w", "bert-base", "--dataflow", "xs"]])
def test_argparse_errors_exit_2(capsys, argv):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    assert "error:" in err


# --- through a real process boundary: nothing leaks as a traceback ---------------------------

def test_bad_input_in_a_real_process(tmp_path):
    script = Path(sys.executable).with_name("nmsim")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "nmsim.cli.main"]
    proc = subprocess.run(cmd + ["simulate", "-a", "sta", "-w", "bert-base"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "nmsim: error: unknown preset 'sta' (did you mean 'sat'?); `nmsim presets` lists them, or pass a YAML path"]
