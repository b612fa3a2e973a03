"""Rich tables for human output (stdout). Machine output goes through --json/--csv instead."""
from __future__ import annotations

import re

from rich import box
from rich.console import Console, Group
from rich.table import Table

from nmsim.sim import RunResult

class _Console(Console):
    """Tables laid out to the width; sentences (plain strings) never hard-wrapped: the terminal
    folds them, and a pipe keeps each on one line for grep."""

    def print(self, *objects, **kwargs) -> None:
        """As rich's; plain strings default to soft wrapping."""
        if objects and all(isinstance(o, str) for o in objects):
            kwargs.setdefault("soft_wrap", True)
        super().print(*objects, **kwargs)


# Width from the terminal (rich: $COLUMNS, else 80 when piped); tables are laid out to stay readable
# at 80 columns (cells wrap, numbers keep their units).
console = _Console(soft_wrap=False)
# progress bars go to stderr (stdout carries the tables) and only to a terminal: piped or captured
# output never gets a bar's redraws or the blank line a transient bar leaves when it stops
_progress_console = Console(stderr=True, soft_wrap=False)


def progress_bar(*, disable: bool = False):
    """A transient rich Progress on stderr, shown on a terminal only (`disable` hides it there too)."""
    from rich.progress import Progress

    return Progress(console=_progress_console, transient=True, disable=disable or not _progress_console.is_terminal)


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


def group_label(names: list[str]) -> str:
    """The row label of a layer group: the name itself for a single layer, else the names with
    only the numbers that differ between them as `#` ('layer1.0.conv1', 'layer1.1.conv1' ->
    'layer1.#.conv1')."""
    if len(set(names)) == 1:
        return names[0]
    parts = [re.split(r"(\d+)", n) for n in names]
    first = parts[0]
    if any(len(p) != len(first) for p in parts):
        return layer_group(names[0])
    return "".join(tok if i % 2 == 0 or all(p[i] == tok for p in parts) else "#" for i, tok in enumerate(first))


def _groups(res: RunResult, per_layer: bool) -> dict[str, list]:
    """Layers by row: one row per layer, or per (name pattern, shape) group, in first-seen order."""
    rows: dict[str, list] = {}
    for lr in res.layers:
        key = lr.name if per_layer else f"{layer_group(lr.name)} {layer_what(lr)} {layer_shape(lr)}"
        rows.setdefault(key, []).append(lr)
    return rows


def stall_causes(res: RunResult) -> list[str]:
    """Stall causes the detailed engine reported for this run (`stall_<cause>_cycles` keys), in
    the engine's order; empty for the fast model."""
    first = next((lr for lr in res.layers if not lr.is_nongemm), None)
    keys = [k for k in (first.cycle_breakdown if first else {}) if k.startswith("stall_") and k.endswith("_cycles")]
    return [k.removeprefix("stall_").removesuffix("_cycles") for k in keys]


class NarrowTable(Table):
    """Every CLI table: readable at 80 columns and when piped. A light box without vertical rules,
    one space between columns, right-justified (numeric) columns never wrapped, text folded."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("box", box.SIMPLE_HEAD)
        kwargs.setdefault("pad_edge", False)
        kwargs.setdefault("collapse_padding", True)
        kwargs.setdefault("padding", (0, 0))       # the box's blank rule is the one space between columns
        kwargs.setdefault("title_justify", "left")
        super().__init__(*args, **kwargs)

    def add_column(self, *args, **kwargs) -> None:
        """As rich's, with numbers (justify="right") kept on one line."""
        if kwargs.get("justify") == "right":
            kwargs.setdefault("no_wrap", True)
        kwargs.setdefault("overflow", "fold")
        super().add_column(*args, **kwargs)

    def add_row(self, *cells, **kwargs) -> None:
        """As rich's; the first column (names) keeps room for its longest cell, up to 24 characters,
        before other columns are squeezed."""
        if cells and isinstance(cells[0], str) and self.columns:
            col = self.columns[0]
            col.min_width = max(col.min_width or 0, min(len(cells[0]), 24))
        super().add_row(*cells, **kwargs)


def narrow_table(title: str, columns: list[tuple[str, str]], first_width: int = 0) -> Table:
    """A NarrowTable with `columns` as (header, justify) pairs; the first (name) column keeps at
    least `first_width` characters (up to 24) before anything else is squeezed."""
    t = NarrowTable(title=title)
    for i, (col, just) in enumerate(columns):
        t.add_column(col, justify=just, min_width=min(first_width, 24) if i == 0 and first_width else None)
    return t


def _stall_sum(layers, cause: str) -> str:
    return f"{int(sum(x.cycle_breakdown.get(f'stall_{cause}_cycles', 0) for x in layers)):,}"


def layer_shape(lr) -> str:
    """'MxNxK xB' of a GEMM layer, 'RxC xB' (its output) of a non-GEMM one."""
    batch = f" x{lr.batch}" if lr.batch > 1 else ""
    if lr.is_nongemm:
        return f"{lr.M}x{lr.N}{batch}"
    return f"{lr.M}x{lr.N}x{lr.K}{batch}"


def layer_what(lr) -> str:
    """The sparsity column: the weight pattern a GEMM ran ('2:8', '2:4->dense'), or a non-GEMM
    layer's kind ('fused' when it runs in the epilogue of the GEMM before it)."""
    if lr.is_nongemm:
        return f"{lr.op}{' fused' if lr.nongemm['fused'] else ''}"
    return lr.executed_sparsity if lr.executed_sparsity == lr.sparsity else f"{lr.sparsity}->{lr.executed_sparsity}"


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


