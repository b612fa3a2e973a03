"""Running sweeps: a SIGKILLed `nmsim dse run` resumes with no lost and no duplicated rows; the
process pool, a real Dask LocalCluster and the in-process path store identical rows; a failed
task records its error; the adaptive search runs and resumes."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmsim.dse import run_sweep
from nmsim.dse.store import ResultStore

from .test_dse_spec import write_sweep

ROOT = Path(__file__).resolve().parents[2]


def row_set(path: Path) -> set[tuple]:
    """Every stored row's identity and content (not its id or timestamp)."""
    db = sqlite3.connect(path)
    try:
        return set(db.execute("SELECT result_key, point_key, workload, pattern, inputs, outputs, error, latency_s, "
                              "energy_pj, area_mm2 FROM results"))
    finally:
        db.close()


def stored_rows(path: Path) -> int:
    """Rows committed so far (0 while the store is not there yet)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def big_spec(tmp_path: Path) -> Path:
    # 8 x 8 x 4 x 4 x 2 = 2048 designs, 2 patterns, a few with buffers too small (errors)
    return write_sweep(tmp_path, axes={"rows": [4, 8, 12, 16, 24, 32, 48, 64], "cols": [4, 8, 12, 16, 24, 32, 48, 64],
                                       "nm_patterns": ["dense", "2:4", ["2:4", "2:8"], ["1:8", "2:8"]],
                                       "buffer_bytes": [4096, 262144, 1048576, 8388608],
                                       "clock_hz": [1e8, 8e8]},
                       patterns=["dense", "2:8"], name="big.yaml")


def test_sigkill_then_rerun_loses_and_duplicates_nothing(tmp_path):
    psutil = pytest.importorskip("psutil")
    spec, out = big_spec(tmp_path), tmp_path / "killed.sqlite"
    total_rows = 2048 * 2
    cmd = [sys.executable, "-m", "nmsim.cli.main", "dse", "run", str(spec), "--out", str(out), "--workers", "2",
           "--chunk", "16", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers = []
    try:
        deadline = time.monotonic() + 60
        while stored_rows(out) == 0:
            assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no rows after 60 s"
            time.sleep(0.005)
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        # the pool's workers notice their parent is gone and exit by themselves
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"orphaned workers still running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in workers:
            if w.is_running():
                w.kill()
        proc.stderr.close()
    partial = stored_rows(out)
    assert 0 < partial < total_rows, f"kill landed outside the run ({partial} rows)"

    summary = run_sweep(spec, out, workers=1, progress=False)
    assert summary.skipped > 0 and summary.evaluated < 2048 and summary.evaluated + summary.skipped == 2048
    clean = tmp_path / "clean.sqlite"
    run_sweep(spec, clean, workers=1, progress=False)
    db = sqlite3.connect(out)
    n, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT result_key) FROM results").fetchone()
    db.close()
    assert n == distinct == total_rows
    assert row_set(out) == row_set(clean)


SMALL_AXES = {"rows": [8, 16, 32], "cols": [16, 32], "nm_patterns": ["dense", ["2:4", "2:8"]],
              "buffer_bytes": [4096, 8388608], "dram_bytes_per_s": [3e10, 1e11]}


def test_process_pool_matches_in_process(tmp_path):
    spec = write_sweep(tmp_path, axes=SMALL_AXES)
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    run_sweep(spec, a, workers=1, progress=False)
    s = run_sweep(spec, b, workers=2, chunk=5, progress=False)
    assert s.evaluated == 48 and s.rows_written == 96
    assert row_set(a) == row_set(b)


def test_dask_local_cluster_matches_in_process(tmp_path):
    pytest.importorskip("distributed")
    spec = write_sweep(tmp_path, axes=SMALL_AXES)
    a, b = tmp_path / "a.sqlite", tmp_path / "dask.sqlite"
    run_sweep(spec, a, workers=1, progress=False)
    # a real LocalCluster: two single-threaded worker processes (processes=True)
    s = run_sweep(spec, b, executor="dask", workers=2, chunk=6, progress=False)
    assert (s.evaluated, s.rows_written) == (48, 96)
    assert row_set(a) == row_set(b)


def test_a_failed_task_records_errors_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import nmsim.dse.executors as ex
    real = ex.evaluate_chunk

    def flaky(sweep, items):
        if any(p.get("rows") == 16 for _, p in items):
            raise RuntimeError("worker lost")
        return real(sweep, items)

    monkeypatch.setattr(ex, "evaluate_chunk", flaky)
    spec = write_sweep(tmp_path, axes={"rows": [8, 16, 32]}, patterns=["2:8"])
    out = tmp_path / "f.sqlite"
    s = run_sweep(spec, out, workers=1, chunk=1, progress=False)
    assert (s.evaluated, s.rows_written, s.errors) == (3, 3, 1)
    with ResultStore(out) as st:
        errs = list(st.rows(errors=True))
    assert len(errs) == 1 and errs[0]["inputs"]["rows"] == 16
    assert errs[0]["error"] == "task failed: RuntimeError: worker lost"


def test_adaptive_search_runs_and_resumes(tmp_path):
    pytest.importorskip("optuna")
    spec = write_sweep(tmp_path, axes={"rows": {"min": 8, "max": 128, "log": True}, "cols": [16, 32, 64],
                                       "nm_patterns": ["dense", ["2:4", "2:8"]]},
                       patterns=["2:8"], objectives=["latency", "energy", "area"],
                       sampling={"method": "adaptive", "n": 60, "seed": 0, "population": 20})
    out = tmp_path / "ad.sqlite"
    first = run_sweep(spec, out, workers=1, progress=False)
    assert first.points == 60 and 20 <= first.evaluated <= 60 and first.errors == 0
    # every proposal is accounted for: evaluated, or a repeat of a stored design
    assert first.evaluated + first.skipped + first.repeated == first.points
    with ResultStore(out) as st:
        stored = st.count()
        rows = [r["inputs"] for r in st.rows()]
    assert stored == first.rows_written == first.evaluated
    assert all(8 <= r["rows"] <= 128 and r["cols"] in (16, 32, 64) for r in rows)
    again = run_sweep(spec, out, workers=1, progress=False)
    assert again.skipped == stored and again.rows_written == again.evaluated
    with ResultStore(out) as st:
        db_rows = st.count()
    assert db_rows == stored + again.rows_written
