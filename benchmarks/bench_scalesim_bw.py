"""SCALE-Sim user-bandwidth mode: nmsim's "Total Cycles" (stalls included) against SCALE-Sim 3.0.0 itself.

Generates USER-bandwidth cases (groups below), runs SCALE-Sim on each in its peer virtualenv
(benchmarks/peers/scalesim.py; results cached by input, so a rerun costs seconds), runs
`nmsim.sim.simulate_scalesim` on the same cfg and topology texts, and prints the error table, the
summary (target: within 2% of Total Cycles on the cases the replay claims exact) and the run times
of both (ours warm, median of 5; SCALE-Sim's own wall time recorded when it ran).

Groups: A dense GEMMs (3 dataflows, arrays 4x4..32x32, M/N/K 8..256, SRAMs 1-8 kB, per-interface
bandwidths 1-32 words/cycle); B one layer per dataflow, all interfaces at 1, 2, 4, 8, 16, 32
words/cycle; C N:M with SparsitySupport; D 1x1 convs; E SRAMs that hold everything (no stall);
F InterfaceBandwidth CALC with a 1 kB ofmap SRAM; G three-layer topologies; X convs with filters
larger than 1x1 (stride 1, a stride dividing ifmap - filter, and strides leaving partial edge windows),
which the replay only approximates (reported apart, with the note nmsim attaches).

Run: .venv/bin/python -m benchmarks.bench_scalesim_bw [--quick] [--workers 2] [--json out.json] [--large]
(needs the peer venv: `python -m benchmarks.peers.scalesim --ensure`, or NMSIM_SCALESIM_VENV).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from benchmarks.peers.scalesim import ScaleSimUnavailable, cfg_text, ensure_scalesim_venv, run_scalesim
from nmsim.accel.scalesim import parse_scalesim_cfg
from nmsim.sim.scalesim_bw import scalesim_memory_cycles
from nmsim.sim.simulate import simulate_scalesim
from nmsim.workloads.scalesim import parse_scalesim_topology

ARRAYS = [(4, 4), (8, 8), (16, 16), (32, 32), (8, 4), (4, 16), (16, 8)]
BWS = [1, 2, 4, 8, 16, 32]
GEMM_HEAD = "Layer, M, N, K, Sparsity,"
CONV_HEAD = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, "
             "Sparsity,")


@dataclass(frozen=True)
class Case:
    """One SCALE-Sim run: a topology (rows as text) on one config."""

    name: str
    df: str
    rows: int
    cols: int
    kb: tuple[int, int, int]
    bw: tuple[int, int, int]
    layers: tuple[str, ...]      # topology rows without the header, e.g. "g, 64, 32, 48, 1:1,"
    conv: bool = False
    sparse: bool = False
    mode: str = "USER"
    exact: bool = True           # the replay claims SCALE-Sim's number (group X: approximate)

    def job(self) -> dict:
        """The peer runner's job."""
        head = CONV_HEAD if self.conv else GEMM_HEAD
        return {"id": self.name, "cfg": cfg_text(self.df, self.rows, self.cols, self.kb, mode=self.mode, bw=self.bw,
                                                sparse=self.sparse, run_name="bwcheck"),
                "topology": "\n".join((head, *self.layers)) + "\n", "input_type": "conv" if self.conv else "gemm"}

    def ours(self):
        """nmsim's RunResult for the case's files."""
        j = self.job()
        return simulate_scalesim(parse_scalesim_cfg(j["cfg"], f"{self.name}.cfg"),
                                 parse_scalesim_topology(j["topology"], f"{self.name}.csv"))


def _affordable(df, R, C, M, N, K, kb, bw) -> bool:
    """Keep SCALE-Sim to seconds per case: its time grows with refills x trace length."""
    cfg = parse_scalesim_cfg(cfg_text(df, R, C, kb, bw=bw), "a.cfg")
    r = scalesim_memory_cycles(cfg, M, N, K)
    return r.demand_rows <= 60_000 and r.ifmap_refills + r.filter_refills <= 1_500 and r.total_cycles <= 3_000_000


