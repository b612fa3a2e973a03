"""`nmsim` command line: presets, workloads, simulate, map, prune, rtl, gpu, dse, demo.

Human tables go to stdout; `--json`/`--csv` write machine-readable results; errors are one
line on stderr with exit code 2 (see cli.errors).
"""
from __future__ import annotations

import argparse
import sys

from nmsim.specfile import SpecError

from .errors import fail, warn


def _cmd_presets(args: argparse.Namespace) -> None:
    from rich.table import Table

    from nmsim.accel import load_arch, preset_names, preset_path

    from .tables import console

    if args.action == "show":
        if not args.name:
            fail("presets show needs a NAME (`nmsim presets` lists them)")
        # verbatim: console.print would wrap long comment lines and break the YAML for `> my.yaml`
        text = preset_path(args.name).read_text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    t = Table(title="nmsim presets", title_justify="left")
    for c in ("name", "kind", "compute", "sparsity", "description"):
        t.add_column(c)
    for n in preset_names():
        a = load_arch(n)
        if a.kind == "systolic":
            c = a.compute
            comp = f"{c.rows}x{c.cols}x{c.macs_per_pe} @ {c.clock_hz / 1e6:.0f} MHz"
        else:
            comp = f"{a.gpu.sms} SMs @ {a.gpu.boost_clock_hz / 1e6:.0f} MHz"
        sp = ", ".join(a.sparsity.nm.patterns) if a.sparsity.nm else "dense only"
        t.add_row(n, a.kind, comp, sp, a.description)
    console.print(t)


def _cmd_workloads(args: argparse.Namespace) -> None:
    from rich.table import Table

    from nmsim.workloads import zoo

    from .resolve import parse_params, resolve_workload
    from .tables import console, eng

    if args.action == "show":
        if not args.name:
            fail("workloads show needs a NAME (`nmsim workloads` lists the zoo)")
        wl = resolve_workload(args.name, parse_params(args.param))
        t = Table(title=f"{wl.name}: {len(wl.ops)} ops, {eng(wl.macs)}MACs", title_justify="left")
        for c in ("op", "kind", "M", "N", "K", "batch", "weights", "MACs"):
            t.add_column(c, justify="left" if c in ("op", "kind", "weights") else "right")
        for op in wl.ops:
            t.add_row(op.name, op.kind, str(op.M), str(op.N), str(op.K), str(op.batch),
                      str(op.weight_sparsity) if op.has_weights else "-", eng(op.macs))
        console.print(t)
        if args.save:
            path = wl.save(args.save)
            console.print(f"saved to {path}")
        return
    t = Table(title="nmsim model zoo", title_justify="left")
    for c in ("name", "parameters (defaults)", "description"):
        t.add_column(c)
    for n in zoo.zoo_names():
        t.add_row(n, ", ".join(f"{k}={v}" for k, v in zoo.zoo_params(n).items()), zoo.describe(n))
    console.print(t)


