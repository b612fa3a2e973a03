"""`nmsim gpu`: real GPU measurements and the GPU cost model checked against them.

    nmsim gpu bench --out measurements/GPU-DATE.csv [--models ...] [--tokens ...] [--kernels ...]
                    [--patterns ...] [--dtype fp16] [--repeats N] [--warmup N] [--json R.json]
    nmsim gpu validate FILE.csv|DIR [...] [--arch h100] [--split auto|models|hash] [--json R.json] [--plot OUT.png]
    nmsim gpu calibrate measurements/published [--write sim/gpu/calibrated.py] [--json R.json]

`bench` needs a CUDA device (gpu_kernels/bench.py; without one: one line, exit code 2, no file).
`validate` predicts every row of bench files (our own measurements) and of published files (other
people's, measurements/published/), each kind in its own report, never pooled: a bench file is
calibrated and scored by itself; published GEMM files together (split by source); published
end-to-end files together. `calibrate` fits the model on the calibration sources of published files
(the GEMM model on the GEMM files, then the whole-model values on the end-to-end files) and can
write the result as the shipped calibration (docs/GPU.md, "GPU cost model", "Whole-model latency").
"""
from __future__ import annotations

import argparse
import time

from nmsim.problem import MAX_DIM
from nmsim.specfile import PLOT_SUFFIXES

from .argtypes import float_flag, int_flag
from .errors import flags
from .outputs import add_output
from .provenance import file_inputs, write_json


def add_parser(sub) -> None:
    """Register `gpu bench` and `gpu validate` on the `nmsim` subparsers."""
    from nmsim.gpu_kernels.bench import BENCH_MODELS, DEFAULT_PATTERNS, DEFAULT_TOKENS, DTYPES
    from nmsim.gpu_kernels.validate import SPLITS

    sg = sub.add_parser("gpu", help="measure N:M kernels on a CUDA GPU; validate the GPU cost model against measurements")
    actions = sg.add_subparsers(dest="gpu_action", required=True, metavar="ACTION")
    sb = actions.add_parser("bench", help="time cuBLAS, 2:4 cuSPARSELt/CUTLASS and our Triton kernels (CUDA only)")
    add_output(sb, "--out", mode="append", required=True, metavar="FILE.csv",
                    help="measurement CSV to append to (rows already there are skipped), e.g. measurements/GPU-DATE.csv")
    sb.add_argument("--models", nargs="+", metavar="MODEL", help=f"zoo models (default {' '.join(BENCH_MODELS)})")
    sb.add_argument("--tokens", nargs="+", type=int_flag(1, MAX_DIM), metavar="M", help=f"token counts (default {DEFAULT_TOKENS[0]} ... {DEFAULT_TOKENS[-1]})")
    sb.add_argument("--kernels", nargs="+", metavar="KERNEL", help="subset of the kernels (default all)")
    sb.add_argument("--patterns", nargs="+", metavar="N:M", help=f"N:M patterns of the Triton kernels (default {DEFAULT_PATTERNS[0]} ... {DEFAULT_PATTERNS[-1]})")
    sb.add_argument("--dtype", default=DTYPES[0], help=f"{DTYPES[0]} (default), {', '.join(DTYPES[1:-1])} or {DTYPES[-1]}")
    sb.add_argument("--repeats", type=int_flag(1, 1_000_000), help="timed samples per row (default: the bench's)")
    sb.add_argument("--warmup", type=int_flag(0, 1_000_000), help="eager calls before timing (default: the bench's)")
    sb.add_argument("--budget-s", type=float_flag(0, 1e7, "about four months", lo_open=True), metavar="S",
                    help="wall seconds for this call, from the command's start: rows run in priority order (those "
                         "that best separate the model's mechanisms first) while they fit; rerun to resume")
    add_output(sb, "--json", metavar="R.json", help="write {out, rows_written} as JSON")
    sb.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sb.set_defaults(func=cmd_bench, started_at=time.monotonic())
    sv = actions.add_parser("validate", help="predict measured rows with the GPU model: MAPE, Spearman, plot")
    sv.add_argument("files", nargs="+", metavar="FILE.csv|DIR",
                    help="bench files (`nmsim gpu bench`) and/or published files or folders (measurements/published)")
    sv.add_argument("--arch", default="auto",
                    help="GPU preset or arch YAML (default: from the file's device column: H100, A100, T4)")
    sv.add_argument("--split", default="auto", choices=SPLITS,
                    help="calibration/held-out split (default auto: by model shapes, else by shape hash)")
    add_output(sv, "--json", metavar="R.json", help="write the full result (metrics, rows, params) as JSON")
    add_output(sv, "--plot", suffixes=PLOT_SUFFIXES, metavar="OUT.png", help="predicted-vs-measured log-log scatter (.png or .svg)")
    sv.set_defaults(func=cmd_validate)
    sc = actions.add_parser("calibrate", help="fit the GPU model on the calibration sources of published files")
    sc.add_argument("files", nargs="+", metavar="FILE.csv|DIR",
                    help="published GEMM (and end-to-end) files or folders")
    add_output(sc, "--write", suffixes=(".py",), metavar="calibrated.py",
               help="write the fit as the shipped calibration module")
    add_output(sc, "--json", metavar="R.json", help="write the fit (values, info, split) as JSON")
    sc.set_defaults(func=cmd_calibrate)


