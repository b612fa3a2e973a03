"""One training step per layer: forward, backward-data and weight-gradient GEMMs, with SAT's
bidirectional weight pruning (BDWP) and its N:M mask pre-generation (docs/MODEL.md 10).

For a layer `out[M,N] = X[M,K] . W[K,N]` the step runs three GEMMs (dims as M x N x K):

* fwd   `X . W`              M x N x K, weights N:M along K (the input channels);
* bwd   `dY[M,N] . W^T`      M x K x N, the weight side W^T reduced over N. With BDWP W is pruned
  N:M along the output channels, i.e. along this GEMM's reduction dim, so the N:M datapath runs
  it; without BDWP the forward mask lies along the new output dim and the GEMM runs dense;
* wgrad `X^T[K,M] . dY`      K x N x M, dense (both operands are activations or gradients).

Attention matmuls (no weights) get the same three shapes, all dense.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from nmsim.accel import Arch
from nmsim.specfile import SpecError
from nmsim.workloads import DENSE, Op, Sparsity, Workload

from .backend import CostBackend
from .backends import backend_for
from .results import LayerResult, RunResult
from .systolic import bottleneck

PHASES = ("fwd", "bwd", "wgrad")


def training_ops(op: Op, pattern: Sparsity | str | None = None, bdwp: bool = True) -> tuple[Op, Op, Op]:
    """(fwd, bwd, wgrad) GEMM ops of one training step of `op` (module docstring).

    `pattern` (default: the op's own) is the forward weight pattern. `bdwp` prunes W^T of the
    backward-data GEMM N:M along its reduction dim (SAT); without it the backward weight keeps
    the forward mask, grouped along that GEMM's N axis (`N:M@N`, which a K-indexed datapath
    runs dense). Activation density: fwd keeps the op's, wgrad's A operand X^T too; bwd's A
    operand is the output gradient, taken as dense.
    """
    sp = op.weight_sparsity if pattern is None else (Sparsity.parse(pattern) if isinstance(pattern, str) else pattern)
    if not op.has_weights:
        sp = DENSE
    fwd = replace(op, name=f"{op.name}.fwd", weight_sparsity=sp)
    if sp.kind == "nm":
        bwd_axis = "K" if bdwp or sp.axis == "N" else "N"
        bwd_sp = Sparsity(kind="nm", n=sp.n, m=sp.m, axis=bwd_axis, density=sp.density)
    else:
        bwd_sp = sp  # dense, or an unstructured/block mask: W^T has the same density
    kind = "gemm" if op.has_weights else op.kind
    bwd = Op(name=f"{op.name}.bwd", kind=kind, M=op.M, N=op.K, K=op.N, batch=op.batch,
             weight_sparsity=bwd_sp)
    wgrad = Op(name=f"{op.name}.wgrad", kind=kind, M=op.K, N=op.N, K=op.M, batch=op.batch,
               act_density=op.act_density)
    return fwd, bwd, wgrad


@dataclass
class TrainingStep:
    """One training step of one layer: the three phases' results and the mask pre-generation."""

    ops: tuple[Op, Op, Op]
    phases: dict[str, LayerResult]   # fwd, bwd, wgrad
    pregen_cycles: int               # SAT's top-N selection for the next step (cycles)

    @property
    def run_cycles(self) -> int:
        """fwd + bwd + wgrad (cycles)."""
        return sum(r.cycles for r in self.phases.values())

    @property
    def cycles(self) -> int:
        """The step: pre-generation overlaps the phases and is exposed only beyond them (cycles)."""
        return max(self.run_cycles, self.pregen_cycles)


def training_step(backend: CostBackend, op: Op, pattern: Sparsity | str | None = None, bdwp: bool = True,
                  cost: Callable[[Op], LayerResult] | None = None) -> TrainingStep:
    """The training step of `op` (docs/MODEL.md 10): its three phase GEMMs costed by `cost`
    (default `backend.cost`; reproductions pass a cached one) and the backend's pre-generation.
    The one composition of a step: `simulate_training_op` and `nmsim reproduce sat` both use it."""
    ops = training_ops(op, pattern, bdwp)
    cost = cost or backend.cost
    return TrainingStep(ops, {ph: cost(o) for ph, o in zip(PHASES, ops)}, backend.pregen_cycles(ops[0], ops[1]))


def pregen_cycles(arch: Arch, fwd: Op, bwd: Op) -> int:
    """Cycles of SAT's N:M mask pre-generation on `arch` (the backend's rule, e.g.
    FastSystolic.pregen_cycles; 0 on GPUs)."""
    return backend_for(arch).pregen_cycles(fwd, bwd)