def _dense_sweep(rng: random.Random) -> list[Case]:
    out = []
    for df in ("ws", "os", "is"):
        n = 0
        while n < 14:
            R, C = ARRAYS[n % len(ARRAYS)]
            M, N, K = (rng.randint(8, 256) for _ in range(3))
            kb = tuple(rng.choice([1, 1, 2, 4, 8]) for _ in range(3))
            bw = (rng.choice(BWS),) * 3 if n % 2 else tuple(rng.choice(BWS) for _ in range(3))
            if _affordable(df, R, C, M, N, K, kb, bw):
                out.append(Case(f"A-{df}-{n:02d}", df, R, C, kb, bw, (f"g, {M}, {N}, {K}, 1:1,",)))
                n += 1
    return out


def make_cases() -> list[Case]:
    """Every group of the module docstring, seeded."""
    cases = _dense_sweep(random.Random(20240611))
    one = (1, 1, 1)
    for df, (M, N, K) in (("ws", (96, 40, 72)), ("os", (72, 48, 96)), ("is", (64, 80, 56))):
        cases += [Case(f"B-{df}-bw{b:02d}", df, 8, 8, one, (b, b, b), (f"g, {M}, {N}, {K}, 1:1,",)) for b in BWS]
    for i, (df, nm, R, C, M, N, K, b) in enumerate((
            ("ws", "2:4", 8, 8, 64, 48, 100, 2), ("ws", "1:4", 4, 8, 96, 32, 130, 1),
            ("os", "3:4", 8, 4, 48, 40, 90, 4), ("os", "2:8", 16, 16, 128, 64, 200, 2),
            ("is", "2:4", 8, 8, 80, 56, 66, 8), ("is", "1:2", 4, 4, 40, 64, 50, 1))):
        cases.append(Case(f"C-{df}-{nm.replace(':', 'of')}-{i}", df, R, C, one, (b, b, b),
                          (f"s, {M}, {N}, {K}, {nm},",), sparse=True))
    for i, (df, H, W, ch, nf, st, b) in enumerate((("ws", 14, 14, 32, 24, 1, 2), ("os", 13, 13, 48, 16, 2, 4),
                                                   ("is", 10, 10, 40, 32, 1, 1))):
        cases.append(Case(f"D-{df}-conv1x1-{i}", df, 8, 8, one, (b, b, b), (f"c, {H}, {W}, 1, 1, {ch}, {nf}, {st}, 1:1,",),
                          conv=True))
    cases += [Case(f"E-{df}-nostall", df, 8, 8, (64, 64, 64), one, ("g, 64, 64, 64, 1:1,",)) for df in ("ws", "os", "is")]
    for i, (df, R, C, M, N, K) in enumerate((("ws", 32, 32, 200, 96, 64), ("ws", 16, 16, 128, 128, 48),
                                             ("os", 32, 32, 160, 128, 40), ("os", 16, 16, 96, 200, 24),
                                             ("is", 32, 32, 96, 200, 64), ("is", 16, 16, 128, 96, 40))):
        cases.append(Case(f"F-{df}-calc-{i}", df, R, C, one, (10, 10, 10), (f"g, {M}, {N}, {K}, 1:1,",), mode="CALC"))
    three = ("l1, 48, 40, 64, 1:1,", "l2, 64, 24, 40, 1:1,", "l3, 32, 56, 48, 1:1,")
    cases += [Case(f"G-{df}-3layers", df, 8, 8, one, (2, 4, 2), three) for df in ("ws", "os", "is")]
    for df in ("ws", "os", "is"):   # (ifmap side, filter side, channels, filters, stride, words/cycle)
        for i, (H, k, ch, nf, st, b) in enumerate(((12, 3, 8, 16, 1, 2), (16, 5, 4, 12, 1, 4), (13, 3, 8, 16, 2, 2),
                                                   (12, 3, 8, 16, 2, 2), (11, 2, 6, 8, 3, 1))):
            cases.append(Case(f"X-{df}-conv{k}x{k}-s{st}-{H}x{H}-{i}", df, 8, 8, one, (b, b, b),
                              (f"c, {H}, {H}, {k}, {k}, {ch}, {nf}, {st}, 1:1,",), conv=True, exact=False))
    return cases


