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
which tests execute which lines; a mutant runs only those tests, fastest first, stopping at the first
failure. Mutants run in forked children of a process that has imported the third-party libraries
once, so a mutant costs its tests plus importing nmsim (numba kernels run as Python:
NUMBA_DISABLE_JIT=1). Results are stored per module in .mutation/ with the module's and the tests'
hashes: a rerun skips what is unchanged and resumes an interrupted run; a changed module or a
changed test file reruns that module's mutants.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / ".mutation"
EQUIVALENT = Path(__file__).resolve().with_name("mutation_equivalent.txt")
DEFAULT_TARGETS = ("sim", "mapping")
DEFAULT_TESTS = ("tests/sim", "tests/mapping")

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
    """(In a subprocess.) Run `tests` with a line tracer on sim/ and mapping/; write per test the lines
    it executes, its duration and whether it passed; lines executed outside any test go to <import>."""
    import threading

    import pytest

    files = {str((REPO / m).resolve()): m for m in target_modules([])}
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
    constants, signatures, class bodies) selects every test that executes the module."""
    hit = [t for t, r in cov.items() if t != "<import>" and r["passed"] and line in r["lines"].get(module, ())]
    if not hit and line in cov["<import>"]["lines"].get(module, ()):
        hit = [t for t, r in cov.items() if t != "<import>" and r["passed"] and r["lines"].get(module)]
    return sorted(hit, key=lambda t: cov[t]["seconds"])


# --- running mutants in forked children ------------------------------------------------------------

class _MutantFinder:
    """Meta-path finder that serves one module from a compiled, mutated AST."""

    def __init__(self, name: str, path: Path, code):
        self.name, self.path, self.code = name, path, code

    def find_spec(self, name, path=None, target=None):
        import importlib.util

        if name != self.name:
            return None
        pkg = [str(self.path.parent)] if self.path.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(name, self.path, loader=self, submodule_search_locations=pkg)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        exec(self.code, module.__dict__)


def _our_modules() -> dict[str, Path]:
    """Dotted name -> file of every module pyproject.toml installs."""
    import tomllib

    dirs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {(pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"): f
            for pkg, folder in dirs.items() for f in sorted((REPO / folder).glob("*.py"))}


def _top_level_imports(name: str, path: Path, ours: dict) -> set[str]:
    """Our modules that `name` imports when it is imported (module level, not inside functions)."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        stmts = [node] + (list(ast.walk(node)) if isinstance(node, (ast.If, ast.Try)) else [])
        for st in stmts:
            if isinstance(st, ast.Import):
                out |= {a.name for a in st.names}
            elif isinstance(st, ast.ImportFrom):
                base = name.split(".") if path.stem == "__init__" else name.split(".")[:-1]
                target = ".".join(base[:len(base) - st.level + 1] + ([st.module] if st.module else [])) if st.level \
                    else st.module
                out |= {f"{target}.{a.name}" for a in st.names} | {target}
    return out & set(ours)


def dependents(module: str) -> set[str]:
    """Our modules that must be imported again when `module` changes: it, and every module that
    imports one of them at module level (bound names would keep the old objects)."""
    ours = _our_modules()
    edges = {n: _top_level_imports(n, p, ours) for n, p in ours.items()}
    out, todo = set(), [module_name(module)]
    while todo:
        m = todo.pop()
        if m not in out:
            out.add(m)
            todo += [n for n, imp in edges.items() if m in imp]
    return out


def _prepare_parent() -> None:
    """Import the libraries and all of nmsim once: children inherit them and import again only the
    mutated module and its dependents (and the tests)."""
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401

    import nmsim.cli.main  # noqa: F401  (pulls numpy, numba, pydantic, yaml, simpy, ...)
    for name in _our_modules():
        __import__(name)
    for name in [n for n in sys.modules if n.split(".")[0] == "tests"]:
        del sys.modules[name]