def cmd_bench(args: argparse.Namespace) -> None:
    """Run gpu_kernels.bench.run_bench with the given options (kernels imported only here)."""
    from nmsim.gpu_kernels.bench import run_bench

    from .tables import console

    opts = {k: getattr(args, k) for k in ("repeats", "warmup", "patterns") if getattr(args, k) is not None}
    with flags("budget_s", out_path="--out"):
        written = run_bench(args.out, models=args.models, tokens=args.tokens, kernels=args.kernels, dtype=args.dtype,
                            progress=not args.quiet, budget_s=args.budget_s, started_at=args.started_at, **opts)
    console.print(f"{written} rows appended to {args.out}")
    if args.json:
        write_json(args.outputs.path(args.json), "gpu-bench", {"out": args.out, "rows_written": written}, engine="cuda (measured)")


def cmd_validate(args: argparse.Namespace) -> None:
    """Validate the GPU model on bench and published files: one report per bench file, one for the
    published GEMM files together, one for the published end-to-end files; optional JSON and plot."""
    from . import gpu_report

    with flags(files="FILE"):
        groups = gpu_report.group_files(args.files)
    out = {}
    for path in groups["bench"]:
        with flags("arch", "split"):
            out[path] = gpu_report.bench_report(path, args.arch, args.split, args.plot, stage=args.outputs.path)
    if groups["gemm"]:
        out["published gemm"] = gpu_report.published_gemm_report(groups["gemm"])
    if groups["e2e"]:
        out["published e2e"] = gpu_report.published_e2e_report(groups["e2e"])
    if args.json:
        write_json(args.outputs.path(args.json), "gpu-validate", out, engine="gpu model (sim.gpu)",
                   arch=_gpu_arch_prov(args.arch, out), inputs=file_inputs(**{f"file{i}": f for i, f in
                                                                             enumerate(args.files)}))


def _gpu_arch_prov(given: str, reports: dict) -> dict | None:
    """The arch record of the GPU preset a validation used: the one given, or the one every bench
    report picked from its file (`auto`); None when published files span several GPUs."""
    from nmsim.accel import load_arch

    from .provenance import arch_prov

    picked = {r.get("arch") for r in reports.values() if isinstance(r, dict) and r.get("arch")}
    text = given if given != "auto" else (picked.pop() if len(picked) == 1 else None)
    return arch_prov(text, load_arch(text)) if text else None


def cmd_calibrate(args: argparse.Namespace) -> None:
    """Fit the model on the calibration sources of published GEMM files; print, optionally write."""
    from . import gpu_report

    with flags(files="FILE"):
        groups = gpu_report.group_files(args.files)
    gpu_report.calibrate_report(groups, args.write, args.json, stage=args.outputs.path)
