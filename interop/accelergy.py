"""Accelergy energy reference tables (ERT YAML) supplying per-action energies to an nmsim arch
(docs/INTEROP.md 2.3).

An ERT lists, per component (`system_top_level.shared_glb[1..1]`), the energy of each action in
pJ per access of one vector of `width` bits (Accelergy; Timeloop multiplies it by vector
accesses: NVlabs/timeloop src/model/buffer.cpp, ComputeBufferEnergy). nmsim charges energy per
byte moved (`energy.per_byte_pj`) and per MAC (`energy.mac_pj`), so a storage action's per-byte
energy is `ERT energy / (width / 8)` (derived), with the vector width from the architecture the
ERT was made for (its `width`/`datawidth` attributes). Reads and writes may differ (a 2.3x
spread on the exercises' scratchpads): nmsim prices them apart (`{read, write}`); fills and
updates both take the write energy (an `update` that differs is named in the derivation).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nmsim.specfile import SpecError, did_you_mean, foreign_reader

from .timeloop import load_timeloop_yaml

__all__ = ["read_ert", "ErtEntry", "ert_energies"]


@dataclass(frozen=True)
class ErtEntry:
    """One component's actions: {action: energy in pJ per vector access}."""

    component: str
    instances: int
    actions: dict[str, float]


@foreign_reader("Accelergy energy reference table")
def read_ert(path: str | Path) -> dict[str, ErtEntry]:
    """ERT YAML -> {short component name: ErtEntry} (`system_top_level.shared_glb[1..1]` -> `shared_glb`)."""
    data = load_timeloop_yaml(path).get("ERT")
    if not isinstance(data, dict) or "tables" not in data:
        raise SpecError(f"{path}: no `ERT.tables` (not an Accelergy energy reference table)")
    out = {}
    for table in data["tables"]:
        full = str(table.get("name", ""))
        m = re.search(r"\[(\d+)\.\.(\d+)\]$", full)
        short = re.sub(r"\[\d+\.\.\d+\]$", "", full).split(".")[-1]
        acts = {}
        for a in table.get("actions", []):
            acts[str(a["name"])] = float(a.get("energy", 0.0))
        out[short] = ErtEntry(full, int(m.group(2)) - int(m.group(1)) + 1 if m else 1, acts)
    return out


def _vector_bytes(level_attrs: dict, name: str, path) -> float:
    width = level_attrs.get("width", level_attrs.get("data_storage_width"))
    if width is None:
        raise SpecError(f"{path}: component '{name}' has no width; the per-byte energy needs its vector width")
    return float(width) / 8.0


@foreign_reader("Accelergy energy reference table")
def ert_energies(ert_path: str | Path, components: dict[str, str], widths: dict[str, dict],
                 mac: str | None = None) -> dict:
    """Per-byte and per-MAC energies for an nmsim arch from an ERT.

    `components`: nmsim level name (or "dram") -> ERT component; `widths`: ERT component -> its
    architecture attributes (width in bits); `mac`: the compute component. Returns {"per_byte_pj":
    {level: pJ/B, or {read, write} pJ/B where they differ}, "mac_pj": pJ or None, "leak_pj": {level:
    pJ per instance and cycle}, "derivation": {level: text}} with each figure's formula.
    """
    ert = read_ert(ert_path)
    per_byte, how, leak = {}, {}, {}
    for level, comp in components.items():
        if comp not in ert:
            raise SpecError(f"{ert_path}: no component '{comp}'{did_you_mean(comp, ert)}")
        acts = ert[comp].actions
        if "read" not in acts:
            raise SpecError(f"{ert_path}: component '{comp}' has no read action (actions: {', '.join(acts)})")
        vb = _vector_bytes(widths.get(comp, {}), comp, ert_path)
        rd, wr = acts["read"] / vb, acts.get("write", acts["read"]) / vb
        per_byte[level] = rd if wr == rd else {"read": rd, "write": wr}
        how[level] = (f"derived: {comp} read {acts['read']:.6g} pJ / {vb:g} B per vector (ERT {Path(ert_path).name})"
                      + (f", write {acts['write']:.6g} pJ / {vb:g} B" if wr != rd else ""))
        if "update" in acts and abs(acts["update"] - acts.get("write", acts["read"])) > 1e-9:
            how[level] += f"; update {acts['update']:.6g} pJ priced as the write (nmsim has one write energy)"
        leak[level] = acts.get("leak", 0.0)
    mac_pj = None
    if mac is not None:
        if mac not in ert:
            raise SpecError(f"{ert_path}: no compute component '{mac}'{did_you_mean(mac, ert)}")
        acts = ert[mac].actions
        key = next((k for k in ("compute", "mac_random", "mac") if k in acts), None)
        if key is None:
            raise SpecError(f"{ert_path}: component '{mac}' has no compute action (actions: {', '.join(acts)})")
        mac_pj = acts[key]
        how["mac"] = f"source: {mac} {key} {mac_pj:.6g} pJ (ERT {Path(ert_path).name})"
    return {"per_byte_pj": per_byte, "mac_pj": mac_pj, "leak_pj": leak, "derivation": how}
