"""Output flags: declared with `add_output`, checked before the command runs, written all or
nothing (specfile.Outputs; the rule is in the README, "Output files").

A command declares each file it writes with `add_output(parser, "--json", ...)` instead of
`add_argument`; `cli.main` checks every given output before the command's work starts and hands
the command `args.outputs`, whose `path(args.json)` is where to write (a staging folder beside the
target). When the command returns, the files move into place; when it fails, none appear.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

from nmsim.specfile import Outputs


@dataclass(frozen=True)
class OutputFlag:
    """One output flag of a command: its dest, the flag as users write it, allowed suffixes,
    whether it names a folder, and its specfile.Outputs mode."""

    dest: str
    flag: str
    suffixes: tuple[str, ...] | None = None
    folder: bool = False
    mode: str = "new"


def add_output(parser: argparse.ArgumentParser, *names: str, suffixes: tuple[str, ...] | None = None,
               folder: bool = False, mode: str = "new", **kwargs) -> argparse.Action:
    """`parser.add_argument(*names, **kwargs)` for a flag that names an output file (or, with
    `folder`, a folder), recorded so that cli.main checks it before the work (see module doc)."""
    action = parser.add_argument(*names, **kwargs)
    declared = tuple(parser.get_default("output_flags") or ())
    flag = next((n for n in names if n.startswith("--")), names[0])
    parser.set_defaults(output_flags=declared + (OutputFlag(action.dest, flag, suffixes, folder, mode),))
    return action


def open_outputs(args: argparse.Namespace) -> Outputs:
    """Check every output flag `args` carries (SpecError on the first bad one) and return the
    Outputs that stage them."""
    out = Outputs()
    try:
        for f in getattr(args, "output_flags", ()):
            out.add(getattr(args, f.dest, None), f.flag, f.suffixes, f.folder, f.mode)
    except BaseException:
        out.discard()
        raise
    return out
