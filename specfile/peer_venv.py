"""Peer tools' virtualenvs: create one, pip-install pinned requirements, check the import works.

Each peer (SCALE-Sim, ZigZag, LiteDRAM, ...) pins versions that clash with the project's .venv
(SCALE-Sim 3.0.0 needs numpy<2; LiteDRAM pins its own migen), so it gets its own folder under
.peers/ (git-ignored). The benchmarks' peers (benchmarks/peers/) and the RTL's DRAM generator
(rtl_models/dram.py) share these helpers.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence


def venv_python(venv: Path) -> Path:
    """The python executable of virtualenv `venv`."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def last_lines(text: str, n: int = 12) -> str:
    """The last `n` lines of a tool's output: enough of pip's error to skip a test with."""
    return "\n".join(text.strip().splitlines()[-n:])


def probe_version(python: Path, probe: str, timeout_s: float = 300) -> str | None:
    """What `python -c probe` prints (a version), or None when python is missing or the probe fails."""
    if not python.exists():
        return None
    r = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=timeout_s)
    return r.stdout.strip() if r.returncode == 0 else None


def ensure_venv(venv: Path, requirements: Sequence[str], probe: str, version: str,
                unavailable: type[Exception], install: bool = True) -> Path:
    """Return `venv` once `python -c probe` prints `version` there, creating it and pip-installing
    `requirements` first if needed.

    Raises `unavailable` carrying venv's or pip's error text when that fails (callers skip with it).
    """
    py = venv_python(venv)
    if probe_version(py, probe) == version:
        return venv
    if not install:
        raise unavailable(f"{requirements[0]} is not installed in {venv}")
    if not py.exists():
        base = getattr(sys, "_base_executable", None) or sys.executable
        r = subprocess.run([base, "-m", "venv", str(venv)], capture_output=True, text=True)
        if r.returncode != 0:
            raise unavailable(f"`{base} -m venv {venv}` failed:\n{last_lines(r.stderr or r.stdout)}")
    r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *requirements], capture_output=True, text=True)
    if r.returncode != 0:
        raise unavailable(f"pip could not install {' '.join(requirements)} into {venv}:\n"
                          f"{last_lines(r.stderr or r.stdout)}")
    got = probe_version(py, probe)
    if got != version:
        r = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
        raise unavailable(f"{' '.join(requirements)} installed into {venv}, but the import check gives "
                          f"{got!r}, expected {version}:\n{last_lines(r.stderr)}")
    return venv
