"""How the CLI reports problems: one line on stderr; exit code 2 for bad input."""
from __future__ import annotations

import sys

EXIT_BAD_INPUT = 2


def fail(message: str) -> "NoReturn":  # type: ignore[name-defined]
    """Print `nmsim: error: message` on stderr and exit with code 2."""
    print(f"nmsim: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def warn(message: str) -> None:
    """Print `nmsim: warning: message` on stderr."""
    print(f"nmsim: warning: {message}", file=sys.stderr)
