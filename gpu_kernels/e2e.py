"""Whole-model latency on GPU presets against published end-to-end measurements (`nmsim gpu validate
measurements/published/e2e_*.csv`; docs/GPU.md, "Whole-model latency").

A row names a zoo model, batch, sequence length, phase, dtype, 2:4 or dense linears and the framework
that ran it. Its workload's layers, GEMMs and non-GEMM ops in model order, are grouped into the
kernels the framework launches (fusion.py: TensorRT's merged QKV GEMM, fused multi-head attention,
skip-layernorm and embedding-layernorm plugins and GELU in the FC epilogue; torch.compile's merged
QKV, SDPA and Inductor-fused runs of pointwise ops; nothing fused in PyTorch eager) and each kernel
is costed by the GPU model: GEMMs by the calibrated GEMM model, fused attention by
sim/gpu/attention.py, non-GEMM kernels as memory-bound kernels (sim/gpu/nongemm.py). Kernel-level
frameworks add one gap per kernel, whatever the kernel (e2e_work.py); eager calls cost at least
their host time. The latency of the row is the sum.

Fitted on the calibration sources only (validate_published.CALIBRATION_SOURCES), on top of the GEMM
calibration: of E2E_FREE (framework gaps, non-GEMM efficiencies, the sustained fraction per
architecture class) the values the rows pin (MAX_SD); the rest stay at their priors and are
reported "uncalibrated". `nmsim gpu calibrate` ships the fit in sim/gpu/calibrated.py.
"""
from __future__ import annotations

import numpy as np

from nmsim.specfile import SpecError

from .e2e_work import (FRAMEWORK_GAP, FRAMEWORK_TIMING, kernel_launches, preset_seconds, preset_work, row_cases,
                       row_kernels, row_nongemm, row_ops)
from .validate import is_synthetic, metrics
from .validate_published import calibration_rows, split_by_source

__all__ = ["FRAMEWORK_GAP", "FRAMEWORK_TIMING", "E2E_FREE", "OPS_NOTE", "kernel_launches", "row_cases", "row_kernels",
           "row_nongemm", "row_ops", "e2e_priors", "e2e_values", "shipped_e2e", "build_work", "predict_e2e", "free_keys",
           "fit_e2e", "calibrate_e2e", "validate_e2e"]

# what the end-to-end fit may move: each framework's gap, the non-GEMM efficiencies, and per
# architecture class the sustained fraction (the placement fraction and the special-op cost stay
# fixed: a threshold and a documented ratio)
E2E_FREE = ("gap_launches_tensorrt", "gap_launches_torch_compile", "nongemm_mem_eff", "nongemm_l2_eff",
            "nongemm_compute_eff", "sustained_frac")
OPS_NOTE = ("every layer of the zoo workloads, as each framework launches it: GEMMs (q/k/v merged where the "
            "framework merges them), fused attention (score, softmax, context in one kernel), norms, softmax, "
            "activations, residual adds and embeddings as memory-bound kernels (runs fused where the framework "
            "fuses them, activations in the GEMM epilogue in TensorRT), one framework gap per kernel")
# assumed: a log-normal prior of sigma 3 (a factor of 20) on every fitted value, as the GEMM fit
PRIOR_SIGMA = 3.0
# assumed: a value is calibrated when the rows pin it within a factor of 1.35 (one standard deviation
# of its log: 0.3); a looser one would carry other mechanisms' errors (a GEMM efficiency, a missing
# op) into it, so it keeps its prior
MAX_SD = 0.3


def _records() -> dict:
    from nmsim.sim.gpu import NONGEMM_PARAMS, PARAMS

    return {p.name: p for p in (*PARAMS, *NONGEMM_PARAMS)}


def _per_arch(name: str) -> bool:
    return _records()[name].per_arch