def _child(module: str | None, where, tests: list[str], stale: set[str]) -> None:
    """(In the forked child.) Run `tests` against `module` mutated at `where` (None: unmutated) after
    forgetting the `stale` modules; exits with pytest's code."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    for name in stale:
        sys.modules.pop(name, None)
    if module is not None:
        path = REPO / module
        tree = _apply(ast.parse(path.read_text()), where)
        sys.meta_path.insert(0, _MutantFinder(module_name(module), path, compile(tree, str(path), "exec")))
    from hypothesis import settings

    settings.register_profile("mutation", database=None, derandomize=True, deadline=None)
    settings.load_profile("mutation")
    import pytest

    code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *tests])
    os._exit(int(code))


def run_children(jobs: list[tuple], workers: int, done, stale: set[str]) -> None:
    """Run jobs (key, module, where, tests, timeout_s) in up to `workers` forked children, each first
    forgetting the `stale` modules; call
    done(key, status, seconds) as each ends: 'survived' (tests pass), 'killed' (a test fails or
    errors), 'timeout', or 'error' (no test ran)."""
    todo = list(jobs)
    running: dict[int, tuple] = {}
    while todo or running:
        while todo and len(running) < workers:
            key, module, where, tests, limit = todo.pop(0)
            pid = os.fork()
            if pid == 0:
                try:
                    _child(module, where, tests, stale)
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
            time.sleep(0.02)
            continue
        key, t0, _ = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        verdict = "survived" if code == 0 else "error" if code in (4, 5) else "killed"
        done(key, verdict, time.monotonic() - t0)


# --- store, runs and report -----------------------------------------------------------------------

def _store_path(module: str) -> Path:
    return STORE / (module.replace("/", "__") + ".json")


def _load(module: str, key: str) -> dict:
    """The stored results of `module` if they were made with this code and these tests, else empty."""
    p = _store_path(module)
    doc = json.loads(p.read_text()) if p.is_file() else {}
    if doc.get("key") != key:
        doc = {"key": key, "results": {}}
    return doc


def run_module(module: str, cov: dict, key: str, workers: int) -> dict:
    """Run every mutant of `module` not yet stored under `key`; returns the module's stored document."""
    doc = _load(module, key)
    mutants, where = module_mutants(module)
    stale = dependents(module)
    save = lambda: _store_path(module).write_text(json.dumps(doc, indent=0))  # noqa: E731
    all_tests = sorted({t for m in mutants for t in tests_for(cov, module, m.line)}, key=lambda t: cov[t]["seconds"])
    if doc.get("baseline") != "ok" and all_tests:
        seen = {}
        limit = 60 + 3 * sum(cov[t]["seconds"] for t in all_tests)
        run_children([("baseline", None, None, all_tests, limit)], 1, lambda k, s, sec: seen.update(s=s), stale)
        doc["baseline"] = "ok" if seen["s"] == "survived" else f"unmutated module: {seen['s']}"
        save()
    if doc.get("baseline", "ok") != "ok":
        print(f"{module}: skipped, its tests do not pass unmutated in the harness ({doc['baseline']})", flush=True)
        return doc
    jobs = []
    for m in mutants:
        if m.key in doc["results"]:
            continue
        tests = tests_for(cov, module, m.line)
        if not tests:
            doc["results"][m.key] = {"line": m.line, "desc": m.desc, "status": "uncovered", "tests": 0}
            continue
        jobs.append((m, tests))

    def done(k, status, seconds):
        m, tests = next(j for j in jobs if j[0].key == k)
        doc["results"][k] = {"line": m.line, "desc": m.desc, "status": status, "tests": len(tests),
                             "seconds": round(seconds, 2)}
        if len(doc["results"]) % 10 == 0:
            save()

    t0 = time.perf_counter()
    run_children([(m.key, module, where[m.key], tests, 10 + 3 * sum(cov[t]["seconds"] for t in tests))
                  for m, tests in jobs], workers, done, stale)
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


def main(argv: list[str] | None = None) -> int:
    """Run (or with --report only print) the mutation benchmark."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("modules", nargs="*", help="files or folders (default: sim mapping)")
    p.add_argument("--tests", nargs="+", default=list(DEFAULT_TESTS), help="test folders or files")
    p.add_argument("--workers", type=int, default=2, help="mutants run side by side (default 2)")
    p.add_argument("--report", action="store_true", help="print the stored results, run nothing")
    p.add_argument("--out", help="also write the report (markdown) here")
    p.add_argument("--_trace", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._trace:
        _trace_run(args.modules, Path(args._trace))   # here the positional arguments are the tests
        return 0
    os.environ["NUMBA_DISABLE_JIT"] = "1"
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    modules = target_modules(args.modules)
    key = tests_hash(args.tests)
    if not args.report:
        cov = coverage_map(args.tests)
        _prepare_parent()
        t0 = time.perf_counter()
        for module in modules:
            run_module(module, cov, key, args.workers)
        print(f"mutation run: {time.perf_counter() - t0:.0f} s", flush=True)
    lines = report(target_modules([]) if not args.modules else modules, key)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
