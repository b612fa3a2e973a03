"""Speed of tracing and pruning on the CPU, against the issue's goals (tracing any zoo model < 5 s,
Wanda on MiniLM < 30 s, SparseGPT 2:4 on MiniLM < 3 min); the figures are in docs/PERFORMANCE.md.

Reports (1) the time to build each zoo model's torch module on the meta device and trace it,
(2) the time of Wanda and SparseGPT 2:4 on all-MiniLM-L6-v2 with the default 64 calibration
sentences and with all 128, pruning only (the model is loaded and tokenized before the clock
starts; `nmsim prune` prints the same "pruning time" plus its total), CPU time beside wall time
because other jobs on the machine stretch wall time but not CPU time.

Run: .venv/bin/python benchmarks/bench_prune.py [--threads N]   (default 1, as `nmsim prune`)
"""
from __future__ import annotations

import argparse
import copy
import time

import torch

from nmsim.workloads import zoo
from nmsim.workloads.ml import minilm, torch_zoo
from nmsim.workloads.ml.pruning import prune
from nmsim.workloads.ml.trace import trace_module


def clock(fn):
    """(result, wall s, cpu s) of fn()."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    threads = ap.parse_args().threads
    torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {threads} thread(s)")
    print("| zoo model | ops | trace wall s | cpu s |\n|---|---|---|---|")
    for name in zoo.ZOO_NAMES:
        tr, wall, cpu = clock(lambda: trace_module(torch_zoo.build_module(name, "meta"),
                                                   torch_zoo.example_inputs(name, "meta")))
        print(f"| {name} | {len(tr.ops)} | {wall:.2f} | {cpu:.2f} |")

    model, tok = minilm.load()
    cal_all = minilm.read_sentences(which="calibration")
    print("\n| MiniLM method | calibration sentences | pruning wall s | cpu s |\n|---|---|---|---|")
    for method in ("wanda", "sparsegpt"):
        for n in (64, len(cal_all)):
            cal = minilm.calibration_batches(tok, cal_all[:n])
            m = copy.deepcopy(model)
            _, wall, cpu = clock(lambda: prune(m, "2:4", method, calibration=cal))
            print(f"| {method} 2:4 | {n} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
