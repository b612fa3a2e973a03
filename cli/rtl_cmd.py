"""`nmsim rtl`: the Verilog of rtl_models/ as ground truth.

    nmsim rtl validate [--json R.json] [--simulator icarus|verilator] [--cases N] [--seed S]
    nmsim rtl validate --memory [--only NAME,...] [--layer M,N,K --mapping M.yaml [--sparsity P]]
                       [--jobs N] [--dram-module NAME] [--json R.json]
    nmsim rtl area [--json R.json] [--write]

`validate` runs random GEMM tiles on nm_systolic_array (cocotb), checks the outputs bit for bit
and prints each tile's busy cycles beside sim's compute cycles for the same configuration
(docs/RTL.md); it exits 1 when any case is off by more than 2%. `validate --memory` runs whole
layers DRAM to DRAM on the SoC (nm_soc.v with LiteDRAM, Verilator) and prints RTL cycles beside
the fast model's and the detailed engine's, the bound the model names and DRAM bytes; it exits 1
when an output is wrong or the errors miss the targets (docs/RTL.md, "Memory path"). `area`
synthesizes nm_pe with Yosys and prints cell counts and the N:M area factors.
"""
from __future__ import annotations

import argparse
import sys

from nmsim.specfile import atomic_path

from .argtypes import SEED_MAX, WORKERS_MAX, int_flag
from .errors import flags
from .outputs import add_output
from .provenance import preset_prov, write_json


def add_parser(sub) -> None:
    """Register `rtl validate` and `rtl area` on the `nmsim` subparsers."""
    from nmsim.rtl_models.runner import SIMULATORS

    sr = sub.add_parser("rtl", help="RTL ground truth: cycle validation of the simulator, PE area from synthesis")
    actions = sr.add_subparsers(dest="rtl_action", required=True, metavar="ACTION")
    sv = actions.add_parser("validate", help="run random GEMM tiles on the Verilog array and compare cycles with sim")
    sv.add_argument("--simulator", choices=SIMULATORS, default="icarus",
                    help="RTL simulator (default icarus: no compile step; verilator builds once, then is cached)")
    sv.add_argument("--cases", type=int_flag(-1_000_000, 100_000), default=24, help="number of random tiles (default 24)")
    sv.add_argument("--seed", type=int_flag(0, SEED_MAX), default=0, help="seed of shapes, patterns and operands (default 0)")
    add_output(sv, "--json", metavar="R.json", help="write the cases and max_error as JSON")
    sv.add_argument("--memory", action="store_true",
                    help="whole layers DRAM to DRAM on the SoC RTL with LiteDRAM (Verilator), against the model")
    sv.add_argument("--only", metavar="NAME,...", help="--memory: run only these cases (names as printed)")
    sv.add_argument("--layer", metavar="M,N,K", help="--memory: run one layer of your own (with --mapping)")
    sv.add_argument("--mapping", metavar="M.yaml", help="--memory --layer: the layer's mapping (a mapping file)")
    sv.add_argument("--sparsity", default="dense", help="--memory --layer: weight pattern, e.g. 2:4 (default dense)")
    sv.add_argument("--jobs", type=int_flag(1, WORKERS_MAX), default=2, help="--memory: simulator processes in parallel (default 2)")
    sv.add_argument("--dram-module", default=None, metavar="NAME",
                    help="--memory: LiteDRAM module (default MT40A512M16, the rtl-soc preset's DDR4)")
    sv.set_defaults(func=cmd_validate)
    sa = actions.add_parser("area", help="Yosys cell counts of nm_pe (dense, 2:4, 1:8 at 8 bits) and area factors")
    add_output(sa, "--json", metavar="R.json", help="write the cell counts and factors as JSON")
    sa.add_argument("--write", action="store_true", help="regenerate accel/pe_area_factors.yaml")
    sa.set_defaults(func=cmd_area)


