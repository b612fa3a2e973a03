"""`nmsim workloads`: list the model zoo, or show one model's ops (and save it as a workload file)."""
from __future__ import annotations

import argparse

from .errors import fail
from .outputs import add_output
from .resolve import PARAM_HELP, WORKLOAD_HELP


def add_parser(sub) -> None:
    """Register `nmsim workloads [list|show NAME]` on the subcommand table."""
    sw = sub.add_parser("workloads", help="list the model zoo, or show one model's ops")
    sw.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    sw.add_argument("name", nargs="?", help=WORKLOAD_HELP)
    sw.add_argument("--param", "-p", action="append", metavar="KEY=VALUE", help=PARAM_HELP)
    add_output(sw, "--save", metavar="FILE.yaml", help="write the workload file")
    sw.set_defaults(func=cmd_workloads)


def cmd_workloads(args: argparse.Namespace) -> None:
    """Print the zoo table, or one workload's ops."""

    from nmsim.workloads import NonGemmOp, zoo

    from .resolve import parse_params, resolve_workload
    from .tables import console, eng, narrow_table, NarrowTable

    if args.action == "show":
        if not args.name:
            fail("workloads show needs a NAME (`nmsim workloads` lists the zoo)")
        wl, _ = resolve_workload(args.name, parse_params(args.param))
        t = narrow_table(f"{wl.name}: {len(wl.ops)} GEMM ops, {eng(wl.macs)}MACs; {len(wl.nongemm)} non-GEMM ops "
                         "(M|rows, N|cols: GEMM dims or output shape; work: MACs or alu+special ops)",
                         [(c, "left" if c in ("op", "kind", "weights") else "right")
                          for c in ("op", "kind", "M|rows", "N|cols", "K", "batch", "weights", "work")],
                         max((len(op.name) for op in wl.layers), default=0))
        for op in wl.layers:
            if isinstance(op, NonGemmOp):
                t.add_row(op.name, op.kind + (" (fused)" if op.fused else ""), str(op.rows), str(op.cols), "-",
                          str(op.batch), "-", eng(op.flops))
                continue
            t.add_row(op.name, op.kind, str(op.M), str(op.N), str(op.K), str(op.batch),
                      str(op.weight_sparsity) if op.has_weights else "-", eng(op.macs))
        console.print(t)
        if args.save:
            wl.save(args.outputs.path(args.save))
            console.print(f"saved to {args.save}")
        return
    t = NarrowTable(title="nmsim model zoo", title_justify="left")
    t.add_column("name", no_wrap=True)
    t.add_column("parameters (defaults)", no_wrap=True)
    t.add_column("description")
    for n in zoo.zoo_names():
        t.add_row(n, ",".join(f"{k}={v}" for k, v in zoo.zoo_params(n).items()), zoo.describe(n))
    console.print(t)
