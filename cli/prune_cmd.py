"""`nmsim prune`: prune a torch model, measure the quality cost, write a workload directory.

    nmsim prune --model minilm --pattern 2:4 --method wanda --out runs/minilm-2-4
    nmsim simulate --arch sat --workload runs/minilm-2-4
    nmsim prune --model minilm --report            # the quality table of docs/PRUNING.md

torch is imported only when the command runs (the ml extra); arguments are checked first, so a
bad request fails fast with one line and exit code 2.
"""
from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from nmsim.specfile import SpecError

from .argtypes import SEED_MAX, WORKERS_MAX, int_flag
from .errors import fail, flags
from .outputs import add_output
from .provenance import file_inputs, write_json

# Parameters of the pruning library that its errors name; shown as this command's flags.
LIBRARY_FLAGS = ("model", "method", "calibration", "calibration_file", "eval_sentences", "skip", "out", "force")


def add_parser(sub) -> None:
    """Register `prune` on the `nmsim` subparsers."""
    from nmsim.workloads.ml.pruning import METHODS, TRAINING

    sp = sub.add_parser("prune", help="prune a torch model (minilm, digits-cnn, zoo) into a workload directory",
                        description="Prune a real torch model and write a workload directory (op list, masks, "
                                    "quality figures, the command) that `nmsim simulate --workload DIR` costs.")
    sp.add_argument("--model", "-m", default="minilm",
                    help="minilm | digits-cnn | ZOO_NAME | file.py:factory | package.module:Class | Hugging Face "
                         "config folder | hf:NAME (default minilm)")
    sp.add_argument("--pattern", default="2:4", help="N:M (e.g. 2:8), N:M@N, or unstructured:D (D = fraction of "
                                                     "zeros); default 2:4")
    sp.add_argument("--method", default="magnitude", metavar="METHOD",
                    help=f"one of {', '.join(METHODS)} ({', '.join(TRAINING)}: digits-cnn only); default magnitude")
    sp.add_argument("--calibration", type=int_flag(-1_000_000, 1_000_000), metavar="N",
                    help="calibration samples for wanda/sparsegpt (default: 64 sentences, 256 images, 4 zoo inputs)")
    sp.add_argument("--calibration-file", metavar="FILE", help="minilm: calibration sentences, one per line")
    sp.add_argument("--eval-sentences", type=int_flag(-1_000_000, 1_000_000), metavar="N", help="minilm: evaluate on the first N sentences only")
    sp.add_argument("--skip", action="append", default=[], metavar="GLOB",
                    help="leave layers matching GLOB dense (repeatable), e.g. --skip conv1")
    sp.add_argument("--param", "-p", action="append", metavar="KEY=VALUE",
                    help="op-list parameter: batch, seq_len (minilm, zoo LMs), image_size (zoo CNNs)")
    sp.add_argument("--epochs", type=int_flag(0, 100_000), default=30, help="digits-cnn training epochs (default 30)")
    sp.add_argument("--seed", type=int_flag(0, SEED_MAX), default=0, help="seed of weights, data split, calibration (default 0)")
    sp.add_argument("--threads", type=int_flag(-1_000_000, WORKERS_MAX), default=1,
                    help="torch CPU threads (default 1: on a shared 2-core machine more threads ran slower)")
    add_output(sp, "--out", folder=True, metavar="DIR", help="workload directory to write (refused if it exists)")
    sp.add_argument("--force", action="store_true", help="replace an existing --out directory")
    add_output(sp, "--json", metavar="R.json", help="write the result as JSON")
    sp.add_argument("--report", action="store_true",
                    help="quality table instead of one run: minilm 2:4..unstructured:0.9 x magnitude/wanda/"
                         "sparsegpt, or the digits-cnn sparse-training table")
    sp.add_argument("--patterns", help="--report: comma-separated patterns (default: all seven)")
    sp.add_argument("--methods", help="--report: comma-separated methods (default magnitude,wanda,sparsegpt)")
    sp.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    """The canonical command line that reproduces this run."""
    parts = ["nmsim", "prune", "--model", args.model]
    if args.report:
        parts.append("--report")
        for opt in ("patterns", "methods"):
            if getattr(args, opt):
                parts += [f"--{opt}", getattr(args, opt)]
    else:
        parts += ["--pattern", args.pattern, "--method", args.method]
    if args.calibration is not None:
        parts += ["--calibration", str(args.calibration)]
    if args.calibration_file:
        parts += ["--calibration-file", args.calibration_file]
    if args.eval_sentences is not None:
        parts += ["--eval-sentences", str(args.eval_sentences)]
    for g in args.skip:
        parts += ["--skip", g]
    for p in args.param or []:
        parts += ["-p", p]
    if args.model == "digits-cnn":
        parts += ["--epochs", str(args.epochs)]
    parts += ["--seed", str(args.seed)]
    if args.out:
        parts += ["--out", args.out]
    return shlex.join(parts)


