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

import math
from dataclasses import replace

from nmsim.accel import Arch
from nmsim.mapping import plan_sparsity
from nmsim.specfile import SpecError
from nmsim.workloads import DENSE, Op, Sparsity, Workload

from .hw import HwParams
from .results import LayerResult, RunResult
from .simulate import bottleneck, peak_macs_per_cycle, simulate_op

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


def pregen_cycles(arch: Arch, fwd: Op, bwd: Op) -> int:
    """Cycles of SAT's N:M mask pre-generation for the next step (cycles): top-N selection over
    every group of M weights of each executed N:M direction, one group per cycle per selector,
    with as many selectors as array columns (assumed). 0 when nothing runs N:M or on a GPU."""
    if arch.kind != "systolic":
        return 0
    groups = 0
    for o in (fwd, bwd):
        plan = plan_sparsity(arch, o)
        if plan.kind == "nm":
            groups += o.batch * o.N * math.ceil(o.K / plan.m)
    return math.ceil(groups / arch.compute.cols)


def simulate_training_op(arch: Arch, op: Op, pattern: Sparsity | str | None = None, bdwp: bool = True,
                         hw: HwParams | None = None, dataflow: str | None = None, mapper: str | None = None,
                         objective: str = "latency") -> LayerResult:
    """Cost one training step of `op`: the three phases with `simulate_op` (fast model), plus
    mask pre-generation overlapped with them (exposed only beyond their summed cycles).

    Cycles, bytes, MACs and energy (pJ) of the step are the phases' sums; `phases` holds each
    phase's figures and `pregen_cycles`. Static energy of exposed pre-generation cycles is not
    added (the selectors' energy is not modelled).
    """
    ops = training_ops(op, pattern, bdwp)
    res = {ph: simulate_op(arch, o, None, hw, dataflow, mapper, objective) for ph, o in zip(PHASES, ops)}
    run = sum(r.cycles for r in res.values())
    pregen = pregen_cycles(arch, ops[0], ops[1])
    cycles = max(run, pregen)
    levels: dict[str, float] = {}
    for r in res.values():
        for k, v in r.bytes.items():
            levels[k] = levels.get(k, 0.0) + v
    macs_eff = sum(r.macs_effective for r in res.values())
    breakdown = {k: sum(r.cycle_breakdown.get(k, 0.0) for r in res.values())
                 for k in res["fwd"].cycle_breakdown}
    breakdown.update(pregen_cycles=float(pregen), pregen_exposed_cycles=float(cycles - run))
    if not bdwp and ops[1].weight_sparsity.kind == "nm" and res["bwd"].executed_sparsity == "dense":
        # one note for the run instead of one per layer: this is what --no-bdwp means
        res["bwd"].notes = [f"without BDWP the backward-data weights keep the forward mask, grouped along that "
                            f"GEMM's N; {arch.name}'s K-indexed datapath runs them dense"]
    notes = list(dict.fromkeys(n for r in res.values() for n in r.notes))
    phases: dict = {ph: {"M": r.M, "N": r.N, "K": r.K, "sparsity": r.sparsity, "executed_sparsity": r.executed_sparsity,
                         "cycles": r.cycles, "macs_effective": r.macs_effective, "energy_pj": r.energy_pj,
                         "cycle_breakdown": r.cycle_breakdown, "bottleneck": r.bottleneck, "mapping": r.mapping}
                    for ph, r in res.items()}
    phases["pregen_cycles"] = pregen
    return LayerResult(
        name=op.name, op=op.kind, M=op.M, N=op.N, K=op.K, batch=op.batch,
        sparsity=str(ops[0].weight_sparsity),
        executed_sparsity="/".join(res[ph].executed_sparsity for ph in PHASES),
        cycles=cycles, latency_s=cycles / arch.clock_hz,
        utilization=macs_eff / (cycles * peak_macs_per_cycle(arch)),
        macs_dense=sum(r.macs_dense for r in res.values()), macs_effective=macs_eff, bytes=levels,
        energy_pj=sum(r.energy_pj for r in res.values()),
        energy_breakdown_pj={k: sum(r.energy_breakdown_pj.get(k, 0.0) for r in res.values())
                             for k in res["fwd"].energy_breakdown_pj},
        cycle_breakdown=breakdown, mapping=None, notes=notes,
        bottleneck=bottleneck(breakdown) if "compute_cycles" in breakdown else res["fwd"].bottleneck,
        phases=phases,
    )


def simulate_training(arch: Arch, workload: Workload, sparsity: Sparsity | str | None = None, bdwp: bool = True,
                      dataflow: str | None = None, mapper: str | None = None, objective: str = "latency",
                      progress=None) -> RunResult:
    """One training step of every op of `workload` (`simulate_training_op`); `sparsity` overrides
    the forward weight pattern of every weighted op. `progress(done, total)` after each op.
    Masks are not used: BDWP recomputes them every step."""
    if sparsity is not None and isinstance(sparsity, str):
        sparsity = Sparsity.parse(sparsity)
    if sparsity is not None and sparsity.kind == "nm" and sparsity.axis != "K":
        raise SpecError(f"--training: the forward pattern must group along K (got {sparsity})")
    hw = HwParams.from_arch(arch) if arch.kind == "systolic" else None
    layers = []
    for i, op in enumerate(workload.ops):
        layers.append(simulate_training_op(arch, op, sparsity, bdwp, hw, dataflow, mapper, objective))
        if progress:
            progress(i + 1, len(workload.ops))
    label = str(sparsity) if sparsity is not None else "as-given"
    return RunResult(arch=arch.name, workload=f"{workload.name} training step{'' if bdwp else ' (no BDWP)'}",
                     sparsity=label, layers=layers, clock_hz=arch.clock_hz, peak_macs_per_cycle=peak_macs_per_cycle(arch))
