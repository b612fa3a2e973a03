"""`nmsim reproduce sat|s4`: the seed papers' headline results next to ours (reproduce/).

    nmsim reproduce sat [--quick] [--no-algorithm] [--json R.json] [--markdown T.md]
    nmsim reproduce s4 [--json R.json] [--markdown T.md]
    nmsim reproduce eyeriss [--json R.json] [--markdown T.md]

Tables go to stdout; `--markdown` writes the same tables as Markdown (docs/REPRODUCTION.md is
made from it); `--json` writes the full result (`{"rows": [...], "average_speedup_2_8": x, ...}`
for sat, `{"rows": [...], "max_speedup_vs_t4": x, ...}` for s4, `{"networks": [{"compare": {...},
"layers": [...], ...}], ...}` for eyeriss). Nothing is cached between runs.
"""
from __future__ import annotations

import argparse
import time

from .argtypes import WORKERS_MAX, int_flag
from .outputs import add_output

from .provenance import write_json

Table = tuple[str, list[str], list[list[str]]]     # title, header, rows (already formatted)


def add_parser(sub) -> None:
    """Register `reproduce` on the `nmsim` subparsers."""
    from nmsim.reproduce import PAPERS

    sr = sub.add_parser("reproduce", help="reproduce the SAT and S4 papers' headline results and check Eyeriss "
                                          "against its silicon (docs/REPRODUCTION.md)")
    sr.add_argument("paper", choices=PAPERS, help="sat: N:M sparse training (arXiv 2309.13015); "
                                                  "s4: high-sparsity inference vs T4 (arXiv 2207.08006); "
                                                  "eyeriss: the measured chip (JSSC 2017) vs the eyeriss preset")
    sr.add_argument("--quick", action="store_true",
                    help="sat: short algorithm experiments (2 epochs, 1 seed, 16 sentences, magnitude only); "
                         "the simulated figures are complete either way")
    sr.add_argument("--no-algorithm", action="store_true",
                    help="sat: skip the digits-CNN and MiniLM experiments (simulation only)")
    sr.add_argument("--threads", type=int_flag(-1_000_000, WORKERS_MAX), default=1,
                    help="sat: torch CPU threads for the algorithm experiments (default 1, as `nmsim prune`: "
                         "on a shared 2-core machine more threads ran slower)")
    add_output(sr, "--json", metavar="R.json", help="write the full result as JSON")
    add_output(sr, "--markdown", metavar="T.md", help="write the tables as Markdown")
    sr.set_defaults(func=cmd_reproduce)


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1e3:.3f}"


def sat_tables(r: dict) -> list[Table]:
    """The SAT result as tables: speedups per model and pattern, ablations, algorithm half."""
    p = r["preset"]
    rows = [[x["workload"], x["pattern"], f"{x['dense_step_cycles']:,}", f"{x['step_cycles']:,}", _x(x["speedup"]),
             _x(x["ideal_speedup"]), f"{x['efficiency']:.0%}", "n/a"] for x in r["rows"]]
    for pat, avg in r["average_speedup"].items():
        paper = _x(r["paper_average_speedup_2_8"]) if pat == "2:8" else "n/a"
        rows.append(["average (arithmetic)", pat, "", "", _x(avg), "", "", paper])
    head = (f"SAT training step (fwd + bwd-data + wgrad, BDWP, pre-generation) on `{p['name']}` "
            f"({p['array']} @ {p['clock_hz'] / 1e6:.0f} MHz, {p['operand_bits']}-bit), speedup over dense training; "
            f"paper: average 2:8 {r['paper_average_speedup_2_8']}x (abstract), ours {r['average_speedup_2_8']:.2f}x "
            f"({r['relative_error_2_8']:+.1%}, tolerance +-{r['tolerance']:.0%}: "
            f"{'within' if r['within_tolerance'] else 'OUTSIDE'})")
    tables: list[Table] = [(head, ["workload", "N:M", "dense step cycles", "N:M step cycles", "speedup",
                                    "ideal (work ratio)", "efficiency", "paper"], rows)]
    ab = []
    for a in r["ablations"]:
        if a["modelled"]:
            ab.append([a["optimization"], "yes", _x(a["geomean_speedup_without"]), _x(a["geomean_contribution"]),
                       " / ".join(f"{m} {v['contribution']:.2f}" for m, v in a["per_model"].items()), "n/a"])
        else:
            ab.append([a["optimization"], "no", "", "", a["how"], "n/a"])
    tables.append(("Dataflow optimizations at 2:8: speedup over dense with the optimization off, and its contribution "
                   "(step cycles without / with; geometric mean over models)",
                   ["optimization", "modelled", "speedup without", "contribution", "per model", "paper"], ab))
    alg = r.get("algorithm")
    if alg:
        d = alg["digits"]
        tables.append((f"Digits CNN trained from scratch ({d['epochs']} epochs, seeds {d['seeds']}, "
                       f"{d['test_samples']} test images), with the simulated SAT step speedup of this CNN "
                       f"(batch {d['training_batch']}); paper: average loss {d['paper_average_loss_points_2_8']} points "
                       "at 2:8 on its own models (abstract)",
                       ["method", "N:M", "test accuracy", "loss vs dense (points)", "SAT step speedup"],
                       [[x["method"], x["pattern"], f"{x['accuracy']:.4f}", f"{x['loss_points']:+.2f}",
                         _x(x["sat_step_speedup"])] for x in d["rows"]]))
        m = alg["minilm"]
        tables.append((f"all-MiniLM-L6-v2 pruned one-shot ({m['sentences']} sentences), with the simulated SAT "
                       f"step speedup of MiniLM ({m['training_batch']})",
                       ["N:M", "method", "cosine (mean)", "cosine (min)", "SAT step speedup"],
                       [[x["pattern"], x["method"], f"{x['cosine_similarity']:.4f}", f"{x['cosine_min']:.4f}",
                         _x(x["sat_step_speedup"])] for x in m["rows"]]))
    return tables


