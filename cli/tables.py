"""Rich tables for human output (stdout). Machine output goes through --json/--csv instead."""
from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table

from nmsim.sim import RunResult

console = Console(soft_wrap=False, width=140)


def eng(x: float, unit: str = "") -> str:
    """Engineering notation with SI prefix, e.g. 1.23 M."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                          (1e-6, "u"), (1e-9, "n")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}".rstrip()
    return f"{x:.3g} {unit}".rstrip()


def seconds(x: float) -> str:
    """Seconds in a readable unit (s, ms, us)."""
    if x >= 1:
        return f"{x:.3f} s"
    if x >= 1e-3:
        return f"{x * 1e3:.3f} ms"
    return f"{x * 1e6:.2f} us"


def layer_group(name: str) -> str:
    """'layer3.attn.q' -> 'layer#.attn.q': repeated blocks share one summary row (per shape)."""
    return re.sub(r"\d+", "#", name)


def layer_shape(lr) -> str:
    """'MxNxK (xB)' of a GEMM layer, '<kind> RxC (xB)' of a non-GEMM one ('fused' when it runs
    in the GEMM epilogue before it)."""
    batch = f" (x{lr.batch})" if lr.batch > 1 else ""
    if lr.is_nongemm:
        return f"{lr.op}{' fused' if lr.nongemm['fused'] else ''} {lr.M}x{lr.N}{batch}"
    return f"{lr.M}x{lr.N}x{lr.K}{batch}"


def nongemm_caption(res: RunResult) -> str:
    """One line: the non-GEMM operators' share of the run's latency and energy (and how many went
    uncosted); empty when the workload has none."""
    t = res.nongemm_totals()
    if not t["nongemm_layers"]:
        return ""
    line = (f"non-GEMM ops (norms, softmax, activations, adds, embeddings, pooling): {t['nongemm_share']:.1%} of "
            f"latency ({seconds(t['nongemm_latency_s'])}), {t['nongemm_energy_share']:.1%} of energy")
    if t["nongemm_uncosted"]:
        line += f"; {t['nongemm_uncosted']} of {t['nongemm_layers']} not costed on this target (see the notes)"
    return line


def run_table(res: RunResult, per_layer: bool) -> Table:
    """Per-layer (or per-layer-group) table with a total row; `bound` is the dominant cycle term
    (compute, buffer or dram) of the group's first layer. Non-GEMM layers show their kind and
    output shape, and no MAC utilization; the caption gives their share of latency and energy."""
    t = Table(title=f"{res.workload} on {res.arch} (weights: {res.sparsity})", title_justify="left",
              caption=nongemm_caption(res) or None, caption_justify="left")
    for col, just in (("layer" if per_layer else "layer group", "left"), ("count", "right"), ("M x N x K", "right"),
                      ("sparsity", "left"), ("cycles", "right"), ("latency", "right"),
                      ("util", "right"), ("bound", "left"), ("DRAM", "right"), ("energy", "right")):
        t.add_column(col, justify=just)
    rows: dict[str, list] = {}
    for lr in res.layers:
        key = lr.name if per_layer else f"{layer_group(lr.name)} {layer_shape(lr)}"
        r = rows.setdefault(key, [0, lr, 0, 0.0, 0, 0.0, 0.0])
        r[0] += 1
        r[2] += lr.cycles
        r[3] += lr.latency_s
        r[4] += lr.macs_effective
        r[5] += lr.bytes.get("dram", lr.bytes.get("hbm", 0.0))
        r[6] += lr.energy_pj
    peak = res.peak_macs_per_cycle
    for key, (count, lr, cyc, lat, macs, dram, e) in rows.items():
        sp = lr.executed_sparsity if lr.executed_sparsity == lr.sparsity else f"{lr.sparsity}->{lr.executed_sparsity}"
        util = "-" if lr.is_nongemm or not cyc else f"{macs / (cyc * peak):.1%}"
        t.add_row(key.split(" ")[0], str(count), layer_shape(lr), "-" if lr.is_nongemm else sp, f"{cyc:,}",
                  seconds(lat), util, lr.bottleneck, eng(dram, "B"), eng(e * 1e-12, "J"))
    tot = res.total
    t.add_section()
    t.add_row("total", str(len(res.layers)), "", "", f"{tot['cycles']:,}", seconds(tot["latency_s"]),
              f"{tot['utilization']:.1%}", "", eng(tot["bytes"].get("dram", tot["bytes"].get("hbm", 0.0)), "B"),
              eng(tot["energy_pj"] * 1e-12, "J"), style="bold")
    return t


def training_table(res: RunResult, per_layer: bool) -> Table:
    """Training step per layer (or layer group): fwd / bwd / wgrad cycles, mask pre-generation
    cycles (and how many are exposed), step cycles; a total row with the step's latency."""
    t = Table(title=f"{res.workload} on {res.arch} (forward weights: {res.sparsity}; "
                    f"step latency {seconds(res.total['latency_s'])})", title_justify="left")
    cols = ("layer" if per_layer else "layer group", "count", "M x N x K", "executed",
            "fwd", "bwd", "wgrad", "pregen (exposed)", "step cycles")
    for c in cols:
        t.add_column(c, justify="left" if c in (cols[0], cols[3]) else "right")
    rows: dict[str, list] = {}
    tot = [0] * 6
    for lr in res.layers:
        key = lr.name if per_layer else f"{layer_group(lr.name)} {lr.M}x{lr.N}x{lr.K}x{lr.batch}"
        r = rows.setdefault(key, [0, lr, 0, 0, 0, 0, 0, 0])
        vals = [lr.phases[p]["cycles"] for p in ("fwd", "bwd", "wgrad")] + [
            lr.phases["pregen_cycles"], int(lr.cycle_breakdown["pregen_exposed_cycles"]), lr.cycles]
        r[0] += 1
        for i, v in enumerate(vals):
            r[2 + i] += v
            tot[i] += v
    for key, (count, lr, f, b, w, pre, exp, cyc) in rows.items():
        shape = f"{lr.M}x{lr.N}x{lr.K}" + (f" (x{lr.batch})" if lr.batch > 1 else "")
        t.add_row(key.split(" ")[0], str(count), shape, lr.executed_sparsity, f"{f:,}", f"{b:,}", f"{w:,}",
                  f"{pre:,} ({exp:,})", f"{cyc:,}")
    t.add_section()
    t.add_row("total", str(len(res.layers)), "", "", *(f"{v:,}" for v in tot[:3]), f"{tot[3]:,} ({tot[4]:,})",
              f"{tot[5]:,}", style="bold")
    return t