def e2e_priors(gpu) -> dict[str, float]:
    """The priors of the end-to-end parameters of `gpu` by name: framework gaps (s), sustained
    fraction, non-GEMM efficiencies, placement fraction, special-op cost and launch (s)."""
    from nmsim.sim import gpu as gm

    p = gm.prior_params(gpu)
    return {n: p[n] for n in gm.E2E_PARAM_NAMES} | gm.nongemm_prior_params(p["overhead_s_cublas"])


def shipped_e2e() -> dict[str, float]:
    """The shipped calibration of the end-to-end parameters (sim/gpu/calibrated.py), keyed like a fit
    (params.param_key: 'sustained_frac@sm75')."""
    from nmsim.sim import gpu as gm

    names = set(e2e_priors_names())
    return {gm.param_key(n, a) if a != "any" else n: v for a, vals in gm.CALIBRATED.items()
            for n, v in vals.items() if n in names}


def e2e_priors_names() -> tuple[str, ...]:
    """Names of the end-to-end parameters (e2e_priors' keys)."""
    from nmsim.sim import gpu as gm

    return (*gm.E2E_PARAM_NAMES, *gm.NONGEMM_PARAM_NAMES)


def e2e_values(gpu, values: dict) -> dict[str, float]:
    """The end-to-end parameters of `gpu` by name: `values` (keyed by params.param_key; a
    per-architecture one for the GPU's class or the class it borrows from), else the prior."""
    from nmsim.sim import gpu as gm

    arch = gm.arch_class(gpu)
    out = e2e_priors(gpu)
    for n in out:
        for a in (arch, gm.ARCH_FALLBACK.get(arch)):
            key = gm.param_key(n, a) if a else None
            if key in values:
                out[n] = values[key]
                break
    return out


def _gemm_params(gpu):
    from nmsim.sim import gpu as gm

    return gm.default_params(gpu)


def build_work(rows: list[dict], values: dict, gemm_params_of=_gemm_params) -> list:
    """The e2e_work.PresetWork of every preset in `rows`, GEMMs timed under `gemm_params_of(gpu)`,
    non-GEMM activations placed with the placement fraction of `values` (not fitted)."""
    from nmsim.accel import load_arch

    out = []
    for preset in sorted({r["preset"] for r in rows}):
        g = load_arch(preset).gpu
        idx = [i for i, r in enumerate(rows) if r["preset"] == preset]
        out.append(preset_work(rows, idx, g, gemm_params_of(g), e2e_values(g, values)["nongemm_l2_fraction"]))
    return out


def predict_e2e(work: list, n: int, values: dict, gemm_params_of=_gemm_params) -> dict[str, np.ndarray]:
    """Per row (n rows), seconds under the end-to-end `values` (keyed by params.param_key, the
    priors for the rest): total_s and its parts (gemm_s, nongemm_s, attention_s, gaps_s)."""
    out = {k: np.zeros(n) for k in ("gemm_s", "nongemm_s", "attention_s", "gaps_s", "total_s")}
    for w in work:
        for k, v in preset_seconds(w, gemm_params_of(w.gpu) | e2e_values(w.gpu, values)).items():
            out[k][w.idx] = v
    return out


def free_keys(rows: list[dict]) -> list[str]:
    """The E2E_FREE keys (params.param_key) that `rows` use: the gaps of their frameworks, the
    global non-GEMM efficiencies, per-architecture ones for every class among their presets."""
    from nmsim.accel import load_arch
    from nmsim.sim import gpu as gm

    fws = {r["framework"] for r in rows}
    arches = sorted({gm.arch_class(load_arch(p).gpu) for p in {r["preset"] for r in rows}})
    keys = []
    for n in E2E_FREE:
        if n in FRAMEWORK_GAP.values() and n not in {FRAMEWORK_GAP.get(f) for f in fws}:
            continue
        keys += [gm.param_key(n, a) for a in arches] if _per_arch(n) else [n]
    return keys


