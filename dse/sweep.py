"""Run a sweep into a result store: the one entry point of `nmsim dse run` and of notebooks.

    from nmsim.dse import run_sweep
    summary = run_sweep("dse/examples/sat_array.yaml", "sat.sqlite")          # local processes
    summary = run_sweep(spec, "sat.sqlite", executor="dask", workers=4)

Points stream from the sampler in blocks; each block's finished points (rows already in the
store) are skipped, the rest are cut into chunks for the executor, and every completed chunk is
written in one transaction. Memory stays bounded by the block size and the chunks in flight.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from nmsim.specfile import SpecError

from .chunks import KeyedPoints, evaluate_into, progress_bar
from .executors import make_executor
from .space import design_points
from .spec import Sweep, load_sweep
from .store import ResultStore

SCAN_BLOCK = 2_000  # points whose keys are checked against the store at a time


@dataclass
class SweepSummary:
    """What a run did: points in the design space, evaluated now, skipped (already stored),
    rows written, rows that recorded an error, wall seconds, and (adaptive) proposals that
    repeated a stored design."""

    sweep: str
    store: str
    points: int
    evaluated: int
    skipped: int
    rows_written: int
    errors: int
    seconds: float
    repeated: int = 0       # adaptive: proposals of an already stored design, not evaluated again

    def to_dict(self) -> dict:
        """Plain dict (JSON-friendly)."""
        return asdict(self)


def chunk_size_for(points: int, workers: int) -> int:
    """Points per task: about 8 tasks per worker for load balance, 50..1000 to amortize overheads."""
    return max(50, min(1000, -(-points // (8 * workers))))


def _pending(keyed: KeyedPoints, store: ResultStore, points: Iterator[dict], chunk: int,
             on_skip) -> Iterator[list[tuple[str, dict]]]:
    """Chunks of (point key, point) that still miss a row; `on_skip()` is called per finished point.
    Only one block of keys is held at a time (a point repeated in the sampler is caught by the
    store's unique key instead)."""
    buf: list[tuple[str, dict]] = []
    while True:
        block = [(keyed.key(p), p) for p in itertools.islice(points, SCAN_BLOCK)]
        if not block:
            break
        wanted = {k: keyed.result_keys(k) for k, _ in block}
        have = store.existing([rk for rks in wanted.values() for rk in rks])
        for k, p in block:
            if all(rk in have for rk in wanted[k]):
                on_skip()
                continue
            buf.append((k, p))
            if len(buf) >= chunk:
                yield buf
                buf = []
    if buf:
        yield buf


def run_sweep(spec: str | Path | Sweep, store: str | Path, executor: str = "local", workers: int | None = None,
              scheduler: str | None = None, progress: bool = True, chunk: int | None = None,
              retry_errors: bool = False) -> SweepSummary:
    """Evaluate every missing point of `spec` (a sweep YAML path or a resolved Sweep) into `store`.

    `executor` 'local' (process pool, `workers` defaults to all cores; 1 = in this process) or
    'dask' (LocalCluster, or the cluster at `scheduler` = 'tcp://HOST:PORT'). Adaptive sampling
    (optuna) runs through the same executors (dse.adaptive). `retry_errors` deletes this sweep's
    error rows first so their points are evaluated again. Returns a SweepSummary.
    """
    t0 = time.perf_counter()
    sweep = spec if isinstance(spec, Sweep) else load_sweep(spec)
    with ResultStore(store) as st:
        st.register_sweep(sweep)
        if retry_errors:
            st.delete_errors(sweep.spec_hash)
        errors_before = st.count(errors=True)
        rows_before = st.count()
        with make_executor(executor, workers, scheduler) as ex:
            if sweep.spec.sampling.method == "adaptive":
                from .adaptive import run_adaptive

                counts = run_adaptive(sweep, st, ex, progress)
            else:
                counts = _run_points(sweep, st, ex, progress, chunk)
        return SweepSummary(sweep.name, str(store), counts["points"], counts["evaluated"], counts["skipped"],
                            st.count() - rows_before, st.count(errors=True) - errors_before,
                            time.perf_counter() - t0, counts.get("repeated", 0))


def _run_points(sweep: Sweep, store: ResultStore, ex, progress: bool, chunk: int | None) -> dict:
    points, total = design_points(sweep)
    if total == 0:
        raise SpecError(f"{sweep.source}: the design space is empty")
    keyed = KeyedPoints(sweep)
    size = chunk or chunk_size_for(total, getattr(ex, "workers", 1))
    counts = {"points": total, "skipped": 0}
    with progress_bar(total, sweep.name, progress) as bar:
        def skipped() -> None:
            counts["skipped"] += 1
            bar.update(1)

        counts["evaluated"] = evaluate_into(sweep, store, ex, _pending(keyed, store, points, size, skipped), keyed,
                                            lambda c, r: bar.update(len(c)))
    return counts
