"""`nmsim dse`: run sweeps into a result store, report Pareto fronts, export, plot (docs/DSE.md)."""
from __future__ import annotations

import argparse
import sys

from nmsim.specfile import PLOT_SUFFIXES

from .argtypes import WORKERS_MAX, int_flag
from .errors import fail, flags, warn
from .outputs import add_output
from .provenance import arch_prov, file_inputs, write_json


def add_parser(sub) -> None:
    """Register `nmsim dse run|report|export|plot` on the subcommand table."""
    from nmsim.dse.executors import EXECUTORS
    from nmsim.dse.plots import PLOT_KINDS
    from nmsim.dse.spec import DSE_OBJECTIVES

    sd = sub.add_parser("dse", help="design-space exploration: sweeps, Pareto fronts, plots")
    dsub = sd.add_subparsers(dest="dse_command", required=True, metavar="ACTION")

    r = dsub.add_parser("run", help="evaluate a sweep spec into a result store (resumable)")
    r.add_argument("spec", metavar="SWEEP", help="sweep YAML, or an example sweep by name (sat_array, s4_array, "
                                                 "adaptive, lhs_wide: dse/examples/)")
    add_output(r, "--out", "-o", mode="resume", required=True, metavar="RESULTS.sqlite",
               help="result store (created or resumed; a failed run removes a store it created)")
    r.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local process pool (default) or Dask distributed")
    r.add_argument("--workers", "-j", type=int_flag(1, WORKERS_MAX), help="worker processes (default: all cores)")
    r.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="join this Dask scheduler (implies --executor dask)")
    r.add_argument("--chunk", type=int_flag(1, 1_000_000), help="points per task (default: about 8 tasks per worker)")
    r.add_argument("--retry-errors", action="store_true", help="evaluate again the points that recorded an error")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output(r, "--json", metavar="R.json", help="write the run summary as JSON")
    r.set_defaults(func=cmd_run)

    p = dsub.add_parser("report", help="Pareto front and counts of a result store")
    p.add_argument("store", metavar="RESULTS.sqlite")
    p.add_argument("--pareto", default="latency,energy", metavar="OBJ,OBJ[,OBJ]",
                   help=f"objectives: {', '.join(DSE_OBJECTIVES)} (default latency,energy)")
    p.add_argument("--workload", help="only this workload (label as stored, e.g. 'bert-base(batch=8,seq_len=128)')")
    p.add_argument("--pattern", help="only this weight pattern")
    p.add_argument("--top", type=int_flag(0, 1_000_000), default=15, help="front rows shown in the table (default 15)")
    add_output(p, "--plot", suffixes=PLOT_SUFFIXES, metavar="OUT.png", help="Pareto scatter (PNG or SVG by suffix)")
    add_output(p, "--json", metavar="R.json", help='write {"pareto": [...], "points": n, ...}')
    p.set_defaults(func=cmd_report)

    e = dsub.add_parser("export", help="export a result store as CSV and/or Parquet")
    e.add_argument("store", metavar="RESULTS.sqlite")
    add_output(e, "--csv", metavar="OUT.csv")
    add_output(e, "--parquet", metavar="OUT.parquet")
    e.set_defaults(func=cmd_export)

    g = dsub.add_parser("plot", help=f"{' | '.join(PLOT_KINDS)} plot of a result store")
    g.add_argument("store", metavar="RESULTS.sqlite")
    g.add_argument("kind", choices=PLOT_KINDS)
    add_output(g, "--out", "-o", suffixes=PLOT_SUFFIXES, required=True, metavar="OUT.png", help="PNG or SVG by suffix")
    g.add_argument("--pareto", default="latency,energy", metavar="OBJ,OBJ[,OBJ]",
                   help="objectives of the front (pareto plot; roofline/layers pick their designs from it)")
    g.add_argument("--workload", help="only this workload")
    g.add_argument("--pattern", help="only this weight pattern")
    g.add_argument("--keys", metavar="KEY,KEY", help="roofline/layers: these result keys (default: the front's first --top)")
    g.add_argument("--top", type=int_flag(1, 1_000), default=4, help="roofline/layers: designs taken from the front (default 4)")
    g.set_defaults(func=cmd_plot)


