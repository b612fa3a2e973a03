"""The GPU cost model (sim/gpu/) against measured kernel times (`nmsim gpu validate`).

`validate(rows, arch)` predicts every row of a measurement file (gpu_kernels.measurements),
calibrates the model's few efficiency parameters by least squares on log time over the
calibration rows, and reports MAPE and Spearman rank correlation on calibration and held-out rows,
overall and per kernel (docs/GPU.md, "GPU cost model"). Errors are fractions (0.08 = 8%).

Split (deterministic, whole shapes held out so that held-out error measures prediction on shapes
the fit never saw): calibration = rows whose weight shape (N, K) occurs in the CALIBRATION_MODELS
(BERT-base, Llama-2-7B); held out = every other shape (Llama-3-8B's GQA k/v and FFN, OPT-13B). A
held-out model's layer with a calibration shape (Llama-3-8B's 4096 x 4096) is a calibration row:
its shape is not unseen. A file without those models falls back to a hash split: shapes whose
crc32("NxK") % HASH_HELD_OUT_EVERY == 0 are held out; with a single shape, (shape, tokens) points
are hashed instead.
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from nmsim.specfile import SpecError, check_plot_path

CALIBRATION_MODELS = ("bert-base", "llama2-7b")
HELD_OUT_MODELS = ("llama3-8b", "opt-13b")   # unseen shapes in the bench's default plan
HASH_HELD_OUT_EVERY = 3
SPLITS = ("auto", "models", "hash")

# device name (torch.cuda.get_device_name) -> preset; the presets describe one board each (SXM for
# the data-center parts), so PCIe/NVL variants with other clocks, bandwidths and TDPs are not matched
DEVICE_PRESETS = (
    (re.compile(r"\bH100\b(?!.*\b(PCIe|NVL)\b)", re.I), "h100"),
    (re.compile(r"\bH100\b.*\bPCIe\b", re.I), "h100-pcie"),
    (re.compile(r"\bH200\b(?!.*\b(NVL)\b)", re.I), "h200"),
    (re.compile(r"\bGH200\b.*\b(144G|HBM3e)", re.I), "gh200"),
    (re.compile(r"\bA100\b.*\bSXM4-80GB\b", re.I), "a100"),
    (re.compile(r"\bA100\b.*\bSXM4-40GB\b", re.I), "a100-40gb"),
    (re.compile(r"\bA100 80GB PCIe\b", re.I), "a100-pcie"),
    (re.compile(r"\bA100-PCIE-40GB\b", re.I), "a100-pcie-40gb"),
    (re.compile(r"\bA30\b", re.I), "a30"),
    (re.compile(r"\bA10\b", re.I), "a10"),
    (re.compile(r"\bA40\b", re.I), "a40"),
    (re.compile(r"\bL40S\b", re.I), "l40s"),
    (re.compile(r"\bL4\b", re.I), "l4"),
    (re.compile(r"\bRTX 3060\b(?!.*\bTi\b)", re.I), "rtx3060"),
    (re.compile(r"\bRTX 3090\b(?!.*\bTi\b)", re.I), "rtx3090"),
    (re.compile(r"\bRTX 4070 Ti SUPER\b", re.I), "rtx4070-ti-super"),
    (re.compile(r"\bRTX 4090\b(?!\s*D\b)", re.I), "rtx4090"),
    (re.compile(r"\bT4\b", re.I), "t4"),
)


def preset_for_device(device: str) -> str:
    """The preset name of a measured device string; SpecError naming the fix when none matches."""
    for pattern, name in DEVICE_PRESETS:
        if pattern.search(device):
            return name
    raise SpecError(f"device {device!r} has no GPU preset (auto-detection knows H100 SXM5 and PCIe, H200 SXM, "
                    f"GH200 144GB, A100 SXM4 80GB/40GB and PCIe 80GB/40GB, A30, A10, A40, L40S, L4, RTX 3060, RTX 3090, "
                    f"RTX 4070 Ti SUPER, RTX 4090, T4); "
                    f"pass `arch` with a preset name or a GPU arch YAML describing it")


def resolve_arch(rows: list[dict], arch: str = "auto"):
    """The `accel.Arch` to predict `rows` on: `arch` (preset name or YAML path), or from the rows' device."""
    from nmsim.accel import GpuArch, load_arch

    devices = sorted({r["device"] for r in rows})
    if arch == "auto":
        if len(devices) != 1:
            raise SpecError(f"rows come from {len(devices)} devices ({', '.join(map(repr, devices))}); "
                            f"validate one device's file at a time, or pass `arch`")
        arch = preset_for_device(devices[0])
    a = load_arch(arch)
    if not isinstance(a, GpuArch):
        raise SpecError(f"`arch` {arch}: {a.name} is a {a.kind} preset; the GPU model needs a gpu arch (h100, a100, t4)")
    return a


