"""Relative area of the N:M processing element from Yosys synthesis of rtl_models/nm_pe.v.

Each PE is synthesized alone (`synth -flatten`, Yosys's generic gate library: no technology,
so cell counts, not square millimetres) at 8-bit operands and 32-bit partial sums. An N:M PE
is compared with the dense PE (N = M, no multiplexers) with the same number of multipliers:
the ratio of cell counts is the area factor of the N:M datapath (activation multiplexers, index
registers, the wider activation pass-through register). `accel/pe_area_factors.yaml` holds the
shipped numbers (`nmsim rtl area --write` regenerates it); `accel.area.pe_area_factor` reads it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nmsim.accel.area import FACTOR_FILE
from nmsim.specfile import SpecError

from .wrapper import RTL_DIR

OPERAND_BITS = 8
ACC_BITS = 32
# (label, N, M): the N:M PEs the issue asks for and the dense PE of the same multiplier count.
PES = (("dense1", 1, 1), ("dense2", 2, 2), ("2:4", 2, 4), ("1:8", 1, 8))
FACTORS = {"2:4": "dense2", "1:8": "dense1"}


@dataclass(frozen=True)
class PeArea:
    """Yosys cell counts of one nm_pe configuration."""

    label: str
    n: int
    m: int
    cells: int
    flops: int
    by_type: dict


def yosys_version() -> str:
    """`yosys -V` (SpecError with the install line when Yosys is missing)."""
    exe = shutil.which("yosys")
    if exe is None:
        raise SpecError("yosys not found: install it with `apt-get install -y yosys` (`make test-deps` does)")
    return subprocess.run([exe, "-V"], capture_output=True, text=True, check=True).stdout.strip()


def synth_pe(label: str, n: int, m: int, operand_bits: int = OPERAND_BITS, acc_bits: int = ACC_BITS) -> PeArea:
    """Synthesize nm_pe with N = n, M = m to generic gates; cell and flip-flop counts."""
    yosys_version()
    with tempfile.TemporaryDirectory() as tmp:
        stat = Path(tmp) / "stat.json"
        script = (f"read_verilog {RTL_DIR / 'nm_pe.v'}; "
                  f"chparam -set N {n} -set M {m} -set W {operand_bits} -set ACC {acc_bits} nm_pe; "
                  f"synth -flatten -top nm_pe; tee -q -o {stat} stat -json")
        run = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"yosys failed on nm_pe {label}:\n{run.stderr[-2000:]}")
        design = json.loads(stat.read_text())["design"]
    by_type = design["num_cells_by_type"]
    flops = sum(v for k, v in by_type.items() if "DFF" in k)
    return PeArea(label, n, m, design["num_cells"], flops, dict(by_type))


def pe_areas() -> list[PeArea]:
    """Synthesis results of every PE in PES (about a second each)."""
    return [synth_pe(label, n, m) for label, n, m in PES]


def factors(areas: list[PeArea]) -> dict[str, float]:
    """Area factor of each N:M PE: its cells over the dense PE's with as many multipliers."""
    cells = {a.label: a.cells for a in areas}
    return {nm: round(cells[nm] / cells[dense], 3) for nm, dense in FACTORS.items()}


def factor_file_text(areas: list[PeArea], version: str) -> str:
    """accel/pe_area_factors.yaml for these results, every number tagged with its origin."""
    ver = version.split()[1] if len(version.split()) > 1 else version
    origin = f"Yosys {ver} `synth -flatten` of rtl_models/nm_pe.v, `nmsim rtl area`"
    lines = [
        "# Area of an N:M processing element relative to a dense PE with as many multipliers,",
        "# from synthesis of rtl_models/nm_pe.v to Yosys's generic gates (cell counts, no technology).",
        "# Multiply a dense PE array's area by the factor for the N:M pattern it runs. Regenerate with",
        "# `nmsim rtl area --write`; tests/rtl_models/test_rtl_area.py checks it against a fresh synthesis.",
        f"operand_bits: {OPERAND_BITS}  # source: {origin} (parameter W)",
        f"accumulator_bits: {ACC_BITS}  # source: {origin} (parameter ACC)",
        "cells:",
    ]
    for a in areas:
        lines.append(f"  \"{a.label}\": {a.cells}  # source: {origin}, N = {a.n}, M = {a.m} ({a.flops} flip-flops)")
    lines.append("factors:")
    cells = {a.label: a.cells for a in areas}
    for nm, value in factors(areas).items():
        dense = FACTORS[nm]
        lines.append(f'  "{nm}": {value}  # derived: cells {nm} / cells {dense} = {cells[nm]} / {cells[dense]}')
    return "\n".join(lines) + "\n"
