"""Evaluating chunks of design points into a result store: the points' keys, the executor loop
that writes each finished chunk in one transaction, the progress bar. Shared by the sampled and
grid runs (sweep.py) and the adaptive search (adaptive.py)."""
from __future__ import annotations

import json
import sys

from .design import DesignBuilder
from .evaluate import ResultRow, error_text, failed_row, result_key
from .spec import Sweep
from .store import ResultStore


class KeyedPoints:
    """Point keys and result keys of a sweep's points (computed once, in the parent process)."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        self.builder = DesignBuilder(sweep)
        self.combos = [(w.uid, p) for w in sweep.workloads for p in sweep.patterns]

    def key(self, point: dict) -> str:
        """The point's design key."""
        return self.builder.key(self.builder.descriptor(point))

    def result_keys(self, point_key: str) -> list[str]:
        """Its result keys, one per (workload, pattern)."""
        return [result_key(point_key, uid, pat) for uid, pat in self.combos]

    def error_rows(self, chunk: list[tuple[str, dict]], message: str) -> list[ResultRow]:
        """Rows recording `message` for every (point, workload, pattern) of a chunk."""
        return [failed_row(pk, w.label, w.uid, pat, json.dumps(self.builder.descriptor(point)), message)
                for pk, point in chunk for w in self.sweep.workloads for pat in self.sweep.patterns]


class _NoBar:
    """Stands in for a tqdm bar."""

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        """Ignore progress."""


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar on stderr with rate and ETA (a silent stand-in when disabled or tqdm is absent)."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with the `dist` extra; a sweep runs without it
        return _NoBar()

    return tqdm(total=total, desc=desc, unit="pt", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1, mininterval=0.5)


def evaluate_into(sweep: Sweep, store: ResultStore, ex, chunks, keyed: KeyedPoints, on_rows=None) -> int:
    """Run `chunks` on executor `ex`, writing each completed chunk's rows to `store` in one
    transaction (a failed task records its error on its points); `on_rows(chunk, rows)` is called
    after each write. Returns points evaluated."""
    done = 0
    for chunk, rows in ex.map(sweep, chunks):
        if isinstance(rows, BaseException):
            rows = keyed.error_rows(chunk, f"task failed: {error_text(rows)}")
        store.write(sweep.spec_hash, rows)
        done += len(chunk)
        if on_rows:
            on_rows(chunk, rows)
    return done
