"""`nmsim workloads`: list the model zoo, or show one model's ops (and save it as a workload file)."""
from __future__ import annotations

import argparse

from .errors import fail
from .outputs import add_output


def add_parser(sub) -> None:
    """Register `nmsim workloads [list|show NAME]` on the subcommand table."""
    sw = sub.add_parser("workloads", help="list the model zoo, or show one model's ops")
    sw.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    sw.add_argument("name", nargs="?", help="zoo name or workload YAML")
    sw.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help="zoo parameter, e.g. batch=8")
    add_output(sw, "--save", metavar="FILE.yaml", help="write the workload file")
    sw.set_defaults(func=cmd_workloads)


def cmd_workloads(args: argparse.Namespace) -> None:
    """Print the zoo table, or one workload's ops."""
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
            wl.save(args.outputs.path(args.save))
            console.print(f"saved to {args.save}")
        return
    t = Table(title="nmsim model zoo", title_justify="left")
    for c in ("name", "parameters (defaults)", "description"):
        t.add_column(c)
    for n in zoo.zoo_names():
        t.add_row(n, ", ".join(f"{k}={v}" for k, v in zoo.zoo_params(n).items()), zoo.describe(n))
    console.print(t)
