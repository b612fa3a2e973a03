"""A design point -> the `Arch` it describes (validated), its full descriptor, key and area.

The point's axis values replace the base arch's: rows, cols, macs_per_pe, clock_hz, dataflow
(the array then offers that one dataflow), the supported N:M set, the size of the buffer level,
DRAM bandwidth. Two derived changes keep a resized array comparable with its base:

* with `design.scale_ports` (default), buffer read/write bytes per cycle scale with the array
  edge, rows x macs_per_pe + cols (activations enter per row multiplier, partial sums leave per
  column). assumed: ports are sized to the array, as every preset sizes them (their comments);
* static power scales with area. assumed: leakage and clock-tree power grow with silicon area.

Energy per byte does not change with buffer size (assumed; a limitation stated in docs/DSE.md).
"""
from __future__ import annotations

import copy
import hashlib
import json

from nmsim.accel import Arch
from nmsim.specfile import parse_model

from .area import AreaFigures, area_of, arch_area, area_figures, nm_set_of
from .spec import AXES, Sweep


class DesignBuilder:
    """Builds the designs of one sweep; holds the base as a dict so each point copies only what it changes."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.base = sweep.base
        self.base_dict = sweep.base.model_dump(mode="python")
        a = sweep.spec.area
        self.figures: AreaFigures = area_figures(sweep.base, a.mac_mm2, a.sram_mm2_per_mib, a.reference)
        self.base_area = arch_area(sweep.base, self.figures)["area_mm2"]
        self.level_index = [lv.name for lv in sweep.base.memory].index(sweep.buffer_level)
        c = sweep.base.compute
        self.base_edge = c.rows * c.macs_per_pe + c.cols
        self.base_descriptor = {
            "rows": c.rows, "cols": c.cols, "macs_per_pe": c.macs_per_pe, "nm_patterns": nm_set_of(sweep.base),
            "buffer_bytes": sweep.base.memory[self.level_index].size_bytes,
            "dram_bytes_per_s": sweep.base.dram.bytes_per_s, "clock_hz": c.clock_hz,
            "dataflow": ",".join(c.dataflows),
        }

    def descriptor(self, point: dict) -> dict:
        """Every knob of the design (the base's value where the point leaves it), canonical order."""
        return {k: point.get(k, self.base_descriptor[k]) for k in AXES}

    def key(self, descriptor: dict) -> str:
        """Stable identity of a design: hash of the sweep's design inputs and the descriptor."""
        text = json.dumps([self.sweep.design_hash, descriptor], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()

    def arch_dict(self, descriptor: dict) -> dict:
        """The arch of `descriptor` as a dict (before validation and static-power scaling)."""
        d = self.base_dict
        out = dict(d)
        comp = dict(d["compute"])
        comp.update(rows=descriptor["rows"], cols=descriptor["cols"], macs_per_pe=descriptor["macs_per_pe"],
                    clock_hz=descriptor["clock_hz"], dataflows=descriptor["dataflow"].split(","))
        out["compute"] = comp
        sp = dict(d["sparsity"])
        nm = descriptor["nm_patterns"]
        if nm == "dense":
            sp["nm"] = None
        else:
            idx = d["sparsity"]["nm"]["index_bits"] if d["sparsity"].get("nm") else None
            sp["nm"] = {"patterns": nm.split(","), "index_bits": idx}
        out["sparsity"] = sp
        mem = [dict(lv) for lv in d["memory"]]
        mem[self.level_index]["size_bytes"] = descriptor["buffer_bytes"]
        if self.sweep.spec.design.scale_ports:
            ratio = (descriptor["rows"] * descriptor["macs_per_pe"] + descriptor["cols"]) / self.base_edge
            for lv in mem:
                lv["read_bytes_per_cycle"] *= ratio
                lv["write_bytes_per_cycle"] *= ratio
        out["memory"] = mem
        out["dram"] = {**d["dram"], "bytes_per_s": descriptor["dram_bytes_per_s"]}
        out["energy"] = copy.copy(d["energy"])
        out["name"] = f"{d['name']}~dse"
        return out

    def build(self, descriptor: dict) -> tuple[Arch, dict[str, float]]:
        """(validated Arch, area dict in mm^2) of a design; pydantic errors name the bad field."""
        d = self.arch_dict(descriptor)
        c = d["compute"]
        area = area_of(c["rows"] * c["cols"] * c["macs_per_pe"], c["operand_bits"], descriptor["nm_patterns"],
                       sum(lv["size_bytes"] for lv in d["memory"]), self.figures)
        if self.base_area > 0:
            d["energy"]["static_w"] = d["energy"]["static_w"] * area["area_mm2"] / self.base_area
        return parse_model(Arch, d, "arch"), area