def cmd_validate(args: argparse.Namespace) -> None:
    """Run the validation and print the table (RTL cycles beside predicted cycles)."""
    _require_cocotb()
    if args.memory:
        from .rtl_memory_cmd import cmd_validate_memory

        cmd_validate_memory(args)
        return
    if args.layer or args.mapping or args.only:
        from .errors import fail

        fail("--layer, --mapping and --only belong to --memory (add --memory)")
    from nmsim.rtl_models.runner import RtlRunError
    from nmsim.rtl_models.validate import CYCLE_TOLERANCE, PRESET, make_cases, run_cases

    from .tables import NarrowTable, console, progress_bar

    with flags(count="--cases"):
        cases = make_cases(args.cases, args.seed)
    with progress_bar() as prog:
        task = prog.add_task(f"{args.simulator}: building, then running {len(cases)} tiles", total=len(cases))
        try:
            rows = run_cases(cases, args.simulator, on_record=lambda rec: prog.advance(task))
        except RtlRunError as exc:
            _failed(f"RTL run failed: {exc}")
    t = NarrowTable(title=f"RTL ({args.simulator}) vs sim ({PRESET} preset and variants), compute cycles",
              title_justify="left")
    for col in ("case", "array", "M x N x K", "weights", "runs as", "folds", "RTL cycles", "sim cycles", "error"):
        t.add_column(col, justify="left" if col in ("array", "weights", "runs as") else "right")
    for r in rows:
        t.add_row(str(r["id"]), r["array"], f"{r['M']} x {r['N']} x {r['K']}", r["sparsity"], r["executed"],
                  str(r["folds"]), str(r["rtl_cycles"]), str(r["sim_cycles"]), f"{100 * r['error']:+.2f}%")
    console.print(t)
    max_error = max(abs(r["error"]) for r in rows)
    exact = sum(r["rtl_cycles"] == r["sim_cycles"] for r in rows)
    console.print(f"{len(rows)} tiles, outputs bit-exact against sim.functional; cycles exact on {exact}, "
                  f"max |error| {100 * max_error:.2f}% (bound {100 * CYCLE_TOLERANCE:.0f}%)")
    if args.json:
        write_json(args.outputs.path(args.json), "rtl-validate",
                   {"preset": PRESET, "simulator": args.simulator, "seed": args.seed,
                    "compared": "compute_cycles (busy cycles of the array)", "cases": rows, "max_error": max_error},
                   engine=f"rtl ({args.simulator}) vs fast", arch=preset_prov(PRESET), seeds={"seed": args.seed})
    if max_error > CYCLE_TOLERANCE:
        args.outputs.commit()  # a check that ran and failed keeps its report (the evidence)
        _failed(f"validation failed: max |error| {100 * max_error:.2f}% exceeds {100 * CYCLE_TOLERANCE:.0f}%")


def _require_cocotb() -> None:
    """Bad-input exit (code 2) naming what to install when the `rtl` extra is missing: `make run`
    installs the ml and dist extras only."""
    try:
        import cocotb  # noqa: F401
        import cocotb_tools.runner  # noqa: F401
    except ModuleNotFoundError as exc:
        from .errors import fail
        fail(f"nmsim rtl validate needs cocotb (the rtl extra; module '{exc.name}' is missing): "
             "pip install -e '.[rtl]' in the nmsim checkout (make test installs it)")


def _failed(message: str) -> None:
    """A check that ran and failed (not bad input): message on stderr, exit code 1."""
    print(f"nmsim: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def cmd_area(args: argparse.Namespace) -> None:
    """Synthesize the PEs and print cells, flip-flops and factors."""

    from nmsim.rtl_models.area import (ACC_BITS, FACTOR_FILE, FACTORS, OPERAND_BITS, factor_file_text, factors, pe_areas,
                                 yosys_version)

    from .tables import console, NarrowTable

    version = yosys_version()
    areas = pe_areas()
    fac = factors(areas)
    t = NarrowTable(title=f"nm_pe, {OPERAND_BITS}-bit operands, {ACC_BITS}-bit partial sums ({version.split(' (')[0]})",
              title_justify="left")
    for col in ("PE", "multipliers", "lanes", "cells", "flip-flops", "area factor"):
        t.add_column(col, justify="left" if col == "PE" else "right")
    for a in areas:
        factor = f"{fac[a.label]:.3f} (vs {FACTORS[a.label]})" if a.label in fac else "1 (reference)"
        t.add_row(a.label, str(a.n), str(a.m), str(a.cells), str(a.flops), factor)
    console.print(t)
    if args.write:
        with atomic_path(FACTOR_FILE) as tmp:
            tmp.write_text(factor_file_text(areas, version))
        console.print(f"wrote {FACTOR_FILE}")
    if args.json:
        write_json(args.outputs.path(args.json), "rtl-area", {"yosys": version, "operand_bits": OPERAND_BITS,
                                           "accumulator_bits": ACC_BITS, "pes": [a.__dict__ for a in areas],
                                           "factors": fac}, engine="yosys synthesis")