def s4_tables(r: dict) -> list[Table]:
    """The S4 result as tables: latencies and speedups, the 32x check, the abstract's claims."""
    p = r["preset"]
    rows = [[f"{x['model']} batch {x['batch']}", x["level"], _ms(x["s4_latency_s"]), x["s4_main_bound"], f"{x['attention_share']:.0%}",
             f"{x['s4_nongemm_share']:.0%}", _ms(x["t4_latency_s"]), _ms(x["t4_measured_latency_s"]), _x(x["speedup_vs_t4"]),
             _x(x["speedup_vs_t4_measured"]), _x(x["speedup_vs_s4_dense"])] for x in r["rows"]]
    tables: list[Table] = [(
        f"S4 inference on `{p['name']}` ({p['array']} @ {p['clock_hz'] / 1e9:.1f} GHz, int{p['operand_bits']}) vs T4 "
        f"INT8 (`t4` preset, and NVIDIA's measured TensorRT latency where recorded); latencies in ms per batch; "
        f"max speedup vs t4 preset {r['max_speedup_vs_t4']:.2f}x ({r['max_speedup_vs_t4_at']}), vs measured T4 "
        f"{_x(r['max_speedup_vs_t4_measured'])} ({r['max_speedup_vs_t4_measured_at']}); paper: 'several-times' (abstract)",
        ["workload", "sparsity", "S4 ms", "S4 bound", "attention", "non-GEMM", "T4 preset ms", "T4 measured ms",
         "vs T4 preset", "vs T4 measured", "vs S4 dense"], rows)]
    tables.append((f"S4 sparse vs dense on one GEMM M={r['claims']['sparsity_acceleration_32x']['gemm']['M']}, "
                   f"N={r['claims']['sparsity_acceleration_32x']['gemm']['N']}, "
                   f"K={r['claims']['sparsity_acceleration_32x']['gemm']['K']} (paper: up to 32x, abstract)",
                   ["sparsity", "degree", "speedup vs dense", "bottleneck"],
                   [[c["level"], f"{c['degree']}x", _x(c["speedup_vs_dense"]), c["bottleneck"]] for c in r["capability"]]))
    c = r["claims"]
    st, lg = c["several_times_vs_t4"], c["larger_sparse_beats_smaller_dense"]
    tables.append(("The abstract's claims", ["claim (abstract)", "our test", "ours", "reproduced"], [
        [st["claim"], f"max speedup >= {st['threshold']}x vs t4 preset", _x(st["ours_vs_t4_preset"]),
         "yes" if st["reproduced_vs_t4_preset"] else "no"],
        [st["claim"], f"max speedup >= {st['threshold']}x vs measured T4", _x(st["ours_vs_t4_measured"]),
         {True: "yes", False: "no", None: "n/a"}[st["reproduced_vs_t4_measured"]]],
        [lg["claim"], lg["tested"], ", ".join(lg["holds_for"]) or "none", "yes" if lg["reproduced"] else "no"],
        ["sparsity acceleration up to 32 times",
         f"1:32 vs dense on the GEMM above, >= {1 - c['sparsity_acceleration_32x']['tolerance']:.0%} of 32x",
         _x(c["sparsity_acceleration_32x"]["ours_at_1_32"]),
         "yes" if c["sparsity_acceleration_32x"]["reproduced"] else "no"],
    ]))
    return tables


