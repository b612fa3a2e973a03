"""LiteDRAM alone under synthetic access patterns: the DRAM efficiency parameters of `rtl-soc`.

    python -m nmsim.rtl_models.dram_bench [--json R.json]

Runs PATTERNS on dram_bench_tb.v (the generated LiteDRAM controller and DDR4 model, driven by an
RTL pattern generator, no SoC), counts in each address stream the page changes (consecutive
commands in different 2 KiB pages) and the read/write switches, and fits by least squares

    cycles x (1 - refresh_fraction) = words + page_change x pages + rw_switch x switches

(sim/dram.py's form, in cycles per 16-B word). The three numbers go into the rtl-soc preset; the
layers of `nmsim rtl validate --memory` are never used to set them (docs/MODEL.md, "DRAM efficiency").
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .dram import dram_verilog
from .runner import FAST_VERILATOR, RTL_DIR, build_design, run_tests

WORDS = 32768
PAGE_WORDS = 128   # 2 KiB pages of 16-B words: word address bits [6:0] are the column
FAR = 1 << 16      # another region: a different row of the same bank sequence


def _p(name, x=None, y=None, batch=16):
    """A pattern: stream X (and Y, alternating in batches) as (base, run, pitch, we)."""
    x = x or (0, WORDS - 1, WORDS - 1, 0)
    d = {"name": name, "n": WORDS, "batch": batch, "y_on": int(y is not None),
         "x_base": x[0], "x_run": x[1], "x_pitch": x[2], "x_we": x[3]}
    if y is not None:
        d.update(y_base=y[0], y_run=y[1], y_pitch=y[2], y_we=y[3])
    return d


# Sequential and single-page streams, strided runs as tile rows make them, and two streams
# alternating in batches (other bank / same bank, reads with reads and with writes).
PATTERNS = (
    _p("one_page_read", (0, 128, 0, 0)),
    _p("one_page_write", (0, 128, 0, 1)),
    _p("seq_read"),
    _p("seq_write", (0, WORDS - 1, WORDS - 1, 1)),
    _p("runs2_pitch6_read", (0, 2, 6, 0)),
    _p("runs4_pitch32_read", (0, 4, 32, 0)),
    _p("runs8_pitch48_read", (0, 8, 48, 0)),
    _p("runs16_pitch160_read", (0, 16, 160, 0)),
    _p("runs4_pitch24_write", (0, 4, 24, 1)),
    _p("rr_two_banks", (0, 128, 0, 0), (128, 128, 0, 0)),
    _p("rr_same_bank", (0, 128, 0, 0), (1024, 128, 0, 0)),
    _p("rw_two_banks", (0, 128, 0, 0), (128, 128, 0, 1)),
    _p("rw_same_bank", (0, 128, 0, 0), (1024, 128, 0, 1)),
    _p("rw_seq_streams", (0, WORDS - 1, WORDS - 1, 0), (FAR + 384, WORDS - 1, WORDS - 1, 1)),
    _p("rw_runs_streams", (0, 4, 32, 0), (FAR + 256, 8, 24, 1)),
    _p("rr_runs_streams", (0, 2, 6, 0), (FAR + 640, 4, 36, 0)),
    _p("rw_seq_batch64", (0, WORDS - 1, WORDS - 1, 0), (FAR + 384, WORDS - 1, WORDS - 1, 1), batch=64),
)


def addresses(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """(word address, is write) of every command of pattern `p`, in issue order (as the RTL generator)."""
    streams = [("x", [p["x_base"], p["x_run"], p["x_pitch"], p["x_we"]])]
    if p["y_on"]:
        streams.append(("y", [p["y_base"], p["y_run"], p["y_pitch"], p["y_we"]]))
    state = {s: [0, 0] for s, _ in streams}  # row index, column
    addr, we = [], []
    for i in range(p["n"]):
        name, (base, run, pitch, w) = streams[(i // p["batch"]) % len(streams)]
        row, col = state[name]
        addr.append(base + row * pitch + col)
        we.append(w)
        state[name] = [row + 1, 0] if col + 1 == run else [row, col + 1]
    return np.array(addr), np.array(we, dtype=bool)


def stream_counts(p: dict) -> dict:
    """Events between consecutive commands of pattern `p` under an open-page policy (a bank keeps
    its row open until another row of it is needed): row misses (an activation), bank switches
    to a row still open, read/write switches."""
    addr, we = addresses(p)
    bank = (addr // PAGE_WORDS) % 8
    row = addr // (PAGE_WORDS * 8)
    open_row = {}
    misses = bank_switches = 0
    for i in range(len(addr)):
        b, r = int(bank[i]), int(row[i])
        if open_row.get(b) != r:
            misses += 1
            open_row[b] = r
        elif i and bank[i - 1] != b:
            bank_switches += 1
    return {"misses": misses, "bank_switches": bank_switches, "switches": int(np.count_nonzero(we[1:] != we[:-1]))}


def measure(patterns=PATTERNS) -> list[dict]:
    """Run the patterns on LiteDRAM; one record per pattern with cycles, counts and DRAM commands."""
    dram = dram_verilog()
    build = build_design("dram_bench_tb", [dram / "dram_sim.v", RTL_DIR / "dram_bench_tb.v"], "verilator",
                         FAST_VERILATOR, ports_only=True)
    recs = run_tests(build, "dram_bench_tb", "verilator", "nmsim.rtl_models.tb_dram_bench",
                     {"patterns": list(patterns)})
    for rec, p in zip(recs, patterns):
        rec.update(stream_counts(p))
    return recs


EVENTS = ("misses", "bank_switches", "switches")


def fit(recs: list[dict]) -> dict:
    """Least-squares refresh fraction and cycles per event (EVENTS), and how well they reproduce
    each pattern (relative error of the fitted cycles)."""
    cyc = np.array([r["cycles"] for r in recs], dtype=float)
    words = np.array([r["n"] for r in recs], dtype=float)
    x = np.stack([cyc] + [[r[e] for r in recs] for e in EVENTS], axis=1)
    coef, *_ = np.linalg.lstsq(x, cyc - words, rcond=None)
    pred = (words + x[:, 1:] @ coef[1:]) / (1 - coef[0])
    return {"refresh_fraction": float(coef[0]), **{f"{e}_cycles": float(c) for e, c in zip(EVENTS, coef[1:])},
            "errors": {r["name"]: float(e) for r, e in zip(recs, (pred - cyc) / cyc)}}


def main(argv=None) -> None:
    """Measure, fit and print the parameters (and write them with --json)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="R.json", help="write the records and the fit")
    a = ap.parse_args(argv)
    recs = measure()
    res = fit(recs)
    for r in recs:
        print(f"{r['name']:22s} cycles {r['cycles']:7d} misses {r['misses']:5d} bank switches {r['bank_switches']:5d} "
              f"r/w switches {r['switches']:5d} ACT {r['act']:5d} REF {r['ref']:3d} "
              f"fit error {100 * res['errors'][r['name']]:+6.2f}%")
    print(f"refresh_fraction {res['refresh_fraction']:.4f}; cycles per row miss {res['misses_cycles']:.2f}, per bank "
          f"switch {res['bank_switches_cycles']:.2f}, per read/write switch {res['switches_cycles']:.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"patterns": recs, "fit": res}, fh, indent=1)


if __name__ == "__main__":
    main()
