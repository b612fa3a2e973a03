"""Executors: run chunks of design points and stream their rows back as they complete.

Both executors take an iterator of chunks and yield `(chunk, rows)` in completion order, keeping
at most `in_flight` chunks submitted at once, so neither the points nor the results of a large
sweep are ever all in memory: the caller writes each batch of rows to the store and drops it.

* `LocalExecutor` (default): a process pool with all cores (`workers=1` runs in this process).
  Workers keep one DesignEvaluator per sweep, so caches survive across chunks; a worker whose parent
  dies (the sweep was killed) exits by itself.
* `DaskExecutor`: `distributed`; starts a `LocalCluster` (one single-threaded worker process per
  core), or joins an existing scheduler (`tcp://HOST:PORT`) whose workers have nmsim installed.
  The sweep is scattered once to every worker; chunks are futures collected with `as_completed`.

A chunk whose task fails as a whole (a worker crashed) yields an `Exception` instead of rows; the
caller records it as the error of each of its points and the sweep goes on.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

from nmsim.specfile import SpecError

from .evaluate import evaluate_chunk
from .spec import Sweep

EXECUTORS = ("local", "dask")


def _exit_when_orphaned(parent: int) -> None:
    """Worker initializer: exit as soon as the parent process is gone (a killed sweep leaves no workers)."""
    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(0.5)
    threading.Thread(target=watch, daemon=True).start()


class LocalExecutor:
    """Process pool over this machine's cores (context manager)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # fork starts workers in milliseconds with the parent's imports; elsewhere use the default.
        ctx = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_exit_when_orphaned,
                                   initargs=(os.getpid(),))

    def map(self, sweep: Sweep, chunks: Iterable[list], in_flight: int | None = None) -> Iterator[tuple]:
        """Yield (chunk, rows | Exception) as chunks complete."""
        it = iter(chunks)
        if self.workers == 1:
            for chunk in it:
                try:
                    yield chunk, evaluate_chunk(sweep, chunk)
                except Exception as exc:  # noqa: BLE001 - recorded per point by the caller
                    yield chunk, exc
            return
        limit = in_flight or 2 * self.workers
        self.pool = self.pool or self._new_pool()
        pending: dict = {}

        def submit() -> bool:
            chunk = next(it, None)
            if chunk is None:
                return False
            pending[self.pool.submit(evaluate_chunk, sweep, chunk)] = chunk
            return True

        while len(pending) < limit and submit():
            pass
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    yield chunk, fut.result()
                except BrokenProcessPool as exc:
                    broken = True
                    yield chunk, exc
                except Exception as exc:  # noqa: BLE001
                    yield chunk, exc
            if broken:  # a worker died: the pool cannot be reused; resubmit the rest on a new one
                lost = list(pending.values())
                pending.clear()
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._new_pool()
                for chunk in lost:
                    pending[self.pool.submit(evaluate_chunk, sweep, chunk)] = chunk
            while len(pending) < limit and submit():
                pass


class DaskExecutor:
    """Dask distributed: a LocalCluster of `workers` processes, or the cluster at `scheduler`."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, processes: bool = True):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise SpecError("`executor` dask needs dask[distributed]: pip install 'nmsim[dist]'") from None
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.scheduler = scheduler
        self.processes = processes
        self.cluster = None
        self.client = None

    def __enter__(self) -> "DaskExecutor":
        import logging

        from distributed import Client, LocalCluster

        if self.scheduler:
            if not self.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
                raise SpecError(f"`scheduler` '{self.scheduler}': expected an address like tcp://HOST:PORT")
            try:
                self.client = Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise SpecError(f"`scheduler` {self.scheduler}: cannot connect ({exc})") from None
        else:
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=self.processes,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map(self, sweep: Sweep, chunks: Iterable[list], in_flight: int | None = None) -> Iterator[tuple]:
        """Yield (chunk, rows | Exception) as chunks complete."""
        from distributed import as_completed

        n_workers = len(self.client.scheduler_info().get("workers", {})) or self.workers
        limit = in_flight or 2 * n_workers
        sweep_f = self.client.scatter(sweep, broadcast=True)
        it = iter(chunks)
        pending: dict[str, list] = {}
        ac = as_completed()

        def submit() -> bool:
            chunk = next(it, None)
            if chunk is None:
                return False
            fut = self.client.submit(evaluate_chunk, sweep_f, chunk, pure=False)
            pending[fut.key] = chunk
            ac.add(fut)
            return True

        while len(pending) < limit and submit():
            pass
        for fut in ac:
            chunk = pending.pop(fut.key)
            try:
                rows = fut.result()
            except Exception as exc:  # noqa: BLE001 - a crashed task: its points record the error
                rows = exc
            fut.release()
            yield chunk, rows
            while len(pending) < limit and submit():
                pass


def make_executor(kind: str = "local", workers: int | None = None, scheduler: str | None = None):
    """An executor by name ('local' or 'dask'); `scheduler` implies dask."""
    if scheduler and kind == "local":
        kind = "dask"
    if kind not in EXECUTORS:
        raise SpecError(f"executor '{kind}' is not one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise SpecError(f"`workers` must be at least 1 (got {workers})")
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    return LocalExecutor(workers)
