"""Cost of bringing a model from elsewhere, and of result provenance (docs/PERFORMANCE.md).

(1) Time to turn each source of one network (ResNet-18, batch 1) into a Workload: the zoo's
closed form (the baseline), the torchvision-style file, the Hugging Face config folder and the
ONNX export shipped in examples/models/; ratio to the zoo in the same run, best of `--repeats`.
(2) Cost of writing a BERT-base simulate result as JSON: plain json.dumps (baseline) against
specfile.results (provenance block + atomic write), first call (git lookups) and later calls, and
with schema validation on (what the test suite does).

Run: .venv/bin/python benchmarks/bench_interop.py [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from nmsim.workloads import zoo
from nmsim.workloads.sources import load_workload

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "examples" / "models"


def best(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls of fn (s)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def sources(repeats: int) -> None:
    base = best(lambda: zoo.build("resnet18", batch=1), repeats)
    print("| source (ResNet-18, batch 1) | GEMM ops | best s | x zoo |\n|---|---|---|---|")
    print(f"| zoo `resnet18` (closed form) | 21 | {base:.4f} | 1 |")
    for label, text, params in (("file.py:factory", f"{MODELS / 'resnet18.py'}:resnet18", {}),
                                ("Hugging Face config folder", str(MODELS / "resnet18-hf"), {}),
                                ("ONNX export", str(MODELS / "resnet18.onnx"), {"batch": 1})):
        load_workload(text, params)                       # imports (torch, transformers, onnx) off the clock
        t = best(lambda: load_workload(text, params), repeats)
        print(f"| {label} | {len(load_workload(text, params)[0].ops)} | {t:.4f} | {t / base:.0f} |")


def results(repeats: int) -> None:
    from nmsim.accel import load_arch
    from nmsim.sim import simulate_workload
    from nmsim.specfile import results as R

    doc = simulate_workload(load_arch("sat"), zoo.build("bert-base"), "2:8").to_dict()
    folder = Path(tempfile.mkdtemp())
    plain = best(lambda: (folder / "p.json").write_text(json.dumps(doc, indent=1)), repeats)
    R.git_commit.cache_clear()
    t = time.perf_counter()
    R.write_result(folder / "r.json", "simulate", doc, R.provenance("simulate"))
    first = time.perf_counter() - t
    later = best(lambda: R.write_result(folder / "r.json", "simulate", doc, R.provenance("simulate")), repeats)
    os.environ[R.VALIDATE_ENV] = "1"
    R.write_result(folder / "r.json", "simulate", doc, R.provenance("simulate"))    # schema compiled off the clock
    checked = best(lambda: R.write_result(folder / "r.json", "simulate", doc, R.provenance("simulate")), repeats)
    del os.environ[R.VALIDATE_ENV]
    print(f"\n| BERT-base simulate result ({len(doc['layers'])} layers) | best s | x plain |\n|---|---|---|")
    for label, v in (("json.dumps + write (baseline)", plain), ("write_result, first call (git lookups)", first),
                     ("write_result, later calls", later), ("write_result + schema validation", checked)):
        print(f"| {label} | {v:.4f} | {v / plain:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    n = ap.parse_args().repeats
    sources(n)
    results(n)


if __name__ == "__main__":
    main()
