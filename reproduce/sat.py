"""SAT (Fang et al., arXiv 2309.13015): N:M sparse training with BDWP on the `sat` preset.

For every benchmark model, one training step (forward, backward-data, weight-gradient GEMMs
and the overlapped N:M mask pre-generation, sim/training.py) is costed dense and at each N:M
pattern; the speedup is dense step cycles / sparse step cycles on the same accelerator, which is
what the SAT abstract's "2:8 gives 1.75x on average over dense training" compares. At 2:8 each
dataflow optimization that the model can switch off is switched off in turn (ablations).

Choices the paper's reachable text does not fix (docs/REPRODUCTION.md lists them all):
* benchmark models: `MODELS` below (assumed; the paper's list is not in reach);
* N:M ratios: `PATTERNS` (2:8 from the abstract, the others assumed);
* every GEMM of a phase gets the mapping the heuristic mapper finds before the run, our stand-in
  for SAT's "offline scheduling"; the dense baseline gets the same treatment.
"""
from __future__ import annotations

import statistics

from nmsim.accel import load_arch
from nmsim.sim import backend_for
from nmsim.sim.training import PHASES, training_step
from nmsim.workloads import zoo

from .algorithm import run_algorithm
from .common import MAPPER, preset_summary, shape_key, unique_ops
from .papers import Progress, figure, load_papers, stage

# assumed: common N:M-training benchmarks (ImageNet CNNs and transformers); batch 8 per step
MODELS: tuple[tuple[str, dict], ...] = (
    ("resnet18", {"batch": 8, "image_size": 224}),
    ("resnet50", {"batch": 8, "image_size": 224}),
    ("vgg16", {"batch": 8, "image_size": 224}),
    ("vit-b16", {"batch": 8, "image_size": 224}),
    ("bert-base", {"batch": 8, "seq_len": 128}),
)
PATTERNS = ("2:4", "2:8", "2:16")       # 2:8: SAT abstract; 2:4 and 2:16 assumed (M halved, doubled)
HEADLINE = "2:8"
# Relative tolerance on the 2:8 average, chosen once (docs/REPRODUCTION.md, "Tolerance"): with the
# weight gradient dense, BDWP 2:8 cannot beat 3 / (2 * 2/8 + 1) = 2.0x, which is 1.14x the paper's
# 1.75x; utilization losses the model cannot know (the paper's layers, DDR stalls on the board)
# move the figure by as much in the other direction.
TOLERANCE = 0.15

ABLATIONS = (
    ("bdwp", "BDWP (N:M backward-data GEMM)", True,
     "--no-bdwp: the backward-data GEMM keeps the forward mask, grouped along its N; the K-indexed "
     "datapath runs it dense"),
    ("pregen", "pre-generation of N:M weights", True,
     "off: the next step's top-N selection runs after the three phases instead of under them "
     "(step = fwd + bwd + wgrad + pregen instead of max(fwd + bwd + wgrad, pregen))"),
    ("schedule", "offline scheduling", True,
     "stand-in: every GEMM of every phase runs the heuristic mapper's mapping, found before the run; "
     "off: the default mapping (docs/MODEL.md 4). SAT's own scheduling algorithm is not in reach"),
    ("interleave", "interleave mapping", False,
     "not modelled: the paper's definition is not in reach and the array model has no mapping "
     "that interleaves dense and sparse operands"),
)


class PhaseCosts:
    """Each distinct phase GEMM costed once per run (the fast systolic backend, mapper `MAPPER`
    or the default mapping). The weight gradient of a layer is the same dense GEMM at every
    pattern and in every ablation, so a run of six steps per model searches a third fewer
    mappings. Exact: the cost model is deterministic and ops compare by every field but their name."""

    def __init__(self, arch) -> None:
        self.arch, self._seen = arch, {}
        self.backends = {mapper: backend_for(arch, mapper=mapper) for mapper in (MAPPER, None)}

    def __call__(self, op, mapper: str | None):
        key = (shape_key(op), mapper)
        if key not in self._seen:
            self._seen[key] = self.backends[mapper].cost(op)
        return self._seen[key]


def step(costs: PhaseCosts, wl, counts: list[int], pattern: str, bdwp: bool = True,
         mapper: str | None = MAPPER) -> dict:
    """One training step of the de-duplicated workload (cycles, s, MACs), totals weighted by
    layer counts: each layer's step is sim.training.training_step, the composition
    sim.training.simulate_training_op uses (docs/MODEL.md 10; the test suite checks they agree)."""
    arch = costs.arch
    phases = {ph: 0.0 for ph in PHASES}
    tot = {"cycles": 0.0, "pregen_cycles": 0.0, "pregen_exposed_cycles": 0.0, "macs_dense": 0.0, "macs_effective": 0.0}
    backend = costs.backends[mapper]
    for op, n in zip(wl.ops, counts):
        st = training_step(backend, op, pattern, bdwp, cost=lambda o: costs(o, mapper))
        for ph, r in st.phases.items():
            phases[ph] += n * r.cycles
        tot["cycles"] += n * st.cycles
        tot["pregen_cycles"] += n * st.pregen_cycles
        tot["pregen_exposed_cycles"] += n * (st.cycles - st.run_cycles)
        tot["macs_dense"] += n * sum(r.macs_dense for r in st.phases.values())
        tot["macs_effective"] += n * sum(r.macs_effective for r in st.phases.values())
    return {**tot, "latency_s": tot["cycles"] / arch.clock_hz, "phase_cycles": phases,
            "serial_pregen_cycles": sum(phases.values()) + tot["pregen_cycles"]}


