"""`nmsim map`: search the best mapping of one layer and print the ranked few."""
from __future__ import annotations

import argparse

from .argtypes import SAMPLES_MAX, SEED_MAX, int_flag
from .errors import fail, flags, warn
from .outputs import add_output
from .provenance import arch_prov, file_inputs, write_json


def add_parser(sub) -> None:
    """Register `nmsim map` on the subcommand table."""
    from nmsim.mapping import MAPPERS, OBJECTIVES
    from nmsim.workloads import LAYER_FORM

    sm = sub.add_parser("map", help="search the best dataflow, tiling and loop order for one layer")
    sm.add_argument("--arch", "-a", required=True, help="systolic preset name or arch YAML")
    sm.add_argument("--layer", "-l", required=True, help=LAYER_FORM)
    sm.add_argument("--objective", choices=OBJECTIVES, default="latency")
    sm.add_argument("--mapper", choices=MAPPERS, default="heuristic")
    sm.add_argument("--constraints", "-c", metavar="C.yaml", help="constraints file (see docs/MAPPING.md)")
    sm.add_argument("--top", type=int_flag(1, 1_000), default=5, help="how many ranked mappings to show (default 5)")
    sm.add_argument("--samples", type=int_flag(1, SAMPLES_MAX), default=20_000, help="random mapper: candidates drawn")
    sm.add_argument("--seed", type=int_flag(0, SEED_MAX), default=0, help="random mapper: seed")
    add_output(sm, "--out", metavar="M.yaml", help="write the best mapping as a mapping file")
    add_output(sm, "--json", metavar="R.json", help="write the search result as JSON")
    sm.set_defaults(func=cmd_map)


def cmd_map(args: argparse.Namespace) -> None:
    """Run one search and print it."""
    from nmsim.accel import load_arch
    from nmsim.mapping import load_constraints, save_mappings
    from nmsim.problem import SPATIAL
    from nmsim.sim import HwParams, backend_for
    from nmsim.sim.simulate import map_op
    from nmsim.workloads import parse_layer

    from .tables import NarrowTable, console, eng, progress_bar, seconds

    if args.mapper != "random" and (args.samples != 20_000 or args.seed != 0):
        fail(f"--samples/--seed apply to --mapper random, not --mapper {args.mapper}")
    arch = load_arch(args.arch)
    if not backend_for(arch).takes_mappings:
        fail(f"--arch {arch.name} is a {arch.kind} preset; nmsim map searches systolic-array mappings")
    op = parse_layer(args.layer)
    cons = load_constraints(args.constraints) if args.constraints else None
    hw = HwParams.from_arch(arch)
    with progress_bar(disable=args.mapper == "heuristic") as prog:
        task = prog.add_task(f"{args.mapper} search", total=None)
        with flags("objective", "mapper"):
            res = map_op(arch, op, args.mapper, args.objective, cons, hw=hw, top=args.top, samples=args.samples,
                         seed=args.seed, progress=lambda d, t: prog.update(task, completed=d, total=t))
    from nmsim.mapping import plan_sparsity
    plan = plan_sparsity(arch, op)
    if plan.note:
        warn(plan.note)
    t = NarrowTable(title=f"{op.M}x{op.N}x{op.K}" + (f" (x{op.batch})" if op.batch > 1 else "") +
              f" {op.weight_sparsity} (runs {plan.label}) on {arch.name}: best by {args.objective}",
              title_justify="left")
    for c in ("#", "dataflow", "rows x cols", "tile M x N x K", "loop order", "cycles", "latency", "energy",
              "EDP (J*s)", "util"):
        t.add_column(c, justify="left" if c in ("dataflow", "rows x cols", "loop order") else "right")
    for i, r in enumerate(res.ranked, 1):
        m, c = r.mapping, r.cost
        rows, cols, _ = SPATIAL[m.dataflow]
        t.add_row(str(i), m.dataflow, f"{rows} x {cols}", f"{m.tile_m} x {m.tile_n} x {m.tile_k}", m.loop_order,
                  f"{int(c['cycles']):,}", seconds(c["latency_s"]), eng(c["energy_pj"] * 1e-12, "J"),
                  f"{c['latency_s'] * c['energy_pj'] * 1e-12:.3g}", f"{c['utilization']:.1%}")
    console.print(t)
    console.print(f"{res.mapper}: {res.evaluated:,} candidates costed ({res.valid:,} fit the buffers) in "
                  f"{seconds(res.seconds)}; pruned space {res.space_size:,} candidates")
    if args.out:
        save_mappings(args.outputs.path(args.out), res.best.mapping,
                      header=f"nmsim map --arch {args.arch} --layer {args.layer} --objective {args.objective} "
                             f"--mapper {args.mapper}\nbest: {int(res.best.cost['cycles']):,} cycles, "
                             f"{res.best.cost['energy_pj']:.4g} pJ")
    if args.json:
        doc = {"arch": arch.name, "layer": {"kind": op.kind, "M": op.M, "N": op.N, "K": op.K, "batch": op.batch,
                                            "sparsity": str(op.weight_sparsity), "act_density": op.act_density},
               "executed_sparsity": plan.label, "notes": [plan.note] if plan.note else [], **res.to_dict()}
        write_json(args.outputs.path(args.json), "map", doc, engine="fast", arch=arch_prov(args.arch, arch),
                   workload={"kind": "layer", "text": args.layer, "params": {}},
                   seeds={"seed": args.seed} if args.mapper == "random" else {},
                   inputs=file_inputs(constraints=args.constraints))
