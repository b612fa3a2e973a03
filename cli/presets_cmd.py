"""`nmsim presets`: list the architecture presets, or print one preset's YAML with its sources."""
from __future__ import annotations

import argparse
import sys

from .errors import fail


def add_parser(sub) -> None:
    """Register `nmsim presets [list|show NAME]` on the subcommand table."""
    sp = sub.add_parser("presets", help="list architecture presets, or show one with its sources")
    sp.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    sp.add_argument("name", nargs="?")
    sp.set_defaults(func=cmd_presets)


def cmd_presets(args: argparse.Namespace) -> None:
    """Print the preset table, or one preset's file verbatim."""

    from nmsim.accel import load_arch, preset_names, preset_path

    from .tables import console, NarrowTable

    if args.action == "show":
        if not args.name:
            fail("presets show needs a NAME (`nmsim presets` lists them)")
        # verbatim: console.print would wrap long comment lines and break the YAML for `> my.yaml`
        text = preset_path(args.name).read_text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    t = NarrowTable(title="nmsim presets", title_justify="left")
    for c in ("name", "kind", "compute", "sparsity", "energy basis", "description"):
        t.add_column(c)
    for n in preset_names():
        a = load_arch(n)
        comp = a.summary()
        sp = ", ".join(a.sparsity.nm.patterns) if a.sparsity.nm else "dense only"
        t.add_row(n, a.kind, comp, sp, a.energy_basis(), a.description)
    console.print(t)
