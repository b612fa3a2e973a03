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

SCALE-Sim's memory stalls (USER-bandwidth DRAM refills, a full ofmap SRAM) are added by replaying its
memory system (sim/scalesim_bw.py, docs/MODEL.md 8.2); where that replay is approximate or cannot run
(custom layouts, Ramulator, OptimizedMapping in USER mode) the layer's note says so. Bytes and
energy are nmsim's own model of the same layer on `accel.scalesim.scalesim_arch(cfg)`, and nmsim's
own cycle estimate stays in `cycle_breakdown["nmsim_cycles"]`. Non-GEMM operators are not costed:
SCALE-Sim models none (a topology holds only GEMM and conv layers), so a workload's norms or
activations get a zero-cost layer with a note rather than numbers SCALE-Sim never produces.
"""
from __future__ import annotations

from dataclasses import replace

from nmsim.accel.scalesim import ScaleSimConfig, scalesim_arch
from nmsim.mapping import Candidates, Mapping, check_mapping
from nmsim.problem import Gemm
from nmsim.specfile import SpecError
from nmsim.workloads import NonGemmOp, Op

from .analytic import gemm_cost
from .hw import HwParams
from .results import LayerResult
from .scalesim_bw import NotReproduced, not_reproduced, scalesim_memory_cycles
from .systolic import FastSystolic
from .vector import uncosted_nongemm

COMPAT_NOTE = ("SCALE-Sim compatibility: cycles = SCALE-Sim 3.0.0 'Total Cycles' (whole-layer schedule with "
               "its memory stalls, counted as the last cycle's index, one less than the cycle count); nmsim's "
               "own estimate is cycle_breakdown['nmsim_cycles']")


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


TOO_LOW = "SCALE-Sim would add stall cycles that are not modelled: cycles may be far too low"


def _is_gemm_for_scalesim(op: Op) -> bool:
    """True when SCALE-Sim's operand matrices of `op` are a GEMM's: every ifmap address distinct
    (a GEMM row, or a conv whose filter is 1x1)."""
    return op.kind != "conv2d" or (op.conv is not None and op.conv.kernel == 1 and op.K == op.conv.in_ch)


def _conv_note(cfg: ScaleSimConfig, op: Op, M: int, stall_free: int, total: int) -> str | None:
    """What the replay of a conv's im2col GEMM is worth against SCALE-Sim's own count (measured by
    benchmarks/bench_scalesim_bw.py, group X; docs/MODEL.md 8.3), or None where it is exact."""
    if not cfg.user_bandwidth:
        return None   # CALC: reads never stall, the ofmap writes are the GEMM's
    bounds = f"SCALE-Sim's count lies between the stall-free {stall_free} and {total} cycles"
    if M != op.M:
        return (f"{op.name}: not reproduced: SCALE-Sim's partial edge windows (the stride does not divide ifmap - "
                "filter) read invalid ifmap addresses; the replay of the GEMM measured 22% below to 180% above "
                "SCALE-Sim, so cycles may be too low")
    if _is_gemm_for_scalesim(op):
        return None
    if cfg.dataflow == "is":
        return (f"{op.name}: an upper bound: SCALE-Sim's input-stationary read buffers hit the repeated ifmap "
                "addresses of overlapping conv windows, which the replay of the im2col GEMM reads again "
                f"(measured up to 8.8x above SCALE-Sim); {bounds}")
    return (f"{op.name}: approximate: SCALE-Sim's read buffers hit the repeated ifmap addresses of a conv with a "
            "filter larger than 1x1, which the replay of the im2col GEMM reads again (measured within 0.2%)")


# The stall replay keeps a few int64s per row of SCALE-Sim's cycle grid (about one row per stall-free
# cycle): 2^24 rows is under a GiB and a few seconds; SCALE-Sim itself runs such a layer for hours.
MAX_REPLAY_CYCLES = 1 << 24


def scalesim_stalled_cycles(cfg: ScaleSimConfig, op: Op, stall_free: int, M: int | None = None) -> tuple[int, int, str | None]:
    """(Total Cycles, Stall Cycles, note) of `op` as SCALE-Sim 3.0.0 counts them with its memory
    stalls (sim/scalesim_bw.py); `stall_free` is the count without stalls, `M` SCALE-Sim's own output
    rows. Where the replay is not exact the note says how far off it can be; where it cannot run the
    stall-free count comes back with a note that it may be far too low, never silently."""
    why = not_reproduced(cfg)
    if why:
        return stall_free, 0, f"{cfg.source}: {why}; cycles are the stall-free count, and {TOO_LOW}"
    if stall_free > MAX_REPLAY_CYCLES:
        return stall_free, 0, (f"{op.name}: {stall_free:,} cycles: the stall replay runs row by row and stops at "
                               f"{MAX_REPLAY_CYCLES:,} (memory and time); cycles are the stall-free count, and {TOO_LOW}")
    m = M or op.M
    try:
        r = scalesim_memory_cycles(cfg, m, op.N, scalesim_executed_k(cfg, op))
    except NotReproduced as exc:
        return stall_free, 0, f"{op.name}: {exc}; cycles are the stall-free count, and {TOO_LOW}"
    return r.total_cycles, r.stall_cycles, _conv_note(cfg, op, m, stall_free, r.total_cycles)


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
        mapping in the same dataflow (SCALE-Sim streams through its SRAMs; our tiles must fit), else,
        when not even the smallest tile fits (small SRAMs on a large array), the whole-layer tile
        regardless, with a note."""
        whole = Mapping(self.cfg.dataflow, op.M, op.N, op.K, "nmk")
        try:
            check_mapping(self.arch, op, whole)
        except SpecError:
            try:
                return FastSystolic(self.arch, hw=self.own.hw, dataflow=self.cfg.dataflow).cost(op)
            except SpecError:
                r = self.own.cost(op, whole, check=False)
                return replace(r, notes=[*r.notes, f"{op.name}: not even the smallest tile fits this config's SRAMs "
                                         "in nmsim's own model; its bytes, energy and nmsim_cycles are of the "
                                         "whole-layer tile, as if the SRAMs held it"])
        return self.own.cost(op, whole)

    def cost(self, op: Op, mapping: Mapping | None = None, mask=None) -> LayerResult:
        """SCALE-Sim's cycles for `op` (stall-free), nmsim's estimate in `cycle_breakdown`; the
        config's and topology's notes travel on the first op costed."""
        if mapping is not None:
            raise SpecError("SCALE-Sim compatibility runs SCALE-Sim's own whole-layer schedule; it takes no mapping")
        own = self._own_estimate(op)
        stall_free = scalesim_total_cycles(self.cfg, op, self.own.hw, self.scalesim_m.get(op.name))
        notes = [COMPAT_NOTE, *self.first_notes, *own.notes]
        self.first_notes = []
        total, stalls, note = scalesim_stalled_cycles(self.cfg, op, stall_free, self.scalesim_m.get(op.name))
        if note:
            notes.append(note)
        # SCALE-Sim's cycles run its executed K (OptimizedMapping shrinks even a dense layer's K):
        # utilization counts those MACs, not nmsim's own plan's, or it exceeds 1; and SCALE-Sim's Total
        # Cycles is the index of the last cycle (0-based), so the array ran total + 1 cycles: a 1 x 1 OS
        # array's fold of K MACs reports K - 1 (SCALE-Sim's own "Overall Util" then passes 100 %)
        macs = op.batch * op.M * op.N * scalesim_executed_k(self.cfg, op)
        return replace(
            own, cycles=total, latency_s=total / self.clock_hz, macs_effective=macs,
            utilization=macs / ((total + 1) * self.peak_macs_per_cycle),
            cycle_breakdown={**own.cycle_breakdown, "nmsim_cycles": float(own.cycles),
                             "scalesim_executed_k": float(scalesim_executed_k(self.cfg, op)),
                             "scalesim_stall_free_cycles": float(stall_free),
                             "scalesim_stall_cycles": float(stalls)},
            notes=notes)

    def cost_nongemm(self, op: NonGemmOp) -> LayerResult:
        """A zero-cost layer with a note: SCALE-Sim models no non-GEMM operators (module docstring)."""
        return uncosted_nongemm(op, [*self.own.hw.level_names, "dram"], self.own.hw.operand_bytes,
                                "SCALE-Sim models no non-GEMM operators (norms, softmax, activations, ...): "
                                "not costed in SCALE-Sim compatibility mode")

    def pregen_cycles(self, fwd: Op, bwd: Op) -> int:
        """0: SCALE-Sim models no N:M mask generation (cycles)."""
        return 0