def _solve(rows: list[dict], work: list, free: list[str], gemm_params_of) -> tuple[dict, np.ndarray, float, str]:
    """One MAP fit of `free` (log space, bounds, PRIOR_SIGMA around the prior): (values by key,
    standard deviation of each fitted log-value, cost, solver status)."""
    from scipy.optimize import least_squares

    recs = _records()
    prior = e2e_priors(work[0].gpu)
    meas = np.log([r["time_s"] for r in rows])
    lo = np.log([recs[f.split("@")[0]].lo for f in free])
    hi = np.log([recs[f.split("@")[0]].hi for f in free])
    x0 = np.clip(np.log([prior[f.split("@")[0]] for f in free]), lo + 1e-9, hi - 1e-9)

    def at(x):
        return {f: float(np.exp(v)) for f, v in zip(free, x)}

    def misfit(x):
        return np.log(predict_e2e(work, len(rows), at(x), gemm_params_of)["total_s"]) - meas

    # trf's first trust radius is the norm of the start (scipy/optimize/_lsq/trf.py): priors of 1 (log 0)
    # on every free key start it near zero and the fit stalls at its first step, so the solver works in
    # offsets from the prior plus one (a first radius of sqrt(n) in log units, whatever the priors)
    off = 1.0 - x0
    fit = least_squares(lambda u: np.concatenate([misfit(u - off), (u - off - x0) / PRIOR_SIGMA]), x0 + off,
                        bounds=(lo + off, hi + off), method="trf", diff_step=1e-3)
    x = fit.x - off
    # posterior spread of each log-value: the Gauss-Newton curvature of the misfit (pooled residual
    # variance) plus the prior's, from one-sided differences that stay inside the bounds
    r0, h = misfit(x), 1e-3
    jac = np.empty((len(meas), len(free)))
    for j in range(len(free)):
        step = h if x[j] + h <= hi[j] else -h
        jac[:, j] = (misfit(x + step * np.eye(len(free))[j]) - r0) / step
    s2 = max(float(np.sum(r0 ** 2)) / max(len(meas) - len(free), 1), 1e-12)
    cov = np.linalg.inv(jac.T @ jac / s2 + np.eye(len(free)) / PRIOR_SIGMA ** 2)
    return at(x), np.sqrt(np.diag(cov)), float(fit.cost), fit.message


def fit_e2e(rows: list[dict], work: list, gemm_params_of=_gemm_params) -> tuple[dict, dict]:
    """Least squares on log(predicted / measured) over `rows` (pass calibration rows only; `work`
    built from them) of the free_keys, from their priors (also their prior, PRIOR_SIGMA), within
    each parameter's bounds. A key whose fitted log-value has a standard deviation above MAX_SD is
    not constrained by the rows (one decode row cannot tell a gap from a 10% GEMM error): it keeps
    its prior and the others are refitted without it. Returns
    (values keyed by params.param_key that the rows constrain, info: free, unconstrained, sd (of
    each fitted log-value), cost, status)."""
    free = free_keys(rows)
    values, sd, cost, status = _solve(rows, work, free, gemm_params_of)
    loose = [f for f, d in zip(free, sd) if d > MAX_SD]
    kept = [f for f in free if f not in loose]
    if loose and kept:
        values, sd, cost, status = _solve(rows, work, kept, gemm_params_of)
    elif not kept:
        values, sd = {}, np.zeros(0)
    return values, {"free": free, "unconstrained": loose, "sd": dict(zip(kept, map(float, sd))), "cost": cost,
                    "status": status}


def calibrate_e2e(rows: list[dict], gemm_params_of=_gemm_params) -> tuple[dict, dict]:
    """Fit the end-to-end values on the rows of the calibration sources (validate_published.
    CALIBRATION_SOURCES; held-out rows never reach the fit): (values keyed by params.param_key,
    fit info); SpecError when no row comes from a calibration source."""
    cal = calibration_rows(rows, "end-to-end ")
    return fit_e2e(cal, build_work(cal, {}, gemm_params_of), gemm_params_of)


