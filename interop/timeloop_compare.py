"""nmsim beside Timeloop under Timeloop's own mapping (docs/INTEROP.md 2.3): the converted design
(timeloop_convert.py) costed by nmsim's fast model, and its cycles, per-level reads, fills and
updates (words, per data space, summed over instances) and energy set beside a Timeloop stats file.

nmsim's per-level actions come from the model's own traffic (sim.analytic: `array_bytes` and
`level_traffic`), named in Timeloop's terms: at a keeper of an operand, `fills` are the words
entering it from its parent (for outputs, partial sums read back), `reads` the words it gives its
child or the array plus, for outputs, the words it sends up to its parent, `updates` the output
words written into it by its child or the array.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmsim.mapping import Candidates, executed_gemm, plan_sparsity
from nmsim.problem import PerDataflow
from nmsim.sim.analytic import OPERAND_OF, array_bytes, array_layout, cost_split, level_traffic, tile_dims
from nmsim.sim.hw import HwParams
from nmsim.sim.simulate import simulate_op

from .timeloop_convert import ConvertedDesign, convert_design
from .timeloop_stats import TimeloopStats, read_stats

__all__ = ["Row", "Comparison", "compare_design", "nmsim_actions"]

ACTIONS = ("reads", "fills", "updates")


@dataclass(frozen=True)
class Row:
    """One compared figure: what (e.g. 'shared_glb Inputs reads'), Timeloop's and nmsim's value
    (None where a side has no such figure) and the unit."""

    what: str
    timeloop: float | None
    nmsim: float | None
    unit: str

    @property
    def ratio(self) -> float | None:
        """nmsim / Timeloop (None when either is missing or Timeloop's is 0)."""
        if self.timeloop in (None, 0) or self.nmsim is None:
            return None
        return self.nmsim / self.timeloop


@dataclass
class Comparison:
    """The rows of one design, the converted design they came from and nmsim's result."""

    design: ConvertedDesign
    stats: TimeloopStats
    rows: list[Row]
    result: object  # nmsim's LayerResult of the design under the reference mapping

    def row(self, what: str) -> Row:
        """The row named `what` (KeyError naming the known rows)."""
        for r in self.rows:
            if r.what == what:
                return r
        raise KeyError(f"{what} (rows: {', '.join(r.what for r in self.rows)})")


def nmsim_actions(design: ConvertedDesign) -> dict[str, dict[str, dict[str, float]]]:
    """{level or 'DRAM': {operand: {reads, fills, updates}}} in words, from nmsim's fast model under
    the design's mapping (see the module docstring for the naming)."""
    arch, hw = design.arch, HwParams.from_arch(design.arch)
    gemm = executed_gemm(design.op, plan_sparsity(arch, design.op))
    c = Candidates.from_mappings([design.mapping])
    sel = PerDataflow(c.dataflow)
    dims = tile_dims(hw, gemm, c)
    a_read, b_read, c_read, c_write = array_bytes(hw, gemm, sel, array_layout(hw, sel, dims, cost_split(c)))
    traffic = level_traffic(hw, gemm, c, dims)
    wb = design.word_bytes
    words = lambda x: float(np.asarray(x, dtype=np.float64).item()) / wb  # noqa: E731  (one candidate)
    out: dict = {name: {} for name in (*hw.level_names, "DRAM")}
    # what the array reads from / writes to the innermost keeper (None: the operand is never written)
    array_side = {"A": (a_read, None), "B": (b_read, None), "out": (c_read, c_write)}
    for operand, (arr_rd, arr_wr) in array_side.items():
        keep = hw.keepers[OPERAND_OF[operand]]
        fill, drain = traffic.fill[operand], traffic.drain.get(operand)
        # keeper i feeds keeper i + 1 (its fill) or, innermost, the array; outputs also come up from
        # below (updates) and leave for the parent (drain[i], counted as reads)
        reads = [*fill[1:], arr_rd]
        updates = [0.0] * len(keep) if drain is None else [*drain[1:], arr_wr]
        if drain is not None:
            reads = [r + d for r, d in zip(reads, drain, strict=True)]
        for i, lv in enumerate(keep):
            out[hw.level_names[lv]][OPERAND_OF[operand]] = {
                "reads": words(reads[i]), "fills": words(fill[i]), "updates": words(updates[i])}
        out["DRAM"][OPERAND_OF[operand]] = {"reads": words(fill[0]), "fills": 0.0,
                                            "updates": words(drain[0]) if drain is not None else 0.0}
    return out


def _energy_by_level(result) -> dict[str, float]:
    """nmsim's dynamic energy per level (pJ), reads and writes together; 'DRAM' for dram."""
    out: dict[str, float] = defaultdict(float)
    for key, pj in result.energy_actions_pj.items():
        level, _, action = key.rpartition(".")
        if action in ("read", "write"):
            out["DRAM" if level == "dram" else level] += pj
    return dict(out)


def compare_design(arch_path: str | Path, problem_path: str | Path, mapping_path: str | Path, ert_path: str | Path,
                   stats_path: str | Path, *, sparse_opt: str | Path | None = None) -> Comparison:
    """Convert the design, cost it with nmsim's fast model under Timeloop's mapping and list the
    rows: cycles, computes, per level and data space the reads/fills/updates (words), per level the
    dynamic energy (pJ), and the total energy (pJ, leakage included on both sides)."""
    design = convert_design(arch_path, problem_path, mapping_path, ert_path, sparse_opt=sparse_opt)
    stats = read_stats(stats_path)
    res = simulate_op(design.arch, design.op, design.mapping)
    ours = nmsim_actions(design)
    roles = design.problem.roles
    rows = [Row("cycles", stats.cycles, res.cycles, "cycles"),
            Row("computes", stats.computes, res.macs_effective, "MACs")]
    energy = _energy_by_level(res)
    for name, lv in reversed(list(stats.levels.items())):  # Timeloop prints innermost first
        mine = ours.get(name)
        for space, tl in lv.spaces.items():
            got = mine.get(roles[space]) if mine is not None else None
            for action in ACTIONS:
                if tl[action] or (got and got[action]):
                    rows.append(Row(f"{name} {space} {action}", tl[action], got[action] if got else None, "words"))
        rows.append(Row(f"{name} energy", lv.total("energy_pj"), energy.get(name) if mine is not None else None, "pJ"))
    rows.append(Row("MAC energy", stats.mac_energy_pj, res.energy_actions_pj["mac"], "pJ"))
    rows.append(Row("total energy", stats.energy_pj, res.energy_pj, "pJ"))
    return Comparison(design, stats, rows, res)

