"""`nmsim simulate`: cost a workload on an architecture (fast model, detailed engine, training step,
or SCALE-Sim's own files through cli/scalesim_cmd.py)."""
from __future__ import annotations

import argparse

from .errors import fail, flags, warn
from .outputs import add_output
from .provenance import write_json
from .resolve import PARAM_HELP, WORKLOAD_HELP


def add_parser(sub) -> None:
    """Register `nmsim simulate` on the subcommand table."""
    from nmsim.accel import DATAFLOWS
    from nmsim.mapping import MAPPERS, OBJECTIVES
    from nmsim.sim.simulate import ENGINES

    ss = sub.add_parser("simulate", help="cost a workload on an architecture")
    ss.add_argument("--arch", "-a", help="preset name or arch YAML (required unless --scalesim-cfg)")
    ss.add_argument("--workload", "-w", help=WORKLOAD_HELP + " (required unless --scalesim-topology)")
    ss.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help=PARAM_HELP)
    ss.add_argument("--sparsity", "-s", help="weight pattern for every weighted op: dense, N:M, unstructured:D")
    ss.add_argument("--dataflow", choices=DATAFLOWS, help="force a dataflow (default: the arch's first)")
    ss.add_argument("--mapper", choices=MAPPERS,
                    help="search every layer's mapping (default: the fitted default mapping)")
    ss.add_argument("--objective", choices=OBJECTIVES, help="what --mapper minimizes (default latency)")
    ss.add_argument("--mapping", metavar="M.yaml", help="use the mappings in this file (see nmsim map --out)")
    add_output(ss, "--save-mappings", metavar="M.yaml", help="write every layer's mapping as a mapping file")
    ss.add_argument("--per-layer", action="store_true", help="one row per op instead of per layer group")
    add_output(ss, "--json", metavar="R.json", help="write results as JSON (design contract)")
    add_output(ss, "--csv", metavar="R.csv", help="write per-layer results as CSV")
    ss.add_argument("--quiet", "-q", action="store_true", help="no table on stdout")
    ss.add_argument("--engine", choices=ENGINES,
                    help="fast analytic model (default) or the detailed SimPy engine (stalls by cause)")
    add_output(ss, "--trace", metavar="T.json", help="with --engine detailed: write the per-tile trace (layers, "
                                                       "tiles, stalls, transfers): Chrome trace JSON, or CSV")
    ss.add_argument("--training", action="store_true",
                    help="cost one training step per layer: forward, backward-data, weight-gradient GEMMs (SAT BDWP)")
    ss.add_argument("--no-bdwp", action="store_true",
                    help="with --training: backward-data weights keep the forward mask (runs dense on K-indexed N:M)")
    from .scalesim_cmd import add_arguments as add_scalesim_arguments

    add_scalesim_arguments(ss)
    ss.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> None:
    """Check the flags, simulate, print the table, write --json/--csv/--trace/--save-mappings."""
    from .scalesim_cmd import simulate_scalesim_files, wants_scalesim

    if wants_scalesim(args):
        return simulate_scalesim_files(args)
    if not (args.arch and args.workload):
        fail("simulate needs --arch and --workload (or --scalesim-cfg with --scalesim-topology)")
    from nmsim.accel import load_arch
    from nmsim.sim import backend_for, simulate_workload
    from nmsim.workloads import Sparsity

    from .provenance import arch_prov, file_inputs
    from .resolve import parse_params, resolve_workload
    from .tables import progress_bar, run_table

    arch = load_arch(args.arch)
    wl, wl_prov = resolve_workload(args.workload, parse_params(args.param))
    sparsity = Sparsity.parse(args.sparsity) if args.sparsity else None
    engine, trace = _simulate_engine(args, arch, wl.name)
    with flags("dataflow", "mapper", mapping="--mapping"):
        backend = backend_for(arch, engine, dataflow=args.dataflow, mapper=args.mapper)
    mappings = _simulate_mappings(args, arch, backend)
    if args.no_bdwp and not args.training:
        fail("--no-bdwp applies to --training")
    prov = {"arch": arch_prov(args.arch, arch), "workload": wl_prov, "engine": engine,
            "inputs": file_inputs(mapping=args.mapping), "seeds": {"mapper": 0} if args.mapper == "random" else {}}
    if args.training:
        return _simulate_training(args, arch, wl, sparsity, prov)
    with progress_bar(disable=len(wl.layers) < 200 and engine == "fast") as prog:
        task = prog.add_task(f"simulating {wl.name}", total=len(wl.layers))
        res = simulate_workload(arch, wl, sparsity, dataflow=args.dataflow,
                                progress=lambda done, total: prog.update(task, completed=done),
                                mapper=args.mapper, objective=args.objective or "latency", mappings=mappings,
                                engine=engine, trace=trace)
    if trace is not None:
        trace.write(args.outputs.path(args.trace))
    if args.save_mappings:
        from nmsim.mapping import Mapping, save_mappings

        save_mappings(args.outputs.path(args.save_mappings), {lr.name: Mapping(**lr.mapping) for lr in res.layers if lr.mapping},
                      header=f"mappings of {wl.name} on {arch.name} "
                             f"({'mapper ' + args.mapper if args.mapper else 'default mapping'})")
    _report(args, res, run_table, prov)


