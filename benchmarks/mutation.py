"""Mutation testing of nmsim's model code: do the tests fail when the code is wrong?

    .venv/bin/python -m benchmarks.mutation                       # sim/ and mapping/, all mutants
    .venv/bin/python -m benchmarks.mutation sim/analytic.py       # one module (results of others kept)
    .venv/bin/python -m benchmarks.mutation --report              # the last results, no run

Each mutant is the module with one small change (below); it is *killed* when a test that executes
the changed line fails (or runs past its time limit), and *survives* when they all pass. The kill
rate is killed / mutants; survivors are listed by module with the source line, so each can be read:
a missing test, or an equivalent mutant (one no test could tell apart), which
benchmarks/mutation_equivalent.txt records with its reason and the report counts apart.

Mutations (on the AST, so line numbers stay): arithmetic `+ -`, `* /`, `// *`, `% //`, `** *`
swapped; comparisons `< <=`, `> >=`, `== !=`, `is`, `in` flipped; `and`/`or` swapped; `not x` -> x and
`-x` -> x; integers n -> n + 1, floats x -> 2x (0 -> 1), True/False swapped; `min` <-> `max`. Not
mutated: strings, annotations, decorators, f-strings, `raise` statements, lines marked
`# pragma: no mutate`.

How it stays cheap: one traced run of the tests (`--tests`, default tests/sim tests/mapping) records
which tests execute which lines; a mutant runs only those tests, file by file starting with the one
holding the fastest, stopping at the first failure. The tests are collected once, in one pytest
session; each mutant runs in a forked child of it, which patches the mutant into the loaded module
in place (function objects keep their identity and take the mutated code, so every module and test
that imported them sees the mutant; values computed at import are rebound) and runs the collected
items. numba kernels run as Python (NUMBA_DISABLE_JIT=1) so that their mutants take effect.
Results are stored per module in .mutation/ (or $NMSIM_MUTATION_STORE) under a hash of the code and the tests: a rerun skips
what is unchanged and resumes an interrupted run; any change of the code or tests reruns the
modules asked for (the report marks the others stale); `--keep-killed` after a change of the tests
only reruns just the survivors.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# NMSIM_MUTATION_STORE: a separate store (results and the coverage map), for runs side by side that
# must not overwrite each other's files
STORE = Path(os.environ.get("NMSIM_MUTATION_STORE") or REPO / ".mutation")
EQUIVALENT = Path(__file__).resolve().with_name("mutation_equivalent.txt")
DEFAULT_TARGETS = ("sim", "mapping")
DEFAULT_TESTS = ("tests/sim", "tests/mapping")
TRACED = ("specfile", "problem", "accel", "workloads", "mapping", "sim", "interop", "rtl_models", "gpu_kernels", "dse",
          "reproduce", "cli")

BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
         ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
         ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
CMPOP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
         ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
          ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<", ast.LtE: "<=",
          ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not",
          ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}
SKIP_FIELDS = {"annotation", "returns", "decorator_list", "type_comment", "type_params"}


@dataclass(frozen=True)
class Mutant:
    """One change to a module: the `index`-th mutation site of its AST."""

    module: str     # path relative to the repo, e.g. "sim/analytic.py"
    index: int
    line: int
    desc: str       # e.g. "+ -> -"

    @property
    def key(self) -> str:
        return f"{self.index}:{self.line}:{self.desc}"


# --- mutation sites ---------------------------------------------------------------------------------

def _children(node):
    """(field, list index or None, child) of the AST children that may be mutated."""
    if isinstance(node, (ast.JoinedStr, ast.Raise)):
        return
    for field, value in ast.iter_fields(node):
        if field in SKIP_FIELDS:
            continue
        if isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, ast.AST):
                    yield field, i, v
        elif isinstance(value, ast.AST):
            yield field, None, value


def _walk(node, parent=None, field=None, index=None):
    """Every node in a fixed order with its parent slot."""
    yield node, parent, field, index
    for f, i, child in _children(node):
        yield from _walk(child, node, f, i)


def _changes(node) -> list[tuple[str, object]]:
    """The mutations of one node: (description, payload for _apply)."""
    out = []
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP:
        new = BINOP[type(node.op)]
        out.append((f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}", ("op", new)))
    elif isinstance(node, ast.Compare):
        for k, op in enumerate(node.ops):
            new = CMPOP[type(op)]
            out.append((f"{SYMBOL[type(op)]} -> {SYMBOL[new]}", ("cmp", k, new)))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"{SYMBOL[type(node.op)]} -> {SYMBOL[new]}", ("op", new)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        out.append(("not x -> x" if isinstance(node.op, ast.Not) else "-x -> x", ("unwrap",)))
    elif isinstance(node, ast.Constant) and type(node.value) in (bool, int, float):
        v = node.value
        new = (not v) if isinstance(v, bool) else v + 1 if isinstance(v, int) else (v * 2 if v else 1.0)
        out.append((f"{v!r} -> {new!r}", ("const", new)))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
        new = "max" if node.func.id == "min" else "min"
        out.append((f"{node.func.id} -> {new}", ("call", new)))
    return out


def mutation_sites(source: str) -> list[tuple[int, str, tuple]]:
    """(line, description, (walk position, payload)) of every mutant of a module's source."""
    lines = source.splitlines()
    tree = ast.parse(source)
    out = []
    for pos, (node, *_rest) in enumerate(_walk(tree)):
        line = getattr(node, "lineno", 0)
        if line and "pragma: no mutate" in lines[line - 1]:
            continue
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        for desc, payload in _changes(node):
            out.append((line, desc, (pos, payload)))
    return out


