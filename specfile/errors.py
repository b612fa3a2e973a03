"""`SpecError`: the one exception type for bad user input (and `ImpossibleFigure`, nmsim's own bug).

The CLI turns it into one line on stderr and exit code 2; every loader (specfile and the packages
that use it) raises it, never a raw parser, numpy, zip or csv exception.
"""
from __future__ import annotations


class SpecError(ValueError):
    """A user-input error: one line that says where, what, and how to fix it."""

    def __init__(self, message: str = "", *args) -> None:
        # One line, always: a message built from file content (a key, a cell) may carry newlines.
        super().__init__(" ".join(str(message).split("\n")) if message else message, *args)


def foreign_reader(what: str):
    """Decorator for a reader of another tool's files whose first argument is the path: an error
    the reader did not phrase (a ValueError, TypeError, KeyError, AttributeError or IndexError from
    a missing or malformed field) becomes one SpecError naming `what` and the file, never a
    traceback. The reader's own SpecErrors pass unchanged."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def read(path, *args, **kwargs):
            try:
                return fn(path, *args, **kwargs)
            except SpecError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise SpecError(f"{path}: not a {what} nmsim can read ({detail[:200]})") from None
        return read
    return wrap


class ImpossibleFigure(RuntimeError):
    """A result holds a figure that cannot be (NaN, infinite, negative, utilization above 1): a bug
    in nmsim, never a user error. Raised instead of writing or reporting the figure."""
