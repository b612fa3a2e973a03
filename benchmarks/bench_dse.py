"""Speed and memory of a design-space sweep: 10,000 design points x BERT-base, fast model.

The sweep is a full grid on the sat base: rows (5) x cols (5) x supported N:M set (4) x buffer
size (5) x DRAM bandwidth (4) x clock (5) = 10,000 designs, BERT-base (batch 8, seq 128) at 2:8,
one result row per design, written to a fresh SQLite store (the whole `nmsim dse run` path:
spec, sampling, skip check, evaluation, store writes). Each run is a separate process so its peak
RSS is its own. Reported:

* wall time (imports, spec, sampling, evaluation, store writes) and points/s with the local
  process pool (all cores) and in one process;
* the baseline measured in the same run: one `sim.simulate_workload` call per design (what a
  plain loop over designs would do), timed on a 100-design subsample and scaled to 10,000;
* peak RSS of the sweep process and of its largest worker, at 10,000 and at 40,000 designs
  (memory bounded: results are streamed to the store, not held);
* the same 10,000 designs on a Dask LocalCluster (cluster start included);
* Pareto fronts of 10,000 uniform random points over 2 and 3 objectives.

Run: .venv/bin/python benchmarks/bench_dse.py
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bench_spec(points: int) -> dict:
    """The benchmark grid; `points` a multiple of 2,000 (the clock axis grows with it)."""
    return {
        "name": f"bench-{points}", "base": "sat",
        "axes": {"rows": [8, 16, 32, 64, 128], "cols": [8, 16, 32, 64, 128],
                 "nm_patterns": ["dense", ["2:4"], ["2:4", "2:8"], ["1:2", "1:4", "1:8", "2:8"]],
                 "buffer_bytes": [262144, 1048576, 4194304, 8388608, 16777216],
                 "dram_bytes_per_s": [1.92e10, 3.84e10, 7.68e10, 1.5e11],
                 "clock_hz": {"min": 1e8, "max": 5e8, "steps": points // 2000}},
        "workloads": ["bert-base"], "patterns": ["2:8"],
    }


def one_run(points: int, workers: int, executor: str = "local") -> dict:
    """Run the sweep once in this (fresh) process, imports included; returns timings and peak RSS (MiB)."""
    t0 = time.perf_counter()
    from nmsim.dse import run_sweep
    from nmsim.dse.spec import sweep_from_dict

    with tempfile.TemporaryDirectory() as tmp:
        sweep = sweep_from_dict(bench_spec(points))
        s = run_sweep(sweep, Path(tmp) / "bench.sqlite", executor=executor, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        size = (Path(tmp) / "bench.sqlite").stat().st_size
    assert s.evaluated == points and s.rows_written == points and s.errors == 0, s
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"points": points, "workers": workers, "executor": executor, "wall_s": wall, "points_per_s": points / wall,
            "rss_mib": kib / 1024, "worker_rss_mib": child / 1024, "store_mib": size / 2**20}


def baseline(sample: int = 100) -> float:
    """Seconds per design of the plain loop: build the arch, simulate_workload(BERT-base, 2:8)."""
    from nmsim.dse.design import DesignBuilder
    from nmsim.dse.space import design_points
    from nmsim.dse.spec import sweep_from_dict
    from nmsim.sim import simulate_workload

    sweep = sweep_from_dict(bench_spec(10_000))
    pts, n = design_points(sweep)
    pts = list(pts)[:: n // sample][:sample]
    b = DesignBuilder(sweep)
    wl = sweep.workloads[0].workload
    t0 = time.perf_counter()
    for p in pts:
        arch, _ = b.build(b.descriptor(p))
        simulate_workload(arch, wl, "2:8")
    return (time.perf_counter() - t0) / len(pts)


def pareto_times(n: int = 10_000) -> tuple[float, float]:
    """Seconds of dse.pareto_mask on n uniform random points, 2 and 3 objectives."""
    import numpy as np

    from nmsim.dse.pareto import pareto_mask

    v = np.random.default_rng(0).random((n, 3))
    out = []
    for k in (2, 3):
        t0 = time.perf_counter()
        pareto_mask(v[:, :k])
        out.append(time.perf_counter() - t0)
    return out[0], out[1]


def run_child(points: int, workers: int, executor: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(points), "--workers", str(workers),
                          "--executor", executor],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--executor", default="local", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one_run(args.one, args.workers, args.executor)))
        return
    cores = os.cpu_count()
    per_point = baseline()
    print(f"baseline: simulate_workload per design, 100-design sample: {per_point * 1e3:.1f} ms/design "
          f"-> {per_point * 10_000:.0f} s for 10,000 (single process)")
    for points, workers, executor in ((10_000, cores, "local"), (10_000, 1, "local"), (40_000, cores, "local"),
                                      (10_000, cores, "dask")):
        r = run_child(points, workers, executor)
        print(f"{points:,} designs x BERT-base, {executor}, {workers} worker(s): {r['wall_s']:.2f} s, "
              f"{r['points_per_s']:,.0f} points/s, peak RSS {r['rss_mib']:.0f} MiB "
              f"(largest worker {r['worker_rss_mib']:.0f} MiB), store {r['store_mib']:.1f} MiB"
              + (f"; {per_point * points / r['wall_s']:.0f}x the baseline loop" if points == 10_000 else ""))
    t2, t3 = pareto_times()
    print(f"Pareto front of 10,000 random points: 2 objectives {t2 * 1e3:.1f} ms, 3 objectives {t3 * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
