"""`nmsim gpu`: real GPU measurements and the GPU cost model checked against them.

    nmsim gpu bench --out measurements/GPU-DATE.csv [--models ...] [--tokens ...] [--kernels ...]
                    [--patterns ...] [--dtype fp16] [--repeats N] [--warmup N] [--json R.json]
    nmsim gpu validate FILE.csv [--arch h100] [--split auto|models|hash] [--json R.json] [--plot OUT.png]

`bench` needs a CUDA device (gpu_kernels/bench.py; without one: one line, exit code 2, no file).
`validate` predicts every measured row with the model of sim/gpu/, calibrates its efficiencies on the
calibration rows and prints MAPE and Spearman overall, calibration vs held out, per kernel, and the
calibrated parameters (docs/GPU.md, "GPU cost model").
"""
from __future__ import annotations

import argparse
import json

from nmsim.problem import MAX_DIM
from nmsim.specfile import PLOT_SUFFIXES

from .argtypes import int_flag
from .errors import flags
from .outputs import add_output


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
    add_output(sb, "--json", metavar="R.json", help="write {out, rows_written} as JSON")
    sb.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    sb.set_defaults(func=cmd_bench)
    sv = actions.add_parser("validate", help="predict measured rows with the GPU model: MAPE, Spearman, plot")
    sv.add_argument("file", metavar="FILE.csv", help="measurement CSV written by `nmsim gpu bench`")
    sv.add_argument("--arch", default="auto",
                    help="GPU preset or arch YAML (default: from the file's device column: H100, A100, T4)")
    sv.add_argument("--split", default="auto", choices=SPLITS,
                    help="calibration/held-out split (default auto: by model shapes, else by shape hash)")
    add_output(sv, "--json", metavar="R.json", help="write the full result (metrics, rows, params) as JSON")
    add_output(sv, "--plot", suffixes=PLOT_SUFFIXES, metavar="OUT.png", help="predicted-vs-measured log-log scatter (.png or .svg)")
    sv.set_defaults(func=cmd_validate)


def cmd_bench(args: argparse.Namespace) -> None:
    """Run gpu_kernels.bench.run_bench with the given options (kernels imported only here)."""
    from nmsim.gpu_kernels.bench import run_bench

    from .tables import console

    opts = {k: getattr(args, k) for k in ("repeats", "warmup", "patterns") if getattr(args, k) is not None}
    with flags(out_path="--out"):
        written = run_bench(args.out, models=args.models, tokens=args.tokens, kernels=args.kernels, dtype=args.dtype,
                            progress=not args.quiet, **opts)
    console.print(f"{written} rows appended to {args.out}")
    if args.json:
        with open(args.outputs.path(args.json), "w") as fh:
            json.dump({"out": args.out, "rows_written": written}, fh, indent=1)


def cmd_validate(args: argparse.Namespace) -> None:
    """Validate the GPU model on a measurement file: tables on stdout, optional JSON and plot."""
    from rich.table import Table

    from nmsim.gpu_kernels.measurements import read_measurements
    from nmsim.gpu_kernels.validate import plot, validate
    from nmsim.sim.gpu import PARAMS

    from .tables import console

    with flags("arch", "split"):
        res = validate(read_measurements(args.file), args.arch, args.split)
    t = Table(title=f"GPU model ({res['arch']}) vs {args.file}: {res['overall']['n']} rows", title_justify="left")
    for c in ("rows", "n", "MAPE", "max APE", "Spearman"):
        t.add_column(c, justify="left" if c == "rows" else "right")
    for label, key in (("held out", "held_out"), ("calibration", "calibration"), ("overall", "overall"),
                       ("held out, uncalibrated", "uncalibrated_held_out")):
        m = res[key]
        t.add_row(label, str(m["n"]), _pct(m["mape"]), _pct(m["max_ape"]), _rho(m["spearman"]))
    console.print(t)
    k = Table(title="per kernel", title_justify="left")
    for c in ("kernel", "held-out n", "held-out MAPE", "held-out Spearman", "calib. n", "calib. MAPE", "calib. Spearman"):
        k.add_column(c, justify="left" if c == "kernel" else "right")
    for name, m in res["per_kernel"].items():
        c = m["calibration"]
        k.add_row(name, str(m["n"]), _pct(m["mape"]), _rho(m["spearman"]), str(c["n"]), _pct(c["mape"]),
                  _rho(c["spearman"]))
    console.print(k)
    p = Table(title="model parameters", title_justify="left")
    for c in ("parameter", "default", "calibrated", "used by"):
        p.add_column(c, justify="left" if c in ("parameter", "used by") else "right")
    for par in PARAMS:
        value = res["params"].get(par.name)
        p.add_row(par.name, f"{res['param_defaults'][par.name]:.4g}", "not fitted (no rows)" if value is None
                  else f"{value:.4g}", ", ".join(par.kernels))
    console.print(p)
    console.print(f"split: {res['split']}")
    h = res["held_out"]
    console.print(f"held-out MAPE {_pct(h['mape'])} (goal <= 10%), Spearman {_rho(h['spearman'])} (goal >= 0.95)")
    if args.json:
        with open(args.outputs.path(args.json), "w") as fh:
            json.dump(res | {"file": args.file}, fh, indent=1)
    if args.plot:
        plot(res, args.outputs.path(args.plot))
        console.print(f"plot: {args.plot}")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _rho(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
