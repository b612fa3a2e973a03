"""Speed of the fast analytic model.

Reports (1) layers per second over the BERT-base, ResNet-50 and Llama-2-7B zoo workloads
(default mapping + cost, the `nmsim simulate` path), GEMMs only and with the non-GEMM operators
on the vector unit, and the time the non-GEMM ops add (ratio in the same run; least CPU time of
5 runs, steadier than wall time on a shared machine), (2) the time of one 512x768x768 GEMM
(goal: under 1 ms), and (3) candidates per second of the vectorized cost function on a batch of
random mappings, with the per-call path measured in the same run as the baseline ratio; each on
`--arch` (default dense-systolic; `--arch sat`: one on-chip level and a fixed array, the same in
every version of the presets since issue 18, so runs of two versions compare side by side). With
`--hierarchy` also (4) the 512x768x768 GEMM on dense-systolic (global buffer + accumulators), s4
(accumulators, flexible array) and a three-tier arch (dense-systolic plus per-PE weight
registers): the per-layer goal with a three-level hierarchy.

Run: .venv/bin/python benchmarks/bench_sim.py [--arch NAME] [--hierarchy]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nmsim.accel import load_arch
from nmsim.mapping import Candidates, Mapping
from nmsim.problem import Gemm
from nmsim.sim import HwParams, gemm_cost, simulate_op, simulate_workload
from nmsim.workloads import Op, Workload, zoo


def best_of(fn, repeat: int = 7, number: int = 1) -> float:
    """Median over `repeat` runs of the mean time of `number` calls (s)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def cpu_min(fn, repeat: int = 5) -> float:
    """Least CPU time (process_time) of `repeat` calls (s): steadier than wall time on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def gemm_times(arch, hw) -> tuple[float, float]:
    """(given mapping, default mapping) time of one 512x768x768 GEMM through simulate_op (s)."""
    op = Op("g", "gemm", M=512, N=768, K=768)
    mp = Mapping(**simulate_op(arch, op, None, hw=hw).mapping)
    simulate_op(arch, op, mp, hw=hw)  # warm-up
    return (best_of(lambda: simulate_op(arch, op, mp, hw=hw), number=200),
            best_of(lambda: simulate_op(arch, op, None, hw=hw), number=200))


def three_tier():
    """dense-systolic with a weight register in every PE: global buffer, accumulators, registers."""
    from nmsim.accel import Arch

    d = load_arch("dense-systolic").model_dump(exclude={"energy": {"sources"}})
    d["memory"].append({"name": "wreg", "size_bytes": 4, "instances": 1024, "read_bytes_per_cycle": 1,
                        "write_bytes_per_cycle": 1, "double_buffered": True, "holds": ["weights"]})
    d["energy"]["per_byte_pj"]["wreg"] = 0.08
    return Arch.model_validate(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="dense-systolic")
    ap.add_argument("--hierarchy", action="store_true")
    args = ap.parse_args()
    arch = load_arch(args.arch)
    hw = HwParams.from_arch(arch)
    t_gemm, t_gemm_default = gemm_times(arch, hw)
    print(f"512x768x768 GEMM on {args.arch} (given mapping):   {t_gemm * 1e3:.3f} ms  (goal < 1 ms)")
    print(f"512x768x768 GEMM on {args.arch} (default mapping): {t_gemm_default * 1e3:.3f} ms")

    for name, params in (("bert-base", {}), ("resnet50", {}), ("llama2-7b", {"seq_len": 512})):
        full = zoo.build(name, **params)
        gemms = Workload(full.name, full.ops)
        t = cpu_min(lambda: simulate_workload(arch, gemms, "dense"))
        t_full = cpu_min(lambda: simulate_workload(arch, full, "dense"))
        print(f"{full.name:40s} GEMMs only {len(gemms.ops):4d} layers {t * 1e3:8.1f} ms {len(gemms.ops) / t:8.0f} "
              f"layers/s | with non-GEMM {len(full.layers):4d} layers {t_full * 1e3:8.1f} ms "
              f"{len(full.layers) / t_full:8.0f} layers/s | time ratio {t_full / t:.3f}")

    rng = np.random.default_rng(0)
    n = 200_000
    M, N, K = 512, 768, 768
    tm = rng.integers(1, M + 1, n)
    tn = rng.integers(1, N + 1, n)
    tk = rng.integers(1, K + 1, n)
    df = rng.integers(0, 3, n)
    order = rng.integers(0, 6, n)
    gemm = Gemm(M=M, N=N, K=K)
    batch = Candidates(df, tm, tn, tk, order)
    one = batch.take(slice(0, 1))
    gemm_cost(hw, gemm, batch.take(slice(0, 10)))
    t_batch = best_of(lambda: gemm_cost(hw, gemm, batch), repeat=5)
    t_one = best_of(lambda: gemm_cost(hw, gemm, one), number=500)
    print(f"vectorized cost: {n / t_batch:,.0f} candidates/s (batch of {n:,}); "
          f"per-call: {1 / t_one:,.0f} candidates/s; ratio {t_one * n / t_batch:.0f}x")

    if args.hierarchy:
        for label, a in (("dense-systolic (2 tiers)", load_arch("dense-systolic")),
                         ("s4 (2 tiers, flexible)", load_arch("s4")), ("3 tiers", three_tier())):
            given, default = gemm_times(a, HwParams.from_arch(a))
            print(f"512x768x768 GEMM on {label}: given mapping {given * 1e3:.3f} ms, default mapping "
                  f"{default * 1e3:.3f} ms  (goal < 1 ms)")


if __name__ == "__main__":
    main()
