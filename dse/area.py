"""Silicon area of a design point (mm^2): PE array plus on-chip SRAM.

    area = macs x mac_mm2 x (operand_bits / 8)^2 x nm_factor  +  sram_bytes x sram_mm2_per_byte

* `mac_mm2` and `sram_mm2_per_byte` come from the sweep's `area:` section, else from the base
  arch's own `area` section (a `pe_array` component and one per memory level), else from the
  reference preset (dense-systolic: 1.2 mm^2 for 1024 8-bit MACs, 8.0 mm^2 for 2 MiB). The
  figures live in the preset file; nothing here restates them.
* assumed: multiplier area grows with the square of the operand width (an array multiplier has
  bits x bits partial-product cells), so a 16-bit PE costs 4x an 8-bit one.
* `nm_factor`: area of an N:M PE over a dense PE with as many multipliers, synthesized from the
  project's RTL (accel/pe_area_factors.yaml: 2:4 and 1:8). A PE supporting a set of patterns
  pays the largest factor of the set. assumed: for a pattern that was not synthesized the factor
  follows the least-squares line through the synthesized ones in log2(M) (the activation
  select mux deepens with log2 M), and is never below 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import yaml

from nmsim.accel import Arch, load_arch
from nmsim.problem import parse_nm
from nmsim.accel.area import FACTOR_FILE, pe_area_factor
from nmsim.specfile import SpecError

REFERENCE_BITS = 8  # mac_mm2 is quoted for an 8-bit multiplier-accumulator
MIB = 1024 * 1024


@dataclass(frozen=True)
class AreaFigures:
    """mm^2 per 8-bit dense MAC (PE share included) and per byte of SRAM, with where they came from."""

    mac_mm2: float
    sram_mm2_per_byte: float
    source: str


@lru_cache(maxsize=1)
def _synthesized() -> tuple[tuple[int, float], ...]:
    """(M, factor) of every synthesized N:M PE."""
    names = yaml.safe_load(FACTOR_FILE.read_text())["factors"]
    return tuple((parse_nm(p)[1], pe_area_factor(p)) for p in names)


@lru_cache(maxsize=None)
def nm_pattern_factor(pattern: str) -> float:
    """PE area factor of one N:M pattern (dimensionless, >= 1); see module docstring."""
    try:
        return pe_area_factor(pattern)
    except SpecError:
        pass
    pts = np.array(_synthesized(), dtype=float)
    m = parse_nm(pattern)[1]
    if len(pts) == 1:
        return max(1.0, float(pts[0, 1]))
    slope, icpt = np.polyfit(np.log2(pts[:, 0]), pts[:, 1], 1)
    return max(1.0, float(icpt + slope * np.log2(m)))


@lru_cache(maxsize=None)
def nm_set_factor(nm_set: str) -> float:
    """Area factor of a PE supporting every pattern of `nm_set` ('dense' or '2:4,2:8')."""
    if nm_set == "dense":
        return 1.0
    return max(nm_pattern_factor(p) for p in nm_set.split(","))


def nm_set_of(arch: Arch) -> str:
    """The arch's supported N:M set as canonical text ('dense' when it has none)."""
    from .spec import canonical_nm_set

    return canonical_nm_set(arch.sparsity.nm.patterns) if arch.sparsity.nm else "dense"


def _from_arch(arch: Arch) -> AreaFigures | None:
    """Figures implied by an arch's own `area` section, or None when it lacks one."""
    comps = arch.area.components_mm2 if arch.area else {}
    levels = [lv for lv in arch.memory]
    if "pe_array" not in comps or not all(lv.name in comps for lv in levels):
        return None
    c = arch.compute
    per_mac = comps["pe_array"] / (c.rows * c.cols * c.macs_per_pe) / (c.operand_bits / REFERENCE_BITS) ** 2
    per_mac /= nm_set_factor(nm_set_of(arch))
    per_byte = sum(comps[lv.name] for lv in levels) / sum(lv.capacity_bytes for lv in levels)
    return AreaFigures(per_mac, per_byte, f"{arch.name} area section")


def area_figures(base: Arch, mac_mm2: float | None = None, sram_mm2_per_mib: float | None = None,
                 reference: str = "dense-systolic") -> AreaFigures:
    """The figures a sweep uses: explicit values first, then `base`'s area section, then `reference`'s."""
    found = _from_arch(base)
    if found is None:
        found = _from_arch(load_arch(reference))
        if found is None:
            raise SpecError(f"area.reference: preset '{reference}' has no area section with pe_array and "
                            "every memory level; give area.mac_mm2 and area.sram_mm2_per_mib")
    return AreaFigures(mac_mm2 if mac_mm2 is not None else found.mac_mm2,
                       sram_mm2_per_mib / MIB if sram_mm2_per_mib is not None else found.sram_mm2_per_byte,
                       "sweep area section" if mac_mm2 and sram_mm2_per_mib else found.source)


def area_of(macs: int, operand_bits: int, nm_set: str, sram_bytes: float, figs: AreaFigures) -> dict[str, float]:
    """{"pe_array_mm2", "sram_mm2", "area_mm2"} (mm^2) of `macs` multipliers of `operand_bits`
    supporting `nm_set`, plus `sram_bytes` of on-chip buffers."""
    pe = macs * figs.mac_mm2 * (operand_bits / REFERENCE_BITS) ** 2 * nm_set_factor(nm_set)
    sram = sram_bytes * figs.sram_mm2_per_byte
    return {"pe_array_mm2": pe, "sram_mm2": sram, "area_mm2": pe + sram}


def arch_area(arch: Arch, figs: AreaFigures) -> dict[str, float]:
    """Area (mm^2, see `area_of`) of a systolic arch."""
    c = arch.compute
    return area_of(c.rows * c.cols * c.macs_per_pe, c.operand_bits, nm_set_of(arch),
                   sum(lv.capacity_bytes for lv in arch.memory), figs)