def _apply(tree: ast.Module, where: tuple) -> ast.Module:
    """`tree` with the mutation at walk position where[0] applied (in place)."""
    pos, payload = where
    node, parent, field, index = next(x for i, x in enumerate(_walk(tree)) if i == pos)
    kind = payload[0]
    if kind == "op":
        node.op = payload[1]()
    elif kind == "cmp":
        node.ops[payload[1]] = payload[2]()
    elif kind == "const":
        node.value = payload[1]
    elif kind == "call":
        node.func.id = payload[1]
    else:  # unwrap: the operand replaces the unary operation
        if index is None:
            setattr(parent, field, node.operand)
        else:
            getattr(parent, field)[index] = node.operand
    return ast.fix_missing_locations(tree)


def module_mutants(module: str) -> tuple[list[Mutant], dict]:
    """Every mutant of `module` and {key: (walk position, payload)} to build it."""
    sites = mutation_sites((REPO / module).read_text())
    mutants, where = [], {}
    for i, (line, desc, w) in enumerate(sites):
        m = Mutant(module, i, line, desc)
        mutants.append(m)
        where[m.key] = w
    return mutants, where


def statement_lines(source: str) -> dict[int, int]:
    """Line -> first line of the innermost statement holding it. Tracing reports a statement's first
    line only (a number on the third line of a tuple literal never shows as executed), so a mutant's
    tests are those of its statement."""
    first = {}
    for node in ast.walk(ast.parse(source)):   # breadth first: enclosing statements before inner ones
        if isinstance(node, ast.stmt):
            for ln in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                first[ln] = node.lineno
    return first


def module_name(module: str) -> str:
    """Import name of a repo path (pyproject maps folder X/ to nmsim.X)."""
    parts = list(Path(module).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["nmsim", *parts])


# --- which tests execute which lines ---------------------------------------------------------------

def _sha(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:24]


def target_modules(args: list[str]) -> list[str]:
    """Repo-relative .py paths of the given files or folders (default sim/ and mapping/)."""
    out = []
    for a in args or DEFAULT_TARGETS:
        p = (REPO / a).resolve()
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        out += [str(f.relative_to(REPO)) for f in files if f.is_file()]
    return out


def tests_hash(tests: list[str]) -> str:
    """Hash of everything a test outcome depends on besides the mutated module: the tests, the code
    they drive, this harness."""
    files = [Path(__file__)] + [f for d in ("tests", "benchmarks/peers", *DEFAULT_TARGETS, "accel", "problem",
                                          "workloads", "specfile") for f in (REPO / d).rglob("*.py")]
    return _sha(files) + ":" + ",".join(tests)