def cmd_run(args: argparse.Namespace) -> None:
    """Run (or resume) a sweep."""
    from nmsim.dse import run_sweep

    from nmsim.dse.spec import load_sweep, sweep_file

    spec_path = sweep_file(args.spec)
    sweep = load_sweep(spec_path)
    with flags("executor", "scheduler", "workers"):
        s = run_sweep(sweep, args.out, executor="dask" if args.scheduler else args.executor,
                      workers=args.workers, scheduler=args.scheduler,
                      progress=not args.no_progress and sys.stderr.isatty(), chunk=args.chunk,
                      retry_errors=args.retry_errors)
    if s.errors:
        warn(f"{s.errors:,} result rows recorded an error (see `nmsim dse export --csv`, column error)")
    print(f"{s.sweep}: {s.points:,} points ({s.evaluated:,} evaluated, {s.skipped:,} already stored), "
          f"{s.rows_written:,} rows written, {s.errors:,} errors, {s.seconds:.1f} s -> {s.store}")
    if s.repeated:
        print(f"{s.repeated:,} of the search's proposals repeated a design it had already evaluated: their stored "
              f"results were given to the search instead of evaluating them again")
    if args.json:
        base = sweep.spec.base
        base_text = str(spec_path.parent / base) if base.endswith((".yaml", ".yml")) or "/" in base else base
        write_json(args.outputs.path(args.json), "dse-run", s.to_dict(), engine="fast (batched dse evaluator)",
                   arch=arch_prov(base_text, sweep.base),
                   seeds={"sampling": sweep.spec.sampling.seed}, inputs=file_inputs(sweep=spec_path, store=args.out))


def cmd_report(args: argparse.Namespace) -> None:
    """Print the front table; write --json / --plot."""

    from nmsim.dse import load_results, plots, report
    from nmsim.dse.report import base_arch_label, parse_objectives

    from .tables import console, eng, NarrowTable, seconds

    with flags(objectives="--pareto"):
        objectives = parse_objectives(args.pareto)
    table = load_results(args.store, args.workload, args.pattern)
    rep = report(args.store, objectives, args.workload, args.pattern, table=table)
    t = NarrowTable(title=f"{args.store}: {rep['points']:,} results ({rep['design_points']:,} designs, {rep['errors']:,} errors); "
                    f"Pareto front on {', '.join(objectives)}: {len(rep['pareto'])}", title_justify="left")
    for c in ("workload", "pattern", "rows x cols x macs", "N:M set", "buffer", "DRAM", "clock", "latency", "energy",
              "area", "util"):
        t.add_column(c, justify="left" if c in ("workload", "pattern", "N:M set") else "right")
    for e in rep["pareto"][:args.top]:
        d = e["design"]
        t.add_row(e["workload"], e["pattern"], f"{d['rows']}x{d['cols']}x{d['macs_per_pe']}", d["nm_patterns"],
                  eng(d["buffer_bytes"], "B"), eng(d["dram_bytes_per_s"], "B/s"), eng(d["clock_hz"], "Hz"),
                  seconds(e["latency_s"]), eng(e["energy_pj"] * 1e-12, "J"), f"{e['area_mm2']:.3g} mm²",
                  f"{e['utilization']:.1%}")
    console.print(t)
    if len(rep["pareto"]) > args.top:
        console.print(f"... {len(rep['pareto']) - args.top} more front rows (--top, or --json for all)")
    if args.json:
        write_json(args.outputs.path(args.json), "dse-report", rep, inputs=file_inputs(store=args.store))
    if args.plot:
        if len(objectives) == 1:
            fail("--plot draws 2 or 3 objectives; give --pareto with two or three")
        plots.pareto_plot(table, objectives, args.outputs.path(args.plot), arch=base_arch_label(args.store))


def cmd_export(args: argparse.Namespace) -> None:
    """Write CSV and/or Parquet."""
    from nmsim.dse import export_csv, export_parquet

    if not (args.csv or args.parquet):
        fail("dse export needs --csv OUT.csv and/or --parquet OUT.parquet")
    if args.csv:
        n = export_csv(args.store, args.outputs.path(args.csv))
        print(f"{n:,} rows -> {args.csv}")
    if args.parquet:
        try:
            n = export_parquet(args.store, args.outputs.path(args.parquet))
        except ImportError:
            fail("--parquet needs pyarrow: pip install 'nmsim[dist]'")
        print(f"{n:,} rows -> {args.parquet}")


def cmd_plot(args: argparse.Namespace) -> None:
    """Draw one plot kind."""
    from nmsim.dse import load_results, plots
    from nmsim.dse.report import base_arch_label, front_rows, parse_objectives

    with flags(objectives="--pareto"):
        objectives = parse_objectives(args.pareto)
    table = load_results(args.store, args.workload, args.pattern)
    if not len(table):
        fail(f"{args.store}: no successful results" + (" for that workload/pattern" if args.workload or args.pattern else ""))
    arch = base_arch_label(args.store)
    if args.kind == "pareto":
        plots.pareto_plot(table, objectives, args.outputs.path(args.out), arch=arch)
    elif args.kind == "heatmap":
        plots.utilization_heatmap(table, args.outputs.path(args.out), arch=arch)
    else:
        if args.keys:
            keys = [k.strip() for k in args.keys.split(",") if k.strip()]
        else:
            if args.top < 1:
                fail("--top must be at least 1")
            first = table["workload"][0]
            keys = [table["result_key"][i] for i in front_rows(table, objectives)
                    if table["workload"][i] == first][:args.top]
        draw = plots.roofline_plot if args.kind == "roofline" else plots.layer_breakdown_plot
        draw(args.store, keys, args.outputs.path(args.out))
    print(f"{args.kind} plot -> {args.out}")