def run_table(res: RunResult, per_layer: bool):
    """Per-layer (or per-layer-group) table with a total row; `bound` is the dominant cycle term
    (compute, buffer or dram) of the group's first layer. Non-GEMM layers show their kind and
    output shape, and no MAC utilization; `nongemm_caption` gives their share of latency and energy
    (printed after the table, as a sentence).
    With the detailed engine a second table gives the stall cycles by cause (cycles the array
    waited, docs/MODEL.md 9). Latency and DRAM bytes are left out below 100 columns (they are in
    --json/--csv)."""
    wide = console.width >= 100
    cols = [("layer" if per_layer else "layer group", "left"), ("n", "right"), ("M x N x K", "right"),
            ("weights|op", "left"), ("cycles", "right")] + ([("latency", "right")] if wide else []) + [
            ("util", "right"), ("bound", "left")] + ([("DRAM", "right")] if wide else []) + [("energy", "right")]
    groups = _groups(res, per_layer)
    labels = [group_label([x.name for x in layers]) for layers in groups.values()]
    width = max(map(len, labels), default=0)
    t = narrow_table(f"{res.workload} on {res.arch} (weights: {res.sparsity})", cols, width)
    peak = res.peak_macs_per_cycle
    for layers in groups.values():
        lr = layers[0]
        cyc = sum(x.cycles for x in layers)
        macs = sum(x.macs_effective for x in layers)
        util = "-" if lr.is_nongemm or not cyc else f"{macs / (cyc * peak):.1%}"
        lat = [seconds(sum(x.latency_s for x in layers))] if wide else []
        dram = [eng(sum(x.bytes.get("dram", x.bytes.get("hbm", 0.0)) for x in layers), "B")] if wide else []
        t.add_row(group_label([x.name for x in layers]), str(len(layers)), layer_shape(lr),
                  layer_what(lr), f"{cyc:,}", *lat, util, lr.bottleneck, *dram,
                  eng(sum(x.energy_pj for x in layers) * 1e-12, "J"))
    tot = res.total
    t.add_section()
    lat = [seconds(tot["latency_s"])] if wide else []
    dram = [eng(tot["bytes"].get("dram", tot["bytes"].get("hbm", 0.0)), "B")] if wide else []
    t.add_row("total", str(len(res.layers)), "", "", f"{tot['cycles']:,}", *lat, f"{tot['utilization']:.1%}", "",
              *dram, eng(tot["energy_pj"] * 1e-12, "J"), style="bold")
    causes = stall_causes(res)
    if not causes:
        return t
    s = narrow_table("stall cycles by cause (the array waiting; detailed engine)",
               [("layer" if per_layer else "layer group", "left"), ("cycles", "right")]
               + [(c.replace("_", " ").replace("bandwidth", "bw").replace("capacity", "cap"), "right") for c in causes],
               width)
    for layers in groups.values():
        s.add_row(group_label([x.name for x in layers]), f"{sum(x.cycles for x in layers):,}",
                  *(_stall_sum(layers, c) for c in causes))
    s.add_section()
    s.add_row("total", f"{tot['cycles']:,}", *(_stall_sum(res.layers, c) for c in causes), style="bold")
    return Group(t, s)


def energy_table(res: RunResult) -> Table | None:
    """Energy of the run by action and level (docs/MODEL.md 3.6, 3.8): joules and share, largest
    first; None when the backend prices no actions (GPU presets)."""
    parts = res.energy_actions()
    if not parts:
        return None
    total = sum(parts.values()) or 1.0
    t = Table(title=f"energy by action and level ({res.arch})", title_justify="left")
    for col, just in (("action", "left"), ("energy", "right"), ("share", "right")):
        t.add_column(col, justify=just)
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        if v > 0:
            t.add_row(k, eng(v * 1e-12, "J"), f"{v / total:.1%}")
    t.add_section()
    t.add_row("total", eng(total * 1e-12, "J"), "100.0%", style="bold")
    return t


def training_table(res: RunResult, per_layer: bool) -> Table:
    """Training step per layer (or layer group): fwd / bwd / wgrad cycles, mask pre-generation
    cycles (and how many are exposed), step cycles; a total row with the step's latency."""
    cols = ("layer" if per_layer else "layer group", "n", "M x N x K", "executed",
            "fwd", "bwd", "wgrad", "pregen (exposed)", "step cycles")
    t = narrow_table(f"{res.workload} on {res.arch} (forward weights: {res.sparsity}; step latency "
                     f"{seconds(res.total['latency_s'])})",
                     [(c, "left" if c in (cols[0], cols[3]) else "right") for c in cols])
    tot = [0] * 6
    for layers in _groups(res, per_layer).values():
        sums = [0] * 6
        for lr in layers:
            vals = [lr.phases[p]["cycles"] for p in ("fwd", "bwd", "wgrad")] + [
                lr.phases["pregen_cycles"], int(lr.cycle_breakdown["pregen_exposed_cycles"]), lr.cycles]
            for i, v in enumerate(vals):
                sums[i] += v
                tot[i] += v
        f, b, w, pre, exp, cyc = sums
        lr = layers[0]
        shape = f"{lr.M}x{lr.N}x{lr.K}" + (f" (x{lr.batch})" if lr.batch > 1 else "")
        t.add_row(group_label([x.name for x in layers]), str(len(layers)), shape, lr.executed_sparsity, f"{f:,}",
                  f"{b:,}", f"{w:,}", f"{pre:,} ({exp:,})", f"{cyc:,}")
    t.add_section()
    t.add_row("total", str(len(res.layers)), "", "", *(f"{v:,}" for v in tot[:3]), f"{tot[3]:,} ({tot[4]:,})",
              f"{tot[5]:,}", style="bold")
    return t
