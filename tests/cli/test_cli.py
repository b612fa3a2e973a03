"""The `nmsim` command line, positive paths: every command produces real, checkable content.

Commands run in-process through `cli.main.main(argv)` for speed; one test runs the installed
console script in a subprocess to prove the entry point itself works.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nmsim.accel import load_arch, preset_names, preset_path
from nmsim.workloads import Workload, zoo

from ..conftest import run_cli

PRESETS = ("dense-systolic", "sat", "s4", "t4", "a100", "h100")
ZOO = ("bert-base", "bert-large", "gpt2", "llama2-7b", "llama3-8b", "opt-13b", "vit-b16", "resnet50", "mobilenetv2",
       "resnet18", "alexnet", "vgg16")
LAYER_KEYS = ("name", "op", "M", "N", "K", "sparsity", "cycles", "latency_s", "utilization", "macs_dense",
              "macs_effective", "bytes", "energy_pj")


run = run_cli


def ok(argv: list[str], capsys) -> tuple[str, str]:
    """Run `nmsim argv`, assert success, return (stdout, stderr)."""
    code, out, err = run(argv, capsys)
    assert code == 0, f"nmsim {' '.join(map(str, argv))} exited {code}: {err}"
    assert "Traceback" not in out + err
    return out, err


def simulate_json(tmp_path: Path, capsys, *args: str, name: str = "r.json") -> tuple[dict, str]:
    """`nmsim simulate -q ARGS --json FILE`; returns (parsed JSON, stderr)."""
    path = tmp_path / name
    _, err = ok(["simulate", "-q", *args, "--json", path], capsys)
    return json.loads(path.read_text()), err


def table_row(out: str, first_cell: str) -> list[str]:
    """The whitespace-separated cells of the table row whose first cell is `first_cell` (tables
    have no vertical rules: cli.tables.narrow_table)."""
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row '{first_cell}' in:\n{out}")


# --- presets -------------------------------------------------------------------------------

def test_presets_lists_all_six(capsys):
    out, _ = ok(["presets"], capsys)
    for name in PRESETS:
        assert table_row(out, name)[0] == name
    assert set(PRESETS) <= set(preset_names())
    # the kind column is read from the YAML, not hard-coded
    assert table_row(out, "sat")[1] == "systolic"
    assert table_row(out, "h100")[1] == "gpu"


def test_presets_show_prints_the_sourced_yaml_verbatim(capsys):
    out, _ = ok(["presets", "show", "sat"], capsys)
    assert "# source:" in out or "# assumed:" in out
    assert out == preset_path("sat").read_text()
    # what `nmsim presets show sat > my.yaml` saves is a valid arch file again
    assert yaml.safe_load(out)["name"] == "sat"


# --- workloads -----------------------------------------------------------------------------

def test_workloads_lists_the_zoo(capsys):
    out, _ = ok(["workloads"], capsys)
    assert tuple(zoo.zoo_names()) == ZOO
    for name in ZOO:
        assert table_row(out, name)[0] == name
    assert "seq_len=128" in table_row(out, "bert-base")[1]


def test_workloads_show_with_params(capsys):
    out, _ = ok(["workloads", "show", "bert-base", "-p", "batch=2", "-p", "seq_len=64"], capsys)
    assert "bert-base(batch=2,seq_len=64)" in out
    # columns: op, kind, M, N, K, batch, weights, MACs; M = batch * seq_len tokens
    q = table_row(out, "layer0.attn.q")
    assert q[1:6] == ["gemm", "128", "768", "768", "1"]
    down = table_row(out, "layer11.ffn.down")
    assert down[2:5] == ["128", "768", "3072"]
    score = table_row(out, "layer0.attn.score")
    assert score[1:6] == ["attn_score", "64", "64", "64", "24"]   # seq x seq x head_dim, batch*heads
    assert score[6] == "-"                                          # no weights to prune


@pytest.mark.parametrize("name, args", [("bert-base", ["-p", "batch=2"]), ("resnet50", [])])
def test_workloads_show_save_round_trips(tmp_path, capsys, name, args):
    path = tmp_path / "sub" / f"{name}.yaml"
    path.parent.mkdir()   # nmsim creates no folders (README, output files)
    out, _ = ok(["workloads", "show", name, *args, "--save", path], capsys)
    assert path.is_file()
    assert "saved to" in out
    params = {"batch": 2} if args else {}
    want, got = zoo.build(name, **params), Workload.load(path)
    assert got == want
    assert [op.conv for op in got.ops] == [op.conv for op in want.ops]   # conv shapes are not in ==
    assert got.macs == want.macs


def test_workloads_show_reads_a_workload_file(tmp_path, capsys):
    path = zoo.build("bert-base", batch=1, seq_len=32).save(tmp_path / "b.yaml")
    out, _ = ok(["workloads", "show", path], capsys)
    assert table_row(out, "layer3.ffn.up")[1:5] == ["gemm", "32", "3072", "768"]


# --- simulate ------------------------------------------------------------------------------

def test_simulate_json_csv_contract(tmp_path, capsys):
    j, c = tmp_path / "r.json", tmp_path / "r.csv"
    out, _ = ok(["simulate", "--arch", "sat", "--workload", "bert-base", "-s", "2:8", "--json", j, "--csv", c],
                capsys)
    assert "total" in out                                  # the human table went to stdout
    res = json.loads(j.read_text())
    assert {"arch", "workload", "layers", "total"} <= set(res)
    assert res["arch"] == "sat"
    wl = zoo.build("bert-base")
    assert res["workload"] == wl.name
    all_layers = res["layers"]
    assert [lr["name"] for lr in all_layers] == [op.name for op in wl.layers]     # GEMMs and non-GEMM ops, in order
    layers = [lr for lr in all_layers if lr["nongemm"] is None]
    assert [lr["name"] for lr in layers] == [op.name for op in wl.ops]
    for lr in all_layers:
        missing = [k for k in LAYER_KEYS if k not in lr]
        assert not missing, f"{lr['name']} lacks {missing}"
        assert lr["cycles"] > 0 and lr["latency_s"] > 0 and lr["energy_pj"] > 0
        assert lr["kernel"] is None and set(lr["cycle_breakdown"]) == {"compute_cycles", "buffer_cycles", "dram_cycles"}
    for lr in layers:
        assert 0 < lr["utilization"] <= 1
        assert lr["macs_effective"] <= lr["macs_dense"]
        assert lr["bytes"].get("dram", 0) > 0
    for lr, op in zip(all_layers, wl.layers):
        if lr["nongemm"] is not None:     # a non-GEMM layer: M x N is its output plane, no K, no MACs
            assert (lr["op"], lr["M"], lr["N"], lr["K"], lr["batch"]) == (op.kind, op.rows, op.cols, None, op.batch)
            assert lr["macs_dense"] == lr["macs_effective"] == 0 and lr["utilization"] == 0
            assert lr["nongemm"]["alu_ops"] == op.alu_ops and lr["nongemm"]["fused"] == op.fused
            assert (lr["bytes"]["dram"] == 0) == op.fused                     # a fused activation moves no bytes
    tot = res["total"]
    ng_lat = sum(lr["latency_s"] for lr in all_layers if lr["nongemm"] is not None)
    assert tot["nongemm_latency_s"] == pytest.approx(ng_lat) and 0 < tot["nongemm_share"] < 1
    assert tot["nongemm_share"] == pytest.approx(ng_lat / tot["latency_s"])
    layers = all_layers
    assert tot["cycles"] == sum(lr["cycles"] for lr in layers)
    assert tot["latency_s"] == pytest.approx(sum(lr["latency_s"] for lr in layers))
    assert tot["energy_pj"] == pytest.approx(sum(lr["energy_pj"] for lr in layers))
    assert tot["macs_dense"] == wl.macs
    # pattern bookkeeping: weighted layers ran 2:8, attention matmuls have no weights and stay dense
    for lr in layers:
        if lr["nongemm"] is not None:
            assert (lr["sparsity"], lr["executed_sparsity"]) == ("dense", "dense"), lr["name"]
        elif lr["op"] in ("gemm", "conv2d"):
            assert (lr["sparsity"], lr["executed_sparsity"]) == ("2:8", "2:8"), lr["name"]
            assert lr["macs_effective"] == lr["macs_dense"] // 4
        else:
            assert (lr["sparsity"], lr["executed_sparsity"]) == ("dense", "dense"), lr["name"]
            assert lr["macs_effective"] == lr["macs_dense"]
    with open(c, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(layers)
    assert [r["name"] for r in rows] == [lr["name"] for lr in layers]
    assert sum(int(r["cycles"]) for r in rows) == tot["cycles"]


def test_simulate_2_8_beats_dense_on_sat(tmp_path, capsys):
    dense, _ = simulate_json(tmp_path, capsys, "-a", "sat", "-w", "bert-base", name="dense.json")
    sparse, _ = simulate_json(tmp_path, capsys, "-a", "sat", "-w", "bert-base", "-s", "2:8", name="s.json")
    assert sparse["total"]["latency_s"] < dense["total"]["latency_s"]
    assert sparse["total"]["energy_pj"] < dense["total"]["energy_pj"]
    assert dense["total"]["macs_dense"] == sparse["total"]["macs_dense"]


def test_simulate_unsupported_pattern_runs_dense_with_warning(tmp_path, capsys):
    sparse, err = simulate_json(tmp_path, capsys, "--arch", "dense-systolic", "-w", "bert-base", "-s", "2:4",
                                name="s.json")
    warnings = [line for line in err.splitlines() if line.startswith("nmsim: warning:")]
    assert any("dense-systolic" in w and "2:4" in w for w in warnings), err
    dense, _ = simulate_json(tmp_path, capsys, "--arch", "dense-systolic", "-w", "bert-base", name="d.json")
    assert [lr["cycles"] for lr in sparse["layers"]] == [lr["cycles"] for lr in dense["layers"]]
    assert sparse["total"]["cycles"] == dense["total"]["cycles"]
    assert {lr["executed_sparsity"] for lr in sparse["layers"]} == {"dense"}


def test_simulate_gpu_roofline_h100(tmp_path, capsys):
    assert load_arch("h100").kind == "gpu"
    args = ("-a", "h100", "-w", "llama2-7b", "-p", "seq_len=128")
    sparse, _ = simulate_json(tmp_path, capsys, *args, "-s", "2:4", name="s.json")
    dense, _ = simulate_json(tmp_path, capsys, *args, name="d.json")
    assert sparse["arch"] == "h100"
    assert sparse["workload"] == "llama2-7b(batch=1,seq_len=128)"
    assert len(sparse["layers"]) == len(zoo.build("llama2-7b", seq_len=128).layers)
    assert sparse["total"]["cycles"] == sum(lr["cycles"] for lr in sparse["layers"])
    assert sparse["total"]["latency_s"] > 0
    assert sparse["total"]["latency_s"] <= dense["total"]["latency_s"]
    assert any(lr["executed_sparsity"] == "2:4" for lr in sparse["layers"])
    # non-GEMM ops are memory-bound kernels with a launch overhead (or fused epilogues)
    ng = [lr for lr in sparse["layers"] if lr["nongemm"] is not None]
    assert ng and all(lr["cycle_breakdown"] == {} and lr["kernel"]["name"].startswith("nongemm:") for lr in ng)
    assert all(lr["kernel"]["launch_s"] > 0 for lr in ng if not lr["nongemm"]["fused"])
    assert all(lr["kernel"]["launch_s"] == 0 and lr["bytes"] == {"hbm": 0, "l2": 0} for lr in ng if lr["nongemm"]["fused"])
    # the kernel's details travel in `kernel`; GPU layers have no systolic cycle terms
    for lr in sparse["layers"] + dense["layers"]:
        if lr["nongemm"] is not None:
            continue
        k = lr["kernel"]
        assert lr["cycle_breakdown"] == {}
        assert set(k) == {"name", "tile", "split_k", "ctas", "waves", "occupancy", "compute_s", "memory_s", "hbm_s",
                          "l2_s", "launch_s", "bound"}
        assert set(k["tile"]) == {"block_m", "block_n", "block_k", "num_warps", "num_stages", "group_m"}
        assert k["name"] == ("cusparselt" if lr["executed_sparsity"] == "2:4" else "cublas")
        assert k["bound"] == lr["bottleneck"] and k["memory_s"] == max(k["hbm_s"], k["l2_s"])
        assert lr["latency_s"] >= (max(k["compute_s"], k["memory_s"]) + k["launch_s"]) * (1 - 1e-12)


def test_simulate_accepts_a_workload_file(tmp_path, capsys):
    path = tmp_path / "tiny_wl.yaml"
    path.write_text(yaml.safe_dump({"name": "two-linears", "ops": [
        {"name": "fc1", "kind": "gemm", "M": 64, "N": 128, "K": 256},
        {"name": "fc2", "kind": "gemm", "M": 64, "N": 32, "K": 128, "sparsity": "2:4"},
    ]}))
    res, _ = simulate_json(tmp_path, capsys, "-a", "sat", "-w", str(path))
    assert res["workload"] == "two-linears"
    assert [(lr["name"], lr["M"], lr["N"], lr["K"]) for lr in res["layers"]] == [("fc1", 64, 128, 256),
                                                                              ("fc2", 64, 32, 128)]
    assert [lr["executed_sparsity"] for lr in res["layers"]] == ["dense", "2:4"]   # per-op pattern kept
    assert res["total"]["macs_dense"] == 64 * 128 * 256 + 64 * 32 * 128


def test_simulate_forced_dataflow_and_per_layer(tmp_path, capsys):
    res, _ = simulate_json(tmp_path, capsys, "-a", "sat", "-w", "bert-base", "--dataflow", "os")
    assert {lr["mapping"]["dataflow"] for lr in res["layers"] if lr["nongemm"] is None} == {"os"}
    assert all(lr["mapping"] is None for lr in res["layers"] if lr["nongemm"] is not None)
    out, _ = ok(["simulate", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "--per-layer"], capsys)
    assert table_row(out, "layer11.ffn.down")[1] == "1"
    assert table_row(out, "layer11.norm2")[1:4] == ["1", "128x768", "layernorm"]
    assert table_row(out, "layer11.ffn.gelu")[2:5] == ["128x3072", "gelu", "fused"]
    assert "non-GEMM ops" in out and "of latency" in out
    assert table_row(out, "total")[1] == str(len(zoo.build("bert-base").layers))


# --- demo ----------------------------------------------------------------------------------

def test_demo_writes_png_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()   # nmsim creates no folders (README, output files)
    out, _ = ok(["demo", "--out", "tmp/demo.png", "--json", "tmp/demo.json"], capsys)
    png = tmp_path / "tmp" / "demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 1000
    rows = json.loads((tmp_path / "tmp" / "demo.json").read_text())["rows"]
    assert len(rows) == 12
    assert {(r["arch"], r["pattern"]) for r in rows} == {(a, p) for a in ("dense-systolic", "sat", "s4")
                                                           for p in ("dense", "2:4", "2:8", "1:8")}
    for r in rows:
        if r["pattern"] == "dense":
            assert r["speedup"] == 1.0
        assert r["latency_s"] > 0
    sat = {r["pattern"]: r for r in rows if r["arch"] == "sat"}
    assert sat["2:8"]["speedup"] > 1.0
    assert "plot written to" in out


# --- the real console script ---------------------------------------------------------------

def test_console_script_entry_point(tmp_path):
    script = Path(sys.executable).with_name("nmsim")
    cmd = [str(script)] if script.is_file() else (shutil.which("nmsim") and ["nmsim"]) or \
        [sys.executable, "-m", "nmsim.cli.main"]
    j = tmp_path / "r.json"
    proc = subprocess.run(cmd + ["simulate", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-s", "2:4", "-q",
                                 "--json", str(j)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    res = json.loads(j.read_text())
    assert res["arch"] == "sat" and res["workload"] == "bert-base(batch=1,seq_len=128)"
    assert res["total"]["cycles"] == sum(lr["cycles"] for lr in res["layers"])
    help_ = subprocess.run(cmd + ["--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert help_.returncode == 0 and "simulate" in help_.stdout
