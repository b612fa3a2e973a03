"""The GPU model against published GEMM measurements (`nmsim gpu validate measurements/published/...`,
`nmsim gpu calibrate`): split by source, joint calibration over the GPUs the calibration sources
measured, and scores on the held-out sources (docs/GPU.md, "Calibration on published measurements").

Rows come from gpu_kernels.published (one kernel call each, with its timing method and call path).
The split holds out whole sources (HELD_OUT_SOURCES): their rows never reach the fit, so their
error measures prediction on other people's machines, libraries and shapes. Scores count only rows
whose source states the device; rows with an inferred device are calibrated on (flagged) and
reported separately. 2:4 rows that print a speedup are also scored as speedups: the model predicts
the baseline kernel at the same shape and timing, and the score is whether it lands on the right
side of 1 and how far the ratio is off.
"""
from __future__ import annotations

import numpy as np

from nmsim.specfile import SpecError

from .validate import is_synthetic, metrics

# The sources the shipped calibration (sim/gpu/calibrated.py) is fitted on. Every other source is
# held out: the corpus's own held-out sources below, and any source a user brings.
CALIBRATION_SOURCES: tuple[str, ...] = (
    "pytorch/pytorch#90119/alexsamardzic", "pytorch/pytorch#111339/jcaip", "pytorch/pytorch#177866",
    "pytorch/ao#174/philipbutler", "NVIDIA/cutlass#1335", "vllm-project/vllm#6996",
    "NVIDIA/TensorRT@f8d83b6:demo/BERT/README.md", "pytorch-labs/gpt-fast@0f925b5:README.md",
    # breadth for the parameters the sources above leave open: sm89 (an RTX 4070 Ti SUPER's cuBLAS),
    # the H100's memory efficiency (bf16 GEMV-shaped calls under CUDA graphs) and PyTorch's per-op
    # host floor (1024^3 torch.mm on an H100: 12 us a call, far above its kernel)
    "zzc0721/torch-performance-test-data#70", "zzc0721/torch-performance-test-data#79",
    "vllm-project/vllm#49363",
    # stop 26: the power limit (power_w_per_sm_ghz) on the board of each class with the least power per
    # SM-GHz: an L4 (72 W, sm89), an H100 PCIe (350 W, sm90), an A100 PCIe 40GB (250 W, sm80; first
    # scored as held out, docs/GPU.md) and an A40 (300 W, sm86; likewise), square torch.mm from the
    # same crowd-sourced script as #70 and #79
    "zzc0721/torch-performance-test-data#120", "zzc0721/torch-performance-test-data#95",
    "zzc0721/torch-performance-test-data#108", "zzc0721/torch-performance-test-data#185",
    # stop 27: the first 2:4 rows of sm89 (an RTX 4090) and the first INT8 GEMM rows of any class:
    # cuBLASLt vs cuSPARSELt through their C APIs on an RTX 4090, an H100 PCIe and an A100 PCIe (the
    # SlideSparse kernel benchmark, a subsample fixed before it was scored: gemm_slidesparse.csv)
    "bcacdwk/vllmbench@92a8ca4:slidesparse/benchmark_kernel/kernel_speedup_results",
)
# source_id -> why the corpus holds it out. Chosen so that the held-out set has stated-device rows of
# each kind (dense library, cuSPARSELt, CUTLASS 2:4; A100, H100, a GeForce Ada part) while every
# mechanism keeps calibration rows; end-to-end sources are split the same way.
HELD_OUT_SOURCES: dict[str, str] = {
    "pytorch/tutorials@11af4a0:prototype_source/semi_structured_sparse.rst":
        "A100 80GB: nn.Linear vs CUTLASS 2:4 through the tensor subclass; BERT-base end to end (eager)",
    "pytorch/pytorch#96147/jcaip": "A100 (device inferred, so never scored): cuSPARSELt v0.4.0 prototype "
        "whose dense and sparse calls sit on 60-90 us host floors unlike every other source's",
    "NVIDIA/CUDALibrarySamples#57": "A100: cuSPARSELt through its C API vs a CUTLASS profiler dense GEMM",
    "NVIDIA/cutlass#408": "A100 SXM4: CUTLASS profiler dense and 2:4 at 16384^3 (two builds)",
    "vllm-project/vllm#23280": "H100: cuBLAS bf16 from 1 to 8192 tokens (N=2112, K=7168)",
    "pytorch/ao#174/gau-nernst": "RTX 4070 Ti SUPER (sm89): CUTLASS 2:4 vs cuBLAS; sm89 is fitted only through sm86",
    "stas00/ml-engineering@744d01e:compute/accelerator/README.md": "best-shape cuBLAS on A100, H100, H200",
    "NVIDIA/TensorRT@9973b2f:demo/BERT/README.md": "TensorRT BERT on A100 40GB and L40S (tables unchanged since "
        "37c01d4, 2025-01-31; its section headed 'A30' is that commit's L4 table, left out here)",
    "NVIDIA/TensorRT@37c01d4:demo/BERT/README.md": "TensorRT BERT on the L4 (72 W, sm89): the same campaign as 9973b2f's "
        "tables, a device no calibration row measures",
    "pytorch/ao@761dcd9:torchao/quantization/README.md": "Llama-3-8B decode on A100 and H100 (torch.compile)",
    "zzc0721/torch-performance-test-data#78": "RTX 4090 (sm89, 450 W): square torch.mm; a GeForce Ada board "
        "beside the calibration's RTX 4070 Ti SUPER, below its power limit",
    "zzc0721/torch-performance-test-data#131": "RTX 3060 (sm86): square torch.mm, another owner's card than the "
        "calibration's pytorch/ao#174 rows",
}
DENSE_KERNELS = ("cublas", "cutlass_dense")


