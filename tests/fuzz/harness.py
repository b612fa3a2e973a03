"""Running one fuzz case through `nmsim` in-process and judging it.

A case is a command line (and the files it reads, written under its own folder). The oracle:

* the command returns 0, or exits 2 with exactly one stderr line `nmsim: error: ...` (SpecError);
  anything else (a traceback, exit 1, a SystemExit with another code) is a finding;
* it ends within `TIME_LIMIT` seconds (SIGALRM), else a finding (a hang);
* on success every requested output exists, JSON is strict (no NaN/Infinity) and every figure in
  it is finite and non-negative, utilization at most 1;
* on failure no file under the case folder is new or changed (outputs all or nothing), and no
  staging folder is left behind.

Commands whose real work takes seconds to minutes (reproduce, prune, rtl, gpu bench, demo) are
run up to the point where their work would start: `HEAVY` names the function each one calls
first, and the harness makes it raise `ReachedWork`. The case then counts as "input accepted",
and the oracle still checks that the outputs were checked before the work and that nothing was
left behind (the command did fail, after all).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

TIME_LIMIT = 30.0
# Figures that must not be negative, by key name in result JSON ('bytes' holds bytes per level).
FIGURE_KEYS = ("cycles", "latency_s", "utilization", "macs_dense", "macs_effective", "energy_pj", "bytes",
               "energy_breakdown_pj", "cycle_breakdown", "edp_js", "area_mm2", "throughput_per_area")
UTIL_SLACK = 1e-9

# module, attribute: the first expensive call of each heavy command
HEAVY = [("nmsim.reproduce", "run_sat"), ("nmsim.reproduce", "run_s4"),
         ("nmsim.workloads.ml.prune_run", "run_prune"), ("nmsim.workloads.ml.prune_run", "digits_report"),
         ("nmsim.workloads.ml.prune_run", "minilm_report"), ("nmsim.rtl_models.validate", "run_cases"), ("nmsim.rtl_models.soc_validate", "run_memory_cases"),
         ("nmsim.rtl_models.area", "pe_areas"), ("nmsim.gpu_kernels.bench", "run_bench"),
         ("nmsim.cli.demo", "run_demo")]


class ReachedWork(Exception):
    """Raised in place of a heavy command's work: its input was accepted."""


class Hang(Exception):
    """The case ran past TIME_LIMIT."""


@dataclass
class Case:
    """One command line, the folder its files live in, and the outputs it asks for."""

    kind: str
    argv: list[str]
    folder: Path
    outputs: list[Path] = field(default_factory=list)


@dataclass
class Outcome:
    """What a case did: exit code, 'ok' | 'refused' | 'accepted' (heavy), or a finding."""

    kind: str
    status: str
    finding: str | None = None
    argv: list[str] | None = None


def _snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under `folder`."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha1(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p.relative_to(folder)) + "/"] = "dir"
    return out


def _strict_json(text: str):
    def bad(name):
        raise ValueError(f"non-finite number {name} in JSON")
    return json.loads(text, parse_constant=bad)


def check_figures(doc, where: str = "") -> str | None:
    """A finding for the first NaN/infinite number anywhere, or negative figure / utilization > 1
    under the FIGURE_KEYS, in a JSON document; None when all hold."""
    stack = [(doc, where, False)]
    while stack:
        node, path, figure = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                stack.append((v, f"{path}.{k}", figure or k in FIGURE_KEYS))
                if k == "utilization" and isinstance(v, (int, float)) and v > 1 + UTIL_SLACK:
                    return f"{path}.{k} = {v} > 1"
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", figure) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            return f"{path} = {node}"
        elif figure and isinstance(node, (int, float)) and not isinstance(node, bool) and node < 0:
            return f"{path} = {node} < 0"
    return None


@contextlib.contextmanager
def _heavy_stubbed():
    import importlib

    def reached(*a, **k):
        raise ReachedWork()
    saved = []
    for mod, attr in HEAVY:
        try:
            m = importlib.import_module(mod)
        except Exception:  # an optional extra (torch, cocotb) missing: the command says so itself
            continue
        saved.append((m, attr, getattr(m, attr)))
        setattr(m, attr, reached)
    try:
        yield
    finally:
        for m, attr, fn in saved:
            setattr(m, attr, fn)


@contextlib.contextmanager
def _time_limit(seconds: float):
    def fire(signum, frame):
        raise Hang()
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _run(argv: list[str]) -> tuple[int | None, str, str, str | None]:
    """(exit code, stdout, stderr, finding) of `nmsim argv` in this process."""
    from nmsim.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code, finding = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except ReachedWork:
            code = "accepted"
        except Hang:
            finding = f"no answer within {TIME_LIMIT:.0f} s"
        except RecursionError:
            finding = "RecursionError"
        except MemoryError:
            finding = "MemoryError"
        except Exception as exc:  # the finding the fuzzer exists for
            finding = f"traceback: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return code, out.getvalue(), err.getvalue(), finding


def run_case(case: Case, time_limit: float = TIME_LIMIT) -> Outcome:
    """Run `case` and judge it (module docstring)."""
    before = _snapshot(case.folder)
    with _heavy_stubbed(), _time_limit(time_limit):
        try:
            code, out, err, finding = _run(case.argv)
        except Hang:
            code, out, err, finding = None, "", "", f"no answer within {time_limit:.0f} s"
    if finding is None:
        finding = _judge(case, code, err, before)
    status = "finding" if finding else {0: "ok", 2: "refused", "accepted": "accepted"}.get(code, "finding")
    return Outcome(case.kind, status, finding, case.argv if finding else None)


def _judge(case: Case, code, err: str, before: dict[str, str]) -> str | None:
    after = _snapshot(case.folder)
    staging = [p for p in after if ".nmsim-staging-" in p]
    if staging:
        return f"staging folder left behind: {staging[0]}"
    if code == 2 or code == "accepted":
        lines = err.splitlines()
        if code == 2 and (len(lines) != 1 or not lines[0].startswith("nmsim: error: ")):
            return f"refusal is not one 'nmsim: error:' line: {lines[:3]!r}"
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            return f"failed command left files behind or changed: {changed[:3]}"
        return None
    if code != 0:
        return f"exit code {code}: {err.strip().splitlines()[-1:] if err.strip() else ''}"
    for p in case.outputs:
        if not p.exists():
            return f"output {p.name} missing after success"
        if p.suffix == ".json":
            try:
                doc = _strict_json(p.read_text())
            except ValueError as exc:
                return f"{p.name}: invalid JSON: {exc}"
            bad = check_figures(doc, p.name)
            if bad:
                return f"impossible figure: {bad}"
    return None


def limit_memory(gib: float) -> None:
    """Cap this process's address space (the long run's workers): a runaway allocation becomes a
    MemoryError finding instead of swapping the machine."""
    import resource
    cap = int(gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def quiet_warnings() -> None:
    """numpy/pydantic warnings are not findings; keep the workers' stderr clean."""
    import warnings
    warnings.simplefilter("ignore")
    sys.stderr.flush()
