"""Plots of sweep results, PNG or SVG by the output's suffix.

* `pareto_plot`: objective scatter coloured by pattern with the Pareto front highlighted
  (two objectives: one panel; three: the three pairwise panels), a row per workload;
* `roofline_plot`: for a few designs, each layer's achieved MAC/s against its MACs per DRAM
  byte, under that design's roofline (peak MAC/s and DRAM bandwidth);
* `layer_breakdown_plot`: latency per layer role (attn.q, ffn.up, ...) stacked per design;
* `utilization_heatmap`: mean utilization over array shape (rows x cols) x weight pattern.

Figures are built with `matplotlib.figure.Figure` (no pyplot state, no backend switch), so the
functions work the same in scripts, the CLI and notebooks; each returns its Figure and writes
it when `out` is given. Roofline and layer plots re-simulate their designs (dse.replay).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from nmsim.specfile import SpecError, atomic_path, check_plot_path

from .pareto import objective_matrix, pareto_mask

PLOT_KINDS = ("pareto", "roofline", "layers", "heatmap")  # what `nmsim dse plot KIND` draws
# Energy is drawn in J, as the tables print it (SI prefixes of J); the store keeps pJ.
_LABELS = {"latency": "latency (s)", "energy": "energy (J)", "area": "area (mm$^2$)", "edp": "EDP (J s)",
           "throughput_per_area": "dense MAC/s per mm$^2$"}
_SCALE = {"energy": 1e-12}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def save(fig, out: str | Path | None):
    """Write `fig` to `out` (PNG or SVG by suffix) when given; returns the figure."""
    if out is not None:
        with atomic_path(check_plot_path(out)) as tmp:
            fig.savefig(tmp, dpi=130, bbox_inches="tight")
    return fig


def _figure(rows: int, cols: int, w: float = 5.0, h: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * cols, h * rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


def _logscale(ax, x: np.ndarray, y: np.ndarray) -> None:
    for vals, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        v = vals[np.isfinite(vals) & (vals > 0)]
        if len(v) and v.max() / v.min() > 20:
            setter("log")


def pareto_plot(table, objectives: list[str], out: str | Path | None = None, color_by: str = "pattern",
                title: str | None = None, arch: str | None = None):
    """Scatter of a ResultTable's rows over 2 or 3 objectives, one colour and marker per `color_by`
    value (patterns), the front of each workload highlighted; `arch` (the sweeps' base arch) goes
    into the title. Energy in J, as the tables print it."""
    if len(objectives) not in (2, 3):
        raise SpecError(f"pareto plot: give 2 or 3 objectives (got {len(objectives)})")
    pairs = [(0, 1)] if len(objectives) == 2 else [(0, 1), (0, 2), (1, 2)]
    workloads = list(dict.fromkeys(table["workload"])) or ["(no results)"]
    fig, axes = _figure(len(workloads), len(pairs))
    for r, wl in enumerate(workloads):
        sub = table.where(workload=wl) if len(table) else table
        vals, maxi = objective_matrix(sub, objectives) if len(sub) else (np.zeros((0, len(objectives))), None)
        front = pareto_mask(vals, maxi) if len(sub) else np.zeros(0, bool)
        vals = vals * np.array([_SCALE.get(o, 1.0) for o in objectives])
        groups = list(dict.fromkeys(sub[color_by])) if len(sub) and color_by in sub else [None]
        for c, (i, j) in enumerate(pairs):
            ax = axes[r, c]
            for gi, g in enumerate(groups):
                m = (sub[color_by] == g) if g is not None else np.ones(len(sub), bool)
                ax.scatter(vals[m, i], vals[m, j], s=12, alpha=0.55, marker=_MARKERS[gi % len(_MARKERS)],
                           color=f"C{gi % 10}", label=str(g) if g is not None else None)
            f = np.flatnonzero(front)
            f = f[np.argsort(vals[f, i])]
            ax.scatter(vals[f, i], vals[f, j], s=36, facecolors="none", edgecolors="black", linewidths=1.2,
                       label=f"Pareto front ({len(f)})")
            if len(objectives) == 2 and len(f):
                ax.step(vals[f, i], vals[f, j], where="post", color="black", linewidth=0.8)
            _logscale(ax, vals[:, i], vals[:, j])
            ax.set_xlabel(_LABELS[objectives[i]])
            ax.set_ylabel(_LABELS[objectives[j]])
            ax.set_title(f"{wl}" if c == 0 else "", fontsize=9, loc="left")
            ax.grid(alpha=0.3)
        axes[r, 0].legend(fontsize=7, title=color_by, title_fontsize=7)
    fig.suptitle(title or f"Pareto front: {' vs '.join(objectives)}" + (f" ({arch} designs)" if arch else ""),
                 fontsize=11)
    return save(fig, out)


def layer_role(name: str) -> str:
    """The role of a layer, its name without block indices ('layer3.attn.q' -> 'attn.q')."""
    return re.sub(r"(^|\.)(layer)?\d+(?=\.|$)", "", name).strip(".") or name


def _design_label(row: dict) -> str:
    i = row["inputs"]
    return (f"{i['rows']}x{i['cols']}x{i['macs_per_pe']} {i['nm_patterns']}\n"
            f"{i['clock_hz'] / 1e6:.0f} MHz {i['dram_bytes_per_s'] / 1e9:.0f} GB/s, {row['pattern']}")


def roofline_plot(store: str | Path, result_keys: list[str], out: str | Path | None = None):
    """One roofline panel per stored result: layers as points, the whole workload as a star."""
    from .replay import replay

    runs = replay(store, result_keys)
    if not runs:
        raise SpecError("roofline plot: no results selected")
    fig, axes = _figure(1, len(runs), 4.6, 4.0)
    for ax, (row, res) in zip(axes[0], runs):
        i = row["inputs"]
        peak = row["outputs"]["peak_macs_per_cycle"] * i["clock_hz"]
        bw = i["dram_bytes_per_s"]
        # GEMM layers only: a non-GEMM op does no MACs, so it has no place on a MAC roofline
        layers = [lr for lr in res.layers if not lr.is_nongemm and lr.bytes.get("dram", 0) > 0 and lr.latency_s > 0]
        oi = np.array([lr.macs_effective / lr.bytes["dram"] for lr in layers])
        perf = np.array([lr.macs_effective / lr.latency_s for lr in layers])
        roles = [layer_role(lr.name) for lr in layers]
        lo, hi = (oi.min() / 4, oi.max() * 4) if len(oi) else (0.1, 1000.0)
        x = np.geomspace(lo, hi, 200)
        ax.plot(x, np.minimum(peak, bw * x), color="black", linewidth=1.2, label="roofline")
        for role in dict.fromkeys(roles):
            m = np.array([r == role for r in roles])
            ax.scatter(oi[m], perf[m], s=18, label=role)
        tot = res.total
        if tot["bytes"].get("dram", 0) > 0:
            ax.scatter([tot["macs_effective"] / tot["bytes"]["dram"]], [tot["macs_effective"] / tot["latency_s"]],
                       marker="*", s=160, color="black", label="workload")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("MACs per DRAM byte")
        ax.set_ylabel("achieved MAC/s")
        ax.set_title(_design_label(row), fontsize=8, loc="left")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"Roofline per design: {runs[0][0]['workload']}", fontsize=11)
    return save(fig, out)


def layer_breakdown_plot(store: str | Path, result_keys: list[str], out: str | Path | None = None):
    """Stacked bars: each stored result's latency split by layer role."""
    from .replay import replay

    runs = replay(store, result_keys)
    if not runs:
        raise SpecError("layer breakdown plot: no results selected")
    per = []
    for _, res in runs:
        d: dict[str, float] = {}
        for lr in res.layers:
            d[layer_role(lr.name)] = d.get(layer_role(lr.name), 0.0) + lr.latency_s
        per.append(d)
    roles = list(dict.fromkeys(k for d in per for k in d))
    fig, axes = _figure(1, 1, max(5.0, 1.3 * len(runs) + 2), 4.5)
    ax = axes[0, 0]
    bottom = np.zeros(len(runs))
    for role in roles:
        v = np.array([d.get(role, 0.0) for d in per]) * 1e3
        ax.bar(np.arange(len(runs)), v, bottom=bottom, label=role)
        bottom += v
    ax.set_xticks(np.arange(len(runs)), [_design_label(r) for r, _ in runs], fontsize=6)
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.set_title(f"Per-layer latency: {runs[0][0]['workload']}", fontsize=10, loc="left")
    return save(fig, out)


def utilization_heatmap(table, out: str | Path | None = None, value: str = "utilization", by: str = "pattern",
                        arch: str | None = None):
    """Mean `value` over the rows of each (array shape, `by`) cell of a ResultTable; the title
    names `arch` (the sweeps' base arch) and the workloads."""
    if not len(table):
        raise SpecError("utilization heatmap: no results")
    shapes = sorted({(int(r), int(c)) for r, c in zip(table["rows"], table["cols"])},
                    key=lambda rc: (rc[0] * rc[1], rc[0]))
    ys = list(dict.fromkeys(table[by]))
    grid = np.full((len(ys), len(shapes)), np.nan)
    vals = np.asarray(table[value], dtype=float)
    for yi, y in enumerate(ys):
        for xi, (r, c) in enumerate(shapes):
            m = (table[by] == y) & (table["rows"] == r) & (table["cols"] == c)
            if m.any():
                grid[yi, xi] = np.nanmean(vals[m])
    fig, axes = _figure(1, 1, max(5.0, 0.5 * len(shapes) + 2.5), max(3.0, 0.45 * len(ys) + 1.8))
    ax = axes[0, 0]
    im = ax.imshow(grid, aspect="auto", cmap="viridis", origin="lower")
    ax.set_xticks(np.arange(len(shapes)), [f"{r}x{c}" for r, c in shapes], rotation=60, fontsize=7)
    ax.set_yticks(np.arange(len(ys)), [str(y) for y in ys], fontsize=7)
    ax.set_xlabel("array rows x cols")
    ax.set_ylabel(by)
    if grid.size <= 400:
        for (yi, xi), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(xi, yi, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if v < np.nanmean(grid) else "black")
    fig.colorbar(im, ax=ax, label=f"mean {value}")
    workloads = ", ".join(dict.fromkeys(table["workload"]))
    ax.set_title(f"{value} over array shape x {by}" + (f", {arch}" if arch else "") + f": {workloads}", fontsize=10,
                 loc="left")
    return save(fig, out)


__all__ = ["pareto_plot", "roofline_plot", "layer_breakdown_plot", "utilization_heatmap", "layer_role", "PLOT_KINDS"]