def split_by_source(rows: list[dict]) -> tuple[np.ndarray, dict]:
    """(held-out mask over rows, {"held_out": {source: rows}, "calibration": {source: rows}}): a row
    is a calibration row when its source is one of CALIBRATION_SOURCES, held out otherwise."""
    held = np.asarray([r["source_id"] not in CALIBRATION_SOURCES for r in rows], dtype=bool)
    report = {"held_out": {}, "calibration": {}}
    for r, h in zip(rows, held):
        side = report["held_out" if h else "calibration"]
        side[r["source_id"]] = side.get(r["source_id"], 0) + 1
    return held, report


def gemm_case(row: dict, kernel: str | None = None):
    """The GemmCase of a published GEMM row; with `kernel`, that kernel (a dense baseline) at the
    row's shape, dtype and timing on its default call path."""
    from nmsim.sim.gpu import GemmCase

    k = kernel or row["kernel"]
    sparse = k not in DENSE_KERNELS
    return GemmCase(k, row["M"], row["N"], row["K"], row["dtype"], 2 if sparse else 1, 4 if sparse else 1,
                    2 if sparse else 0, 1, None, row["timing"], () if kernel else tuple(row["variant"]))


def _gpus(rows: list[dict]) -> dict:
    from nmsim.accel import load_arch

    return {p: load_arch(p).gpu for p in sorted({r["preset"] for r in rows})}


def fit_published(rows: list[dict], cases: list) -> tuple[dict, dict]:
    """Joint fit over the presets of `rows` (all calibration rows): returns (values keyed by
    params.param_key that the rows constrain, fit info)."""
    from nmsim.sim import gpu as gm

    gpus = _gpus(rows)
    values, groups, free = {}, [], set()
    for preset, g in gpus.items():
        idx = [i for i, r in enumerate(rows) if r["preset"] == preset]
        sub = [cases[i] for i in idx]
        arch = gm.arch_class(g)
        values |= {gm.param_key(n, arch): v for n, v in gm.prior_params(g).items()}
        free |= {gm.param_key(n, arch) for n in gm.used_params(sub)}
        try:
            geo = gm.geometry(g, sub)
        except SpecError as exc:
            raise SpecError(f"preset {preset}: {exc}") from None
        groups.append(gm.FitGroup(geo, g.hbm_bytes_per_s, arch, np.asarray([rows[i]["time_s"] for i in idx])))
    fitted, info = gm.calibrate_groups(groups, values, sorted(free))
    keep = set(info["free"]) - set(info["unconstrained"])
    return {k: fitted[k] for k in sorted(keep)}, info


def shipped_values() -> dict[str, float]:
    """The shipped calibration of the GEMM model (sim/gpu/calibrated.CALIBRATED, without the
    whole-model values gpu_kernels/e2e.py fits) keyed like a fit (params.param_key)."""
    from nmsim.sim import gpu as gm

    gemm = set(gm.PARAM_NAMES) - set(gm.E2E_PARAM_NAMES)
    return {gm.param_key(n, a): v for a, vals in gm.CALIBRATED.items() for n, v in vals.items() if n in gemm}


def params_for(gpu, fitted: dict) -> tuple[dict, dict]:
    """(parameters of `gpu` by name, status by name: 'fitted (sm80)', 'fitted', 'fitted (sm86, via
    fallback)' or 'uncalibrated') from a fit's values, the prior where the fit has none."""
    from nmsim.sim import gpu as gm

    arch = gm.arch_class(gpu)
    values, status = gm.prior_params(gpu), {}
    for name in gm.PARAM_NAMES:
        status[name] = "uncalibrated"
        for a, how in ((arch, ""), (gm.ARCH_FALLBACK.get(arch), ", via fallback")):
            key = gm.param_key(name, a) if a else None
            if key in fitted:
                values[name] = fitted[key]
                status[name] = f"fitted ({a}{how})" if name in gm.PER_ARCH else "fitted"
                break
    return values, status