def _status(rows: list[dict], held: np.ndarray, values: dict, fitted: bool) -> dict[str, str]:
    """Per key of free_keys(rows): 'fitted on N rows' (N: the calibration rows it applies to),
    'shipped calibration' or 'uncalibrated'."""
    from nmsim.accel import load_arch
    from nmsim.sim import gpu as gm

    cal = [r for r, h in zip(rows, held) if not h]
    out = {}
    for k in free_keys(rows):
        if k not in values:
            out[k] = "uncalibrated"
            continue
        if not fitted:
            out[k] = "shipped calibration"
            continue
        name, _, arch = k.partition("@")
        fw = next((f for f, g in FRAMEWORK_GAP.items() if g == name), None)
        n = sum((fw is None or r["framework"] == fw)
                and (not arch or gm.arch_class(load_arch(r["preset"]).gpu) == arch) for r in cal)
        out[k] = f"fitted on {n} rows"
    return out


def validate_e2e(rows: list[dict]) -> dict:
    """Predict, calibrate (on the calibration sources) and score published end-to-end rows
    (gpu_kernels.published, kind 'e2e'). Returns the `gpu validate --json` dict: latency scores
    (MAPE etc., fractions) on held-out and calibration rows, stated and inferred devices, and with
    the priors; per framework and per device; params (seconds, fractions) and their status; split;
    every row with its parts (seconds) and kernel count."""
    if not rows:
        raise SpecError("no published end-to-end rows to validate")
    held, split = split_by_source(rows)
    fitted = bool((~held).any())
    # a file of held-out sources only is scored with the shipped calibration, no refit
    values = calibrate_e2e(rows)[0] if fitted else shipped_e2e()
    work = build_work(rows, values)
    parts = predict_e2e(work, len(rows), values)
    pred, prior_pred = parts["total_s"], predict_e2e(work, len(rows), {})["total_s"]
    status = _status(rows, held, values, fitted)
    meas = np.asarray([r["time_s"] for r in rows])
    stated = np.asarray([r["device_stated"] for r in rows], dtype=bool)
    masks = {"held_out": held & stated, "held_out_inferred": held & ~stated, "calibration": ~held & stated,
             "calibration_inferred": ~held & ~stated}
    latency = {k: metrics(pred[m], meas[m]) for k, m in masks.items()}
    latency["held_out_uncalibrated"] = metrics(prior_pred[held & stated], meas[held & stated])
    kernels = np.asarray([kernel_launches(r) for r in rows])

    def by(key: str) -> dict:
        out = {}
        for v in sorted({r[key] for r in rows}):
            m = held & stated & np.asarray([r[key] == v for r in rows])
            if m.any():
                out[v] = metrics(pred[m], meas[m])
        return out

    keep = ("file", "line", "source_id", "preset", "device_stated", "dtype", "model", "sparsity", "batch", "seq_len",
            "phase", "framework")
    out_rows = [{k: r[k] for k in keep} | {"measured_s": r["time_s"], "predicted_s": float(pred[i]),
                                           "error": float(pred[i] / r["time_s"] - 1), "kernels": int(kernels[i]),
                                           "parts_s": {k: float(parts[k][i]) for k in parts if k != "total_s"},
                                           "split": "held_out" if held[i] else "calibration",
                                           "synthetic": is_synthetic(r)}
                for i, r in enumerate(rows)]
    return {"kind": "published e2e", "latency": latency, "per_framework": by("framework"), "per_device": by("preset"),
            "params": {k: values.get(k, e2e_priors(_gpu(rows[0]))[k.split("@")[0]]) for k in status},
            "param_status": status,
            "split": split, "synthetic_rows": sum(is_synthetic(r) for r in rows), "ops_note": OPS_NOTE,
            "rows": out_rows}


def _gpu(row: dict):
    from nmsim.accel import load_arch

    return load_arch(row["preset"]).gpu
