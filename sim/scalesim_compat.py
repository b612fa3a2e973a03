"""SCALE-Sim compatibility mode: a SCALE-Sim config + topology costed so that each layer's `cycles`
is the number SCALE-Sim 3.0.0 prints as "Total Cycles" in COMPUTE_REPORT.csv.

SCALE-Sim runs every layer as one whole-layer tile in the config's dataflow, folded over the
array: that is our fast model's compute term (docs/MODEL.md 3.2) for the mapping
`(dataflow, M, N, K_exec, "nmk")`. Three conventions of SCALE-Sim are reproduced here (and
OptimizedMapping's K_exec), documented in docs/MODEL.md section 8:

* the reported number is the index of the last cycle, one less than the count of cycles
  (scalesim/memory/double_buffered_scratchpad_mem.py: `total_cycles = max(ofmap serviced cycle)`,
  cycles numbered from 0);
* N:M sparsity shrinks the reduction to `K_exec` rows in every dataflow, without padding the last
  group (`scalesim_executed_k`);
* a strided conv whose stride does not divide (ifmap - filter) gets one more, partial, output
  window per row/column (ScaleSimTopology.scalesim_m).

Stall cycles (USER-bandwidth DRAM limits, custom-layout bank conflicts, Ramulator latencies) are
not reproduced; layers where SCALE-Sim may stall carry a note. Bytes and energy are nmsim's own
model of the same layer on `accel.scalesim.scalesim_arch(cfg)`, and nmsim's own cycle estimate
stays in `cycle_breakdown["nmsim_cycles"]`.
"""
from __future__ import annotations

from dataclasses import replace

from nmsim.accel.scalesim import ScaleSimConfig, scalesim_arch
from nmsim.mapping import Candidates, Mapping, check_mapping
from nmsim.problem import Gemm
from nmsim.specfile import SpecError
from nmsim.workloads import Op

from .analytic import gemm_cost
from .hw import HwParams
from .results import LayerResult
from .systolic import FastSystolic

COMPAT_NOTE = ("SCALE-Sim compatibility: cycles = SCALE-Sim 3.0.0 'Total Cycles' (stall-free whole-layer "
               "schedule, counted as the last cycle's index, one less than the cycle count); nmsim's own "
               "estimate is cycle_breakdown['nmsim_cycles']")


