"""nmsim vs ZigZag on dense GEMM layers: prints a Markdown table (and optionally JSON).

Run from the repository root with the project's venv (ZigZag runs in .peers/zigzag-venv):

    .venv/bin/python -m benchmarks.peers.compare_zigzag [--arch dense-systolic] [--json out.json]

nmsim's side is `sim.simulate.map_op` (heuristic mapper, dataflow constrained to the spatial
unrolling ZigZag is given, one search per objective, wall time reported); ZigZag's side is one `get_hardware_performance_zigzag` search per layer
and objective (benchmarks/peers/zigzag.py documents the configuration).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from nmsim.accel import load_arch
from benchmarks.peers.zigzag import ZigZagUnavailable, ensure_zigzag_venv, run_zigzag
from nmsim.sim import simulate_op
from nmsim.workloads import Op

# (workload, name, M, N, K): dense GEMMs (conv layers lowered by im2col, M = H_out * W_out).
LAYERS = [
    ("BERT-base b1 s128", "q", 128, 768, 768),
    ("BERT-base b1 s128", "ffn.up", 128, 3072, 768),
    ("BERT-base b1 s128", "ffn.down", 128, 768, 3072),
    ("Llama-2-7B s512", "q", 512, 4096, 4096),
    ("Llama-2-7B s512", "gate", 512, 11008, 4096),
    ("Llama-2-7B s512", "down", 512, 4096, 11008),
    ("ResNet-50", "conv2_x 3x3 (56x56, 64->64)", 3136, 64, 576),
    ("ResNet-50", "conv4_x 3x3 (14x14, 256->256)", 196, 256, 2304),
]


def nmsim_rows(arch, objectives: tuple[str, ...], spatial: str) -> list[dict]:
    """Our mapper's best per layer and objective (dataflow pinned to `spatial` unless 'search')."""
    from nmsim.mapping import Constraints
    from nmsim.sim.simulate import map_op

    cons = Constraints(dataflow=spatial) if spatial in ("ws", "os", "is") else None
    rows = []
    for wl, name, m, n, k in LAYERS:
        row = {"workload": wl, "layer": name, "M": m, "N": n, "K": k}
        for obj in objectives:
            res = map_op(arch, Op(name, "gemm", M=m, N=n, K=k), "heuristic", obj, cons, top=1)
            c = res.best.cost
            row[obj] = {"cycles": int(c["cycles"]), "energy_pj": c["energy_pj"],
                        "static_pj": c["energy_static_pj"], "mapping": res.best.mapping.to_dict(),
                        "seconds": res.seconds, "evaluated": res.evaluated}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="dense-systolic")
    ap.add_argument("--spatial", default="ws", help="ws/os/is (fixed) or search (ZigZag's generator)")
    ap.add_argument("--buffer-ports", default="shared", choices=("shared", "per_operand"))
    ap.add_argument("--objectives", default="latency,energy")
    ap.add_argument("--json", help="write all rows here")
    args = ap.parse_args(argv)
    arch = load_arch(args.arch)
    try:
        ensure_zigzag_venv()
    except ZigZagUnavailable as exc:
        print(f"ZigZag unavailable: {exc}", file=sys.stderr)
        return 2
    objectives = tuple(args.objectives.split(","))
    ours = nmsim_rows(arch, objectives, args.spatial)
    zz = run_zigzag(arch, [(f"{wl}/{name}", m, n, k) for wl, name, m, n, k in LAYERS],
                    objectives=objectives, spatial=args.spatial, buffer_ports=args.buffer_ports)
    by = {(r["layer"], r["objective"]): r for r in zz}

    def zcell(key, obj):
        r = by.get((key, obj))
        if r is None:
            return "-", "-", "-"
        if "error" in r:
            return "error", "error", f"{r['search_s']:.1f}"
        return f"{r['latency_cycles']:,.0f}", f"{r['energy_pj'] / 1e6:,.1f}", f"{r['search_s']:.1f}"

    head = ["workload", "layer", "M, N, K"]
    for obj in objectives:
        head += [f"nmsim {obj}-opt cycles", f"nmsim {obj}-opt µJ dyn", f"nmsim {obj} search ms",
                 f"ZigZag {obj}-opt cycles", f"ZigZag {obj}-opt µJ", f"ZigZag {obj} search s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for o in ours:
        key = f"{o['workload']}/{o['layer']}"
        cells = [o["workload"], o["layer"], f"{o['M']}, {o['N']}, {o['K']}"]
        for obj in objectives:
            mine = o[obj]
            cells += [f"{mine['cycles']:,}", f"{(mine['energy_pj'] - mine['static_pj']) / 1e6:,.1f}",
                      f"{mine['seconds'] * 1e3:.1f}"]
            cells += list(zcell(key, obj))
        print("| " + " | ".join(cells) + " |")
    first = next((r for r in zz if "error" not in r), None)
    if first:
        print(f"\nZigZag {first['zigzag_version']}, spatial={args.spatial}, buffer_ports={args.buffer_ports}, "
              f"DRAM {first['dram_bits_per_cycle']} bits/cycle; nmsim heuristic searches took "
              f"{sum(o[obj]['seconds'] for o in ours for obj in objectives) * 1e3:.1f} ms in all.")
    for r in zz:
        if "error" in r:
            print(f"ZigZag failed on {r['layer']} ({r['objective']}): {r['error']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"arch": args.arch, "nmsim": ours, "zigzag": zz}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