def _step_result(arch_name: str, clock_hz: float, peak: float, op: Op, step: TrainingStep, bdwp: bool) -> LayerResult:
    """The step as one layer record: cycles = the step, bytes/MACs/energy summed over phases."""
    res = step.phases
    run, cycles = step.run_cycles, step.cycles
    levels: dict[str, float] = {}
    for r in res.values():
        for k, v in r.bytes.items():
            levels[k] = levels.get(k, 0.0) + v
    macs_eff = sum(r.macs_effective for r in res.values())
    breakdown = {k: sum(r.cycle_breakdown.get(k, 0.0) for r in res.values())
                 for k in res["fwd"].cycle_breakdown}
    breakdown.update(pregen_cycles=float(step.pregen_cycles), pregen_exposed_cycles=float(cycles - run))
    if not bdwp and step.ops[1].weight_sparsity.kind == "nm" and res["bwd"].executed_sparsity == "dense":
        # one note for the run instead of one per layer: this is what --no-bdwp means
        res["bwd"].notes = [f"without BDWP the backward-data weights keep the forward mask, grouped along that "
                            f"GEMM's N; {arch_name}'s K-indexed datapath runs them dense"]
    notes = list(dict.fromkeys(n for r in res.values() for n in r.notes))
    phases: dict = {ph: {"M": r.M, "N": r.N, "K": r.K, "sparsity": r.sparsity, "executed_sparsity": r.executed_sparsity,
                         "cycles": r.cycles, "macs_effective": r.macs_effective, "energy_pj": r.energy_pj,
                         "cycle_breakdown": r.cycle_breakdown, "bottleneck": r.bottleneck, "mapping": r.mapping}
                    for ph, r in res.items()}
    phases["pregen_cycles"] = step.pregen_cycles
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(step.ops[0].weight_sparsity),
        executed_sparsity="/".join(res[ph].executed_sparsity for ph in PHASES),
        cycles=cycles, latency_s=cycles / clock_hz,
        utilization=macs_eff / (cycles * peak),
        macs_dense=sum(r.macs_dense for r in res.values()), macs_effective=macs_eff, bytes=levels,
        energy_pj=sum(r.energy_pj for r in res.values()),
        energy_breakdown_pj={k: sum(r.energy_breakdown_pj.get(k, 0.0) for r in res.values())
                             for k in res["fwd"].energy_breakdown_pj},
        cycle_breakdown=breakdown, mapping=None, notes=notes,
        bottleneck=bottleneck(breakdown) if "compute_cycles" in breakdown else res["fwd"].bottleneck,
        phases=phases,
    )


def simulate_training_op(arch: Arch, op: Op, pattern: Sparsity | str | None = None, bdwp: bool = True, *,
                         dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                         backend: CostBackend | None = None) -> LayerResult:
    """Cost one training step of `op`: the three phases (fast model), plus mask pre-generation
    overlapped with them (exposed only beyond their summed cycles).

    Cycles, bytes, MACs and energy (pJ) of the step are the phases' sums; `phases` holds each
    phase's figures and `pregen_cycles`. Static energy of exposed pre-generation cycles is not
    added (the selectors' energy is not modelled).
    """
    backend = backend or backend_for(arch, dataflow=dataflow, mapper=mapper, objective=objective)
    step = training_step(backend, op, pattern, bdwp)
    return _step_result(arch.name, arch.clock_hz, arch.peak_macs_per_cycle, op, step, bdwp)


def simulate_training(arch: Arch, workload: Workload, sparsity: Sparsity | str | None = None, bdwp: bool = True, *,
                      dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                      progress: Callable[[int, int], None] | None = None) -> RunResult:
    """One training step of every GEMM op of `workload` (`simulate_training_op`); `sparsity`
    overrides the forward weight pattern of every weighted op. `progress(done, total)` after each
    op. Masks are not used: BDWP recomputes them every step. Non-GEMM ops are not costed in
    training (a note says so)."""
    if sparsity is not None and isinstance(sparsity, str):
        sparsity = Sparsity.parse(sparsity)
    if sparsity is not None and sparsity.kind == "nm" and sparsity.axis != "K":
        raise SpecError(f"training: the forward pattern must group along K (got {sparsity})")
    backend = backend_for(arch, dataflow=dataflow, mapper=mapper, objective=objective)
    layers = []
    for i, op in enumerate(workload.ops):
        layers.append(simulate_training_op(arch, op, sparsity, bdwp, backend=backend))
        if progress:
            progress(i + 1, len(workload.ops))
    if workload.nongemm and layers:
        layers[0].notes.append(f"training step: the workload's {len(workload.nongemm)} non-GEMM ops (norms, softmax, "
                               "activations, ...) are not costed; only the GEMMs' phases are (docs/MODEL.md 10)")
    label = str(sparsity) if sparsity is not None else "as-given"
    return RunResult(arch=arch.name, workload=f"{workload.name} training step{'' if bdwp else ' (no BDWP)'}",
                     sparsity=label, layers=layers, clock_hz=arch.clock_hz, peak_macs_per_cycle=arch.peak_macs_per_cycle)
