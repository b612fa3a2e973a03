"""`nmsim` command line: presets, workloads, simulate, map, prune, rtl, gpu, dse, reproduce, timeloop, demo.

Each command lives in its own module (`<command>_cmd.py`: `add_parser` registers the command and
its handler); this module builds the parser from them and dispatches. Human tables go to stdout;
`--json`/`--csv` write machine-readable results; errors are one line on stderr with exit code 2
(see cli.errors).
"""
from __future__ import annotations

import argparse
import functools
import re
import sys

from nmsim.specfile import SpecError

from . import (demo_cmd, dse_cmd, gpu_cmd, map_cmd, presets_cmd, prune_cmd, reproduce_cmd, rtl_cmd, simulate_cmd,
               timeloop_cmd, workloads_cmd)
from .errors import fail
from .outputs import open_outputs

# In the order `nmsim --help` lists them.
COMMANDS = (presets_cmd, workloads_cmd, simulate_cmd, map_cmd, prune_cmd, rtl_cmd, gpu_cmd, dse_cmd, reproduce_cmd,
            timeloop_cmd, demo_cmd)


class _Version(argparse.Action):
    """`nmsim --version`: the version and, from a git work tree, the commit results record."""

    def __call__(self, parser, namespace, values, option_string=None):
        from nmsim.specfile.results import git_commit, nmsim_version

        commit, dirty = git_commit()
        where = f" (git {commit[:12]}{', uncommitted changes' if dirty else ''})" if commit else ""
        print(f"nmsim {nmsim_version()}{where}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse with the bad-input contract: a usage error is one line on stderr, exit code 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]
        # "argument --top: must be at least 1 (got 0)" -> "--top must be at least 1 (got 0)"
        fail(re.sub(r"^argument ([^:]+): ", lambda m: m.group(1).split("/")[0] + " ", message))


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of `nmsim` (built once per process: parsing does not change it, and tests
    and the fuzzer call `main` thousands of times)."""
    p = _Parser(prog="nmsim", description="Cycle-approximate simulator of N:M and high-sparsity DNN accelerators.")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version (and git commit) and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `nmsim` console script; returns the exit code."""
    from nmsim.specfile.results import set_command

    set_command(["nmsim", *(sys.argv[1:] if argv is None else argv)])
    args = build_parser().parse_args(argv)
    try:
        # every output is checked before the work; files appear only if the command succeeds
        with open_outputs(args) as args.outputs:
            args.func(args)
    except SpecError as exc:
        fail(str(exc))
    except BrokenPipeError:
        sys.stderr.close()
    except OSError as exc:  # e.g. a full disk while writing an output
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
