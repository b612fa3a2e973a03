"""The flagship demo behind `make run`: BERT-base (batch 8, seq 128) at dense, 2:4, 2:8 and 1:8
weight sparsity on the dense-systolic, sat and s4 presets; a table, the energy by action and level,
and a bar chart. Non-GEMM operators (norms, softmax, activations, residual adds, embeddings) are
costed on each preset's vector unit; the table shows their share of the latency, which grows as
N:M shrinks the GEMMs."""
from __future__ import annotations

from pathlib import Path

from nmsim.accel import load_arch
from nmsim.accel.presets import arch_file
from nmsim.sim import simulate_workload
from nmsim.workloads import zoo

from .provenance import write_json
from .tables import NarrowTable, console, progress_bar, seconds

DEMO_ARCHS = ("dense-systolic", "sat", "s4")
DEMO_PATTERNS = ("dense", "2:4", "2:8", "1:8")


def run_demo(out_png: str | Path, json_path: str | Path | None = None, batch: int = 8, seq_len: int = 128,
             shown: str | Path | None = None) -> list[dict]:
    """Simulate the demo grid, print the table, write the plot (PNG or SVG by suffix) and the rows
    (JSON); returns the rows. `shown`: the plot's name in messages (the CLI writes to a staging path)."""
    wl = zoo.build("bert-base", batch=batch, seq_len=seq_len)
    rows: list[dict] = []
    notes: dict[str, None] = {}
    with progress_bar() as prog:
        task = prog.add_task("simulating", total=len(DEMO_ARCHS) * len(DEMO_PATTERNS))
        for a in DEMO_ARCHS:
            arch = load_arch(a)
            base = None
            for p in DEMO_PATTERNS:
                res = simulate_workload(arch, wl, p)
                tot = res.total
                base = base or tot
                executed = sorted({lr.executed_sparsity for lr in res.layers if lr.op in ("gemm", "conv2d")})
                rows.append({"arch": a, "pattern": p, "executed": ",".join(executed),
                             "latency_s": tot["latency_s"], "cycles": tot["cycles"],
                             "speedup": base["latency_s"] / tot["latency_s"],
                             "energy_pj": tot["energy_pj"], "energy_ratio": base["energy_pj"] / tot["energy_pj"],
                             "utilization": tot["utilization"], "nongemm_share": tot["nongemm_share"],
                             "energy_actions_pj": res.energy_actions(), "energy_basis": arch.energy_basis()})
                for n in res.notes:
                    notes.setdefault(n, None)
                prog.advance(task)
    t = NarrowTable(title=f"{wl.name}: latency and energy per inference batch", title_justify="left")
    for c in ("arch", "weights", "executed as", "latency", "speedup", "energy", "energy saving", "util", "non-GEMM"):
        t.add_column(c, justify="left" if c in ("arch", "weights", "executed as") else "right")
    for r in rows:
        t.add_row(r["arch"], r["pattern"], r["executed"], seconds(r["latency_s"]), f"{r['speedup']:.2f}x",
                  f"{r['energy_pj'] * 1e-9:.2f} mJ", f"{r['energy_ratio']:.2f}x", f"{r['utilization']:.1%}",
                  f"{r['nongemm_share']:.1%}")
    console.print(t)
    console.print(_energy_table(rows))
    for n in notes:
        console.print(f"[yellow]note:[/yellow] {n}")
    _plot(rows, wl.name, Path(out_png))
    console.print(f"plot written to {shown or out_png}")
    if json_path:
        write_json(str(json_path), "demo", {"workload": wl.name, "rows": rows, "notes": list(notes)}, engine="fast",
                   workload={"kind": "zoo", "text": "bert-base", "params": {"batch": batch, "seq_len": seq_len}},
                   inputs={f"arch:{a}": str(arch_file(a).resolve()) for a in DEMO_ARCHS})
    return rows


def _energy_table(rows: list[dict]) -> NarrowTable:
    """Each row's energy by action and level as shares (docs/MODEL.md 3.8): what a design spends its
    joules on, beside the basis its energies come from."""
    t = NarrowTable(title="energy by action and level (share of each run's energy)", title_justify="left")
    for c in ("arch", "weights", "basis", "mac", "index", "on-chip reads / writes", "dram", "static"):
        t.add_column(c, justify="left" if c in ("arch", "weights", "basis", "on-chip reads / writes") else "right")
    for r in rows:
        parts = r["energy_actions_pj"]
        total = sum(parts.values()) or 1.0
        share = lambda *keys: sum(parts.get(k, 0.0) for k in keys) / total  # noqa: E731
        levels = sorted({k.rsplit(".", 1)[0] for k in parts if "." in k} - {"dram"})
        onchip = ", ".join(f"{lv} {share(lv + '.read'):.0%}/{share(lv + '.write'):.0%}" for lv in levels)
        t.add_row(r["arch"], r["pattern"], r["energy_basis"], f"{share('mac'):.0%}", f"{share('index_decode'):.0%}",
                  onchip, f"{share('dram.read', 'dram.write'):.0%}", f"{share('static'):.0%}")
    return t


def _plot(rows: list[dict], title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(len(DEMO_ARCHS))
    w = 0.8 / len(DEMO_PATTERNS)
    for i, p in enumerate(DEMO_PATTERNS):
        sel = [next(r for r in rows if r["arch"] == a and r["pattern"] == p) for a in DEMO_ARCHS]
        # Hatch the bars of patterns the arch could not exploit (they ran dense).
        hatch = ["//" if p != "dense" and r["executed"] == "dense" else "" for r in sel]
        for ax, vals in ((axes[0], [r["latency_s"] * 1e3 for r in sel]), (axes[1], [r["energy_pj"] * 1e-9 for r in sel])):
            bars = ax.bar(x + (i - (len(DEMO_PATTERNS) - 1) / 2) * w, vals, w, label=p, color=f"C{i}")
            for bar, h in zip(bars, hatch):
                bar.set_hatch(h)
                bar.set_edgecolor("white" if h else bar.get_facecolor())
    for ax, ylabel in zip(axes, ("latency (ms)", "energy (mJ)")):
        ax.set_xticks(x, DEMO_ARCHS)
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    from matplotlib.patches import Patch

    axes[0].legend(handles=[Patch(color=f"C{i}", label=p) for i, p in enumerate(DEMO_PATTERNS)], title="weight sparsity")
    axes[1].text(0.99, 0.98, "hatched: pattern unsupported, ran dense", transform=axes[1].transAxes,
                 ha="right", va="top", fontsize=8)
    fig.suptitle(f"nmsim: {title}")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
