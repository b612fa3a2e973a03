"""`nmsim timeloop`: read Timeloop/Sparseloop specs and reference outputs, export nmsim designs to
Timeloop, take per-action energies from an Accelergy ERT (docs/INTEROP.md 2).

    nmsim timeloop read --problem P.yaml [--arch A.yaml] [--mapping M.yaml] [--sparse-opt S.yaml] [--stats S.txt]
    nmsim timeloop compare --arch A.yaml --problem P.yaml --stats REF/timeloop-mapper.stats.txt
                           [--mapping M.yaml] [--ert E.yaml] [--sparse-opt S.yaml] [--out DIR]
    nmsim timeloop export --arch sat --layer "gemm:M=512,N=768,K=768" --out DIR
    nmsim timeloop ert ERT.yaml --timeloop-arch A.yaml --arch sat --level gbuf=shared_glb --level dram=DRAM
                       [--mac mac] --out my-arch.yaml
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .errors import fail
from .outputs import add_output


def add_parser(sub) -> None:
    """Register `nmsim timeloop read|compare|export|ert`."""
    st = sub.add_parser("timeloop", help="Timeloop/Sparseloop specs in, nmsim designs out, Accelergy ERT energies")
    acts = st.add_subparsers(dest="timeloop_command", required=True, metavar="ACTION")
    r = acts.add_parser("read", help="read a Timeloop problem/arch/mapping (and reference stats); name what "
                                     "nmsim cannot represent (exit 2)")
    r.add_argument("--problem", metavar="P.yaml", help="Timeloop problem YAML")
    r.add_argument("--arch", metavar="A.yaml", help="Timeloop architecture YAML (v0.4 nodes or v0.3 subtree)")
    r.add_argument("--mapping", metavar="M.yaml", help="Timeloop mapping (e.g. timeloop-mapper.map.yaml)")
    r.add_argument("--sparse-opt", metavar="S.yaml", help="Sparseloop sparse-optimization YAML (v0.3)")
    r.add_argument("--stats", metavar="S.txt", help="Timeloop's timeloop-mapper.stats.txt (reference numbers)")
    r.set_defaults(func=cmd_read)
    c = acts.add_parser("compare", help="nmsim under Timeloop's reference mapping beside Timeloop's reference stats: "
                                        "cycles, per-level reads/fills/updates, energy (docs/INTEROP.md 2.3)")
    c.add_argument("--arch", required=True, metavar="A.yaml", help="Timeloop architecture YAML")
    c.add_argument("--problem", required=True, metavar="P.yaml", help="Timeloop problem YAML")
    c.add_argument("--stats", required=True, metavar="S.txt", help="the reference timeloop-mapper.stats.txt")
    c.add_argument("--mapping", metavar="M.yaml", help="the reference mapping (default: timeloop-mapper.map.yaml "
                                                       "beside --stats)")
    c.add_argument("--ert", metavar="E.yaml", help="Accelergy ERT (default: timeloop-mapper.ERT.yaml beside --stats)")
    c.add_argument("--sparse-opt", metavar="S.yaml", help="Sparseloop sparse-optimization YAML (refused by name)")
    c.add_argument("--out", "-o", metavar="DIR", help="also write the converted nmsim arch.yaml and mapping.yaml")
    c.set_defaults(func=cmd_compare)
    e = acts.add_parser("export", help="write an nmsim arch, one layer and nmsim's mapping of it as Timeloop v0.4")
    e.add_argument("--arch", "-a", required=True, help="preset or arch YAML (systolic, one on-chip level)")
    e.add_argument("--layer", required=True, help="one layer, as for `nmsim map --layer`")
    e.add_argument("--out", "-o", required=True, metavar="DIR",
                   help="existing folder for arch.yaml, problem.yaml, mapping.yaml")
    e.set_defaults(func=cmd_export)
    g = acts.add_parser("ert", help="an nmsim arch YAML whose energies come from an Accelergy ERT")
    g.add_argument("ert", metavar="ERT.yaml", help="Accelergy energy reference table (e.g. timeloop-mapper.ERT.yaml)")
    g.add_argument("--timeloop-arch", required=True, metavar="A.yaml", help="the Timeloop arch the ERT was made for "
                                                                           "(vector widths)")
    g.add_argument("--arch", "-a", required=True, help="nmsim preset or arch YAML to take the energies")
    g.add_argument("--level", action="append", default=[], metavar="NMSIM=COMPONENT",
                   help="nmsim level (or dram) = ERT component, repeatable")
    g.add_argument("--mac", metavar="COMPONENT", help="ERT compute component for mac_pj")
    add_output(g, "--out", "-o", required=True, metavar="ARCH.yaml")
    g.set_defaults(func=cmd_ert)


def _refuse(features: list[str], what: str) -> None:
    """Exit 2 with one line naming every feature nmsim lacks."""
    if features:
        fail(f"{what}: nmsim cannot represent {'; '.join(features)}")


def cmd_read(args: argparse.Namespace) -> None:
    """Print what was read; exit 2 naming the first feature nmsim lacks."""
    from nmsim.interop import read_arch, read_mapping, read_problem, read_stats, unsupported_features
    from nmsim.interop.timeloop import sparse_opt_features

    from .tables import console

    if not any((args.problem, args.arch, args.mapping, args.sparse_opt, args.stats)):
        fail("timeloop read needs at least one of --problem, --arch, --mapping, --sparse-opt, --stats")
    if args.problem:
        p = read_problem(args.problem)
        op = p.op
        console.print(f"problem {op.name}: {op.kind} M={op.M} ({'*'.join(p.gemm_dims['M'])}) N={op.N} "
                      f"({'*'.join(p.gemm_dims['N'])}) K={op.K} ({'*'.join(p.gemm_dims['K'])}), {p.macs:,} MACs, "
                      f"weights {op.weight_sparsity}, act_density {op.act_density}")
        for n in p.notes:
            console.print(f"  note: {n}")
    if args.mapping:
        m = read_mapping(args.mapping)
        console.print("mapping (outermost first): " + " | ".join(
            f"{lp.level}:{lp.dim}{lp.factor}{'s' if lp.spatial else ''}" for lp in m.loops))
    if args.stats:
        s = read_stats(args.stats)
        console.print(f"reference: {s.cycles:,} cycles, {s.energy_pj / 1e6:.2f} uJ, utilization {s.utilization:.2%}, "
                      f"{s.computes:,} computes")
    features = []
    if args.arch:
        levels = read_arch(args.arch)
        console.print("arch (outermost first): " + " -> ".join(
            f"{lv.name}" + (f" x{lv.fanout}" if lv.kind == "fanout" else "") for lv in levels))
        features += unsupported_features(levels)
    if args.sparse_opt:
        features += sparse_opt_features(args.sparse_opt)
    _refuse(features, args.arch or args.sparse_opt or "")


def _beside(given: str | None, stats: str, name: str) -> str:
    """`given`, else `name` in the folder of the stats file."""
    return given or str(Path(stats).parent / name)


def cmd_compare(args: argparse.Namespace) -> None:
    """Print nmsim beside Timeloop, row by row; exit 2 naming what nmsim cannot represent."""
    from nmsim.interop.timeloop_compare import compare_design

    from .tables import console, narrow_table

    cmp = compare_design(args.arch, args.problem, _beside(args.mapping, args.stats, "timeloop-mapper.map.yaml"),
                         _beside(args.ert, args.stats, "timeloop-mapper.ERT.yaml"), args.stats,
                         sparse_opt=args.sparse_opt)
    d = cmp.design
    t = narrow_table(f"{d.op.name} on {d.arch.name}: Timeloop's mapping, nmsim fast model", [
        ("what", "left"), ("Timeloop", "right"), ("nmsim", "right"), ("nmsim/TL", "right")], first_width=24)
    for r in cmp.rows:
        fmt = lambda x: "-" if x is None else f"{x:,.0f}"  # noqa: E731
        t.add_row(f"{r.what} ({r.unit})", fmt(r.timeloop), fmt(r.nmsim),
                  "-" if r.ratio is None else f"{r.ratio:.3f}")
    console.print(t)
    for n in d.notes:
        console.print(f"  {n}")
    if args.out:
        _write_converted(d, Path(args.out))


def _write_converted(d, out: Path) -> None:
    """arch.yaml and mapping.yaml of the converted design, loadable by `nmsim simulate`."""
    import yaml

    from nmsim.accel import load_arch
    from nmsim.mapping import save_mappings

    out.mkdir(parents=True, exist_ok=True)
    spec = d.arch.model_dump(mode="json", exclude_none=True)
    spec["energy"].pop("sources", None)
    header = "# nmsim timeloop compare: converted from Timeloop (docs/INTEROP.md 2.3)\n" + \
        "".join(f"# {n}\n" for n in d.notes)
    (out / "arch.yaml").write_text(header + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    load_arch(out / "arch.yaml")  # what was written must load
    save_mappings(out / "mapping.yaml", d.mapping, header="Timeloop's reference mapping as nmsim tiers")
    print(f"wrote {out / 'arch.yaml'}, {out / 'mapping.yaml'}")


def cmd_export(args: argparse.Namespace) -> None:
    """Write arch.yaml, problem.yaml, mapping.yaml of the layer as nmsim maps it."""
    from nmsim.accel import load_arch, require_systolic
    from nmsim.interop import export_timeloop
    from nmsim.mapping import Mapping
    from nmsim.sim import simulate_op
    from nmsim.workloads import parse_layer

    arch = require_systolic(load_arch(args.arch), "timeloop export")
    op = parse_layer(args.layer)
    res = simulate_op(arch, op)
    files = export_timeloop(arch, op, Mapping(**res.mapping))
    out = Path(args.out)
    # the files of the folder are this command's outputs: checked, then written all or nothing
    staged = {name: args.outputs.add(out / name, "--out") for name in files}
    for name, text in files.items():
        staged[name].write_text(text, encoding="utf-8")
    m = res.mapping
    print(f"{op.kind} {op.M}x{op.N}x{op.K} on {arch.name}, {m['dataflow']} tile {m['tile_m']}x{m['tile_n']}x"
          f"{m['tile_k']} ({res.cycles:,} nmsim cycles) -> {', '.join(str(out / n) for n in files)}")


def cmd_ert(args: argparse.Namespace) -> None:
    """Write `--out`: the nmsim arch with energies from the ERT, each tagged with its derivation."""
    import yaml

    from nmsim.accel import load_arch
    from nmsim.interop import ert_energies, read_arch

    if not args.level and not args.mac:
        fail("timeloop ert needs --level NMSIM=COMPONENT (repeatable) and/or --mac COMPONENT")
    pairs = {}
    for text in args.level:
        level, sep, comp = text.partition("=")
        if not sep or not level or not comp:
            fail(f"--level '{text}': expected NMSIM_LEVEL=ERT_COMPONENT, e.g. --level gbuf=shared_glb")
        pairs[level.strip()] = comp.strip()
    arch = load_arch(args.arch)
    widths = {lv.name: lv.attributes for lv in read_arch(args.timeloop_arch)}
    got = ert_energies(args.ert, pairs, widths, args.mac)
    spec = arch.model_dump(mode="json")
    unknown = sorted(set(got["per_byte_pj"]) - set(spec["energy"]["per_byte_pj"]))
    if unknown:
        fail(f"--level {unknown[0]}: arch '{arch.name}' has no such level (levels: "
             f"{', '.join(spec['energy']['per_byte_pj'])})")
    spec["energy"]["per_byte_pj"].update(got["per_byte_pj"])
    if got["mac_pj"] is not None:
        spec["energy"]["mac_pj"] = got["mac_pj"]
    spec["name"] = f"{arch.name}-ert"
    text = yaml.safe_dump(spec, sort_keys=False)
    header = "".join(f"# {k}: {v}\n" for k, v in got["derivation"].items())
    staged = args.outputs.path(args.out)
    staged.write_text(f"# energies from {args.ert} (nmsim timeloop ert)\n{header}{text}", encoding="utf-8")
    load_arch(staged)            # what was written must load
    print(f"{args.out}: {arch.name} with {', '.join(got['derivation'])} energies from {Path(args.ert).name}")