def _trace_run(tests: list[str], out: Path) -> None:
    """(In a subprocess.) Run `tests` with a line tracer on every package of the project (so that any
    module may be a target, not only sim/ and mapping/); write per test the lines
    it executes, its duration and whether it passed; lines executed outside any test go to <import>."""
    import threading

    import pytest

    files = {str((REPO / m).resolve()): m for m in target_modules(list(TRACED))}
    current: dict[str, set] = {}

    def local(frame, event, arg):
        if event == "line":
            current.setdefault(files[frame.f_code.co_filename], set()).add(frame.f_lineno)
        return local

    def glob(frame, event, arg):
        if frame.f_code.co_filename in files:
            current.setdefault(files[frame.f_code.co_filename], set()).add(frame.f_lineno)
            return local
        return None

    record = {"<import>": {"lines": current, "seconds": 0.0, "passed": True}}

    class Recorder:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            nonlocal current
            saved, current = current, {}
            t0 = time.perf_counter()
            yield
            record[item.nodeid] = {"lines": current, "seconds": time.perf_counter() - t0,
                                   "passed": record.get(item.nodeid, {}).get("passed", True)}
            current = saved

        def pytest_runtest_logreport(self, report):
            if report.failed:
                record.setdefault(report.nodeid, {})["passed"] = False

    sys.settrace(glob)
    threading.settrace(glob)
    pytest.main(["-q", "-p", "no:cacheprovider", *tests], plugins=[Recorder()])
    sys.settrace(None)
    ran = {k: {"lines": {m: sorted(v) for m, v in r["lines"].items()}, "seconds": r["seconds"], "passed": r["passed"]}
           for k, r in record.items() if "lines" in r}
    out.write_text(json.dumps(ran))


