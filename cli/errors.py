"""How the CLI reports problems: one line on stderr; exit code 2 for bad input."""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Iterator

from nmsim.specfile import SpecError

EXIT_BAD_INPUT = 2


def one_line(message: str) -> str:
    """`message` on one line: line breaks and other control characters that came from the input it
    quotes (a CSV field with a newline in quotes, a name with a tab) shown escaped, as \\n."""
    return "".join(ch if ch.isprintable() or ch == " " else ascii(ch)[1:-1] for ch in str(message))


def fail(message: str) -> "NoReturn":  # type: ignore[name-defined]
    """Print `nmsim: error: message` on stderr, on one line (one_line), and exit with code 2."""
    print(f"nmsim: error: {one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_BAD_INPUT)


def warn(message: str) -> None:
    """Print `nmsim: warning: message` on stderr."""
    print(f"nmsim: warning: {one_line(message)}", file=sys.stderr)


@contextmanager
def flags(*same: str, **renamed: str) -> Iterator[None]:
    """Library errors name the parameter they are about in backticks (`calibration` 0: ...); a
    SpecError raised inside this block shows the command's flag there instead (--calibration 0:
    ...). `same`: parameters whose flag is --name (underscores as dashes); `renamed`: the others,
    e.g. count="--cases"."""
    names = {p: "--" + p.replace("_", "-") for p in same} | renamed
    try:
        yield
    except SpecError as exc:
        if exc.args and isinstance(exc.args[0], str):
            text = re.sub(r"`(\w+)`", lambda m: names.get(m.group(1), m.group(0)), exc.args[0])
            exc.args = (text, *exc.args[1:])
        raise
