"""GPU benchmark harness: times dense, vendor 2:4 and our Triton N:M kernels on LLM layer shapes
and appends one measured row per (kernel, pattern, dtype, model, layer, M, N, K) to a measurement
CSV (gpu_kernels.measurements; method in docs/GPU.md "Benchmark").

Only real CUDA hardware is measured: without a CUDA device `run_bench` raises NoCudaError before
it creates any file. Rows already in the output file are skipped, so an interrupted run resumes.
Timing: warm-up calls (the Triton autotuner tunes here), then a CUDA graph of `inner` calls that
rotate through a pool of input/weight/output copies larger than twice the L2 cache, replayed
`repeats` times between CUDA events; one sample = replay time / inner. Median, min and max of the
samples are recorded with the error against an fp32 torch reference.
"""
from __future__ import annotations

import csv
import math
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from nmsim.sim.gpu import DECODE_KERNEL
from nmsim.specfile import SpecError, did_you_mean

from .bench_plan import MIN_INNER, budget_plan, pool_size
from .measurements import COLUMNS, KERNELS, append_rows

__all__ = ["run_bench", "NoCudaError", "BenchCase", "BENCH_MODELS", "DEFAULT_TOKENS", "DEFAULT_PATTERNS", "DTYPES",
           "layer_shapes", "plan_cases"]

BENCH_MODELS: tuple[str, ...] = ("bert-base", "llama2-7b", "llama3-8b", "opt-13b")
DEFAULT_TOKENS: tuple[int, ...] = (1, 2, 4, 8, 16, 64, 256, 1024, 4096, 8192)
DEFAULT_PATTERNS: tuple[str, ...] = ("2:4", "1:4", "2:8", "1:8", "1:16", "1:32")
DTYPES: tuple[str, ...] = ("fp16", "bf16", "fp32")
_MAX_TOKENS = 65536
DEFAULT_REPEATS = 100
BUDGET_REPEATS = 25      # fewer timed samples per row under a budget: more rows in a short window
VENDOR_KERNELS = ("cusparselt", "cutlass")  # torch 2:4 semi-structured backends
_MAX_DECODE_TOKENS = 16  # = nm_decode.MAX_DECODE_TOKENS, restated so that planning imports no triton


NO_CUDA_MESSAGE = ("no CUDA device: nmsim gpu bench measures real hardware and never fakes a row; "
                   "run it on a machine with an NVIDIA GPU")


class NoCudaError(SpecError):
    """`nmsim gpu bench` was asked to measure on a machine without a CUDA device."""


@dataclass(frozen=True)
class BenchCase:
    """One row to measure: kernel, pattern ('dense' or 'N:M'), dtype name, model, layer, M tokens, N out, K in."""

    kernel: str
    pattern: str
    dtype: str
    model: str
    layer: str
    M: int
    N: int
    K: int

    def key(self) -> tuple:
        """The resume key: the identity of a measurement row."""
        return (self.kernel, self.pattern, self.dtype, self.model, self.layer, self.M, self.N, self.K)


# --- planning (no torch, no GPU) -------------------------------------------------------------

def layer_shapes(model: str) -> list[tuple[str, int, int]]:
    """(layer, N, K) of the distinct linear layers of one transformer block of zoo `model`
    (layers with equal shapes merged as 'attn.q+attn.k'); lm_head excluded (kept dense by
    N:M pruning methods, docs/GPU.md)."""
    from nmsim.workloads.zoo import ZOO_NAMES, build

    if model not in ZOO_NAMES:
        raise SpecError(f"gpu bench: unknown model '{model}'" + did_you_mean(model, BENCH_MODELS))
    ops = [op for op in build(model, batch=1).ops if op.kind == "gemm" and op.name.startswith("layer0.")]
    if not ops:
        raise SpecError(f"gpu bench: model '{model}' has no transformer linear layers; "
                        f"choose from {', '.join(BENCH_MODELS)}")
    merged: dict[tuple[int, int], list[str]] = {}
    for op in ops:
        merged.setdefault((op.N, op.K), []).append(op.name.removeprefix("layer0."))
    return [("+".join(names), N, K) for (N, K), names in merged.items()]


