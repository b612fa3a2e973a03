"""The shape of the code, read from the source with `ast` (nothing is imported):

* no function or method longer than MAX_LINES lines or taking more than MAX_POSITIONAL positional
  parameters (self/cls not counted, keyword-only ones free), except the EXCEPTIONS below, each
  with its reason; an exception that no longer applies fails too, so the list only shrinks;
  Triton kernels (@triton.jit) are exempt: their pointer and stride parameters are the launch ABI;
* no import cycle between our modules (imports inside functions count);
* no package imports one above it, or a sibling, in the layer order of docs/ARCHITECTURE.md;
* torch and triton are imported at module level only in workloads/ml/ and the Triton kernel
  modules of gpu_kernels/; everywhere else only inside the functions that need them.

Modules are the ones pyproject.toml installs (its package-dir table), so a new package is covered
as soon as it is installed.
"""
from __future__ import annotations

import ast
import tomllib
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80
MAX_POSITIONAL = 8

# "path:qualified name" -> why it is longer / takes more, and until when. Remove an entry when its
# function is split (the test says so); never add one for new code.
EXCEPTIONS = {
    "mapping/search.py:search": "positional search options; until the mapping rewrite of issue 14 makes them "
                                "keyword-only",
    "workloads/ml/prune_run.py:_finish": "assembles a PruneResult from a run's twelve pieces; until the runs "
                                         "return them as one record",
    "workloads/ml/prune_run.py:run_prune": "public API (nmsim.run_prune) with positional options; until they "
                                           "become keyword-only",
    "workloads/ops.py:conv2d": "a conv layer's hyper-parameters, called positionally by the zoo and the tracer; "
                               "until they become keyword-only",
    "workloads/ml/pruning/bdwp.py:_Conv2dFn.forward": "permanent: torch.autograd.Function.apply passes every "
                                                      "argument of the conv positionally",
}

# Packages from the bottom up; a package imports only packages on lower rows (docs/ARCHITECTURE.md).
# `problem` is planned right above specfile; listed so that the rule holds the day it lands.
LAYERS = (
    ("specfile",),
    ("problem",),
    ("accel", "workloads"),
    ("mapping",),
    ("sim",),
    ("rtl_models", "gpu_kernels"),
    ("dse", "reproduce", "interop"),
    ("cli",),
    ("nmsim",),
)
LAYER = {pkg: i for i, row in enumerate(LAYERS) for pkg in row}

# Where torch/triton may be imported at module level.
TORCH_AT_MODULE_LEVEL = ("workloads/ml/", "gpu_kernels/nm_matmul.py", "gpu_kernels/nm_decode.py",
                         "gpu_kernels/dense_matmul.py")
HEAVY = ("torch", "triton")


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module pyproject.toml installs."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out = {}
    for pkg, folder in cfg["package-dir"].items():
        for f in sorted((ROOT / folder).glob("*.py")):
            out[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return out


@lru_cache(maxsize=None)
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def package_of(module: str) -> str:
    """nmsim.workloads.ml.trace -> workloads; nmsim, nmsim.__main__ -> nmsim."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYER else "nmsim"


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports(module: str) -> list[tuple[ast.stmt, bool, list[str]]]:
    """(statement, at module level, absolute names it imports) for every import that runs
    (those under `if TYPE_CHECKING:` never do). `from X import y` names X.y when that is one of
    our modules, else X; the parent packages every import runs are left implicit."""
    path = modules()[module]
    is_pkg = path.stem == "__init__"
    out = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for sub in child.orelse:
                    visit_stmt(sub, top)
                continue
            visit_stmt(child, top)

    def visit_stmt(child: ast.AST, top: bool) -> None:
        if isinstance(child, ast.Import):
            out.append((child, top, [a.name for a in child.names]))
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[:len(base) - (child.level - 1)]
                target = ".".join(base + ([child.module] if child.module else []))
            else:
                target = child.module
            subs = [f"{target}.{a.name}" for a in child.names if f"{target}.{a.name}" in modules()]
            out.append((child, top, subs + ([target] if len(subs) < len(child.names) else [])))
        inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        visit(child, inner)

    visit(tree(path), True)
    return out


def internal_edges(module: str) -> set[str]:
    """Our modules that `module` imports."""
    mods = modules()
    return {name for _, _, names in imports(module) for name in names if name in mods and name != module}


def _functions():
    """(path, qualified name, node) of every function and method."""
    for path in modules().values():
        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield child, prefix + child.name
                    yield from walk(child, prefix + child.name + ".")
                elif isinstance(child, ast.ClassDef):
                    yield from walk(child, prefix + child.name + ".")
                else:
                    yield from walk(child, prefix)
        for node, name in walk(tree(path), ""):
            yield rel(path), name, node


def _triton_kernel(node: ast.FunctionDef) -> bool:
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        if ast.unparse(d) in ("triton.jit", "jit"):
            return True
    return False


def _positional(node: ast.FunctionDef) -> int:
    names = [a.arg for a in node.args.posonlyargs + node.args.args]
    return len(names) - (1 if names and names[0] in ("self", "cls") else 0)


def oversized() -> dict[str, str]:
    """"path:name" -> what is over the limits, for every function over them."""
    out = {}
    for path, name, node in _functions():
        if _triton_kernel(node):
            continue
        lines, positional = node.end_lineno - node.lineno + 1, _positional(node)
        over = ([f"{lines} lines"] if lines > MAX_LINES else []) + (
            [f"{positional} positional parameters"] if positional > MAX_POSITIONAL else [])
        if over:
            out[f"{path}:{name}"] = ", ".join(over)
    return out


def test_modules_found():
    pkgs = {package_of(m) for m in modules()}
    assert {"specfile", "accel", "workloads", "mapping", "sim", "cli", "rtl_models", "gpu_kernels", "dse",
            "reproduce", "nmsim"} <= pkgs, pkgs
    assert pkgs <= set(LAYER), f"a package missing from LAYERS: {pkgs - set(LAYER)}"


def test_functions_are_short_and_take_few_positional_parameters():
    found = oversized()
    new = {k: v for k, v in found.items() if k not in EXCEPTIONS}
    stale = sorted(set(EXCEPTIONS) - set(found))
    problems = [f"over {MAX_LINES} lines or {MAX_POSITIONAL} positional parameters (split it, or make parameters "
                f"keyword-only): {k}: {v}" for k, v in sorted(new.items())]
    problems += [f"no longer over the limits (or gone), remove it from EXCEPTIONS: {k}" for k in stale]
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    graph = {m: internal_edges(m) for m in modules()}
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_packages_import_only_lower_layers():
    bad = []
    for m, path in modules().items():
        own = package_of(m)
        for node, _, names in imports(m):
            for name in names:
                if name.split(".")[0] != "nmsim":
                    continue
                other = package_of(name)
                if other != own and LAYER[other] >= LAYER[own]:
                    bad.append(f"{rel(path)}:{node.lineno}: {own} imports {name}")
    assert not bad, "imports against the layer order of docs/ARCHITECTURE.md:\n" + "\n".join(bad)


def test_torch_and_triton_only_imported_where_needed():
    bad = []
    for m, path in modules().items():
        if rel(path).startswith(TORCH_AT_MODULE_LEVEL):
            continue
        for node, top, names in imports(m):
            heavy = [n for n in names if n.split(".")[0] in HEAVY]
            if top and heavy:
                bad.append(f"{rel(path)}:{node.lineno}: imports {', '.join(heavy)} at module level")
    assert not bad, "\n".join(bad) + "\n(import them inside the function that needs them)"