def _progress():
    """A rich progress bar on stderr and a callback (what, done, total) that drives it."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    # only on a terminal: in pipes and CI, stderr carries nothing but warnings and the error line
    prog = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    task = prog.add_task("starting", total=1)

    def update(what: str, done: int, total: int) -> None:
        prog.update(task, description=what, completed=done, total=max(total, 1))
    return prog, update


def _check(args: argparse.Namespace) -> None:
    """Everything that can be refused before torch loads."""
    from nmsim.workloads.ml.prune_run import OWN_MODELS, check_out_dir

    if args.threads < 1:
        fail(f"--threads {args.threads}: need at least 1")
    if args.epochs < 1:
        fail(f"--epochs {args.epochs}: need at least 1")
    if args.eval_sentences is not None and args.eval_sentences < 1:
        fail(f"--eval-sentences {args.eval_sentences}: need at least 1")
    if args.report:
        if args.out:
            fail("--report prints a table (and --json); it writes no workload directory, drop --out")
        if args.model not in OWN_MODELS:
            fail(f"--report covers {' and '.join(OWN_MODELS)}; '{args.model}' has random weights, so its quality "
                 "figures would mean nothing")
        return
    if not args.out:
        fail("prune needs --out DIR (the workload directory to write), or --report for the quality table")
    check_out_dir(args.out, args.force)


def run(args: argparse.Namespace) -> None:
    """Entry of `nmsim prune`."""
    with flags(*LIBRARY_FLAGS):
        _prune(args)


def _prune(args: argparse.Namespace) -> None:
    """Check the request, prune, write the workload directory, print (or the --report table)."""
    from nmsim.workloads.ml.prune_run import check_request
    from .resolve import parse_params

    _check(args)
    params = parse_params(args.param)
    if args.report:
        _run_report(args)
        return
    check_request(args.model, args.pattern, args.method, args.calibration, args.calibration_file, params)
    import torch

    from nmsim.workloads.ml.prune_run import run_prune, save_result_dir

    torch.set_num_threads(args.threads)
    command = _command(args)
    t0 = time.perf_counter()
    prog, update = _progress()
    with prog:
        res = run_prune(args.model, args.pattern, args.method, args.calibration, args.calibration_file, args.skip,
                        params, args.seed, args.epochs, args.eval_sentences, update)
    total_s = time.perf_counter() - t0
    from nmsim.specfile.results import provenance

    prov = provenance("prune-quality", workload=_model_prov(args.model, params), seeds={"seed": args.seed},
                      inputs=file_inputs(calibration_file=args.calibration_file))
    save_result_dir(res, args.outputs.path(args.out), {"total_seconds": round(total_s, 3), "torch": torch.__version__,
                                                      "threads": args.threads}, command, args.force, prov)
    out = Path(args.out)
    _print_run(res, out, total_s)
    if args.json:
        doc = {"model": res.model, "pattern": res.pattern, "method": res.method, "quality": res.quality,
               "seconds": round(res.seconds, 3), "total_seconds": round(total_s, 3), "out": str(out),
               "density": round(res.density, 6), "layers_pruned": len(res.layers), "ops": len(res.workload.ops),
               "calibration": res.calibration, "command": command}
        write_json(args.outputs.path(args.json), "prune", doc, workload=_model_prov(args.model, params), seeds={"seed": args.seed},
                   inputs=file_inputs(calibration_file=args.calibration_file))


def _model_prov(model: str, params: dict) -> dict:
    """The provenance record of the pruned model: its source kind (own, zoo, python, hf) and text."""
    from nmsim.workloads.ml.prune_run import OWN_MODELS
    from nmsim.workloads.sources import classify_source

    kind = "own" if model in OWN_MODELS else classify_source(model).kind
    return {"kind": kind, "text": model, "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}}


def _print_run(res, out: Path, total_s: float) -> None:

    from .tables import console, NarrowTable

    t = NarrowTable(title=f"{res.model} pruned {res.pattern} by {res.method} -> {out}", title_justify="left")
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in res.quality.items():
        t.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    t.add_row("density (pruned layers)", f"{res.density:.4f}")
    t.add_row("layers pruned / ops traced", f"{len(res.layers)} / {len(res.workload.ops)}")
    if res.calibration:
        t.add_row("calibration samples", str(res.calibration["samples"]))
    t.add_row("pruning time", f"{res.seconds:.2f} s")
    t.add_row("total time", f"{total_s:.2f} s")
    console.print(t)
    console.print(f"next: nmsim simulate --arch sat --workload {out}")


def _run_report(args: argparse.Namespace) -> None:
    import torch

    from nmsim.workloads.ml.prune_run import REPORT_METHODS, REPORT_PATTERNS, digits_report, minilm_report
    from nmsim.workloads.ml.pruning import ONE_SHOT
    from nmsim.workloads.ml.pruning.masks import parse_prune_pattern

    from .tables import console, NarrowTable

    torch.set_num_threads(args.threads)
    command = _command(args)
    t0 = time.perf_counter()
    prog, update = _progress()
    if args.model == "digits-cnn":
        with prog:
            rows = digits_report(args.epochs, args.seed, update)
        t = NarrowTable(title=f"digits CNN, test accuracy ({args.epochs} epochs, seed {args.seed})", title_justify="left")
        for c in ("method", "pattern", "training", "accuracy", "seconds"):
            t.add_column(c, justify="right" if c in ("accuracy", "seconds") else "left")
        for r in rows:
            t.add_row(r["method"], r["pattern"], r["training"], f"{r['accuracy']:.4f}", f"{r['seconds']:.1f}")
    else:
        patterns = [p.strip() for p in args.patterns.split(",")] if args.patterns else list(REPORT_PATTERNS)
        methods = [m.strip() for m in args.methods.split(",")] if args.methods else list(REPORT_METHODS)
        for p in patterns:
            parse_prune_pattern(p)
        for m in methods:
            if m not in ONE_SHOT:
                raise SpecError(f"--methods: '{m}' is not a one-shot method ({', '.join(ONE_SHOT)})")
        if "magnitude-global" in methods and any(parse_prune_pattern(p).kind == "nm" for p in patterns):
            raise SpecError("--methods magnitude-global is unstructured only; drop the N:M patterns or the method")
        if args.calibration is not None and args.calibration < 1:
            raise SpecError(f"--calibration {args.calibration}: need at least 1 calibration sample")
        from nmsim.workloads.ml.prune_run import check_request

        check_request("minilm", patterns[0], methods[0], args.calibration, args.calibration_file, None)
        with prog:
            rows = minilm_report(patterns, methods, args.calibration, args.calibration_file, args.eval_sentences,
                                 update)
        n = rows[0]["sentences"]
        cal = max((r["calibration"] for r in rows), default=0)
        console.print(f"all-MiniLM-L6-v2: mean cosine similarity of pruned vs dense sentence embeddings, {n} sentences")
        console.print((f"wanda, sparsegpt calibrated on {cal} other sentences; " if cal else "")
                      + "cell = cosine (pruning seconds)")
        t = NarrowTable()
        t.add_column("pattern")
        for m in methods:
            t.add_column(m, justify="right")
        for p in patterns:
            cells = {r["method"]: r for r in rows if r["pattern"] == p}
            t.add_row(p, *(f"{cells[m]['cosine_similarity']:.4f} ({cells[m]['seconds']:.1f} s)" for m in methods))
    console.print(t)
    total_s = time.perf_counter() - t0
    console.print(f"{command}  # {total_s:.0f} s, torch {torch.__version__}, {args.threads} thread(s)")
    if args.json:
        write_json(args.outputs.path(args.json), "prune-report", {"model": args.model, "rows": rows, "command": command,
                                               "total_seconds": round(total_s, 2)},
                   workload=_model_prov(args.model, {}), seeds={"seed": args.seed},
                   inputs=file_inputs(calibration_file=args.calibration_file))
