"""Whole-model latency on GPU presets against published end-to-end measurements (`nmsim gpu validate
measurements/published/e2e_*.csv`; docs/GPU.md, "Whole-model latency").

A row names a zoo model, batch, sequence length, phase, dtype, 2:4 or dense linears and the framework
that ran it. Its workload's ops are costed as the framework calls them: TensorRT and torch.compile
(CUDA graphs) launch kernels back to back, so each kernel costs its GPU time plus the framework's gap
(`gap_s_tensorrt`, `gap_s_torch_compile`, fitted on the calibration sources); PyTorch eager calls each
op from Python, so each costs the larger of its GPU time and its host time (sim/gpu/calls.py). The
latency of the row is the sum over its ops. Decode rows run one token per sequence (M = batch) with
the linears, LM head included, at that M.

What is costed is what the workloads carry: today the linears and the attention matmuls of the zoo
models; layer norms, softmax, activations, residual adds and embeddings are not ops yet (another
engineer's work lands them through the GPU backend), so latencies are under-predicted by their time.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from nmsim.specfile import SpecError

from .validate import is_synthetic, metrics
from .validate_published import split_by_source

FRAMEWORK_TIMING = {"tensorrt": "cuda_graph", "torch_compile": "cuda_graph", "torch_eager": "python_eager"}
FRAMEWORK_GAP = {"tensorrt": "gap_s_tensorrt", "torch_compile": "gap_s_torch_compile"}
# kernels a kernel-level framework launches as one: the q, k and v projections (one GEMM on the
# concatenated weights: TensorRT's BERT demo and gpt-fast's wqkv) and the two attention matmuls (a
# fused attention kernel: TensorRT's fused MHA, scaled_dot_product_attention under torch.compile)
FUSED_GROUPS = (("attn.q", "attn.k", "attn.v"), ("attn.score", "attn.context"))
OPS_NOTE = ("linears and attention matmuls of the zoo workloads (GEMM kernels); norms, softmax, activations, "
            "residual adds and embeddings are not ops yet and cost nothing")


def _workload(row: dict):
    from nmsim.workloads import Sparsity, zoo

    seq = row["seq_len"] if row["phase"] == "inference" else 1
    wl = zoo.build(row["model"], batch=row["batch"], seq_len=seq)
    return wl.with_sparsity(Sparsity.parse(row["sparsity"])) if row["sparsity"] != "dense" else wl


def row_ops(row: dict):
    """The GEMM ops (workloads.Op) one row runs: the zoo model at the row's batch and sequence
    length (decode: one token per sequence), its linears 2:4 when the row says so."""
    return _workload(row).ops


def row_nongemm(row: dict) -> list:
    """The row's non-GEMM ops (norms, softmax, activations, adds, embeddings) where the workloads
    carry them; none before (the non-GEMM work, branch non-gemm, adds `Workload.nongemm`)."""
    return list(getattr(_workload(row), "nongemm", ()))


def row_cases(row: dict) -> Counter:
    """{GemmCase: how many times the row runs it} for the row's ops, each as its framework calls it:
    cuBLAS for dense ops, the 2:4 library for pruned linears (cuSPARSELt, or torch's CUTLASS when
    the row's variant says `cutlass`), at the framework's timing."""
    from nmsim.sim.gpu import GemmCase

    timing = FRAMEWORK_TIMING[row["framework"]]
    sparse_kernel = "cutlass" if "cutlass" in row["variant"] else "cusparselt"
    # TensorRT and compiled graphs call their sparse kernels directly: no tensor subclass in between
    path = ("c_api",) if row["framework"] != "torch_eager" else ()
    out: Counter = Counter()
    for op in row_ops(row):
        sparse = not op.weight_sparsity.is_dense
        out[GemmCase(sparse_kernel if sparse else "cublas", op.M, op.N, op.K, row["dtype"], 2 if sparse else 1,
                     4 if sparse else 1, 2 if sparse else 0, op.batch, None, timing,
                     path if sparse else ())] += 1
    return out


def _other_ops_seconds(row: dict, arch, params: dict) -> float:
    """Seconds of the row's non-GEMM ops as the GPU backend costs them (`cost_nongemm`), each one
    kernel called by the framework: eager calls cost at least the host time of a framework op."""
    others = row_nongemm(row)
    if not others:
        return 0.0
    from nmsim.sim import backend_for

    arch = arch.model_copy(update={"gpu": arch.gpu.model_copy(update={"dtype": row["dtype"]})})
    backend = backend_for(arch)
    total = 0.0
    for op in others:
        t = backend.cost_nongemm(op).latency_s
        total += max(t, params["host_s_torch_op"]) if row["framework"] == "torch_eager" else t
    return total


def kernel_launches(row: dict) -> int:
    """Kernels the row's framework launches for its ops (count): one per op in PyTorch eager; with
    each FUSED_GROUPS group of a layer as one kernel for TensorRT and torch.compile."""
    ops = row_ops(row)
    if row["framework"] == "torch_eager":
        return len(ops)
    fused = sum(len(g) - 1 for g in FUSED_GROUPS for op in ops if op.name.endswith(g[0]))
    return len(ops) - fused


def _kernel_seconds(rows: list[dict], params_of) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (seconds of its ops with the per-kernel overheads set to 0, number of kernels);
    `params_of(gpu)` gives a preset's parameters."""
    from nmsim.accel import load_arch
    from nmsim.sim import gpu as gm

    secs, kernels = np.zeros(len(rows)), np.zeros(len(rows))
    for preset in sorted({r["preset"] for r in rows}):
        arch = load_arch(preset)
        g = arch.gpu
        idx = [i for i, r in enumerate(rows) if r["preset"] == preset]
        per_row = [row_cases(rows[i]) for i in idx]
        unique = sorted({c for pr in per_row for c in pr}, key=repr)
        p = params_of(g)
        times = {}
        for eager in (False, True):
            todo = [c for c in unique if (c.timing == "python_eager") == eager]
            if todo:
                # back-to-back kernels: the framework's gap replaces the one-op overheads (added below)
                q = p if eager else p | {"overhead_s_cublas": 0.0, "overhead_s_sparse_lib": 0.0}
                times |= dict(zip(todo, gm.predict_s(gm.geometry(g, todo), q, g.hbm_bytes_per_s)))
        for i, pr in zip(idx, per_row):
            secs[i] = sum(n * times[c] for c, n in pr.items()) + _other_ops_seconds(rows[i], arch, p)
            kernels[i] = kernel_launches(rows[i])
    return secs, kernels


def fit_gaps(rows: list[dict], secs: np.ndarray, kernels: np.ndarray, priors: dict) -> tuple[dict, dict]:
    """Per kernel-level framework in `rows`: the gap (s) minimizing squared log error of
    secs + kernels x gap against the measured times, within the parameter's bounds; returns
    (gaps by parameter name, status by name: 'fitted on N rows' or 'uncalibrated')."""
    from scipy.optimize import minimize_scalar

    from nmsim.sim.gpu import PARAMS

    bounds = {p.name: (p.lo, p.hi) for p in PARAMS}
    meas = np.asarray([r["time_s"] for r in rows])
    gaps, status = dict(priors), {n: "uncalibrated" for n in priors}
    for fw, name in FRAMEWORK_GAP.items():
        sel = np.asarray([r["framework"] == fw for r in rows], dtype=bool)
        if not sel.any():
            continue
        lo, hi = np.log(bounds[name])

        def loss(x, sel=sel):
            return float(np.sum((np.log(secs[sel] + kernels[sel] * np.exp(x)) - np.log(meas[sel])) ** 2))

        gaps[name] = float(np.exp(minimize_scalar(loss, bounds=(lo, hi), method="bounded").x))
        status[name] = f"fitted on {int(sel.sum())} rows"
    return gaps, status


def validate_e2e(rows: list[dict]) -> dict:
    """Predict, calibrate (framework gaps, on the calibration sources) and score published
    end-to-end rows (gpu_kernels.published, kind 'e2e'). Returns the `gpu validate --json` dict:
    latency scores (MAPE etc., fractions) on held-out and calibration rows, stated and inferred
    devices; per framework; params (gaps in seconds) and their status; split; every row."""
    from nmsim.sim import gpu as gm

    if not rows:
        raise SpecError("no published end-to-end rows to validate")
    held, split = split_by_source(rows)
    secs, kernels = _kernel_seconds(rows, gm.default_params)
    priors = {name: v for name, v in gm.prior_params(next(iter(_gpus(rows).values()))).items()
              if name in FRAMEWORK_GAP.values()}
    shipped = {n: gm.CALIBRATED.get("any", {}).get(n) for n in priors}
    cal = ~held
    complete = bool(row_nongemm(rows[0]))
    if cal.any() and complete:
        gaps, status = fit_gaps([r for r, c in zip(rows, cal) if c], secs[cal], kernels[cal], priors)
    elif cal.any():
        # with only the GEMMs costed, a fit would pour the missing ops' time into the gaps
        gaps = dict(priors)
        status = {n: "uncalibrated (not fitted: the workloads carry no non-GEMM ops yet)" for n in priors}
    else:
        gaps = {n: shipped[n] if shipped[n] is not None else v for n, v in priors.items()}
        status = {n: "shipped calibration" if shipped[n] is not None else "uncalibrated" for n in priors}
    pred = secs + kernels * np.asarray([gaps[FRAMEWORK_GAP[r["framework"]]] if r["framework"] in FRAMEWORK_GAP
                                        else 0.0 for r in rows])
    meas = np.asarray([r["time_s"] for r in rows])
    stated = np.asarray([r["device_stated"] for r in rows], dtype=bool)
    masks = {"held_out": held & stated, "held_out_inferred": held & ~stated, "calibration": cal & stated,
             "calibration_inferred": cal & ~stated}
    prior_pred = secs + kernels * np.asarray([priors[FRAMEWORK_GAP[r["framework"]]] if r["framework"] in FRAMEWORK_GAP
                                              else 0.0 for r in rows])
    latency = {k: metrics(pred[m], meas[m]) for k, m in masks.items()}
    latency["held_out_uncalibrated"] = metrics(prior_pred[held & stated], meas[held & stated])
    fws = sorted({r["framework"] for r in rows})
    per_fw = {fw: metrics(pred[held & stated & np.asarray([r["framework"] == fw for r in rows])],
                          meas[held & stated & np.asarray([r["framework"] == fw for r in rows])]) for fw in fws}
    keep = ("file", "line", "source_id", "preset", "device_stated", "dtype", "model", "sparsity", "batch", "seq_len",
            "phase", "framework")
    out_rows = [{k: r[k] for k in keep} | {"measured_s": r["time_s"], "predicted_s": float(p),
                                           "error": float(p / r["time_s"] - 1), "kernels": int(n),
                                           "split": "held_out" if h else "calibration", "synthetic": is_synthetic(r)}
                for r, p, n, h in zip(rows, pred, kernels, held)]
    return {"kind": "published e2e", "latency": latency, "per_framework": per_fw, "params": gaps,
            "param_status": status, "split": split, "synthetic_rows": sum(is_synthetic(r) for r in rows),
            "ops_note": OPS_NOTE, "rows": out_rows}


def _gpus(rows: list[dict]) -> dict:
    from nmsim.accel import load_arch

    return {p: load_arch(p).gpu for p in sorted({r["preset"] for r in rows})}
