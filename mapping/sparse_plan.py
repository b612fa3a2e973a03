"""Which sparsity pattern the hardware actually executes for an op's weights.

Policy (docs/MODEL.md, "Unsupported patterns"):
* a supported N:M runs as itself;
* an N:M the hardware lacks runs as the sparsest supported N':M' that every N:M tensor also
  satisfies (1:8 runs as 2:8 on a 2:8 array, or as 2:4 on a 2:4-only array), with a note;
* with no compatible pattern (or for block sparsity, N:M along N, or unstructured sparsity on
  hardware without unstructured support) the op runs dense, with a note naming preset and pattern;
* K that M does not divide is padded up to whole groups, with a note.

The plan also says which operands stay on chip between ops (`resident`, docs/MODEL.md 3.10): on an
arch whose outermost input/output level keeps activations, an op's activation tensors (inputs,
outputs, and the second operand of an attention matmul) are resident when they fit there beside
the smallest mapping's tile; otherwise they go through DRAM, with a note. And how the arch stores
activations (docs/MODEL.md 3.11): a conv's inputs as distinct pixels where the outermost input
level stores feature maps, and run-length coded in DRAM where the DRAM codes activations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

from nmsim.accel import Arch
from nmsim.problem import Gemm, resident_bytes
from nmsim.workloads import Op


@dataclass(frozen=True)
class SparsePlan:
    """The executed weight pattern: `n` of every `m` weights are processed (n == m: dense)."""

    n: int = 1
    m: int = 1
    index_bits: int = 0
    density: float = 1.0  # fraction of weight work kept (n/m, or 1 - zeros for unstructured)
    kind: str = "dense"   # dense | nm | unstructured
    note: str | None = None
    # Unstructured with a mask: fraction of K the busiest lane of a fold processes (sim.imbalance);
    # None = ideal balance. Only compute cycles use it.
    busy_k_scale: float | None = None
    # operands ("A", "B", "out") kept on chip across ops (docs/MODEL.md 3.10), and why not when they
    # could not be
    resident: frozenset = frozenset()
    residency_note: str | None = None
    # how A and the outputs are stored (docs/MODEL.md 3.11): distinct pixels over im2col elements of A
    # where feature maps are stored, and DRAM bytes over dense bytes of A and of the final outputs
    a_unique: float = 1.0
    a_dram_scale: float = 1.0
    out_dram_scale: float = 1.0

    @property
    def notes(self) -> list[str]:
        """The plan's notes for a result: the sparsity policy's and the residency's."""
        return [n for n in (self.note, self.residency_note) if n]

    @property
    def label(self) -> str:
        """Human form of the executed pattern ('dense', '2:8', 'unstructured:0.9')."""
        if self.kind == "nm":
            return f"{self.n}:{self.m}"
        if self.kind == "unstructured":
            return f"unstructured:{1 - self.density:g}"
        return "dense"


def executed_gemm(op: Op, plan: SparsePlan) -> Gemm:
    """The GEMM the hardware executes for `op` under `plan` (problem.Gemm): the op's dimensions,
    batch and activation density with the plan's N:M, index bits and, for unstructured
    sparsity, the kept fraction of K (and the busiest lane's, when a mask set it)."""
    unstructured = plan.kind == "unstructured"
    return Gemm(M=op.M, N=op.N, K=op.K, batch=op.batch, n=plan.n, m=plan.m, index_bits=plan.index_bits,
                k_scale=plan.density if unstructured else None,
                k_scale_busy=plan.busy_k_scale if unstructured else None, act_density=op.act_density,
                resident=plan.resident, a_unique=plan.a_unique, a_dram_scale=plan.a_dram_scale,
                out_dram_scale=plan.out_dram_scale)


def plan_sparsity(arch: Arch, op: Op) -> SparsePlan:
    """Decide how `arch` executes `op`'s weight sparsity, and which operands stay on chip (see
    module docstring)."""
    plan = _storage(arch, op, _weight_plan(arch, op))
    level = arch.activation_level()
    if level is None:
        return plan
    lv = arch.memory[level]
    want = frozenset({"A", "out"} | (set() if op.has_weights or "weights" not in lv.holds else {"B"}))
    need = resident_bytes(replace(executed_gemm(op, plan), resident=want), arch.compute.operand_bits / 8)
    if need + arch.fold_footprint(level) <= lv.capacity_bytes:
        return replace(plan, resident=want)
    note = (f"activations of {op.M}x{op.N}x{op.K} ops ({need / 2**20:.1f} MiB) do not fit beside a tile in "
            f"'{lv.name}' ({lv.capacity_bytes / 2**20:.1f} MiB); they go through DRAM")
    return replace(plan, residency_note=note)


def _storage(arch: Arch, op: Op, plan: SparsePlan) -> SparsePlan:
    """`plan` with how the arch stores A and the outputs (docs/MODEL.md 3.11)."""
    unique = op.input_pixel_fraction if arch.stores_feature_maps() else 1.0
    a_dram = unique * arch.dram_coded_fraction(op.act_density)
    out_dram = arch.dram_coded_fraction(op.out_density)
    if (unique, a_dram, out_dram) == (1.0, 1.0, 1.0):
        return plan
    return replace(plan, a_unique=unique, a_dram_scale=a_dram, out_dram_scale=out_dram)


def _weight_plan(arch: Arch, op: Op) -> SparsePlan:
    sp = op.weight_sparsity
    if sp.is_dense:
        return SparsePlan()
    support = arch.sparsity
    if sp.kind == "nm":
        if sp.axis != "K":
            return SparsePlan(note=f"{arch.name}: N:M grouped along {sp.axis} is not exploited by the "
                                   f"K-indexed datapath; {op.name} runs dense")
        if support.nm is None:
            return SparsePlan(note=f"{arch.name} has no N:M support; {sp} runs dense")
        pairs = support.nm.pairs()
        usable = [(n, m) for n, m in pairs if sp.satisfies(n, m) and n < m]
        if not usable:
            return SparsePlan(note=f"{arch.name} supports {', '.join(support.nm.patterns)}; "
                                   f"{sp} fits none of them and runs dense")
        n, m = min(usable, key=lambda nm: (nm[0] / nm[1], nm[1]))
        notes = []
        if (n, m) != (sp.n, sp.m):
            notes.append(f"{arch.name} lacks {sp}; runs as {n}:{m}")
        if op.K % m:
            notes.append(f"{op.name}: K={op.K} padded to {math.ceil(op.K / m) * m} for {n}:{m} groups")
        return SparsePlan(n=n, m=m, index_bits=support.nm.bits_per_nonzero(m), density=n / m,
                          kind="nm", note="; ".join(notes) or None)
    if sp.kind == "unstructured":
        if support.unstructured is None:
            return SparsePlan(note=f"{arch.name} has no unstructured-sparsity support; {sp} runs dense")
        return SparsePlan(index_bits=support.unstructured.index_bits, density=sp.density,
                          kind="unstructured",
                          note=f"{op.name}: unstructured sparsity costed with ideal load balance")
    return SparsePlan(note=f"{arch.name} has no support for {sp}; runs dense")
