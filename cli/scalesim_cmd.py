"""`nmsim simulate --scalesim-cfg X.cfg --scalesim-topology T.csv`: SCALE-Sim's files, unchanged.

Each layer's `cycles` is comparable to SCALE-Sim 3.0.0's "Total Cycles" (sim/scalesim_compat.py).
"""
from __future__ import annotations

import argparse

from .errors import fail, warn

# `simulate` flags that the SCALE-Sim files decide instead (array, dataflow, layers, sparsity, mapping).
REPLACED = ("arch", "workload", "param", "sparsity", "dataflow", "mapper", "objective", "mapping", "save_mappings")


def add_arguments(ss: argparse.ArgumentParser) -> None:
    """Add the SCALE-Sim input flags to the `simulate` parser."""
    ss.add_argument("--scalesim-cfg", metavar="X.cfg",
                    help="SCALE-Sim architecture config (replaces --arch; needs --scalesim-topology)")
    ss.add_argument("--scalesim-topology", metavar="T.csv",
                    help="SCALE-Sim topology CSV, GEMM or conv form (replaces --workload; needs --scalesim-cfg)")


def wants_scalesim(args: argparse.Namespace) -> bool:
    """True when `simulate` was given SCALE-Sim files."""
    return bool(getattr(args, "scalesim_cfg", None) or getattr(args, "scalesim_topology", None))


def simulate_scalesim_files(args: argparse.Namespace) -> None:
    """Check the flag combination, run compatibility mode, print and write the results."""
    from nmsim.accel.scalesim import read_scalesim_cfg
    from nmsim.sim.scalesim_compat import COMPAT_NOTE
    from nmsim.sim.simulate import simulate_scalesim
    from nmsim.workloads.scalesim import read_scalesim_topology

    from .tables import console, run_table

    if not (args.scalesim_cfg and args.scalesim_topology):
        missing = "--scalesim-topology" if args.scalesim_cfg else "--scalesim-cfg"
        fail(f"--scalesim-cfg and --scalesim-topology go together (SCALE-Sim needs both); add {missing}")
    given = [f"--{n.replace('_', '-')}" for n in REPLACED if getattr(args, n, None)]
    if given:
        fail(f"{', '.join(given)} cannot be combined with --scalesim-cfg/--scalesim-topology, which fix the "
             f"array, dataflow, layers and sparsity; drop {' and '.join(given)}")
    cfg = read_scalesim_cfg(args.scalesim_cfg)
    res = simulate_scalesim(cfg, read_scalesim_topology(args.scalesim_topology))
    for n in res.notes:
        if n != COMPAT_NOTE:
            warn(n)
    if not args.quiet:
        console.print(run_table(res, args.per_layer))
        console.print(COMPAT_NOTE)
    if args.json:
        from dataclasses import asdict

        from nmsim.specfile.results import arch_record

        from .provenance import file_inputs, write_json

        write_json(args.outputs.path(args.json), "simulate", res.to_dict(), engine="scalesim",
                   arch=arch_record(cfg.run_name, asdict(cfg), args.scalesim_cfg),
                   workload={"kind": "scalesim-topology", "text": args.scalesim_topology, "params": {}},
                   inputs=file_inputs(scalesim_cfg=args.scalesim_cfg, scalesim_topology=args.scalesim_topology))
    if args.csv:
        res.write_csv(args.outputs.path(args.csv))