def eyeriss_tables(r: dict) -> list[Table]:
    """The Eyeriss check as tables: per network ours vs the chip, the sensitivity to the mapping, per layer."""
    p = r["preset"]
    names = {"frames_per_s": "frames/s", "dram_accesses_per_mac": "DRAM accesses/MAC", "power_mw": "chip power mW"}
    fmt = {"frames_per_s": "{:.2f}", "dram_accesses_per_mac": "{:.5f}", "power_mw": "{:.0f}"}
    rows = []
    for n in r["networks"]:
        for key, c in n["compare"].items():
            rows.append([n["workload"], names[key], fmt[key].format(c["ours"]), fmt[key].format(c["paper"]),
                         f"{c['error']:+.0%}", "yes" if c["within"] else "no"])
    tables: list[Table] = [(
        f"Eyeriss (JSSC 2017) measured vs the `{p['name']}` preset ({p['array']} @ {p['clock_hz'] / 1e6:.0f} MHz, "
        f"{p['operand_bits']}-bit), heuristic mapper for {r['objective']}; within +-{r['tolerance']:.0%}?",
        ["network", "figure", "ours", "chip", "error", "within"], rows)]
    sens = [[n["workload"], s["mapping"], f"{s['frames_per_s']:.2f}", f"{s['dram_accesses_per_mac']:.5f}",
             f"{s['chip_power_mw']:.0f}"] for n in r["networks"] for s in n["sensitivity"]]
    tables.append(("The same under other mappings (sensitivity, not the reported figure)",
                   ["network", "mapping", "frames/s", "DRAM accesses/MAC", "chip power mW"], sens))
    for n in r["networks"]:
        tables.append((f"{n['workload']} per layer (chip: {n['layers_cite']})",
                       ["layer", "ours ms", "chip ms", "ours DRAM MB", "chip DRAM MB", "ours mW", "chip mW", "bound",
                        "util"],
                       [[x["layer"], f"{x['latency_ms']:.1f}", f"{x['paper_latency_ms']:.1f}", f"{x['dram_mb']:.2f}",
                         f"{x['paper_dram_mb']:.1f}", f"{x['power_mw']:.0f}", f"{x['paper_power_mw']:.0f}",
                         x["bottleneck"], f"{x['utilization']:.0%}"] for x in n["layers"]]))
    return tables


TABLES = {"sat": sat_tables, "s4": s4_tables, "eyeriss": eyeriss_tables}


def markdown(tables: list[Table], command: str) -> str:
    """Tables as Markdown, each under its title, then the command that made them."""
    out = []
    for title, header, rows in tables:
        out += [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out + [f"`{command}`", ""])


def _seeds(args: argparse.Namespace, algorithm: bool) -> dict:
    """The seeds of the algorithm experiments a reproduction ran (none for the cost model)."""
    if not algorithm:
        return {}
    from nmsim.reproduce.algorithm import DIGITS_FULL, DIGITS_QUICK

    return {"digits_cnn": list((DIGITS_QUICK if args.quick else DIGITS_FULL)["seeds"])}


def cmd_reproduce(args: argparse.Namespace) -> None:
    """Run the reproduction with a progress bar, print the tables, write --json/--markdown."""
    from .errors import fail
    from .tables import NarrowTable, console, progress_bar

    if args.paper != "sat" and (args.quick or args.no_algorithm):
        fail(f"--quick and --no-algorithm apply to `reproduce sat` ({args.paper} has no algorithm experiments)")
    if args.threads < 1:
        fail(f"--threads {args.threads}: need at least 1")
    algorithm = args.paper == "sat" and not args.no_algorithm
    if algorithm:
        import torch

        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    with progress_bar() as prog:
        task = prog.add_task(f"reproducing {args.paper}", total=1)

        def progress(what: str, done: int, total: int) -> None:
            prog.update(task, description=what, completed=done, total=max(total, 1))

        if args.paper == "sat":
            from nmsim.reproduce import run_sat

            result = run_sat(quick=args.quick, algorithm=algorithm, progress=progress)
        elif args.paper == "s4":
            from nmsim.reproduce import run_s4

            result = run_s4(progress=progress)
        else:
            from nmsim.reproduce import run_eyeriss

            result = run_eyeriss(progress=progress)
    seconds = time.perf_counter() - t0
    result["seconds"] = round(seconds, 1)
    tables = TABLES[args.paper](result)
    for title, header, rows in tables:
        t = NarrowTable(title=title, title_justify="left")
        for h in header:
            t.add_column(h)
        for row in rows:
            t.add_row(*row)
        console.print(t)
    flags = "".join(f" {f}" for f, on in (("--quick", args.quick), ("--no-algorithm", args.no_algorithm),
                                          (f"--threads {args.threads}", args.threads != 1)) if on)
    command = f"nmsim reproduce {args.paper}{flags}  # {seconds:.0f} s"
    if algorithm:
        import torch

        command += f", torch {torch.__version__}, {args.threads} thread(s)"
        result["torch"] = {"version": torch.__version__, "threads": args.threads}
    console.print(command)
    if args.json:
        write_json(args.outputs.path(args.json), f"reproduce-{args.paper}", result, engine="fast", seeds=_seeds(args, algorithm))
    if args.markdown:
        with open(args.outputs.path(args.markdown), "w") as fh:
            fh.write(markdown(tables, command))