def predict(rows: list[dict], cases: list, fitted: dict | None) -> np.ndarray:
    """Predicted seconds per call of every case (the rows give each case's preset) under a fit's
    values (`fitted`), or under the priors when `fitted` is None."""
    from nmsim.sim import gpu as gm

    out = np.empty(len(cases))
    for preset, g in _gpus(rows).items():
        idx = [i for i, r in enumerate(rows) if r["preset"] == preset]
        p = gm.prior_params(g) if fitted is None else params_for(g, fitted)[0]
        out[idx] = gm.predict_s(gm.geometry(g, [cases[i] for i in idx]), p, g.hbm_bytes_per_s)
    return out


def speedup_metrics(pred: np.ndarray, meas: np.ndarray) -> dict:
    """Scores of predicted vs measured 2:4 speedups (ratios): n, side_right (fraction of rows on
    the measured side of 1), mean_abs_error (mean |predicted - measured|, a ratio), max_abs_error."""
    n = int(len(meas))
    if n == 0:
        return {"n": 0, "side_right": None, "mean_abs_error": None, "max_abs_error": None}
    err = np.abs(pred - meas)
    return {"n": n, "side_right": float(np.mean((pred > 1) == (meas > 1))), "mean_abs_error": float(err.mean()),
            "max_abs_error": float(err.max())}


def _scores(pred: np.ndarray, meas: np.ndarray, masks: dict[str, np.ndarray]) -> dict:
    return {name: metrics(pred[m], meas[m]) for name, m in masks.items()}