def _cmd_simulate(args: argparse.Namespace) -> None:
    from .scalesim_cmd import simulate_scalesim_files, wants_scalesim

    if wants_scalesim(args):
        return simulate_scalesim_files(args)
    if not (args.arch and args.workload):
        fail("simulate needs --arch and --workload (or --scalesim-cfg with --scalesim-topology)")
    from rich.progress import Progress

    from nmsim.accel import load_arch
    from nmsim.sim import simulate_workload
    from nmsim.workloads import Sparsity

    from .resolve import parse_params, resolve_workload
    from .tables import console, run_table

    arch = load_arch(args.arch)
    wl = resolve_workload(args.workload, parse_params(args.param))
    sparsity = Sparsity.parse(args.sparsity) if args.sparsity else None
    mappings = _simulate_mappings(args, arch)
    if args.dataflow and arch.kind == "gpu":
        fail(f"--dataflow applies to systolic arrays; {arch.name} is a GPU preset")
    if args.dataflow and args.dataflow not in arch.compute.dataflows:
        fail(f"--dataflow {args.dataflow}: {arch.name} supports {', '.join(arch.compute.dataflows)}")
    if args.no_bdwp and not args.training:
        fail("--no-bdwp applies to --training")
    if args.training:
        return _simulate_training(args, arch, wl, sparsity)
    engine, trace = _simulate_engine(args, arch)
    with Progress(console=console, transient=True, disable=len(wl.ops) < 200 and engine == "fast") as prog:
        task = prog.add_task(f"simulating {wl.name}", total=len(wl.ops))
        res = simulate_workload(arch, wl, sparsity, dataflow=args.dataflow,
                                progress=lambda done, total: prog.update(task, completed=done),
                                mapper=args.mapper, objective=args.objective or "latency", mappings=mappings,
                                engine=engine, trace=trace)
    if trace is not None:
        trace.write(args.trace)
    if args.save_mappings:
        from nmsim.mapping import Mapping, save_mappings

        save_mappings(args.save_mappings, {lr.name: Mapping(**lr.mapping) for lr in res.layers},
                      header=f"mappings of {wl.name} on {arch.name} "
                             f"({'mapper ' + args.mapper if args.mapper else 'default mapping'})")
    _report(args, res, run_table)


def _report(args: argparse.Namespace, res, table) -> None:
    """Warn the run's notes, print `table(res, per_layer)` unless --quiet, write --json/--csv."""
    from .tables import console

    for n in res.notes:
        warn(n)
    if not args.quiet:
        console.print(table(res, args.per_layer))
    if args.json:
        res.write_json(args.json)
    if args.csv:
        res.write_csv(args.csv)


def _simulate_training(args: argparse.Namespace, arch, wl, sparsity) -> None:
    """`simulate --training`: one training step per layer (sim/training.py, docs/MODEL.md 10)."""
    from nmsim.sim.training import simulate_training

    from .tables import training_table

    if args.engine == "detailed" or args.trace or args.mapping or args.save_mappings:
        fail("--training costs each phase with the fast model and its own mappings; "
             "drop --engine detailed/--trace/--mapping/--save-mappings")
    res = simulate_training(arch, wl, sparsity, not args.no_bdwp, dataflow=args.dataflow, mapper=args.mapper,
                            objective=args.objective or "latency")
    _report(args, res, training_table)


def _simulate_engine(args: argparse.Namespace, arch):
    """Check --engine/--trace; returns (engine name, sim.engine.Trace or None). --trace implies detailed."""
    engine = args.engine or ("detailed" if args.trace else "fast")
    if args.trace and engine != "detailed":
        fail("--trace records the detailed engine's tiles and transfers; use --engine detailed")
    if engine == "detailed" and arch.kind != "systolic":
        fail(f"--engine detailed models systolic arrays; {arch.name} is a {arch.kind} preset")
    if not args.trace:
        return engine, None
    from nmsim.sim.engine import Trace

    return engine, Trace(arch.clock_hz)


def _simulate_mappings(args: argparse.Namespace, arch):
    """Check the mapping flags of `simulate`; returns the per-op mapping lookup or None."""
    if args.mapper and args.mapping:
        fail("--mapper and --mapping conflict: search mappings or read them from a file, not both")
    if args.objective and not args.mapper:
        fail("--objective applies to --mapper searches; add --mapper heuristic|random|exhaustive")
    if (args.mapper or args.mapping or args.save_mappings) and arch.kind != "systolic":
        fail(f"--mapper/--mapping/--save-mappings apply to systolic arrays; {arch.name} is a {arch.kind} preset")
    if args.mapping and args.dataflow:
        fail("--dataflow and --mapping conflict: the mapping file fixes each layer's dataflow")
    if not args.mapping:
        return None
    from nmsim.mapping import load_mappings

    return load_mappings(args.mapping).for_op


