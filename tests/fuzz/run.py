"""The long fuzz run: seeded cases of every input kind on a process pool, counted and timed.

    .venv/bin/python -m tests.fuzz.run --cases 100000 --workers 2      # `make fuzz`

Case i uses `random.Random(seed * 1_000_003 + i)` and kind sorted(KINDS)[i % len(KINDS)], so a
finding is reproduced by its number alone:
`python -m tests.fuzz.run --only 4242`. Workers cap their address space (a runaway allocation is
a MemoryError finding, not a swapped machine) and each case runs under the harness's time limit.
Prints cases/s, outcomes per kind and every finding; exit status 1 when there was one.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

from .harness import limit_memory, quiet_warnings, run_case
from .kinds import KINDS, make_case

MEMORY_GIB = 3.0
# case folders in memory where the machine has a tmpfs: creating and removing ~10 files per case
# on the disk's filesystem cost more than many cases themselves
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
CHUNK = 50


def schedule() -> list[str]:
    """The kind of each case position, repeated: every kind once per round."""
    return sorted(KINDS)


def run_one(index: int, seed: int, kinds: list[str]):
    """(index, kind, status, finding, argv) of case `index`."""
    name = kinds[index % len(kinds)]
    rng = random.Random(seed * 1_000_003 + index)
    with tempfile.TemporaryDirectory(prefix="nmsim-fuzz-", dir=SCRATCH) as d:
        try:
            case = make_case(name, rng, Path(d))
        except Exception as exc:  # the fuzzer's own fault: reported, and the run goes on
            return index, name, "finding", f"fuzzer error making the case: {type(exc).__name__}: {exc}"[:300], []
        outcome = run_case(case)
    argv = [str(a).replace(d, "<case>") for a in (outcome.argv or [])]
    return index, name, outcome.status, outcome.finding, argv


def _warm() -> None:
    """Import and build once in the parent what every worker needs (forked workers share it)."""
    from nmsim.cli.main import build_parser

    from .harness import _heavy_stubbed
    from .kinds import measurement_text

    build_parser()
    measurement_text()
    # what commands import lazily, imported once here rather than in every worker
    import jsonschema  # noqa: F401
    import scipy.optimize  # noqa: F401
    import scipy.stats  # noqa: F401

    from nmsim.specfile.results import RESULT_KINDS, _validator
    for kind in RESULT_KINDS:
        _validator(kind)
    with _heavy_stubbed():
        pass


def _worker_init() -> None:
    limit_memory(MEMORY_GIB)
    quiet_warnings()
    os.environ.setdefault("MPLBACKEND", "Agg")


def _chunk(args):
    start, stop, seed, kinds = args
    return [run_one(i, seed, kinds) for i in range(start, stop)]


def main(argv: list[str] | None = None) -> int:
    """Run the long fuzz (module docstring); returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.run")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", type=int, help="run case number ONLY alone, in this process, and print it")
    args = p.parse_args(argv)
    kinds = schedule()
    if args.only is not None:
        print(run_one(args.only, args.seed, kinds))
        return 0
    _warm()
    t0 = time.perf_counter()
    tasks = [(s, min(s + CHUNK, args.cases), args.seed, kinds) for s in range(0, args.cases, CHUNK)]
    stats: Counter = Counter()
    findings = []
    done = 0
    with get_context("fork").Pool(args.workers, initializer=_worker_init) as pool:
        for results in pool.imap_unordered(_chunk, tasks):
            for index, name, status, finding, case_argv in results:
                stats[(name, status)] += 1
                if finding:
                    findings.append((index, name, finding, case_argv))
                    print(f"FINDING case {index} ({name}): {finding}\n    nmsim {' '.join(case_argv)}", flush=True)
            done += len(results)
            if done % 5000 < CHUNK:
                rate = done / (time.perf_counter() - t0)
                print(f"{done:,} cases, {rate:.0f}/s, {len(findings)} findings", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(f"\n{args.cases:,} cases in {seconds:.0f} s ({args.cases / seconds:.0f} cases/s, {args.workers} workers), "
          f"{len(findings)} findings")
    print(f"{'kind':14s} {'ok':>8s} {'refused':>8s} {'accepted':>8s} {'finding':>8s}")
    for name in kinds:
        row = [stats[(name, s)] for s in ("ok", "refused", "accepted", "finding")]
        print(f"{name:14s} " + " ".join(f"{v:8,d}" for v in row))
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
