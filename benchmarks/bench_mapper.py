"""Mapper benchmarks: evaluation throughput and heuristic-vs-exhaustive quality.

(1) Throughput: candidates per second through the exhaustive mapper (buffer-fit check, the
    fast cost model, top-k selection) on a Llama-2-7B FFN layer, with the one-candidate-at-a-
    time path (simulate_op per Mapping) measured in the same run as the baseline ratio.
    Goal: >= 1,000,000 candidates/s (MAESTRO reports ~170,000 designs/s).
(2) Quality: the layer suite below (BERT-base, Llama-2-7B, ResNet-50; dense, 2:4, 2:8, 1:16)
    on the `sat` preset (and `s4` for dense and 1:16), for each objective: the heuristic's
    best over the exhaustive optimum (goal <= 1.03) and the heuristic's time per layer
    (goal <= 50 ms; each search with the default-tile caches empty, the least CPU time over 3
    passes of the suite; the exhaustive's wall time beside the ratio).

Run: .venv/bin/python benchmarks/bench_mapper.py [--quick | --skip-quality | --suite-pass]
"""
from __future__ import annotations

import argparse
import statistics
import time

from nmsim.accel import load_arch
from nmsim.mapping import MappingSpace
from nmsim.mapping.mapping import clear_caches
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.simulate import map_op
from nmsim.workloads import Sparsity, zoo

try:  # run as a script (benchmarks/ first on sys.path) or imported as benchmarks.bench_mapper
    from bench_sim import cpu_min
except ImportError:
    from .bench_sim import cpu_min

SUITE = {
    ("bert-base", ()): ("layer0.attn.q", "layer0.ffn.up", "layer0.ffn.down", "layer0.attn.score"),
    ("llama2-7b", (("seq_len", 512),)): ("layer0.attn.q", "layer0.ffn.gate", "layer0.ffn.down", "lm_head"),
    ("llama2-7b", (("seq_len", 1), ("batch", 16))): ("layer0.attn.q", "layer0.ffn.down"),
    ("resnet50", ()): ("conv1", "layer1.0.conv2", "layer2.0.conv2", "layer3.0.conv2", "layer4.0.conv2",
                       "layer4.0.conv3", "fc"),
}
PATTERNS = {"sat": ("dense", "2:4", "2:8", "1:16"), "s4": ("dense", "1:16")}


def suite_ops():
    """(label, Op) for every suite layer (dense weights; patterns applied by the caller)."""
    out = []
    for (model, params), names in SUITE.items():
        wl = zoo.build(model, **dict(params))
        by_name = {op.name: op for op in wl.ops}
        for n in names:
            out.append((f"{wl.name}:{n}", by_name[n]))
    return out