def run_peer(cases: list[Case], workers: int) -> dict[str, dict]:
    """SCALE-Sim's results for every case, `workers` runner processes side by side (cached)."""
    jobs = [c.job() for c in cases]
    parts = [jobs[i::workers] for i in range(max(1, min(workers, len(jobs))))]
    out: dict[str, dict] = {}
    with ThreadPoolExecutor(len(parts)) as ex:
        for res in ex.map(lambda p: run_scalesim(p, timeout_s=3600), parts):
            out.update(res)
    return out


def _ours_ms(c: Case) -> float:
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        c.ours()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def compare(c: Case, peer: dict) -> dict:
    """One record per layer of the case: SCALE-Sim's and our Total/Stall Cycles, notes, times."""
    if "error" in peer:
        return {"case": c.name, "error": peer["error"].splitlines()[-1]}
    res = c.ours()
    recs = []
    for lr, ss in zip(res.layers, peer["layers"], strict=True):
        theirs = int(ss["Total Cycles"])
        recs.append({"case": c.name, "layer": lr.name, "df": c.df, "exact_claimed": c.exact,
                     "scalesim_total": theirs, "scalesim_stall": int(ss["Stall Cycles"]),
                     "ours_total": lr.cycles, "ours_stall": int(lr.cycle_breakdown["scalesim_stall_cycles"]),
                     "stall_free": int(lr.cycle_breakdown["scalesim_stall_free_cycles"]),
                     "rel_err": (lr.cycles - theirs) / theirs,
                     "notes": [n for n in lr.notes if n.startswith(lr.name) or "may be far too low" in n]})
    recs[0].update(scalesim_s=peer["seconds"], ours_ms=_ours_ms(c))
    return {"case": c.name, "config": asdict(c), "layers": recs}


def summary(records: list[dict]) -> list[str]:
    """The lines docs/PERFORMANCE.md quotes."""
    lay = [x for r in records for x in r.get("layers", [])]
    exact = [x for x in lay if x["exact_claimed"]]
    approx = [x for x in lay if not x["exact_claimed"]]
    stalled = [x for x in exact if x["scalesim_stall"] > 0]
    errs = [abs(x["rel_err"]) for x in exact]
    sf = [(x["stall_free"] - x["scalesim_total"]) / x["scalesim_total"] for x in stalled]
    timed = [x for x in lay if "ours_ms" in x]
    lines = [
        f"cases {len(records)} ({sum('error' in r for r in records)} refused by SCALE-Sim), layers {len(lay)}: "
        f"{len(exact)} claimed exact ({len(stalled)} with SCALE-Sim stalls), {len(approx)} approximate (group X)",
        f"claimed exact: Total Cycles |error| max {100 * max(errs):.3f}%, mean {100 * statistics.fmean(errs):.3f}%; "
        f"Total and Stall Cycles both equal on {sum(x['ours_total'] == x['scalesim_total'] and x['ours_stall'] == x['scalesim_stall'] for x in exact)}"
        f"/{len(exact)}; over 2%: {sum(e > 0.02 for e in errs)}",
        f"stall-free count (compatibility mode before this replay) on the stalled layers: "
        f"{100 * min(sf):+.1f}% to {100 * max(sf):+.1f}%, mean {100 * statistics.fmean(sf):+.1f}%",
        "approximate (group X): " + ", ".join(f"{x['case']} {100 * x['rel_err']:+.1f}%" for x in approx),
        f"time per case: SCALE-Sim median {statistics.median(x['scalesim_s'] for x in timed):.2f} s "
        f"(max {max(x['scalesim_s'] for x in timed):.1f} s); nmsim simulate_scalesim median "
        f"{statistics.median(x['ours_ms'] for x in timed):.2f} ms (max {max(x['ours_ms'] for x in timed):.2f} ms); "
        f"ratio median {statistics.median(1e3 * x['scalesim_s'] / x['ours_ms'] for x in timed):.0f}x",
    ]
    return lines