def scalesim_executed_k(cfg: ScaleSimConfig, op: Op) -> int:
    """Rows of the reduction SCALE-Sim streams per filter column for `op` (elements of K).

    Dense: K. N:M with SparsitySupport: `floor(K/M)*N + min(K mod M, N)` (the kept rows of SCALE-Sim's
    fixed first-N-of-every-M mask; the partial last group is not padded). OptimizedMapping (ws
    only): `ceil(K / (2*BlockSize)) * BlockSize`, whatever the topology's N:M says.
    """
    if not cfg.sparsity_support:
        return op.K
    if cfg.optimized_mapping:
        b = cfg.block_size
        return -(-op.K // (2 * b)) * b
    sp = op.weight_sparsity
    if sp.kind != "nm":
        return op.K
    groups, rest = divmod(op.K, sp.m)
    return groups * sp.n + min(rest, sp.n)


def scalesim_total_cycles(cfg: ScaleSimConfig, op: Op, hw: HwParams | None = None, M: int | None = None) -> int:
    """SCALE-Sim's stall-free "Total Cycles" of `op` under `cfg` (cycles, last cycle's index).

    `M`, when given, is SCALE-Sim's own count of output rows (ofmap pixels), which can exceed op.M
    for strided convs (ScaleSimTopology.scalesim_m).
    """
    hw = hw or HwParams.from_arch(scalesim_arch(cfg))
    k = scalesim_executed_k(cfg, op)
    m = M or op.M
    whole = Candidates.from_mappings([Mapping(cfg.dataflow, m, op.N, k, "nmk")])
    r = gemm_cost(hw, Gemm(M=m, N=op.N, K=k), whole)
    return int(r["compute_cycles"][0]) - 1


def _stall_note(cfg: ScaleSimConfig, op: Op) -> str | None:
    """Where SCALE-Sim's USER mode refetches from DRAM mid-layer (an operand overflows its SRAM's
    active half), its stall cycles, which we do not reproduce, can dominate."""
    if not cfg.user_bandwidth:
        return None
    k = scalesim_executed_k(cfg, op)
    need = {"inputs": op.M * k, "weights": k * op.N, "outputs": op.M * op.N}
    over = [f"{o} {w} words > {cfg.sram_active_words(o)}" for o, w in need.items() if w > cfg.sram_active_words(o)]
    if not over:
        return None
    return (f"{op.name}: SCALE-Sim's USER-bandwidth mode may add stall cycles here ({', '.join(over)} of the "
            "SRAM's active half); compatibility mode reports the stall-free count")


class ScaleSimBackend:
    """Costs ops under a SCALE-Sim config: `cycles` = SCALE-Sim 3.0.0's "Total Cycles" (module
    docstring), bytes and energy from nmsim's own model of the same layer on the config's arch.
    `scalesim_m` gives SCALE-Sim's own output-row count per op name where it differs (strided convs)."""

    engine = "fast"
    takes_mappings = False  # SCALE-Sim's whole-layer schedule

    def __init__(self, cfg: ScaleSimConfig, *, nm_patterns=(), scalesim_m: dict | None = None, notes=()):
        self.cfg, self.scalesim_m, self.first_notes = cfg, dict(scalesim_m or {}), list(notes)
        self.arch = scalesim_arch(cfg, nm_patterns)
        self.own = FastSystolic(self.arch)
        self.name, self.clock_hz, self.peak_macs_per_cycle = self.arch.name, self.arch.clock_hz, self.arch.peak_macs_per_cycle

    def _own_estimate(self, op: Op) -> LayerResult:
        """nmsim's model of `op`: SCALE-Sim's whole-layer tile when it fits the SRAMs, else the default
        mapping in the same dataflow (SCALE-Sim streams through its SRAMs; our tiles must fit)."""
        whole = Mapping(self.cfg.dataflow, op.M, op.N, op.K, "nmk")
        try:
            check_mapping(self.arch, op, whole)
        except SpecError:
            return FastSystolic(self.arch, hw=self.own.hw, dataflow=self.cfg.dataflow).cost(op)
        return self.own.cost(op, whole)

    def cost(self, op: Op, mapping: Mapping | None = None, mask=None) -> LayerResult:
        """SCALE-Sim's cycles for `op` (stall-free), nmsim's estimate in `cycle_breakdown`; the
        config's and topology's notes travel on the first op costed."""
        if mapping is not None:
            raise SpecError("SCALE-Sim compatibility runs SCALE-Sim's own whole-layer schedule; it takes no mapping")
        own = self._own_estimate(op)
        total = scalesim_total_cycles(self.cfg, op, self.own.hw, self.scalesim_m.get(op.name))
        notes = [COMPAT_NOTE, *self.first_notes, *own.notes]
        self.first_notes = []
        stall = _stall_note(self.cfg, op)
        if stall:
            notes.append(stall)
        # SCALE-Sim's cycles run its executed K (OptimizedMapping shrinks even a dense layer's K):
        # utilization counts those MACs, not nmsim's own plan's, or it exceeds 1
        macs = op.batch * op.M * op.N * scalesim_executed_k(self.cfg, op)
        return replace(
            own, cycles=total, latency_s=total / self.clock_hz, macs_effective=macs,
            utilization=macs / (max(total, 1) * self.peak_macs_per_cycle),
            cycle_breakdown={**own.cycle_breakdown, "nmsim_cycles": float(own.cycles),
                             "scalesim_executed_k": float(scalesim_executed_k(self.cfg, op))},
            notes=notes)

    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        """0: SCALE-Sim models no N:M mask generation (cycles)."""
        return 0