def one_at_a_time() -> float:
    """Mappings per second through simulate_op one at a time (300 of the 512x11008x4096 2:8 layer's
    pruned space on sat): the baseline, and a gauge of the host's speed at the moment (2,651/s on the
    idle reference run of 2026-11-22)."""
    arch = load_arch("sat")
    hw = HwParams.from_arch(arch)
    op = next(o for o in zoo.build("llama2-7b", seq_len=512).ops if o.name == "layer0.ffn.gate")
    op = op.with_sparsity(Sparsity.parse("2:8"))
    grid = MappingSpace(arch, op).grid()
    sample = [grid.mapping(i) for i in range(0, len(grid), max(1, len(grid) // 300))]
    t0 = time.perf_counter()
    for m in sample:
        try:
            simulate_op(arch, op, m, hw=hw)
        except ValueError:  # a candidate that does not fit (SpecError) still cost a check
            pass
    return len(sample) / (time.perf_counter() - t0)


def throughput() -> None:
    arch = load_arch("sat")
    hw = HwParams.from_arch(arch)
    op = zoo.build("llama2-7b", seq_len=512)
    op = next(o for o in op.ops if o.name == "layer0.ffn.gate").with_sparsity(Sparsity.parse("2:8"))
    map_op(arch, op, "exhaustive", hw=hw)  # warm-up
    runs = []
    for _ in range(3):
        r = map_op(arch, op, "exhaustive", hw=hw)
        runs.append(r.evaluated / r.seconds)
    rate = statistics.median(runs)
    one = one_at_a_time()
    print(f"throughput: {rate:,.0f} candidates/s through the exhaustive mapper ({r.evaluated:,} candidates, "
          f"{op.M}x{op.N}x{op.K} 2:8 on sat); one-at-a-time simulate_op: {one:,.0f}/s; ratio {rate / one:.0f}x "
          f"(goal >= 1,000,000/s)")


def quality(quick: bool, passes: int = 3) -> None:
    objectives = ("latency",) if quick else ("latency", "energy", "edp")
    ops = suite_ops()
    worst, n = {}, 0
    cases = []   # (arch name, arch, hw, label, op, objective)
    print(f"{'arch':5s} {'layer':45s} {'pattern':7s} {'objective':9s} {'heur/exh':>9s} {'exh ms':>8s}")
    for arch_name, patterns in PATTERNS.items():
        arch = load_arch(arch_name)
        hw = HwParams.from_arch(arch)
        for label, base in ops:
            for pat in patterns:
                if pat != "dense" and not base.has_weights:
                    continue
                op = base.with_sparsity(Sparsity.parse(pat))
                for obj in objectives:
                    ex = map_op(arch, op, "exhaustive", obj, hw=hw, top=1)
                    he = map_op(arch, op, "heuristic", obj, hw=hw, top=1)
                    ratio = he.best.score / ex.best.score
                    n += 1
                    cases.append((arch_name, arch, hw, f"{label} {pat}", op, obj))
                    worst[obj] = max(worst.get(obj, 0.0), ratio)
                    print(f"{arch_name:5s} {label:45s} {pat:7s} {obj:9s} {ratio:9.4f} {ex.seconds * 1e3:8.1f}")
    # Time per layer: each search starts with the default-tile caches empty (a layer shape seen for
    # the first time); the least CPU time over `passes` passes of the whole suite, so that a slow
    # spell of the host does not hit every run of one case.
    times = [float("inf")] * len(cases)
    gauge = [one_at_a_time()]
    for _ in range(passes):
        for i, (_, arch, hw, _, op, obj) in enumerate(cases):
            clear_caches()
            times[i] = min(times[i], cpu_min(lambda: map_op(arch, op, "heuristic", obj, hw=hw, top=1), repeat=1))
    gauge.append(one_at_a_time())
    print(f"host speed gauge around the timing passes (one-at-a-time simulate_op, 2,651/s on the idle reference "
          f"host): {gauge[0]:,.0f}/s before, {gauge[1]:,.0f}/s after")
    for arch_name in PATTERNS:
        t = sorted((times[i], cases[i][3], cases[i][5]) for i in range(len(cases)) if cases[i][0] == arch_name)
        over = sum(x > 0.050 for x, _, _ in t)
        print(f"heuristic ms per layer on {arch_name}: median {statistics.median([x for x, _, _ in t]) * 1e3:.1f}, "
              f"max {t[-1][0] * 1e3:.1f} ({t[-1][1]}, {t[-1][2]}); {over} of {len(t)} over 50 ms")
    layers = len({label for label, _ in ops})
    print(f"quality: {n} cases over {layers} layers; worst heuristic/exhaustive "
          + ", ".join(f"{k} {v:.4f}" for k, v in worst.items())
          + f" (goal <= 1.03); heuristic time per layer median {statistics.median(times) * 1e3:.1f} ms, "
            f"max {max(times) * 1e3:.1f} ms (goal <= 50 ms)")


def suite_pass() -> None:
    """CPU time (s) of one pass of the heuristic over the suite per arch, searches in suite order
    (a layer's later objectives find its default tiles cached): a whole-suite figure for A/B runs of
    two versions of the code."""
    for arch_name, patterns in PATTERNS.items():
        arch = load_arch(arch_name)
        hw = HwParams.from_arch(arch)
        clear_caches()
        t0, n = time.process_time(), 0
        for _, base in suite_ops():
            for pat in patterns:
                if pat != "dense" and not base.has_weights:
                    continue
                for obj in ("latency", "energy", "edp"):
                    map_op(arch, base.with_sparsity(Sparsity.parse(pat)), "heuristic", obj, hw=hw, top=1)
                    n += 1
        print(f"suite pass on {arch_name}: {n} heuristic searches in {time.process_time() - t0:.2f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="latency objective only")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--suite-pass", action="store_true", help="only the CPU time of one heuristic pass over the suite")
    args = ap.parse_args()
    if args.suite_pass:
        suite_pass()
        return
    throughput()
    if not args.skip_quality:
        quality(args.quick)


if __name__ == "__main__":
    main()
