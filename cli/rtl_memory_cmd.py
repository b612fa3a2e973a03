"""`nmsim rtl validate --memory`: whole layers DRAM to DRAM on the SoC RTL against the model.

The table puts, per layer, the RTL's cycles beside the fast model's and the detailed engine's
(rtl-soc preset, same mapping and sparsity), the bound the fast model names, and the DRAM bytes
the RTL moved beside the model's; the summary gives the mean and max errors against the issue's
targets (rtl_models/soc_validate.py, docs/RTL.md "Memory path").
"""
from __future__ import annotations

import argparse
import sys

from .errors import fail


def _cases(args: argparse.Namespace) -> list:
    """The cases to run: the fixed list, a subset (--only), or one layer of the user's (--layer)."""
    from nmsim.mapping import load_mappings
    from nmsim.rtl_models.soc_validate import MEMORY_CASES, MemCase
    from nmsim.problem import DIM_WHY, MAX_DIM
    from nmsim.specfile import closest, parse_int

    if args.layer:
        if not args.mapping:
            fail("--layer needs --mapping M.yaml (the mapping the SoC runs the layer under)")
        parts = args.layer.split(",")
        if len(parts) != 3:
            fail(f"--layer '{args.layer}': expected M,N,K (three integers, e.g. 128,64,256)")
        M, N, K = (parse_int(x, f"--layer '{args.layer}'", 1, MAX_DIM, DIM_WHY) for x in parts)
        case = MemCase("layer", M, N, K, args.sparsity, "ws", M, N, K, "nmk", "user")
        m = load_mappings(args.mapping).for_op(case.op())
        return [MemCase("layer", M, N, K, args.sparsity, m.dataflow, m.tile_m, m.tile_n, m.tile_k, m.loop_order,
                        "user")]
    if not args.only:
        return list(MEMORY_CASES)
    names = {c.name: c for c in MEMORY_CASES}
    picked = []
    for name in args.only.split(","):
        if name not in names:
            hint = closest(name, names)
            fail(f"--only: no memory case '{name}'" + (f"; did you mean '{hint}'?" if hint else
                                                          f" (cases: {', '.join(names)})"))
        picked.append(names[name])
    return picked


def cmd_validate_memory(args: argparse.Namespace) -> None:
    """Run the memory-path validation and print the table and the summary."""
    from rich.table import Table

    from nmsim.rtl_models.dram import DEFAULT_MODULE
    from nmsim.rtl_models.runner import RtlRunError
    from nmsim.rtl_models.soc_driver import SocParams, check_runnable
    from nmsim.rtl_models.soc_validate import PRESET, run_memory_cases, soc_arch, soc_layer, summary

    from .tables import console, progress_bar

    cases = _cases(args)
    arch = soc_arch()
    for c in cases:  # refuse what the sequencer cannot run before building anything
        check_runnable(SocParams.from_arch(arch), soc_layer(arch, c))
    module = args.dram_module or DEFAULT_MODULE
    with progress_bar() as prog:
        task = prog.add_task(f"building (first run: LiteDRAM, Verilator), then {len(cases)} layers", total=len(cases))
        try:
            rows = run_memory_cases(cases, jobs=args.jobs, module=module, on_record=lambda r: prog.advance(task))
        except RtlRunError as exc:
            print(f"nmsim: error: RTL run failed: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
    _print(rows, module, PRESET, console, Table)
    s = summary(rows)
    if args.json:
        from .provenance import preset_prov, write_json

        write_json(args.outputs.path(args.json), "rtl-validate-memory", {"preset": PRESET, "dram_module": module, "cases": rows, "summary": s},
                   engine="RTL (Verilator, LiteDRAM) vs fast and detailed", arch=preset_prov(PRESET))
    # The targets hold over the whole case list; a subset or a layer of your own fails only on wrong outputs.
    whole = not args.only and not args.layer
    if s["mismatches"] or (whole and not s["met"]):
        args.outputs.commit()  # a check that ran and failed keeps its report (the evidence)
        print("nmsim: error: memory validation failed: " + ("wrong outputs" if s["mismatches"] else
                                                            "errors above the targets (see the summary)"),
              file=sys.stderr)
        raise SystemExit(1)


def _print(rows: list[dict], module: str, preset: str, console, Table) -> None:
    """The per-layer table and the summary lines."""
    from nmsim.rtl_models.soc_validate import summary

    t = Table(title=f"SoC RTL (LiteDRAM {module}) vs the model ({preset} preset), whole layers DRAM to DRAM",
              title_justify="left")
    for col in ("case", "M x N x K", "weights", "runs as", "mapping", "RTL cycles", "fast", "detailed", "bound",
                "DRAM B (RTL)", "DRAM B (model)", "outputs"):
        t.add_column(col, justify="left" if col in ("case", "weights", "runs as", "mapping", "bound") else "right")
    for r in rows:
        t.add_row(r["name"], f"{r['M']} x {r['N']} x {r['K']}", r["sparsity"], r["executed"],
                  f"{r['dataflow']} {r['tile_m']}x{r['tile_n']}x{r['tile_k']} {r['order']}", str(r["rtl_cycles"]),
                  f"{r['fast_cycles']} ({100 * r['fast_error']:+.1f}%)",
                  f"{r['detailed_cycles']} ({100 * r['detailed_error']:+.1f}%)", r["bound"],
                  str(r["rtl_dram_bytes"]), f"{r['model_dram_bytes']:.0f} ({100 * r['bytes_error']:+.2f}%)",
                  "exact" if not r["mismatches"] else f"{r['mismatches']} wrong")
    console.print(t)
    s = summary(rows)
    tg = s["targets"]
    console.print(f"{s['cases']} layers, outputs {'bit-exact' if not s['mismatches'] else 'WRONG'}; |error| mean/max: "
                  f"fast {100 * s['fast']['mean']:.2f}% / {100 * s['fast']['max']:.2f}% "
                  f"(targets {100 * tg['fast_mean']:.0f}% / {100 * tg['fast_max']:.0f}%), "
                  f"detailed {100 * s['detailed']['mean']:.2f}% / {100 * s['detailed']['max']:.2f}% "
                  f"(target mean {100 * tg['detailed_mean']:.0f}%), DRAM bytes max {100 * s['bytes']['max']:.2f}% "
                  f"(target {100 * tg['bytes_max']:.0f}%)")
