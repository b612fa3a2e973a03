"""What a first-time user sees on the command line: the README names every preset, tables fit 80
columns when piped, `#` stands only for numbers that differ inside a group, the shipped SCALE-Sim
samples run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from nmsim.accel import preset_names
from nmsim.cli.tables import group_label

from ..conftest import run_cli

REPO = Path(__file__).resolve().parents[2]


def test_readme_lists_every_preset():
    tour = (REPO / "README.md").read_text()
    line = next(ln for ln in tour.splitlines() if ln.startswith("nmsim presets "))
    listed = set(re.findall(r"[a-z0-9-]+", line.split("#", 1)[1]))
    assert set(preset_names()) <= listed, set(preset_names()) - listed


def test_group_labels_mark_only_the_numbers_that_differ():
    assert group_label(["conv1"]) == "conv1"
    assert group_label(["layer1.0.conv1", "layer1.1.conv1"]) == "layer1.#.conv1"
    assert group_label([f"layer{i}.attn.q" for i in range(12)]) == "layer#.attn.q"
    assert group_label(["layer2.0.conv2", "layer2.1.conv1", "layer2.1.conv2"]) == "layer2.#.conv#"


def _piped(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run([sys.executable, "-m", "nmsim", *args], capture_output=True, text=True, env=env, timeout=300,
                         cwd=REPO)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_tables_fit_80_columns_when_piped():
    out = _piped("simulate", "-a", "sat", "-w", "bert-base", "-p", "batch=1", "-p", "seq_len=32", "--engine",
                 "detailed", "-s", "2:8")
    lines = out.splitlines()
    # sentences stay whole (a pipe keeps them greppable); every table line fits 80 columns
    sentences = [ln for ln in lines if ln.startswith("non-GEMM ops")]
    assert len(sentences) == 1 and "of latency" in sentences[0]
    assert max(len(ln) for ln in lines if ln not in sentences) <= 80
    assert not any("\x1b[" in ln for ln in lines)                    # no colour codes into a pipe
    assert any(ln.split()[:2] == ["layer#.ffn.up", "12"] for ln in lines if ln.strip())
    assert "stall cycles by cause" in out and "dram bw" in out
    assert "layer#.attn.q" in out


def test_single_layers_keep_their_names(capsys):
    code, out, err = run_cli(["simulate", "-a", "sat", "-w", "resnet18"], capsys)
    assert code in (0, None), err
    first = [ln.split()[0] for ln in out.splitlines() if ln.strip()]
    assert "conv1" in first and "fc" in first and "conv#" not in first


def test_shipped_scalesim_samples_run(tmp_path, capsys):
    ex = REPO / "examples" / "scalesim"
    for topo in ("bert_layer.csv", "resnet18_stem.csv"):
        code, out, err = run_cli(["simulate", "--scalesim-cfg", ex / "scale.cfg", "--scalesim-topology", ex / topo,
                                  "--json", tmp_path / "r.json", "-q"], capsys)
        assert code in (0, None), err
        assert (tmp_path / "r.json").read_text().count('"name"') >= 4