def _pattern_ok(pattern: str, K: int) -> bool:
    from .formats import parse_format_nm

    return K % parse_format_nm(pattern)[1] == 0


def plan_cases(models: Iterable[str], tokens: Iterable[int], kernels: Iterable[str], patterns: Iterable[str],
               dtype: str) -> list[BenchCase]:
    """Every case to measure, ordered so that one weight (model, layer, pattern) and one activation
    (M) are live at a time: model, layer, pattern, M, kernel."""
    kernels, patterns, tokens = list(kernels), list(patterns), list(tokens)
    cases = []
    for model in models:
        for layer, N, K in layer_shapes(model):
            for pattern in ["dense"] + patterns:
                for M in tokens:
                    for kernel in kernels:
                        if pattern == "dense":
                            wanted = kernel in ("cublas", "triton_dense")
                        elif kernel in VENDOR_KERNELS:
                            wanted = pattern == "2:4"
                        elif kernel == DECODE_KERNEL:
                            wanted = M <= _MAX_DECODE_TOKENS and _pattern_ok(pattern, K)
                        else:
                            wanted = kernel == "triton_nm" and _pattern_ok(pattern, K)
                        if wanted:
                            cases.append(BenchCase(kernel, pattern, dtype, model, layer, M, N, K))
    return cases


def _validate(models, tokens, kernels, dtype, repeats, warmup, patterns):
    from .formats import parse_format_nm

    models = list(BENCH_MODELS if models is None else models)
    for model in models:
        layer_shapes(model)
    tokens = list(DEFAULT_TOKENS if tokens is None else tokens)
    for t in tokens:
        if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= _MAX_TOKENS:
            raise SpecError(f"gpu bench: token count {t!r} must be an integer in 1..{_MAX_TOKENS}")
    kernels = list(KERNELS if kernels is None else kernels)
    for k in kernels:
        if k not in KERNELS:
            raise SpecError(f"gpu bench: unknown kernel '{k}'" + did_you_mean(k, KERNELS))
    if dtype not in DTYPES:
        raise SpecError(f"gpu bench: dtype '{dtype}'" + did_you_mean(str(dtype), DTYPES))
    patterns = list(DEFAULT_PATTERNS if patterns is None else patterns)
    for p in patterns:
        parse_format_nm(p)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 3:
        raise SpecError(f"gpu bench: repeats must be an integer >= 3 for a median and a spread (got {repeats!r})")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
        raise SpecError(f"gpu bench: warmup must be an integer >= 1 (the autotuner tunes during warm-up; "
                        f"got {warmup!r})")
    return models, tokens, kernels, dtype, patterns


