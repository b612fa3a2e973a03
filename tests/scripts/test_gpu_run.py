"""scripts/gpu-run.sh without a GPU: it refuses (exit 2, nothing created) where torch sees no CUDA
device, and its budget, step and manifest logic runs against a stub interpreter that says it has
a GPU and records the commands it is given (it measures nothing and writes no rows)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-run.sh"

STUB = r"""#!/usr/bin/env bash
# a stand-in interpreter for tests/scripts/test_gpu_run.py: answers the GPU check, logs nmsim calls
if [ "$1" = "-" ]; then cat > /dev/null; echo "Stub GPU|2.11.0+cu130|3.6.0"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "nmsim.cli.main" ]; then
  shift 2; echo "$*" >> "$STUB_LOG"; sleep "${STUB_SLEEP:-0}"; exit "${STUB_RC:-0}"
fi
echo "stub: unexpected call $*" >&2; exit 9
"""


def run(args, env=None, timeout=60):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_refuses_without_cuda_and_creates_nothing(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "gpu-out"
    res = run(["--out", out, "--python", sys.executable, "--budget-s", 60])
    assert res.returncode == 2, res.stderr
    assert "no CUDA device" in res.stderr and "creates nothing" in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("args,match", [
    (["--budget-s", 60], "--out DIR is required"),
    (["--out", "x", "--budget-s", "-5"], "not a positive number"),
    (["--out", "x", "--budget-s", "soon"], "not a positive number"),
    (["--out", "x", "--resume", "/nonexistent.csv"], "no such file"),
    (["--out", "x", "--frobnicate"], "unknown option '--frobnicate'"),
])
def test_bad_arguments(tmp_path, args, match):
    res = subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and match in res.stderr
    assert not (tmp_path / "x").exists()


@pytest.fixture
def stub(tmp_path):
    py = tmp_path / "stubpython"
    py.write_text(STUB)
    py.chmod(0o755)
    return py, tmp_path / "calls.log"


def test_fake_budget_gives_the_bench_what_is_left(tmp_path, stub):
    py, log = stub
    out = tmp_path / "o"
    t0 = time.monotonic()
    res = run(["--out", out, "--python", py, "--no-install", "--budget-s", 100, "--", "--models", "bert-base"],
              env={"STUB_LOG": str(log), "STUB_SLEEP": "1"})
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    calls = log.read_text().splitlines()
    bench = [c for c in calls if c.startswith("gpu bench")]
    assert len(bench) == 1 and "--models bert-base" in bench[0] and f"--out {out}/gpu-bench.csv" in bench[0]
    left = int(bench[0].split("--budget-s ")[1].split()[0])
    assert 100 - 40 - 2 <= left <= 100 - 40          # budget - elapsed - the validation reserve
    # no bench rows (the stub writes none): only the published corpus is validated, separately
    assert [c.split()[2] for c in calls if c.startswith("gpu validate")] == [f"{ROOT}/measurements/published"]
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["device"] == "Stub GPU" and manifest["torch"] == "2.11.0+cu130" and manifest["budget_s"] == 100
    assert [s["step"] for s in manifest["steps"]] == ["bench", "validate-published"]
    assert all(s["rc"] == 0 for s in manifest["steps"]) and manifest["elapsed_s"] <= took + 1
    assert "bench for" in (out / "gpu-run.log").read_text()


def test_a_budget_too_small_skips_the_bench_and_says_so(tmp_path, stub):
    py, log = stub
    out = tmp_path / "o"
    res = run(["--out", out, "--python", py, "--no-install", "--budget-s", 45], env={"STUB_LOG": str(log)})
    assert res.returncode == 1
    assert "no bench" in res.stdout
    assert not any(c.startswith("gpu bench") for c in log.read_text().splitlines())
    steps = json.loads((out / "run.json").read_text())["steps"]
    assert [(s["step"], s["rc"]) for s in steps] == [("bench", 1), ("validate-published", 0)]


def test_resume_copies_the_earlier_window_in(tmp_path, stub):
    py, log = stub
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("date,device\n")
    out = tmp_path / "o"
    res = run(["--out", out, "--python", py, "--no-install", "--budget-s", 100, "--resume", earlier],
              env={"STUB_LOG": str(log)})
    assert res.returncode == 0
    assert (out / "gpu-bench.csv").read_text() == "date,device\n"
    assert any(c.startswith(f"gpu validate {out}/gpu-bench.csv") for c in log.read_text().splitlines())


def test_a_failing_step_fails_the_run(tmp_path, stub):
    py, log = stub
    res = run(["--out", tmp_path / "o", "--python", py, "--no-install", "--budget-s", 100],
              env={"STUB_LOG": str(log), "STUB_RC": "3"})
    assert res.returncode == 1
    steps = json.loads((tmp_path / "o" / "run.json").read_text())["steps"]
    assert {s["rc"] for s in steps} == {3}