def _cmd_demo(args: argparse.Namespace) -> None:
    from .demo import run_demo

    run_demo(args.out, args.json)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of `nmsim`."""
    p = argparse.ArgumentParser(prog="nmsim", description="Cycle-approximate simulator of N:M and high-sparsity DNN accelerators.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sp = sub.add_parser("presets", help="list architecture presets, or show one with its sources")
    sp.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    sp.add_argument("name", nargs="?")
    sp.set_defaults(func=_cmd_presets)

    sw = sub.add_parser("workloads", help="list the model zoo, or show one model's ops")
    sw.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    sw.add_argument("name", nargs="?", help="zoo name or workload YAML")
    sw.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help="zoo parameter, e.g. batch=8")
    sw.add_argument("--save", metavar="FILE.yaml", help="write the workload file")
    sw.set_defaults(func=_cmd_workloads)

    ss = sub.add_parser("simulate", help="cost a workload on an architecture")
    ss.add_argument("--arch", "-a", help="preset name or arch YAML (required unless --scalesim-cfg)")
    ss.add_argument("--workload", "-w", help="zoo name or workload YAML (required unless --scalesim-topology)")
    ss.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help="zoo parameter, e.g. seq_len=512")
    ss.add_argument("--sparsity", "-s", help="weight pattern for every weighted op: dense, N:M, unstructured:D")
    ss.add_argument("--dataflow", choices=["ws", "os", "is"], help="force a dataflow (default: the arch's first)")
    ss.add_argument("--mapper", choices=["heuristic", "random", "exhaustive"],
                    help="search every layer's mapping (default: the fitted default mapping)")
    ss.add_argument("--objective", choices=["latency", "energy", "edp"], help="what --mapper minimizes (default latency)")
    ss.add_argument("--mapping", metavar="M.yaml", help="use the mappings in this file (see nmsim map --out)")
    ss.add_argument("--save-mappings", metavar="M.yaml", help="write every layer's mapping as a mapping file")
    ss.add_argument("--per-layer", action="store_true", help="one row per op instead of per layer group")
    ss.add_argument("--json", metavar="R.json", help="write results as JSON (design contract)")
    ss.add_argument("--csv", metavar="R.csv", help="write per-layer results as CSV")
    ss.add_argument("--quiet", "-q", action="store_true", help="no table on stdout")
    ss.add_argument("--engine", choices=["fast", "detailed"],
                    help="fast analytic model (default) or the detailed SimPy engine (stalls by cause)")
    ss.add_argument("--trace", metavar="T.json", help="write the detailed engine's per-tile trace: "
                                                       "Chrome trace JSON, or CSV for a .csv name")
    ss.add_argument("--training", action="store_true",
                    help="cost one training step per layer: forward, backward-data, weight-gradient GEMMs (SAT BDWP)")
    ss.add_argument("--no-bdwp", action="store_true",
                    help="with --training: backward-data weights keep the forward mask (runs dense on K-indexed N:M)")
    from .scalesim_cmd import add_arguments as add_scalesim_arguments

    add_scalesim_arguments(ss)
    ss.set_defaults(func=_cmd_simulate)

    from .map_cmd import add_parser as add_map_parser

    add_map_parser(sub)

    from .prune_cmd import add_parser as add_prune_parser

    add_prune_parser(sub)

    from .rtl_cmd import add_parser as add_rtl_parser

    add_rtl_parser(sub)

    from .gpu_cmd import add_parser as add_gpu_parser

    add_gpu_parser(sub)

    from .dse_cmd import add_parser as add_dse_parser

    add_dse_parser(sub)

    from .reproduce_cmd import add_parser as add_reproduce_parser

    add_reproduce_parser(sub)

    sd = sub.add_parser("demo", help="flagship demo: BERT-base on dense-systolic, sat, s4 at dense/2:4/2:8/1:8")
    sd.add_argument("--out", default="nmsim-demo.png", help="bar chart path (PNG)")
    sd.add_argument("--json", metavar="R.json")
    sd.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nmsim` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpecError as exc:
        fail(str(exc))
    except BrokenPipeError:
        sys.stderr.close()
    except OSError as exc:  # e.g. --json/--csv/--save into a folder that does not exist
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