def existing_keys(path: str | Path) -> set[tuple]:
    """Resume keys of the rows already in measurement file `path` (empty if it does not exist)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise SpecError(f"{path}: exists but is not a measurement file with the columns of "
                            f"gpu_kernels.measurements.COLUMNS; give a new `out_path`")
        keys = set()
        for line, r in enumerate(reader, start=2):
            try:
                keys.add((r["kernel"], r["pattern"], r["dtype"], r["model"], r["layer"],
                          int(r["M"]), int(r["N"]), int(r["K"])))
            except (TypeError, ValueError):
                raise SpecError(f"{path}:{line}: M, N, K must be integers; the file is damaged, "
                                f"give a new `out_path`") from None
    return keys


# --- the public entry point ------------------------------------------------------------------

def run_bench(out_path, *, models=None, tokens=None, kernels=None, dtype="fp16", repeats=None, warmup=10,
              progress=True, patterns=None, budget_s=None, started_at=None) -> int:
    """Measure every (model layer, token count, kernel, pattern) case on the CUDA device and append
    the rows to the CSV `out_path`; returns the number of rows written by this call.

    models: zoo names (default BENCH_MODELS); tokens: M values (default DEFAULT_TOKENS); kernels:
    subset of measurements.KERNELS (default all); dtype: fp16, bf16 or fp32; repeats: timed samples
    per row (>= 3; default 100, or BUDGET_REPEATS with a budget); warmup: eager calls before timing
    (>= 1); patterns: N:M patterns of the Triton kernels (default DEFAULT_PATTERNS; the vendor
    kernels run 2:4). budget_s: seconds of wall time for the whole call, counted from `started_at`
    (time.monotonic(); default: now): the cases run in priority order (bench_plan.budget_plan) and a
    case starts only if its corrected estimate ends before the deadline; a later call resumes with
    the next ones. Raises SpecError for bad arguments and NoCudaError, before creating any file,
    when no CUDA device is present.
    """
    started_at = time.monotonic() if started_at is None else started_at
    repeats = (DEFAULT_REPEATS if budget_s is None else BUDGET_REPEATS) if repeats is None else repeats
    models, tokens, kernels, dtype, patterns = _validate(models, tokens, kernels, dtype, repeats, warmup, patterns)
    if budget_s is not None and (isinstance(budget_s, bool) or not isinstance(budget_s, (int, float))
                                 or not budget_s > 0):
        raise SpecError(f"gpu bench: `budget_s` must be a positive number of seconds (got {budget_s!r})")
    existing_keys(out_path)  # a foreign file is refused before anything runs
    import torch

    if not torch.cuda.is_available():
        raise NoCudaError(NO_CUDA_MESSAGE)
    cases = plan_cases(models, tokens, kernels, patterns, dtype)
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    nvsmi = _NvidiaSmi(str(getattr(props, "uuid", "") or ""))
    env = environment(nvsmi)
    l2 = int(getattr(props, "L2_cache_size", 0) or 0)
    settings = RunSettings(device="cuda", timer=time_cuda_graph, clocks=nvsmi.clocks, env=env, repeats=repeats,
                           warmup=warmup, l2_bytes=l2, progress=progress)
    if budget_s is not None:
        cases, settings = _budgeted(cases, settings, env["device"], started_at + budget_s)
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 reference must be fp32
    try:
        return _run(out_path, cases, settings)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous_tf32


def planning_preset(device: str) -> str:
    """The preset whose model orders a budgeted plan for `device` (its own when detected, else h200,
    the GPU this project measures on; the order is a priority, not a prediction that is reported)."""
    from .validate import preset_for_device

    try:
        return preset_for_device(device)
    except SpecError:
        return "h200"


def _budgeted(cases: list[BenchCase], settings: "RunSettings", device: str, deadline: float):
    """(cases in priority order, settings with the deadline and the per-case estimates)."""
    from nmsim.accel import load_arch

    gpu = load_arch(planning_preset(device)).gpu
    plan = budget_plan(cases, gpu, repeats=settings.repeats, warmup=settings.warmup, l2_bytes=settings.l2_bytes)
    estimates = {p.case.key(): p.estimate_s for p in plan}
    return [p.case for p in plan], replace(settings, deadline=deadline, estimates=estimates)


# --- environment -----------------------------------------------------------------------------

class _NvidiaSmi:
    """Driver version and current clocks from nvidia-smi for one GPU ('' when unavailable)."""

    def __init__(self, uuid: str):
        self.exe = shutil.which("nvidia-smi")
        self.select = ["-i", uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"] if uuid else []

    def _lines(self, select: list[str], fields: str) -> list[str]:
        try:
            res = subprocess.run([self.exe, *select, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return []
        return res.stdout.strip().splitlines() if res.returncode == 0 else []

    def query(self, fields: str) -> list[str]:
        """Values of the comma-separated nvidia-smi `fields` for this GPU; [] when unknown."""
        if not self.exe:
            return []
        lines = self._lines(self.select, fields) if self.select else []
        if not lines:  # UUID not understood: accept the unselected answer only when it is one GPU
            lines = self._lines([], fields)
            lines = lines if len(lines) == 1 else []
        return [v.strip() for v in lines[0].split(",")] if lines else []

    def driver(self) -> str:
        """NVIDIA driver version, '' when unknown."""
        got = self.query("driver_version")
        return got[0] if got else ""

    def clocks(self) -> tuple[str, str]:
        """(SM clock MHz, memory clock MHz) now, '' when unknown."""
        got = self.query("clocks.sm,clocks.mem")
        return (got[0], got[1]) if len(got) == 2 else ("", "")


def environment(nvsmi: _NvidiaSmi) -> dict:
    """The per-run columns: device, driver, cuda, torch, triton, cusparselt versions."""
    import torch
    import triton

    cslt = ""
    try:
        if torch.backends.cusparselt.is_available():
            cslt = str(torch.backends.cusparselt.version())
    except (AttributeError, RuntimeError):
        cslt = ""
    return {"device": torch.cuda.get_device_name(), "driver": nvsmi.driver(), "cuda": torch.version.cuda or "",
            "torch": torch.__version__, "triton": triton.__version__, "cusparselt": cslt}


# --- timing ----------------------------------------------------------------------------------

def time_cuda_graph(calls: list[Callable], warmup: int, repeats: int) -> tuple[list[float], str]:
    """Seconds per call, `repeats` samples: warm-up calls on a side stream, then a CUDA graph of
    `inner` calls cycling through `calls` (the buffer pool) replayed between CUDA events; falls back
    to eager launches between the events when the kernel cannot be captured. Returns (samples, note)."""
    import torch

    n = len(calls)
    inner = n * math.ceil(MIN_INNER / n)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(max(warmup, n)):
            calls[i % n]()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()

    def sweep():
        for i in range(inner):
            calls[i % n]()

    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            sweep()
        graph.replay()
        torch.cuda.synchronize()
        run, method = graph.replay, "cudagraph"
    except Exception as exc:  # any capture failure: time eagerly and say so in the row
        torch.cuda.synchronize()
        run, method = sweep, f"eager (graph capture failed: {type(exc).__name__})"
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for r in range(repeats):
        starts[r].record()
        run()
        ends[r].record()
    torch.cuda.synchronize()
    samples = [s.elapsed_time(e) * 1e-3 / inner for s, e in zip(starts, ends)]
    return samples, f"{method}; {inner} calls per sample"


# --- operands --------------------------------------------------------------------------------

_TORCH_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}


def _seed(*parts) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _nbytes(*tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


class _Operands:
    """The live weight (model, layer, pattern) and activation (M) of the case being measured;
    rebuilt only when the case moves on (cases come in plan_cases order)."""

    def __init__(self, device: str):
        self.device = device
        self.wkey = self.xkey = None
        self.vendor: dict[str, object] = {}

    def weight(self, case: BenchCase):
        import torch

        from .formats import compress_nm, decompress, parse_format_nm

        key = (case.model, case.layer, case.pattern, case.dtype, case.N, case.K)
        if key != self.wkey:
            self.wkey, self.xkey, self.vendor = None, None, {}
            dtype = getattr(torch, _TORCH_DTYPES[case.dtype])
            gen = torch.Generator(device=self.device).manual_seed(_seed(case.model, case.layer, case.N, case.K))
            dense = torch.randn(case.N, case.K, generator=gen, device=self.device) / math.sqrt(case.K)
            dense = dense.to(dtype)
            if case.pattern == "dense":
                self.nm, self.dense = None, dense
            else:
                n, m = parse_format_nm(case.pattern)
                self.nm = compress_nm(dense, n, m, prune=True)
                self.dense = decompress(self.nm)
            self.wkey = key
        return self.dense, self.nm

    def activation(self, case: BenchCase):
        """(x[M, K], fp32 reference x @ W^T)."""
        import torch

        key = (self.wkey, case.M)
        if key != self.xkey:
            gen = torch.Generator(device=self.device).manual_seed(_seed("x", case.M, case.K))
            self.x = torch.randn(case.M, case.K, generator=gen, device=self.device).to(self.dense.dtype)
            self.ref = self.x.float() @ self.dense.float().t()
            self.xkey = key
        return self.x, self.ref

    def semi_structured(self, backend: str):
        from .formats import to_semi_structured_2_4

        if backend not in self.vendor:
            self.vendor[backend] = to_semi_structured_2_4(self.dense, backend=backend)
        return self.vendor[backend]


def _kernel_call(case: BenchCase, ops: _Operands):
    """For the case's kernel: (make(x, weight, out) -> call, weight, weight bytes, weight copier,
    Triton autotuner or None, note)."""
    import torch

    dense, nm = ops.weight(case)
    if case.kernel == "cublas":
        def make(x, w, out):
            return lambda: torch.mm(x, w.t(), out=out)
        return make, dense, _nbytes(dense), torch.clone, None, "torch.mm"
    if case.kernel == "triton_dense":
        from . import dense_matmul as mod

        def make(x, w, out):
            return lambda: mod.dense_matmul(x, w, out=out)
        return make, dense, _nbytes(dense), torch.clone, mod.KERNEL, ""
    if case.kernel in ("triton_nm", DECODE_KERNEL):
        if case.kernel == DECODE_KERNEL:
            from . import nm_decode as mod
            fn = mod.nm_decode
        else:
            from . import nm_matmul as mod
            fn = mod.nm_matmul

        def make(x, w, out):
            return lambda: fn(x, w, out=out)
        return make, nm, nm.value_bytes + nm.index_bytes, lambda w: w.clone(), mod.KERNEL, ""
    if case.kernel in VENDOR_KERNELS:
        ws = ops.semi_structured(case.kernel)

        def make(x, w, out):
            return lambda: torch.nn.functional.linear(x, w)

        def clone(_):
            from .formats import to_semi_structured_2_4
            return to_semi_structured_2_4(ops.dense, backend=case.kernel)
        wbytes = _nbytes(*(getattr(ws, a, None) for a in ("packed", "meta", "packed_t", "meta_t")))
        return make, ws, wbytes, clone, None, "torch.nn.functional.linear on to_sparse_semi_structured weight"
    raise SpecError(f"gpu bench: unknown kernel '{case.kernel}'" + did_you_mean(case.kernel, KERNELS))


def _errors(out, ref) -> tuple[float, float]:
    diff = out.float() - ref
    ref_norm = float(ref.norm())
    return float(diff.abs().max()), float(diff.norm()) / (ref_norm if ref_norm > 0 else 1.0)


def measure_case(case: BenchCase, ops: _Operands, timer, warmup: int, repeats: int, l2_bytes: int) -> dict:
    """Measure one case: build the pool, check correctness on one eager call, time; returns the
    row fields that depend on the case (times, errors, config, repeats, notes)."""
    import torch

    make, w, wbytes, clone, autotuned, note = _kernel_call(case, ops)
    x, ref = ops.activation(case)
    out_bytes = case.M * case.N * x.element_size()
    pool = pool_size(_nbytes(x) + wbytes + out_bytes, l2_bytes)
    calls = []
    for i in range(pool):
        xi, wi = (x, w) if i == 0 else (x.clone(), clone(w))
        calls.append(make(xi, wi, torch.empty(case.M, case.N, dtype=x.dtype, device=x.device)))
    out = calls[0]()
    if autotuned is not None:
        from .nm_matmul import config_text
        config = config_text(autotuned.best_config)
    else:
        config = ""
    max_abs, rel = _errors(out, ref)
    if not (math.isfinite(max_abs) and math.isfinite(rel)):
        raise RuntimeError(f"non-finite output (max |err| {max_abs}); no row written")
    samples, how = timer(calls, warmup, repeats)
    samples = sorted(samples)
    pool_mb = pool * (_nbytes(x) + wbytes + out_bytes) / 2 ** 20
    notes = "; ".join(p for p in (note, how, f"pool {pool} x {pool_mb / pool:.3g} MB (L2 {l2_bytes / 2 ** 20:.3g} MB)")
                      if p)
    return {"config": config, "repeats": len(samples), "median_s": _median(samples), "min_s": samples[0],
            "max_s": samples[-1], "max_abs_err": max_abs, "rel_err": rel, "notes": notes}


def _median(sorted_samples: list[float]) -> float:
    k = len(sorted_samples)
    mid = k // 2
    return sorted_samples[mid] if k % 2 else 0.5 * (sorted_samples[mid - 1] + sorted_samples[mid])


def make_row(case: BenchCase, env: dict, clocks: tuple[str, str], measured: dict, date: str) -> dict:
    """A full measurement row (measurements.COLUMNS) from the case, run environment and measured fields."""
    row = {"date": date, **{k: env[k] for k in ("device", "driver", "cuda", "torch", "triton", "cusparselt")},
           "sm_clock_mhz": clocks[0], "mem_clock_mhz": clocks[1], "kernel": case.kernel, "pattern": case.pattern,
           "dtype": case.dtype, "model": case.model, "layer": case.layer, "M": case.M, "N": case.N, "K": case.K,
           **measured}
    return {c: row[c] for c in COLUMNS}


@dataclass(frozen=True)
class RunSettings:
    """How `_run` measures: device string, timer(calls, warmup, repeats) -> (seconds samples,
    note), clocks() -> (SM MHz, memory MHz), the run's environment columns, repeats and warm-up
    calls (counts), L2 size (B), progress bar; with a budget, the deadline (time.monotonic()
    seconds), the estimated wall seconds per case key and the clock that measures wall time;
    `measure` replaces measure_case in tests of the budget logic."""

    device: str
    timer: Callable
    clocks: Callable
    env: dict
    repeats: int
    warmup: int
    l2_bytes: int
    progress: bool = True
    deadline: float | None = None
    estimates: dict = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    measure: Callable | None = None     # measure_case unless a test gives a stand-in


class _Budget:
    """Keeps a budgeted run before its deadline: a case starts only if its estimate, scaled by the
    median ratio of observed to estimated wall time so far, ends before the deadline."""

    def __init__(self, settings: RunSettings):
        self.s = settings
        self.ratios: list[float] = []

    def fits(self, case: BenchCase) -> bool:
        """Whether `case` is expected to finish before the deadline (always without a budget)."""
        if self.s.deadline is None:
            return True
        return self.s.clock() + self.expected(case) <= self.s.deadline

    def expected(self, case: BenchCase) -> float:
        """Corrected wall-time estimate of `case` (s)."""
        scale = float(np.median(self.ratios)) if self.ratios else 1.0
        return self.s.estimates.get(case.key(), 1.0) * max(scale, 0.25)

    def observed(self, case: BenchCase, seconds: float) -> None:
        """Record the wall seconds one case took (measured or failed)."""
        est = self.s.estimates.get(case.key())
        if est:
            self.ratios.append(seconds / est)


def _run(out_path, cases: list[BenchCase], settings: RunSettings) -> int:
    """Measure the cases not yet in `out_path` (in order; with a deadline, those that fit) and
    append their rows; returns rows written. The timer and clocks are settings so that the row
    and budget logic can be tested; run_bench passes the CUDA ones."""
    from tqdm import tqdm

    done = existing_keys(out_path)
    todo = [c for c in cases if c.key() not in done]
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ops = _Operands(settings.device)
    budget = _Budget(settings)
    written = over_budget = 0
    bar = tqdm(todo, desc="gpu bench", unit="row", disable=not settings.progress, file=sys.stderr)
    if len(todo) < len(cases):
        bar.write(f"gpu bench: {len(cases) - len(todo)} of {len(cases)} rows already in {out_path}; skipped",
                  file=sys.stderr)
    for case in bar:
        if not budget.fits(case):
            over_budget += 1
            continue
        bar.set_postfix_str(f"{case.model} {case.layer} M={case.M} {case.kernel} {case.pattern}", refresh=False)
        written += _measure_one(out_path, case, ops, settings, budget, bar)
    bar.close()
    if over_budget:
        print(f"gpu bench: budget reached; {over_budget} rows left for the next call (same command resumes)",
              file=sys.stderr)
    return written


def _measure_one(out_path, case: BenchCase, ops, settings: RunSettings, budget: _Budget, bar) -> int:
    """Measure one case and append its row; 0 (and one warning line) when it fails."""
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = settings.clock()
    try:
        measure = settings.measure or measure_case
        measured = measure(case, ops, settings.timer, settings.warmup, settings.repeats, settings.l2_bytes)
    except Exception as exc:  # one failing kernel/shape (unsupported, OOM, compile error) must not stop the run
        budget.observed(case, settings.clock() - t0)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        bar.write(f"gpu bench: skipped {case.kernel} {case.pattern} {case.model} {case.layer} M={case.M}: "
                  f"{first}", file=sys.stderr)
        return 0
    append_rows(out_path, [make_row(case, settings.env, settings.clocks(), measured, date)])
    budget.observed(case, settings.clock() - t0)
    return 1
