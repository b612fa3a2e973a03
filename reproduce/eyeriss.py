"""Eyeriss (Chen, Krishna, Emer, Sze; IEEE JSSC 2017): the chip's measured AlexNet and VGG-16 conv
figures beside the `eyeriss` preset's, with no parameter adjusted toward them.

Per network, the conv layers at the paper's batch (AlexNet 4, VGG-16 3). Every op carries the
measured zeros of its ifmap (Tables V, VI: what RLC coding in DRAM and data gating act on) as its
activation density, and the next layer's as its output density (the last layer's output: dense,
the paper gives no figure). The mapping is the heuristic mapper's for energy, because the paper's
mappings come from an offline energy optimization (section IV-A); the default mapping and the
latency objective are kept as sensitivity rows. Compared (papers.yaml): frames/s from the total
latency, 16-bit DRAM accesses per MAC (DRAM bytes / 2 / MACs), chip power (energy without DRAM over
the latency: the paper's power excludes DRAM), and per layer latency and DRAM megabytes.
docs/REPRODUCTION.md explains what comes out.
"""
from __future__ import annotations

from nmsim.accel import load_arch
from nmsim.sim import simulate_workload
from nmsim.workloads import Workload, zoo

from .common import MAPPER, preset_summary
from .papers import Progress, figure, load_papers, stage

PRESET = "eyeriss"
NETWORKS = (("alexnet", {"image_size": 227}), ("vgg16", {"image_size": 224}))
OBJECTIVE = "energy"  # the paper's mappings minimize energy (section IV-A)
TOLERANCE = 0.20      # the bar for throughput and DRAM accesses per MAC
SENSITIVITY = (("default mapping", None, "latency"), ("heuristic, latency objective", MAPPER, "latency"))


def conv_workload(network: str) -> Workload:
    """The network's conv layers at the paper's batch, each with its measured ifmap density and the
    next layer's as its output density (module docstring)."""
    meas = load_papers()["eyeriss"]["layers"][network]
    params = dict(NETWORKS)[network]
    full = zoo.build(network, batch=meas["batch"], **params)
    convs = [op for op in full.ops if op.kind == "conv2d"]
    zeros = meas["zeros_in_ifmap"]
    ops = []
    for i, op in enumerate(convs):
        op = op.with_act_density(1.0 - zeros[op.name])
        if i + 1 < len(convs):
            op = op.with_out_density(1.0 - zeros[convs[i + 1].name])
        ops.append(op)
    return Workload(f"{network} conv (batch {meas['batch']})", ops,
                    f"{network} conv layers with Eyeriss's measured ifmap zeros (JSSC 2017, Tables V-VI)")


def _figures(res, batch: int) -> dict:
    """frames/s, DRAM accesses per MAC, chip power (mW) and totals of one simulated run."""
    tot = res.total
    dram_pj = sum(lr.energy_breakdown_pj["dram"] for lr in res.layers)
    return {"frames_per_s": batch / tot["latency_s"], "latency_s": tot["latency_s"],
            "dram_accesses_per_mac": tot["bytes"]["dram"] / 2 / tot["macs_dense"],
            "dram_mb": tot["bytes"]["dram"] / 1e6, "chip_power_mw": (tot["energy_pj"] - dram_pj) * 1e-12 / tot["latency_s"] * 1e3,
            "chip_pj_per_mac": (tot["energy_pj"] - dram_pj) / tot["macs_dense"],
            "utilization": tot["utilization"], "macs": tot["macs_dense"]}


def _network(arch, network: str, progress: Progress | None, step: tuple[int, int]) -> dict:
    meas = load_papers()["eyeriss"]["layers"][network]
    wl = conv_workload(network)
    stage(progress, f"Eyeriss: {wl.name}, heuristic mapper ({OBJECTIVE})", *step)
    res = simulate_workload(arch, wl, mapper=MAPPER, objective=OBJECTIVE)
    ours = _figures(res, meas["batch"])
    paper = {k: figure("eyeriss", f"{network}_{k}") for k in ("frames_per_s", "dram_accesses_per_mac", "power_mw")}
    compare = {}
    for key, ours_key in (("frames_per_s", "frames_per_s"), ("dram_accesses_per_mac", "dram_accesses_per_mac"),
                          ("power_mw", "chip_power_mw")):
        err = ours[ours_key] / paper[key] - 1
        compare[key] = {"ours": ours[ours_key], "paper": paper[key], "error": err, "within": abs(err) <= TOLERANCE}
    layers = [{"layer": lr.name, "latency_ms": lr.latency_s * 1e3, "paper_latency_ms": meas["latency_ms"][lr.name],
               "dram_mb": lr.bytes["dram"] / 1e6, "paper_dram_mb": meas["dram_mb"][lr.name],
               "power_mw": (lr.energy_pj - lr.energy_breakdown_pj["dram"]) * 1e-12 / lr.latency_s * 1e3,
               "paper_power_mw": meas["power_mw"][lr.name], "bottleneck": lr.bottleneck,
               "utilization": lr.utilization, "mapping": lr.mapping, "energy_actions_pj": lr.energy_actions_pj}
              for lr in res.layers]
    sensitivity = []
    for label, mapper, objective in SENSITIVITY:
        r = _figures(simulate_workload(arch, wl, mapper=mapper, objective=objective), meas["batch"])
        sensitivity.append({"mapping": label, **{k: r[k] for k in ("frames_per_s", "dram_accesses_per_mac",
                                                                     "chip_power_mw")}})
    return {"network": network, "workload": wl.name, "batch": meas["batch"], "ours": ours, "compare": compare,
            "layers": layers, "sensitivity": sensitivity, "layers_cite": meas["cite"]}


def run_eyeriss(progress: Progress | None = None) -> dict:
    """The Eyeriss check (module docstring) as the `nmsim reproduce eyeriss --json` dict."""
    paper = load_papers()["eyeriss"]
    arch = load_arch(PRESET)
    nets = []
    for i, (network, _) in enumerate(NETWORKS):
        nets.append(_network(arch, network, progress, (i, len(NETWORKS))))
    stage(progress, "Eyeriss: done", len(NETWORKS), len(NETWORKS))
    return {"paper": {k: paper[k] for k in ("title", "authors", "venue", "reachable", "measurement", "figures")},
            "preset": preset_summary(arch), "energy_sources": dict(arch.energy.sources),
            "mapper": MAPPER, "objective": OBJECTIVE, "tolerance": TOLERANCE, "networks": nets}
