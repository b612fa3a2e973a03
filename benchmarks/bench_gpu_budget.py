"""Does `nmsim gpu bench --budget-s 300` end within 5% of its budget? A simulation of the budget logic
on CPU (no GPU exists here; nothing below is a GPU measurement).

The bench's own loop (`gpu_kernels.bench._run` with its `_Budget`) runs the full default plan in
priority order (`bench_plan.budget_plan` on the h200 preset, 25 repeats, 10 warm-up calls, 50 MB L2)
against a virtual clock: each row "takes" its estimated wall time times a bias (the estimates are
off by 0.5x, 1x, 2x, 4x: we have never timed a row on the H200) times lognormal noise (sigma 0.5,
seeded). A fixed start-up cost (imports, CUDA init, planning) is spent before the loop. Reported:
rows measured and the elapsed time of the whole call over the budget (goal: 0.95 .. 1.05), plus
the real time the planning takes on this CPU (it runs on the GPU machine's CPU inside the budget).

Run: .venv/bin/python benchmarks/bench_gpu_budget.py [--budget-s 300]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np

START_UP_S = 15.0     # assumed: torch + CUDA init + the plan on the GPU machine, spent before the loop


def simulate(budget_s: float, bias: float, seed: int = 0) -> tuple[int, float, int]:
    """(rows measured, elapsed virtual seconds, rows planned) of one budgeted call."""
    from nmsim.accel import load_arch
    from nmsim.gpu_kernels import bench, bench_plan
    from nmsim.gpu_kernels.measurements import KERNELS

    cases = bench.plan_cases(bench.BENCH_MODELS, bench.DEFAULT_TOKENS, KERNELS, bench.DEFAULT_PATTERNS, "fp16")
    plan = bench_plan.budget_plan(cases, load_arch("h200").gpu, repeats=bench.BUDGET_REPEATS, warmup=10,
                                  l2_bytes=50 * 2 ** 20)
    est = {p.case.key(): p.estimate_s for p in plan}
    rng = np.random.default_rng(seed)
    noise = {k: math.exp(rng.normal(0.0, 0.5)) for k in est}
    clock = [START_UP_S]

    def now() -> float:
        return clock[0]

    def measure(case, ops, timer, warmup, repeats, l2_bytes):
        clock[0] += est[case.key()] * bias * noise[case.key()]
        return {"config": "", "repeats": repeats, "median_s": 1e-5, "min_s": 1e-5, "max_s": 1e-5,
                "max_abs_err": 0.0, "rel_err": 0.0, "notes": "simulated row (benchmark of the budget logic)"}

    settings = bench.RunSettings(device="cpu", timer=None, clocks=lambda: ("", ""), env={k: "" for k in (
        "device", "driver", "cuda", "torch", "triton", "cusparselt")}, repeats=bench.BUDGET_REPEATS, warmup=10,
        l2_bytes=0, progress=False, deadline=budget_s, estimates=est, clock=now, measure=measure)
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench._run(Path(tmp) / "sim.csv", [p.case for p in plan], settings)
    return rows, clock[0], len(plan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-s", type=float, default=300.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    simulate(args.budget_s, 1.0)
    plan_s = time.perf_counter() - t0
    print(f"budget {args.budget_s:.0f} s, start-up {START_UP_S:.0f} s (assumed), plan+loop on this CPU {plan_s:.1f} s")
    print("estimate bias  rows measured / planned  elapsed / budget")
    for bias in (0.5, 1.0, 2.0, 4.0):
        rows, elapsed, planned = simulate(args.budget_s, bias)
        print(f"{bias:>13.1f}  {rows:>7d} / {planned:<13d}  {elapsed / args.budget_s:.3f}")


if __name__ == "__main__":
    main()
