"""The simulated DRAM of the SoC: LiteDRAM, generated to Verilog in its own virtualenv, cached.

LiteDRAM (with litex and migen) pins versions of its own, so it lives in a peer virtualenv
(`.peers/litedram-venv`, or $NMSIM_LITEDRAM_VENV), made on first use or by `make test`
(`python -m nmsim.rtl_models.dram --ensure`). `dram_verilog(module)` runs
`rtl_models/litedram_gen.py` there once per (module, clock, storage, generator text, versions)
and returns the folder holding `dram_sim.v` and its JSON description, under the RTL build cache
(`runner.cache_root()`). Generated Verilog is never committed. docs/RTL.md, "The DRAM".
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from nmsim.specfile import SpecError
from nmsim.specfile.peer_venv import ensure_venv, last_lines, venv_python

from .runner import PROJECT_ROOT, cache_key, cache_root, locked
from .wrapper import RTL_DIR

LITEDRAM_VERSION = "2024.12"
LITEDRAM_REQUIREMENTS = (f"litedram=={LITEDRAM_VERSION}", f"litex=={LITEDRAM_VERSION}", "migen==0.10.0")
PROBE = ("import importlib.metadata as m, migen, litedram.phy.model, litedram.core.controller; "
         "print(m.version('litedram'))")
GENERATOR = RTL_DIR / "litedram_gen.py"
DEFAULT_MODULE = "MT40A512M16"  # source: the issue names it; 8 Gb DDR4 x16 (litedram.modules)
CLOCK_HZ = 100e6  # docs/RTL.md, "Overview": the clock at which LiteDRAM's timing checker is clean
STORAGE_ROWS = 2048  # docs/RTL.md: 32 MiB of storage, the controller keeps the real geometry


class DramToolMissing(SpecError):
    """LiteDRAM could not be installed or run; the message names what to install."""


def venv_dir() -> Path:
    """The LiteDRAM virtualenv: $NMSIM_LITEDRAM_VENV, else .peers/litedram-venv in the repository."""
    return Path(os.environ.get("NMSIM_LITEDRAM_VENV") or PROJECT_ROOT / ".peers" / "litedram-venv")


def ensure_litedram(install: bool = True) -> Path:
    """The LiteDRAM virtualenv's python, creating the venv and installing the pins if needed.
    Raises DramToolMissing with one line naming the fix."""
    try:
        venv = ensure_venv(venv_dir(), LITEDRAM_REQUIREMENTS, PROBE, LITEDRAM_VERSION, DramToolMissing, install=install)
    except DramToolMissing as exc:
        first = str(exc).splitlines()[0]
        raise DramToolMissing(f"LiteDRAM is not available ({first}); install it with `make peer-deps` or "
                              f"`python -m venv {venv_dir()} && {venv_dir()}/bin/pip install "
                              f"{' '.join(LITEDRAM_REQUIREMENTS)}`") from None
    return venv_python(venv)


def dram_verilog(module: str = DEFAULT_MODULE, *, clock_hz: float = CLOCK_HZ, storage_rows: int = STORAGE_ROWS) -> Path:
    """Folder with `dram_sim.v` and `dram_sim.json` for LiteDRAM module `module` (generated once,
    then cached). Raises SpecError (one line) for a module LiteDRAM lacks, DramToolMissing when
    LiteDRAM cannot be installed."""
    py = ensure_litedram()
    key = cache_key("litedram", module, clock_hz, storage_rows, GENERATOR.read_text(), LITEDRAM_REQUIREMENTS)
    out = cache_root() / f"litedram-{module}-{key}"
    with locked(cache_root() / f"{out.name}.lock"):
        if (out / "dram_sim.json").exists():
            return out
        r = subprocess.run([str(py), str(GENERATOR), "--module", module, "--clk-freq", repr(clock_hz),
                            "--storage-rows", str(storage_rows), "--out", str(out)], capture_output=True, text=True)
        if r.returncode == 2:
            raise SpecError(r.stderr.strip().splitlines()[-1].replace("litedram_gen: error: ", ""))
        if r.returncode != 0:
            raise DramToolMissing(f"LiteDRAM generation failed:\n{last_lines(r.stderr or r.stdout)}")
    return out


def dram_description(folder: Path) -> dict:
    """The generator's JSON description of a generated DRAM (widths, address map, timings)."""
    return json.loads((folder / "dram_sim.json").read_text())


def main(argv=None) -> None:
    """`python -m nmsim.rtl_models.dram --ensure`: make the venv and generate the default DRAM."""
    ap = argparse.ArgumentParser(description="LiteDRAM peer virtualenv and generated DRAM Verilog")
    ap.add_argument("--ensure", action="store_true", help="create the venv if needed and generate the default DRAM")
    ap.add_argument("--module", default=DEFAULT_MODULE)
    a = ap.parse_args(argv)
    if a.ensure:
        try:
            print(dram_verilog(a.module))
        except SpecError as exc:
            print(f"litedram: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


if __name__ == "__main__":
    main()
