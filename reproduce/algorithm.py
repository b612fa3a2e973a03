"""The algorithm half of SAT's co-design, beside the simulated speedups of the same networks.

* digits CNN (workloads/ml/digits_cnn.py): trained from scratch dense and with BDWP at each pattern,
  test accuracy averaged over seeds; SAT's abstract reports a 0.56-point average accuracy loss at
  2:8 on its own (larger) models and data sets.
* all-MiniLM-L6-v2 (workloads/ml/minilm.py): the real pretrained model pruned one-shot at the same
  patterns (no training data here, so not BDWP); quality = cosine similarity of its sentence
  embeddings to the dense model's.

Each row also carries the simulated SAT training-step speedup of that very network (traced op
list, pruned layers at the pattern), so accuracy and speed sit side by side.
"""
from __future__ import annotations

import statistics

from nmsim.sim.training import simulate_training
from nmsim.workloads import Sparsity, Workload

from .common import unique_ops, weighted
from .papers import Progress, figure, stage

DIGITS_FULL = {"epochs": 30, "seeds": (0, 1, 2)}    # 30 epochs: the project's digits default (docs/PRUNING.md)
DIGITS_QUICK = {"epochs": 2, "seeds": (0,)}
DIGITS_BATCH = 32                                    # digits_cnn.train's minibatch
MINILM_FULL = {"methods": ("magnitude", "wanda", "sparsegpt"), "eval_sentences": None}
MINILM_QUICK = {"methods": ("magnitude",), "eval_sentences": 16}
MINILM_BATCH, MINILM_SEQ = 8, 128                    # assumed: fine-tuning batch of 8 x 128 tokens


def _speedup(arch, wl: Workload, pattern: str, pruned: set[str] | None, mapper: str) -> float:
    """Dense / N:M training-step cycles of `wl` on `arch`; only ops in `pruned` (all weighted ops
    when None) take `pattern`, the others stay dense."""
    sp = Sparsity.parse(pattern)
    sparse = Workload(name=wl.name, ops=[
        op.with_sparsity(sp) if op.has_weights and (pruned is None or op.name in pruned) else op for op in wl.layers])
    cycles = []
    for w in (wl, sparse):
        u, counts = unique_ops(w)
        cycles.append(weighted([lr.cycles for lr in simulate_training(arch, u, mapper=mapper).layers], counts))
    return cycles[0] / cycles[1]


def digits(arch, patterns, quick: bool, mapper: str, progress: Progress | None = None) -> dict:
    """Test accuracy of the digits CNN, dense vs BDWP at `patterns`, mean over seeds, with the
    simulated SAT step speedup of the CNN (batch `DIGITS_BATCH`) at each pattern."""
    import torch

    from nmsim.workloads.ml import digits_cnn as dc
    from nmsim.workloads.ml.trace import trace_module

    cfg = DIGITS_QUICK if quick else DIGITS_FULL
    runs = [("dense", None)] + [("bdwp", p) for p in patterns]
    acc: dict[str, list[float]] = {p or "dense": [] for _, p in runs}
    total = len(cfg["seeds"]) * len(runs)
    for i, seed in enumerate(cfg["seeds"]):
        data = dc.load_data(seed)
        for j, (method, pat) in enumerate(runs):
            stage(progress, f"digits CNN: seed {seed}, {method} {pat or ''} ({cfg['epochs']} epochs)",
                  i * len(runs) + j, total)
            model, _ = dc.run_experiment(method, Sparsity.parse(pat) if pat else None, data, cfg["epochs"], seed)
            acc[pat or "dense"].append(dc.accuracy(model, data.x_test, data.y_test))
    wl = trace_module(dc.DigitsCNN(), torch.zeros(DIGITS_BATCH, 1, 8, 8)).workload("digits-cnn")
    dense_mean = statistics.fmean(acc["dense"])
    rows = []
    for method, pat in runs:
        a = acc[pat or "dense"]
        rows.append({"method": method, "pattern": pat or "dense", "accuracy": statistics.fmean(a),
                     "accuracy_per_seed": a, "loss_points": 100 * (dense_mean - statistics.fmean(a)),
                     "sat_step_speedup": 1.0 if pat is None else _speedup(arch, wl, pat, set(dc.PRUNED_LAYERS), mapper)})
    return {"epochs": cfg["epochs"], "seeds": list(cfg["seeds"]), "test_samples": int(len(data.y_test)),
            "pruned_layers": list(dc.PRUNED_LAYERS), "dense_layers": list(dc.DENSE_LAYERS),
            "training_batch": DIGITS_BATCH, "rows": rows,
            "paper_average_loss_points_2_8": figure("sat", "average_accuracy_loss_2_8")}


def minilm(arch, patterns, quick: bool, mapper: str, progress: Progress | None = None) -> dict:
    """Cosine similarity of one-shot pruned all-MiniLM-L6-v2 at `patterns` (each method), with the
    simulated SAT step speedup of MiniLM's own op list (batch MINILM_BATCH x MINILM_SEQ)."""
    from nmsim.workloads.ml import minilm as ml
    from nmsim.workloads.ml.prune_run import minilm_report
    from nmsim.workloads.ml.trace import trace_module

    cfg = MINILM_QUICK if quick else MINILM_FULL
    rows = minilm_report(patterns=tuple(patterns), methods=cfg["methods"], eval_sentences=cfg["eval_sentences"],
                         progress=lambda what, d, t: stage(progress, f"MiniLM: {what}", d, t))
    stage(progress, "MiniLM: tracing the op list for the training-step simulation")
    model, _ = ml.load()
    wl = trace_module(model, ml.example_inputs(MINILM_BATCH, MINILM_SEQ)).workload("all-MiniLM-L6-v2")
    speed = {p: _speedup(arch, wl, p, None, mapper) for p in patterns}
    rows = [{**r, "sat_step_speedup": speed[r["pattern"]]} for r in rows]
    return {"methods": list(cfg["methods"]), "sentences": rows[0]["sentences"] if rows else 0,
            "training_batch": f"{MINILM_BATCH} x {MINILM_SEQ} tokens", "rows": rows,
            "note": "one-shot pruning of the pretrained model (no retraining); dense = cosine 1.0 by definition"}


def run_algorithm(arch, patterns, quick: bool, progress: Progress | None = None, mapper: str = "heuristic") -> dict:
    """Both experiments (module docstring); `quick`: 2 epochs, one seed, 16 sentences, magnitude only."""
    return {"quick": quick, "digits": digits(arch, patterns, quick, mapper, progress),
            "minilm": minilm(arch, patterns, quick, mapper, progress)}
