"""Output files: checked before the work, written under a temporary name, renamed into place.

The rule for every command (README, "Output files"):

* an output's folder must exist (nothing creates missing folders; a typo in a folder name is
  an error before any work, not a new folder);
* an output path that is an existing folder, or that two flags share, is refused;
* a plot's suffix picks its format (.png or .svg) and is checked first;
* files are written to a hidden staging folder beside the output and renamed into place only
  when the whole command succeeded, so a failing command leaves no file behind (and no file
  half-written).

`Outputs` does this for a command's set of files; `atomic_path` for one file a library
function writes.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import SpecError

PLOT_SUFFIXES = (".png", ".svg")
_STAGE_PREFIX = ".nmsim-staging-"


def check_plot_path(path: str | Path) -> Path:
    """`path` as a Path when its suffix picks a format plots are written in (.png or .svg), else SpecError.
    Checked before the work that draws the plot, so that a bad name fails at once."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise SpecError(f"plot '{path}': use a .png or .svg file name (the suffix picks the format)")
    return p


def check_output_path(path: str | Path, flag: str = "output", folder: bool = False) -> Path:
    """`path` when an output can be written there: its parent folder exists and it is not an
    existing folder (or, with `folder`, not an existing file); SpecError naming `flag` otherwise."""
    p = Path(path)
    if not str(path).strip():
        raise SpecError(f"{flag}: empty path")
    parent = p.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise SpecError(f"{flag} {path}: folder '{parent}' {what}; create it first (nmsim creates no folders)")
    if p.is_dir() and not folder:
        raise SpecError(f"{flag} {path}: is a folder; give a file name")
    if folder and p.exists() and not p.is_dir():
        raise SpecError(f"{flag} {path}: is a file; give a folder name")
    if not os.access(parent, os.W_OK):
        raise SpecError(f"{flag} {path}: folder '{parent}' is not writable")
    return p


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, so writers that pick a format by suffix
    work) that replaces `path` when the block ends without an exception; removed otherwise."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.stem}.", suffix=f".tmp{p.suffix}", dir=p.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if Path(tmp).exists():
            os.chmod(tmp, 0o644)  # mkstemp makes it private; an output is an ordinary file
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Outputs:
    """The output files of one command, all or nothing.

    `add(path, flag)` checks a path before the work; `path(p)` is where to write it: inside a
    staging folder beside it, same file name. `commit()` moves everything written there into
    place; leaving the `with` block by an exception removes it all. Writers that put sibling
    files next to their output (a workload's masks NPZ) put them in the staging folder too, and
    they are moved with it.

    Two outputs are written in place by design and only checked before the work: mode "resume"
    (a result store that a later run resumes: removed on failure only when this command created
    it) and mode "append" (a measurement file that keeps every row measured before a crash)."""

    MODES = ("new", "resume", "append")

    def __init__(self) -> None:
        self._stages: dict[Path, Path] = {}
        self._targets: dict[Path, str] = {}
        self._where: dict[Path, Path] = {}
        self._created: list[Path] = []

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def add(self, path: str | Path | None, flag: str, suffixes: tuple[str, ...] | None = None,
            folder: bool = False, mode: str = "new") -> Path | None:
        """Check output `path` (None: no output, returns None) and return where to write it.
        `suffixes`: allowed suffixes (lower case); `folder`: the output is a new folder; `mode`:
        one of MODES (class docstring)."""
        if path is None:
            return None
        p = check_output_path(path, flag, folder)
        if suffixes and p.suffix.lower() not in suffixes:
            raise SpecError(f"{flag} {path}: use a {' or '.join(suffixes)} file name (the suffix picks the format)")
        key = p.resolve()
        if key in self._targets:
            raise SpecError(f"{flag} {path}: {self._targets[key]} writes the same file; give each output its own name")
        self._targets[key] = flag
        if mode != "new":
            if mode == "resume" and not p.exists():
                self._created.append(p)
            self._where[key] = p
            return p
        parent = p.parent.resolve()
        if parent not in self._stages:
            self._stages[parent] = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=parent))
        self._where[key] = self._stages[parent] / p.name
        return self._where[key]

    def path(self, path: str | Path | None) -> Path | None:
        """Where to write output `path` (added before); None for None."""
        if path is None:
            return None
        return self._where[Path(path).resolve()]

    def commit(self) -> None:
        """Move every staged file and folder into place; remove the staging folders."""
        for parent, stage in self._stages.items():
            for item in sorted(stage.iterdir()):
                dest = parent / item.name
                if item.is_dir() and dest.exists():
                    shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
                os.replace(item, dest)
            shutil.rmtree(stage, ignore_errors=True)
        self._stages.clear()
        self._created.clear()

    def discard(self) -> None:
        """Remove the staging folders and everything written in them, and the resumable outputs
        this command created."""
        for stage in self._stages.values():
            shutil.rmtree(stage, ignore_errors=True)
        self._stages.clear()
        for p in self._created:
            for extra in ("", "-wal", "-shm", "-journal"):  # SQLite's side files
                Path(f"{p}{extra}").unlink(missing_ok=True)
        self._created.clear()
