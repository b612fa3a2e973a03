"""The heuristic mapper's speed/quality knobs against exhaustive optima (docs/PERFORMANCE.md, "Mappers").

For each setting (module constants of mapping/search.py and mapping/space.py), the benchmark suite
of bench_mapper.py (sat and s4, every pattern, three objectives) is searched with the heuristic, and
the worst heuristic / exhaustive score per objective and the least CPU time of 3 searches (median,
max) are printed. The exhaustive optima are cached in a JSON file (they take minutes), keyed by arch,
layer, pattern and objective; delete it after a change of the cost model.

Run: .venv/bin/python -m benchmarks.mapper_knobs [--cache F.json] [--archs s4,sat] "" "HEURISTIC_GRID=6000"
     (each argument one setting: NAME=value pairs joined by ';'; "" is the code as it stands)
"""
from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
from pathlib import Path

from nmsim.accel import load_arch
from nmsim.sim import HwParams
from nmsim.sim.simulate import map_op
from nmsim.workloads import Sparsity

from .bench_mapper import PATTERNS, suite_ops

SEARCH = importlib.import_module("nmsim.mapping.search")
SPACE = importlib.import_module("nmsim.mapping.space")
KNOBS = {"SMALL_SPACE": SEARCH, "HEURISTIC_GRID": SEARCH, "BOUNDARY_KEYS": SEARCH, "GRID_SPLITS": SEARCH, "TRIPLE_WINDOW": SPACE,
         "PAIR_WINDOW": SPACE}


def apply(name: str, value: int):
    """Set one knob; returns a function that restores it."""
    if name not in KNOBS:
        raise SystemExit(f"unknown knob {name}: choose one of {', '.join(KNOBS)}")
    if name == "PAIR_WINDOW":  # the default argument of neighbors(), bound when the module loaded
        old = SPACE.MappingSpace.neighbors.__defaults__
        SPACE.MappingSpace.neighbors.__defaults__ = (value,)
        return lambda: setattr(SPACE.MappingSpace.neighbors, "__defaults__", old)
    old = getattr(KNOBS[name], name)
    setattr(KNOBS[name], name, value)
    return lambda: setattr(KNOBS[name], name, old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="*", default=[""])
    ap.add_argument("--archs", default="s4,sat")
    ap.add_argument("--cache", default=".mapper_knobs_exhaustive.json")
    args = ap.parse_args()
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    cases = []
    for an in args.archs.split(","):
        arch = load_arch(an)
        hw = HwParams.from_arch(arch)
        for label, base in suite_ops():
            for pat in PATTERNS[an]:
                if pat != "dense" and not base.has_weights:
                    continue
                op = base.with_sparsity(Sparsity.parse(pat))
                for obj in ("latency", "energy", "edp"):
                    key = f"{an}|{label}|{pat}|{obj}"
                    if key not in cache:
                        cache[key] = map_op(arch, op, "exhaustive", obj, hw=hw, top=1).best.score
                        cache_path.write_text(json.dumps(cache))
                    cases.append((key, arch, hw, op, obj))
    for setting in args.settings:
        pairs = [kv.split("=") for kv in setting.split(";") if kv]
        undo = [apply(k, int(v)) for k, v in pairs]
        worst, times = {}, []
        for key, arch, hw, op, obj in cases:
            best = float("inf")
            for _ in range(3):
                t0 = time.process_time()
                he = map_op(arch, op, "heuristic", obj, hw=hw, top=1)
                best = min(best, time.process_time() - t0)
            times.append(best * 1e3)
            worst[obj] = max(worst.get(obj, 0.0), he.best.score / cache[key])
        for u in reversed(undo):
            u()
        print(f"{setting or '(as coded)'}: worst " + ", ".join(f"{k} {v:.4f}" for k, v in worst.items())
              + f"; ms median {statistics.median(times):.1f}, max {max(times):.1f}", flush=True)


if __name__ == "__main__":
    main()
