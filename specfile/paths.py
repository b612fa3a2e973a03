"""Files named inside other files (a workload's masks, a sweep's base arch and workloads).

A relative name resolves against the folder of the file that names it and must stay inside that
folder (after following links): a spec someone sent you cannot make nmsim read
`../../.ssh/id_rsa` or `/etc/...` unless the name is absolute, which is the writer saying so
in plain sight.
"""
from __future__ import annotations

from pathlib import Path

from .errors import SpecError


def referenced_path(name: str, folder: str | Path, where: str) -> Path:
    """The file `name` refers to, from inside a file in `folder`; SpecError ('<where>: ...') when
    a relative `name` leaves that folder. Absolute names are used as given."""
    p = Path(name)
    if p.is_absolute():
        return p
    folder = Path(folder)
    target = folder / p
    try:
        inside = target.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError) as exc:  # a link loop
        raise SpecError(f"{where}: '{name}' cannot be resolved ({exc})") from None
    if not inside:
        raise SpecError(f"{where}: '{name}' leads outside {folder.resolve()}; a relative path stays inside the "
                        "folder of the file that names it (give an absolute path to use a file elsewhere)")
    return target