def split_rows(rows: list[dict], how: str = "auto") -> tuple[np.ndarray, str]:
    """(held-out mask over rows, description) for split `how`: 'models', 'hash' or 'auto' (models
    when the file has calibration and other shapes, else hash); see the module docstring."""
    if how not in SPLITS:
        raise SpecError(f"split {how!r} is not one of {', '.join(SPLITS)}")
    shapes = [(r["N"], r["K"]) for r in rows]
    if how in ("auto", "models"):
        cal_shapes = {s for s, r in zip(shapes, rows) if r["model"] in CALIBRATION_MODELS}
        held = np.asarray([s not in cal_shapes for s in shapes])
        if held.any() and not held.all():
            others = sorted({r["model"] for r, h in zip(rows, held) if h})
            return held, (f"by shape: calibration = weight shapes (N x K) of {', '.join(CALIBRATION_MODELS)} "
                          f"({len(cal_shapes)} shapes, any model); held out = all other shapes "
                          f"({len(set(s for s, h in zip(shapes, held) if h))} shapes, from {', '.join(others)})")
        if how == "models":
            raise SpecError(f"split 'models' needs rows of {' or '.join(CALIBRATION_MODELS)} and rows of other "
                            f"shapes; use `split` hash")
    held = np.asarray([_crc(f"{n}x{k}") % HASH_HELD_OUT_EVERY == 0 for n, k in shapes])
    if held.any() and not held.all():
        return held, (f"by shape hash: shapes with crc32('NxK') % {HASH_HELD_OUT_EVERY} == 0 held out "
                      f"({len(set(s for s, h in zip(shapes, held) if h))} of {len(set(shapes))} shapes)")
    held = np.asarray([_crc(f"{r['N']}x{r['K']}x{r['M']}") % HASH_HELD_OUT_EVERY == 0 for r in rows])
    if held.any() and not held.all():
        return held, (f"by point hash (too few shapes to hold one out): (N, K, M) points with crc32('NxKxM') % "
                      f"{HASH_HELD_OUT_EVERY} == 0 held out")
    raise SpecError("too few distinct (shape, tokens) points to hold any out: measure more shapes or token counts")


def is_synthetic(row: dict) -> bool:
    """Whether a measurement or published row says it was made by a program, not measured (the
    word 'synthetic' in its notes or source): tests write such files to exercise the code."""
    return "synthetic" in f"{row.get('notes', '')} {row.get('source', '')}".lower()


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


def metrics(pred: np.ndarray, meas: np.ndarray) -> dict:
    """MAPE and max APE (fractions), Spearman rank correlation (None below 3 rows or without
    variation), and the row count."""
    n = int(len(meas))
    if n == 0:
        return {"mape": None, "max_ape": None, "spearman": None, "n": 0}
    ape = np.abs(pred - meas) / meas
    rho = None
    if n >= 3 and np.ptp(pred) > 0 and np.ptp(meas) > 0:
        from scipy.stats import spearmanr

        rho = float(spearmanr(pred, meas).statistic)
    return {"mape": float(ape.mean()), "max_ape": float(ape.max()), "spearman": rho, "n": n}


def _cases(rows: list[dict]):
    from nmsim.sim.gpu import GemmCase, parse_config, parse_kernel_pattern

    cases = []
    for i, r in enumerate(rows, start=1):
        try:
            n, m, b = parse_kernel_pattern(r["pattern"])
            cases.append(GemmCase(r["kernel"], r["M"], r["N"], r["K"], r["dtype"], n, m, b, 1,
                                  parse_config(r["kernel"], r["config"], r["M"])))
        except SpecError as exc:
            raise SpecError(f"measurement row {i} ({r['kernel']} {r['model']} {r['layer']} M={r['M']}): {exc}") from None
    return cases


