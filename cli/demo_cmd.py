"""`nmsim demo`: the flagship demo (cli/demo.py) behind `make run`."""
from __future__ import annotations

import argparse

from nmsim.specfile import PLOT_SUFFIXES

from .outputs import add_output


def add_parser(sub) -> None:
    """Register `nmsim demo` on the subcommand table."""
    from .demo import DEMO_ARCHS, DEMO_PATTERNS

    sd = sub.add_parser("demo", help=f"flagship demo: BERT-base on {', '.join(DEMO_ARCHS)} at {'/'.join(DEMO_PATTERNS)}")
    add_output(sd, "--out", default="nmsim-demo.png", suffixes=PLOT_SUFFIXES, help="bar chart path (.png or .svg)")
    add_output(sd, "--json", metavar="R.json")
    sd.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the demo grid: table on stdout, bar chart at --out, rows at --json."""
    from .demo import run_demo

    run_demo(args.outputs.path(args.out), args.outputs.path(args.json), shown=args.out)