def _speedups(rows: list[dict], pred: np.ndarray, fitted: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(mask of rows with a published speedup, predicted speedups at those rows: the baseline
    kernel's predicted time at the same shape and timing over the row's)."""
    has = np.asarray([r.get("speedup") is not None for r in rows], dtype=bool)
    idx = np.flatnonzero(has)
    base = predict([rows[i] for i in idx], [gemm_case(rows[i], rows[i]["baseline"]) for i in idx], fitted)
    return has, base / pred[idx]


def validate_published_gemm(rows: list[dict]) -> dict:
    """Split, calibrate and score published GEMM rows (gpu_kernels.published, kind 'gemm'). Returns
    the `gpu validate --json` dict of a published file: split (sources per side), fit, params
    (fitted values by key), time scores {held_out, held_out_inferred, calibration,
    calibration_inferred, held_out_uncalibrated} (MAPE etc., fractions) overall and per kind
    (dense, 2:4), speedup scores (side of 1, ratio error), synthetic_rows and every row."""
    if not rows:
        raise SpecError("no published GEMM rows to validate")
    held, split = split_by_source(rows)
    cases = [gemm_case(r) for r in rows]
    meas = np.asarray([r["time_s"] for r in rows])
    cal = ~held
    if cal.any():
        fitted, fit = fit_published([r for r, c in zip(rows, cal) if c], [k for k, c in zip(cases, cal) if c])
    else:
        fitted, fit = shipped_values(), {"free": [], "unconstrained": [], "cost": None, "nfev": 0,
                                         "status": "no calibration rows given: the shipped calibration "
                                                   "(sim/gpu/calibrated.py) is used"}
    pred, prior = predict(rows, cases, fitted), predict(rows, cases, None)
    stated = np.asarray([r["device_stated"] for r in rows], dtype=bool)
    masks = {"held_out": held & stated, "held_out_inferred": held & ~stated, "calibration": cal & stated,
             "calibration_inferred": cal & ~stated}
    dense = np.asarray([r["kernel"] in DENSE_KERNELS for r in rows], dtype=bool)
    time = {"all": _scores(pred, meas, masks) | {"held_out_uncalibrated": metrics(prior[held & stated],
                                                                                  meas[held & stated])}}
    for kind, sel in (("dense", dense), ("2:4", ~dense)):
        time[kind] = _scores(pred, meas, {k: m & sel for k, m in masks.items()}) | {
            "held_out_uncalibrated": metrics(prior[held & stated & sel], meas[held & stated & sel])}
    has, sp_pred = _speedups(rows, pred, fitted)
    _, sp_prior = _speedups(rows, prior, None)
    sp_meas = np.asarray([r["speedup"] for r in rows if r.get("speedup") is not None])
    sp = {name: speedup_metrics(sp_pred[m[has]], sp_meas[m[has]]) for name, m in masks.items()}
    sp["held_out_uncalibrated"] = speedup_metrics(sp_prior[masks["held_out"][has]], sp_meas[masks["held_out"][has]])
    out_rows = _row_records(rows, pred, held, has, sp_pred)
    return {"kind": "published gemm", "split": split, "fit": fit, "params": fitted,
            "param_status": {p: params_for(g, fitted)[1] for p, g in _gpus(rows).items()},
            "time": time, "speedup": sp, "synthetic_rows": sum(is_synthetic(r) for r in rows),
            "held_out_sources": {s: HELD_OUT_SOURCES[s] for s in split["held_out"]}, "rows": out_rows}


def _row_records(rows, pred, held, has, sp_pred) -> list[dict]:
    sp_at = dict(zip(np.flatnonzero(has), sp_pred))
    keep = ("file", "line", "source_id", "device", "preset", "device_stated", "dtype", "kernel", "M", "N", "K",
            "timing", "speedup")
    return [{k: r[k] for k in keep} | {"variant": "+".join(r["variant"]), "measured_s": r["time_s"],
                                       "predicted_s": float(p), "error": float(p / r["time_s"] - 1),
                                       "split": "held_out" if h else "calibration",
                                       "predicted_speedup": None if i not in sp_at else float(sp_at[i]),
                                       "synthetic": is_synthetic(r)}
            for i, (r, p, h) in enumerate(zip(rows, pred, held))]


def calibrated_module_text(fitted: dict, fit: dict, split: dict, e2e_fit: dict | None = None) -> str:
    """The text of sim/gpu/calibrated.py for a published fit (GEMM, and end-to-end when `e2e_fit`):
    CALIBRATED by architecture class ('any' for the others), each value with its derivation."""
    by_arch: dict[str, dict[str, float]] = {}
    for key, v in fitted.items():
        name, _, arch = key.partition("@")
        by_arch.setdefault(arch or "any", {})[name] = v
    import textwrap

    sources = textwrap.wrap(f"({', '.join(sorted(split['calibration']))}; held-out sources are never fitted).",
                            width=100)
    e2e = []
    if e2e_fit:
        e2e = [f"# end-to-end fit (gpu_kernels/e2e.py, on the GEMM fit): {len(e2e_fit['free'])} free keys, cost "
               f"{e2e_fit['cost']:.4g};",
               f"# not pinned by the rows (left out): {', '.join(e2e_fit['unconstrained']) or 'none'}"]
    lines = ['"""Calibrated values of the GPU model\'s parameters (params.py, nongemm.py), per architecture class',
             "('sm80', ...) and for the architecture-independent ones ('any').", "",
             "derived: least squares on log time over the calibration sources of measurements/published/",
             *sources, "GEMM parameters on the GEMM rows; framework gaps, sustained fractions and non-GEMM",
             "efficiencies on the end-to-end rows, with the GEMM values fixed (gpu_kernels/e2e.py).",
             "Regenerate with `nmsim gpu calibrate measurements/published --write sim/gpu/calibrated.py`",
             '(docs/GPU.md, "Calibration on published measurements"). A parameter missing here is',
             'uncalibrated: the model uses its assumed prior."""', "from __future__ import annotations", "",
             f"# fit: {len(fit['free'])} free keys, cost {fit['cost']:.4g} (half the sum of squared log residuals);",
             f"# unconstrained by the rows (left out): {', '.join(fit['unconstrained']) or 'none'}", *e2e,
             "CALIBRATED: dict[str, dict[str, float]] = {"]
    for arch in sorted(by_arch):
        lines.append(f'    "{arch}": {{')
        lines += [f'        "{n}": {v:.4g},' for n, v in sorted(by_arch[arch].items())]
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def calibration_rows(rows: list[dict], what: str = "") -> list[dict]:
    """The rows of `rows` from CALIBRATION_SOURCES (held-out rows never reach a fit); SpecError
    naming `what` ('end-to-end ') when there are none."""
    held, _ = split_by_source(rows)
    cal = [r for r, h in zip(rows, held) if not h]
    if not cal:
        raise SpecError(f"no {what}row comes from a calibration source (gpu_kernels.validate_published."
                        "CALIBRATION_SOURCES): give measurements/published")
    return cal


def calibrate_published(rows: list[dict]) -> tuple[dict, dict, dict]:
    """Fit on the rows of CALIBRATION_SOURCES only: (values keyed by params.param_key, fit info,
    split report); SpecError when no row comes from a calibration source."""
    cal = calibration_rows(rows)
    fitted, fit = fit_published(cal, [gemm_case(r) for r in cal])
    return fitted, fit, split_by_source(rows)[1]