def _row(model: str, label: str, pattern: str, dense: dict, sp: dict) -> dict:
    speedup = dense["cycles"] / sp["cycles"]
    ideal = sp["macs_dense"] / sp["macs_effective"]     # work ratio: the speedup at equal utilization
    return {"model": model, "workload": label, "pattern": pattern,
            "dense_step_cycles": int(dense["cycles"]), "step_cycles": int(sp["cycles"]),
            "dense_step_s": dense["latency_s"], "step_s": sp["latency_s"],
            "speedup": speedup, "ideal_speedup": ideal, "efficiency": speedup / ideal,
            "dense_phase_cycles": {k: int(v) for k, v in dense["phase_cycles"].items()},
            "phase_cycles": {k: int(v) for k, v in sp["phase_cycles"].items()},
            "pregen_cycles": int(sp["pregen_cycles"]), "pregen_exposed_cycles": int(sp["pregen_exposed_cycles"]),
            "paper_speedup": None}


def _simulate_models(arch, progress: Progress | None) -> tuple[list[dict], dict]:
    """Rows (model x pattern) and the 2:8 ablation runs per model."""
    rows, ablation_runs = [], {}
    total = len(MODELS) * (len(PATTERNS) + 3)
    costs = PhaseCosts(arch)
    done = 0
    for name, params in MODELS:
        full = zoo.build(name, **params)
        wl, counts = unique_ops(full)

        def run(what: str, *args, **kw) -> dict:
            nonlocal done
            stage(progress, f"SAT: {full.name} {what}", done, total)
            out = step(costs, wl, counts, *args, **kw)
            done += 1
            return out

        dense = run("dense step", "dense")
        steps = {p: run(f"{p} step", p) for p in PATTERNS}
        rows += [_row(name, full.name, p, dense, steps[p]) for p in PATTERNS]
        head = steps[HEADLINE]
        no_bdwp = run(f"{HEADLINE} without BDWP", HEADLINE, bdwp=False)
        no_sched = run(f"{HEADLINE} with default mappings", HEADLINE, mapper=None)
        # the pre-generation ablation needs no run: it re-adds the hidden selection cycles
        ablation_runs[name] = {"bdwp": no_bdwp["cycles"], "pregen": head["serial_pregen_cycles"],
                               "schedule": no_sched["cycles"], "full": head["cycles"], "dense": dense["cycles"]}
    stage(progress, "SAT: simulation done", total, total)
    return rows, ablation_runs


def _ablations(runs: dict) -> list[dict]:
    out = []
    for key, name, modelled, how in ABLATIONS:
        entry = {"optimization": name, "modelled": modelled, "how": how, "paper_contribution": None}
        if modelled:
            per = {m: {"speedup_without": r["dense"] / r[key], "contribution": r[key] / r["full"]}
                   for m, r in runs.items()}
            entry["per_model"] = per
            # ratios: averaged geometrically, so one model's outlier does not set the figure
            entry["geomean_speedup_without"] = statistics.geometric_mean(v["speedup_without"] for v in per.values())
            entry["geomean_contribution"] = statistics.geometric_mean(v["contribution"] for v in per.values())
        out.append(entry)
    return out


def run_sat(quick: bool = False, algorithm: bool = True, progress: Progress | None = None) -> dict:
    """The SAT reproduction (module docstring) as the `nmsim reproduce sat --json` dict.

    `quick` shortens only the algorithm experiments (fewer epochs, seeds and sentences); the
    simulated speedups are always complete. `algorithm=False` skips those experiments.
    """
    papers = load_papers()["sat"]
    arch = load_arch("sat")
    rows, runs = _simulate_models(arch, progress)
    by_pattern = {p: [r["speedup"] for r in rows if r["pattern"] == p] for p in PATTERNS}
    avg = statistics.fmean(by_pattern[HEADLINE])
    paper_avg = figure("sat", "average_speedup_2_8")
    out = {
        "paper": {"title": papers["title"], "venue": papers["venue"], "reachable": papers["reachable"],
                  "figures": papers["figures"]},
        "preset": preset_summary(arch),
        "preset_changes": "none: the reachable text gives no microarchitectural number beyond the board",
        "models": [{"model": m, "params": p} for m, p in MODELS],
        "patterns": list(PATTERNS),
        "mapper": MAPPER,
        "rows": rows,
        "average_speedup": {p: statistics.fmean(v) for p, v in by_pattern.items()},
        "geomean_speedup": {p: statistics.geometric_mean(v) for p, v in by_pattern.items()},
        "average_speedup_2_8": avg,
        "paper_average_speedup_2_8": paper_avg,
        "tolerance": TOLERANCE,
        "relative_error_2_8": avg / paper_avg - 1.0,
        "within_tolerance": abs(avg / paper_avg - 1.0) <= TOLERANCE,
        "ablations": _ablations(runs),
    }
    if algorithm:
        out["algorithm"] = run_algorithm(arch, PATTERNS, quick, progress)
    return out