def coverage_map(tests: list[str]) -> dict:
    """The traced run's record for `tests`, recomputed when any file it depends on changed."""
    STORE.mkdir(exist_ok=True)
    path = STORE / "coverage.json"
    key = tests_hash(tests)
    if path.is_file():
        doc = json.loads(path.read_text())
        if doc["key"] == key:
            return doc["tests"]
    print(f"tracing {' '.join(tests)} (once per change of the code or the tests) ...", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cov.json"
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
        code = os.spawnve(os.P_WAIT, sys.executable, [sys.executable, "-m", "benchmarks.mutation", "--_trace",
                                                      str(out), *tests], env)
        if not out.is_file():
            raise SystemExit(f"the traced test run failed (exit {code}); run the tests to see why")
        ran = json.loads(out.read_text())
    path.write_text(json.dumps({"key": key, "tests": ran, "seconds": time.perf_counter() - t0}))
    return ran


def tests_for(cov: dict, module: str, line: int) -> list[str]:
    """Passing tests that execute `line` of `module`, fastest first; a line run only at import (module
    constants, signatures, class bodies) selects every test that executes the module, and in a module
    of data alone (no test executes any of its lines) every test whose file names the module."""
    hit = [t for t, r in cov.items() if t != "<import>" and r["passed"] and line in r["lines"].get(module, ())]
    if not hit and line in cov["<import>"]["lines"].get(module, ()):
        hit = [t for t, r in cov.items() if t != "<import>" and r["passed"] and r["lines"].get(module)]
        if not hit:
            name = module_name(module).rsplit(".", 1)[-1]
            hit = [t for t, r in cov.items() if t != "<import>" and r["passed"] and _names(t.split("::")[0], name)]
    return sorted(hit, key=lambda t: cov[t]["seconds"])


_TEST_TEXT: dict[str, str] = {}


def _names(test_file: str, name: str) -> bool:
    """Whether the test file's source mentions `name` as a word (an import or a use of the module)."""
    if test_file not in _TEST_TEXT:
        p = REPO / test_file
        _TEST_TEXT[test_file] = p.read_text() if p.is_file() else ""
    return re.search(rf"\b{re.escape(name)}\b", _TEST_TEXT[test_file]) is not None


# --- applying a mutant in place and running tests in forked children ------------------------------

_MISSING = object()
SIMPLE = (int, float, bool, str, bytes, tuple, frozenset, type(None))


def _same(old, new) -> bool:
    """Whether a value computed at import is unchanged by the mutant (arrays compared elementwise)."""
    if type(old) is not type(new):
        return False
    try:
        eq = old == new
        return bool(eq.all()) if hasattr(eq, "all") else bool(eq)
    except Exception:
        return False


def _patch_function(old, new) -> None:
    """Give the function object every module already holds the mutant's code and defaults."""
    if hasattr(old, "cache_clear"):               # functools caches: clear and patch the wrapped function
        old.cache_clear()
        old, new = old.__wrapped__, new.__wrapped__
    old.__code__, old.__defaults__, old.__kwdefaults__ = new.__code__, new.__defaults__, new.__kwdefaults__


def _patch_class(old: type, new: type) -> None:
    for key, val in new.__dict__.items():
        cur = old.__dict__.get(key, _MISSING)
        if isinstance(cur, types.FunctionType) and isinstance(val, types.FunctionType):
            _patch_function(cur, val)
        elif isinstance(cur, (staticmethod, classmethod)) and type(cur) is type(val):
            _patch_function(cur.__func__, val.__func__)
        elif isinstance(cur, property) and isinstance(val, property):
            for f in ("fget", "fset", "fdel"):
                if getattr(cur, f) is not None and getattr(val, f) is not None:
                    _patch_function(getattr(cur, f), getattr(val, f))
        elif isinstance(cur, type) and isinstance(val, type) and val.__module__ == new.__module__:
            _patch_class(cur, val)
        elif isinstance(val, SIMPLE) and not key.startswith("__") and not _same(cur, val):
            setattr(old, key, val)


def mutated_namespace(module: str, where) -> dict:
    """The namespace of the loaded module `module` executed again with the mutant at `where` (its
    imports come from sys.modules). Raises what the mutated module raises when imported."""
    mod = sys.modules[module_name(module)]
    path = REPO / module
    ns = {k: mod.__dict__[k] for k in ("__name__", "__package__", "__spec__", "__builtins__", "__path__")
          if k in mod.__dict__}
    ns["__file__"] = str(path)
    exec(compile(_apply(ast.parse(path.read_text()), where), str(path), "exec"), ns)
    return ns


def patch_in_place(module: str, ns: dict) -> None:
    """Make the loaded module behave as the mutated namespace `ns` without importing anything again:
    every function and method object keeps its identity but takes the mutant's code and defaults (so
    modules and tests that imported it see the mutant), and values computed at import that changed
    are rebound, also where other modules imported them by name."""
    name = module_name(module)
    mod = sys.modules[name]
    for key, new in ns.items():
        old = mod.__dict__.get(key, _MISSING)
        if old is _MISSING or old is new or isinstance(old, types.ModuleType):
            continue
        if isinstance(old, types.FunctionType) and isinstance(new, types.FunctionType):
            _patch_function(old, new)
        elif isinstance(old, type) and isinstance(new, type):
            if new.__module__ == name:
                _patch_class(old, new)
        elif not _same(old, new):
            for m in [m for n, m in list(sys.modules.items()) if n.split(".")[0] in ("nmsim", "tests")]:
                if m.__dict__.get(key, _MISSING) is old:
                    setattr(m, key, new)


class _Failures:
    """Pytest plugin of the child: did any test phase fail?"""

    failed = False

    def pytest_runtest_logreport(self, report):
        if report.failed:
            _Failures.failed = True


def _child(module: str | None, where, items: list) -> None:
    """(In the forked child.) Mutate `module` (None: leave it) and run `items` in order, stopping at the
    first failure; exit 1 when one fails (or the mutant does not even execute), else 0."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    if module is not None:
        try:
            ns = mutated_namespace(module, where)
        except Exception:
            os._exit(1)                       # the mutated module fails to import: every test of it fails
        try:
            patch_in_place(module, ns)
        except Exception:
            os._exit(4)                       # the harness could not apply it: not a kill
    for i, item in enumerate(items):
        item.ihook.pytest_runtest_protocol(item=item, nextitem=items[i + 1] if i + 1 < len(items) else None)
        if _Failures.failed:
            os._exit(1)
    os._exit(0)


def run_children(jobs: list[tuple], workers: int, done) -> None:
    """Run jobs (key, module, where, items, timeout_s) in up to `workers` forked children; call
    done(key, status, seconds) as each ends: 'survived' (its tests pass), 'killed' (a test fails, or the
    process dies), 'timeout' (stopped past its time limit, as a mutant that loops forever is) or
    'error' (the harness could not apply the mutant: counted as not killed)."""
    todo = list(jobs)
    running: dict[int, tuple] = {}
    while todo or running:
        while todo and len(running) < workers:
            key, module, where, items, limit = todo.pop(0)
            pid = os.fork()
            if pid == 0:
                try:
                    _child(module, where, items)
                finally:
                    os._exit(3)
            running[pid] = (key, time.monotonic(), limit)
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for p, (key, t0, limit) in list(running.items()):
                if now - t0 > limit:
                    os.killpg(p, signal.SIGKILL)
                    os.waitpid(p, 0)
                    del running[p]
                    done(key, "timeout", now - t0)
            time.sleep(0.01)
            continue
        key, t0, _ = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        done(key, {0: "survived", 3: "error", 4: "error"}.get(code, "killed"), time.monotonic() - t0)


# --- store, runs and report -----------------------------------------------------------------------

def _store_path(module: str) -> Path:
    return STORE / (module.replace("/", "__") + ".json")


def _load(module: str, key: str, keep_killed: bool) -> dict:
    """The stored results of `module` if they were made with this code and these tests; else empty, or
    with `keep_killed` and the module itself unchanged, only its killed mutants (a test added since
    cannot bring them back; a test weakened since could, so the final figure comes from a full run)."""
    p = _store_path(module)
    doc = json.loads(p.read_text()) if p.is_file() else {}
    sha = _sha([REPO / module])
    if doc.get("key") != key:
        kept = {k: r for k, r in doc.get("results", {}).items() if r["status"] in ("killed", "timeout")} \
            if keep_killed and doc.get("module_sha") == sha else {}
        doc = {"key": key, "module_sha": sha, "results": kept, "incremental": bool(kept)}
    return doc


def _ordered(items: dict, ids: list[str], cov: dict) -> list:
    """The collected test items of `ids`, file by file (module fixtures set up once), the file with the
    fastest test first; inside a file in collection order."""
    order = {nid: i for i, nid in enumerate(items)}
    files: dict[str, float] = {}
    for nid in ids:
        f = nid.split("::")[0]
        files[f] = min(files.get(f, 1e9), cov[nid]["seconds"])
    chosen = sorted((nid for nid in ids if nid in items), key=lambda n: (files[n.split("::")[0]], order[n]))
    return [items[n] for n in chosen]


def run_module(module: str, cov: dict, key: str, workers: int, items: dict, keep_killed: bool = False) -> dict:
    """Run every mutant of `module` not yet stored under `key` against the collected test `items`
    ({node id: item}); returns the module's stored document."""
    doc = _load(module, key, keep_killed)
    mutants, where = module_mutants(module)
    save = lambda: _store_path(module).write_text(json.dumps(doc, indent=0))  # noqa: E731
    limit = lambda ids: 10 + 3 * sum(cov[t]["seconds"] for t in ids)  # noqa: E731
    first = statement_lines((REPO / module).read_text())
    ids_of = lambda m: tests_for(cov, module, m.line) or tests_for(cov, module, first.get(m.line, m.line))  # noqa: E731
    all_ids = sorted({t for m in mutants for t in ids_of(m)})
    if doc.get("baseline") != "ok" and all_ids:
        seen = {}
        run_children([("baseline", None, None, _ordered(items, all_ids, cov), 60 + limit(all_ids))], 1,
                     lambda k, status, sec: seen.update(s=status))
        doc["baseline"] = "ok" if seen["s"] == "survived" else f"unmutated module: {seen['s']}"
        save()
    if doc.get("baseline", "ok") != "ok":
        print(f"{module}: skipped, its tests do not pass unmutated in the harness ({doc['baseline']})", flush=True)
        return doc
    jobs = {}
    for m in mutants:
        if m.key in doc["results"]:
            continue
        ids = ids_of(m)
        if ids:
            jobs[m.key] = (m, ids)
        else:
            doc["results"][m.key] = {"line": m.line, "desc": m.desc, "status": "uncovered", "tests": 0}

    def done(k, status, seconds):
        m, ids = jobs[k]
        doc["results"][k] = {"line": m.line, "desc": m.desc, "status": status, "tests": len(ids),
                             "seconds": round(seconds, 2)}
        if len(doc["results"]) % 20 == 0:
            save()

    t0 = time.perf_counter()
    run_children([(k, module, where[k], _ordered(items, ids, cov), limit(ids)) for k, (m, ids) in jobs.items()],
                 workers, done)
    save()
    if jobs:
        print(f"{module}: {len(jobs)} mutants run in {time.perf_counter() - t0:.0f} s", flush=True)
    return doc


def equivalents() -> dict[tuple[str, str, str], str]:
    """(module, mutation, stripped source line) -> why no test can tell the mutant apart."""
    out = {}
    if EQUIVALENT.is_file():
        for raw in EQUIVALENT.read_text().splitlines():
            if raw.strip() and not raw.startswith("#"):
                module, desc, line, why = (x.strip() for x in raw.split(" | ", 3))
                out[(module, desc, line)] = why
    return out


def report(modules: list[str], key: str) -> list[str]:
    """Kill rate per module and overall, and every survivor with its line (markdown)."""
    eq = equivalents()
    rows, survivors = [], []
    tot = {"mutants": 0, "killed": 0, "equivalent": 0}
    for module in modules:
        p = _store_path(module)
        if not p.is_file():
            continue
        doc = json.loads(p.read_text())
        src = (REPO / module).read_text().splitlines()
        res = doc["results"].values()
        killed = sum(r["status"] in ("killed", "timeout") for r in res)
        live = [r for r in res if r["status"] not in ("killed", "timeout")]
        equiv = [r for r in live if (module, r["desc"], src[r["line"] - 1].strip() if r["line"] <= len(src) else "") in eq]
        n = len(doc["results"])
        stale = "" if doc.get("key") == key else " (stale: the code or tests changed since)"
        stale += " (incremental: earlier kills kept)" if doc.get("incremental") else ""
        rows.append(f"| {module}{stale} | {n} | {killed} | {len(equiv)} | {len(live) - len(equiv)} | "
                    f"{100 * killed / max(n - len(equiv), 1):.1f}% |")
        for r in sorted(live, key=lambda r: r["line"]):
            if r not in equiv:
                text = src[r["line"] - 1].strip() if r["line"] <= len(src) else "?"
                survivors.append(f"| {module}:{r['line']} | `{r['desc']}` | {r['status']} | `{text[:90]}` |")
        tot["mutants"] += n
        tot["killed"] += killed
        tot["equivalent"] += len(equiv)
    rate = 100 * tot["killed"] / max(tot["mutants"] - tot["equivalent"], 1)
    return (["| module | mutants | killed | equivalent | survived | kill rate |", "|---|---|---|---|---|---|", *rows,
             f"| **all** | {tot['mutants']} | {tot['killed']} | {tot['equivalent']} | "
             f"{tot['mutants'] - tot['killed'] - tot['equivalent']} | **{rate:.1f}%** |", "",
             "| survivor | mutation | status | line |", "|---|---|---|---|", *survivors])


class MutationLoop:
    """Pytest plugin: once the tests are collected, run the mutants instead of the test loop."""

    def __init__(self, modules: list[str], cov: dict, key: str, workers: int, keep_killed: bool):
        self.modules, self.cov, self.key, self.workers, self.keep_killed = modules, cov, key, workers, keep_killed

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        items = {it.nodeid: it for it in session.items}
        t0 = time.perf_counter()
        for module in self.modules:
            run_module(module, self.cov, self.key, self.workers, items, self.keep_killed)
        print(f"mutation run: {time.perf_counter() - t0:.0f} s", flush=True)
        return True


def main(argv: list[str] | None = None) -> int:
    """Run (or with --report only print) the mutation benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("modules", nargs="*", help="files or folders (default: sim mapping)")
    p.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test folders or files")
    p.add_argument("--workers", type=int, default=2, help="mutants run side by side (default 2)")
    p.add_argument("--report", action="store_true", help="print the stored results, run nothing")
    p.add_argument("--keep-killed", action="store_true",
                   help="after a change of the tests only, rerun just the mutants that survived")
    p.add_argument("--out", help="also write the report (markdown) here")
    p.add_argument("--_trace", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    os.environ["NUMBA_DISABLE_JIT"] = "1"      # numba kernels run as Python, so their mutants take effect
    if args._trace:
        _trace_run(args.modules, Path(args._trace))   # here the positional arguments are the tests
        return 0
    os.chdir(REPO)
    modules = target_modules(args.modules)
    key = tests_hash(args.tests)
    if not args.report:
        from hypothesis import settings

        cov = coverage_map(args.tests)
        # before the tests are imported: every @settings inherits a database-free, derandomized profile
        settings.register_profile("mutation", database=None, derandomize=True, deadline=None)
        settings.load_profile("mutation")
        loop = MutationLoop(modules, cov, key, args.workers, args.keep_killed)
        pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=", *args.tests], plugins=[loop, _Failures()])
    lines = report(target_modules([]) if not args.modules else modules, key)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