def _report(args: argparse.Namespace, res, table, prov: dict) -> None:
    """Warn the run's notes, print `table(res, per_layer)` and the energy by action and level unless
    --quiet, write --json (with the provenance `prov`, cli.provenance) and --csv."""
    from .tables import console, energy_table, nongemm_caption

    for n in res.notes:
        warn(n)
    if not args.quiet:
        console.print(table(res, args.per_layer))
        if nongemm_caption(res):
            console.print(nongemm_caption(res))
        energy = energy_table(res)
        if energy is not None:
            console.print(energy)
    if args.json:
        write_json(args.outputs.path(args.json), "simulate", res.to_dict(), **prov)
    if args.csv:
        res.write_csv(args.outputs.path(args.csv))


def _simulate_training(args: argparse.Namespace, arch, wl, sparsity, prov: dict) -> None:
    """`simulate --training`: one training step per layer (sim/training.py, docs/MODEL.md 10)."""
    from nmsim.sim.training import simulate_training

    from .tables import training_table

    if args.engine == "detailed" or args.trace or args.mapping or args.save_mappings:
        fail("--training costs each phase with the fast model and its own mappings; "
             "drop --engine detailed/--trace/--mapping/--save-mappings")
    res = simulate_training(arch, wl, sparsity, not args.no_bdwp, dataflow=args.dataflow, mapper=args.mapper,
                            objective=args.objective or "latency")
    _report(args, res, training_table, prov | {"engine": "fast (training step)"})


def _simulate_engine(args: argparse.Namespace, arch, workload: str):
    """Check --engine/--trace; returns (engine name, sim.engine.Trace or None). --trace needs
    --engine detailed said out loud: it never switches the engine (and the numbers) silently."""
    engine = args.engine or "fast"
    if args.trace and engine != "detailed":
        fail("--trace records the detailed engine's tiles, transfers and stalls; add --engine detailed (its "
             "cycles include stalls the fast model folds into max(compute, buffer, dram), so numbers differ)")
    if not args.trace:
        return engine, None
    from nmsim.sim.engine import Trace

    return engine, Trace(arch.clock_hz, title=f"nmsim detailed engine: {workload} on {arch.name}")


def _simulate_mappings(args: argparse.Namespace, arch, backend):
    """Check the mapping flags of `simulate`; returns the per-op mapping lookup or None."""
    if args.mapper and args.mapping:
        fail("--mapper and --mapping conflict: search mappings or read them from a file, not both")
    if args.objective and not args.mapper:
        from nmsim.mapping import MAPPERS

        fail(f"--objective applies to --mapper searches; add --mapper {'|'.join(MAPPERS)}")
    if (args.mapper or args.mapping or args.save_mappings) and not backend.takes_mappings:
        fail(f"--mapper/--mapping/--save-mappings apply to systolic arrays; {arch.name} is a {arch.kind} preset")
    if args.mapping and args.dataflow:
        fail("--dataflow and --mapping conflict: the mapping file fixes each layer's dataflow")
    if not args.mapping:
        return None
    from nmsim.mapping import load_mappings

    return load_mappings(args.mapping).for_op