def validate(rows: list[dict], arch: str = "auto", split: str = "auto") -> dict:
    """Predict, calibrate and score measured `rows` (measurements.read_measurements) on `arch`
    ('auto': from the device column; else a preset name or YAML). Returns the `gpu validate --json`
    dict: held_out / calibration / overall / uncalibrated_held_out {mape, max_ape, spearman, n},
    per_kernel {kernel: {held-out metrics, "calibration": metrics}}, rows (predicted vs measured),
    params (calibrated), param_defaults, fixed_params, fit, split (description), arch, device."""
    from nmsim.sim import gpu as gm

    if not rows:
        raise SpecError("no measurement rows to validate")
    a = resolve_arch(rows, arch)
    cases = _cases(rows)
    try:
        geo = gm.geometry(a.gpu, cases)
    except SpecError as exc:
        raise SpecError(f"arch {a.name}: {exc}") from None
    meas = np.asarray([r["median_s"] for r in rows], dtype=np.float64)
    held, description = split_rows(rows, split)
    cal = ~held
    defaults = gm.default_params(a.gpu)
    cal_cases = [c for c, k in zip(cases, cal) if k]
    free = gm.used_params(cal_cases, one_board=True)
    hbm = a.gpu.hbm_bytes_per_s
    params, fit = gm.calibrate(gm.geometry(a.gpu, cal_cases), meas[cal], defaults, free, hbm)
    best, pt = gm.best_pairs(geo, params)
    pred = gm.call_times(geo.calls, pt["total_s"][best], params, hbm)["total_s"]
    pred_default = gm.predict_s(geo, gm.prior_params(a.gpu), hbm)
    out_rows = []
    for i, (r, p) in enumerate(zip(rows, pred)):
        j = best[i]
        bound = gm.bound_of(pt["compute_s"][j], pt["hbm_s"][j], pt["l2_s"][j])
        out_rows.append({k: r[k] for k in ("kernel", "pattern", "dtype", "model", "layer", "M", "N", "K", "config")}
                        | {"measured_s": float(r["median_s"]), "predicted_s": float(p),
                           "error": float(p / r["median_s"] - 1), "split": "held_out" if held[i] else "calibration",
                           "tile": geo.tiles[j].text(), "ctas": int(geo.ctas[j]), "waves": int(pt["waves"][j]),
                           "bound": bound})
    kernels = sorted({r["kernel"] for r in rows}, key=list(gm.KERNEL_FAMILY).index)
    kern = np.asarray([r["kernel"] for r in rows])
    per_kernel = {}
    for k in kernels:
        sel = kern == k
        per_kernel[k] = metrics(pred[sel & held], meas[sel & held]) | {
            "calibration": metrics(pred[sel & cal], meas[sel & cal])}
    return {
        "arch": a.name, "device": sorted({r["device"] for r in rows}),
        "held_out": metrics(pred[held], meas[held]), "calibration": metrics(pred[cal], meas[cal]),
        "overall": metrics(pred, meas), "uncalibrated_held_out": metrics(pred_default[held], meas[held]),
        "per_kernel": per_kernel, "rows": out_rows,
        "params": {k: params[k] for k in free if k not in fit["unconstrained"]}, "param_defaults": defaults,
        "param_status": gm.param_status(a.gpu),
        "fixed_params": {k: v for k, v in defaults.items() if k not in free},
        "fit": fit, "split": description, "synthetic_rows": sum(is_synthetic(r) for r in rows),
    }


def plot(result: dict, path: str | Path) -> Path:
    """Log-log predicted vs measured scatter of `validate`'s result: a color per kernel, held-out
    rows filled triangles, calibration rows hollow circles, and the y = x line. Writes PNG or SVG."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    path = check_plot_path(path)
    fig = Figure(figsize=(7, 6), dpi=120)
    ax = fig.add_subplot()
    rows = result["rows"]
    colors = {k: f"C{i}" for i, k in enumerate(result["per_kernel"])}
    for k, color in colors.items():
        for split, marker, face in (("calibration", "o", "none"), ("held_out", "^", color)):
            pts = [(r["measured_s"], r["predicted_s"]) for r in rows if r["kernel"] == k and r["split"] == split]
            if pts:
                x, y = zip(*pts)
                ax.scatter(np.asarray(x) * 1e6, np.asarray(y) * 1e6, marker=marker, facecolors=face,
                           edgecolors=color, s=18, linewidths=0.8)
    allv = [v * 1e6 for r in rows for v in (r["measured_s"], r["predicted_s"])]
    lo, hi = min(allv) / 1.5, max(allv) * 1.5
    ax.plot([lo, hi], [lo, hi], color="0.3", linewidth=1, linestyle="--")
    handles = [Line2D([], [], marker="s", linestyle="", color=c, label=k) for k, c in colors.items()]
    handles += [Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="0.3", label="calibration"),
                Line2D([], [], marker="^", linestyle="", color="0.3", label="held out"),
                Line2D([], [], linestyle="--", color="0.3", label="y = x")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured time (us)")
    ax.set_ylabel("predicted time (us)")
    h = result["held_out"]
    mape = "n/a" if h["mape"] is None else f"{100 * h['mape']:.1f}%"
    rho = "n/a" if h["spearman"] is None else f"{h['spearman']:.3f}"
    ax.set_title(f"GPU model on {result['arch']}: held-out MAPE {mape}, Spearman {rho} (n={h['n']})", fontsize=10)
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    fig.savefig(path, format=path.suffix.lower().lstrip("."))
    return path