def table(records: list[dict]) -> list[str]:
    """Markdown table, one row per layer."""
    out = ["| case | layer | SCALE-Sim total (stall) | nmsim total (stall) | error | stall-free error |", "|---|---|---|---|---|---|"]
    for r in records:
        if "error" in r:
            out.append(f"| {r['case']} | | SCALE-Sim failed: {r['error'][:60]} | | | |")
        for x in r.get("layers", []):
            out.append(f"| {x['case']} | {x['layer']} | {x['scalesim_total']} ({x['scalesim_stall']}) | {x['ours_total']} "
                       f"({x['ours_stall']}) | {100 * x['rel_err']:+.2f}% | "
                       f"{100 * (x['stall_free'] - x['scalesim_total']) / x['scalesim_total']:+.1f}% |")
    return out


LARGE = (("ws", 32, 64, 8, (3136, 64, 576)), ("os", 32, 64, 8, (3136, 64, 576)), ("is", 32, 64, 8, (3136, 64, 576)),
         ("ws", 4, 1, 2, (256, 256, 256)), ("ws", 128, 1024, 64, (4096, 4096, 4096)))


def large_layers() -> list[str]:
    """The replay's own time on layers SCALE-Sim would need minutes to hours for (warm, median of 5)."""
    out = ["| layer | demand rows | Total Cycles (stalls) | replay time |", "|---|---|---|---|"]
    for df, R, kb, b, (M, N, K) in LARGE:
        cfg = parse_scalesim_cfg(cfg_text(df, R, R, (kb,) * 3, bw=(b,) * 3), "large.cfg")
        scalesim_memory_cycles(cfg, M, N, K)
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            r = scalesim_memory_cycles(cfg, M, N, K)
            ts.append(time.perf_counter() - t0)
        out.append(f"| {df.upper()} {R}x{R}, {M}x{N}x{K}, {kb} kB SRAMs, {b} words/cycle | {r.demand_rows:,} | "
                   f"{r.total_cycles:,} ({r.stall_cycles:,}) | {1e3 * statistics.median(ts):.1f} ms |")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 when a claimed-exact layer is more than 2% off."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="groups B-G only (no random sweep, no group X)")
    p.add_argument("--workers", type=int, default=2, help="SCALE-Sim runs side by side (default 2)")
    p.add_argument("--json", help="write every record here")
    p.add_argument("--large", action="store_true", help="only time the replay on large layers (no SCALE-Sim)")
    args = p.parse_args(argv)
    if args.large:
        print("\n".join(large_layers()))
        return 0
    try:
        ensure_scalesim_venv(install=False)
    except ScaleSimUnavailable as exc:
        print(f"SCALE-Sim peer unavailable: {exc}", file=sys.stderr)
        return 2
    cases = make_cases()
    if args.quick:
        cases = [c for c in cases if c.name[0] in "BCDEFG"]
    t0 = time.perf_counter()
    peer = run_peer(cases, args.workers)
    print(f"SCALE-Sim: {len(cases)} cases in {time.perf_counter() - t0:.1f} s wall "
          f"({sum(not peer[c.name].get('cached', True) for c in cases)} run now, the rest cached)")
    records = [compare(c, peer[c.name]) for c in cases]
    print("\n".join(table(records)))
    lines = summary(records)
    print("\n" + "\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": lines, "records": records}, f, indent=1)
    bad = [x for r in records for x in r.get("layers", []) if x["exact_claimed"] and abs(x["rel_err"]) > 0.02]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
