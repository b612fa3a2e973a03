"""Timeloop/Sparseloop specs: problem, architecture and mapping YAML (v0.4, and the v0.3 tree of
older designs) read into what nmsim represents, with every other feature refused by name
(docs/INTEROP.md 2).

* Problem -> one `Op`. The GEMM view follows the data spaces' projections (Timeloop's problem
  shape): the read-write space is the output; the weights are the space named `Weights`, else
  the first read-only one (`A` of gemm-ABZ); N = product of the dims the weights share with the
  output, M = the output's other dims, K = the weights' other dims (the reduction). Densities:
  the weights' -> an unstructured pattern of that density, the activations' -> `act_density`.
* Architecture -> a list of `Level`s (storage, compute, spatial fan-out, keep/bypass, sparse
  optimizations), and `unsupported_features` naming what nmsim cannot represent: sparse
  optimizations (representation formats, gating, skipping) and nested spatial fan-outs
  (timeloop_convert.py turns the rest into an nmsim memory hierarchy).
* Mapping (`timeloop-mapper.map.yaml` form) -> `TLoop`s per target level (temporal or spatial
  factors in permutation order) and each level's kept data spaces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nmsim.specfile import SpecError, check_yaml_text, foreign_reader, read_text
from nmsim.workloads import Op, Sparsity

__all__ = ["load_timeloop_yaml", "read_problem", "TimeloopProblem", "Level", "read_arch", "unsupported_features",
           "read_mapping", "TLoop", "TimeloopMapping", "sparse_opt_features"]


class _TagLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when present
    """SafeLoader that reads Timeloop v0.4's node tags (!Component, !Container, !Parallel, ...) as
    mappings carrying their tag under `_tag`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.MappingNode):
        data = loader.construct_mapping(node, deep=True)
        return {"_tag": suffix, **data}
    if isinstance(node, yaml.SequenceNode):
        return {"_tag": suffix, "nodes": loader.construct_sequence(node, deep=True)}
    return loader.construct_scalar(node)


_TagLoader.add_multi_constructor("!", _tagged)


def load_timeloop_yaml(path: str | Path) -> dict:
    """A Timeloop YAML file as plain data (tags kept as `_tag`); SpecError naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{path}: Timeloop file not found")
    text = read_text(p, "Timeloop file")
    try:
        check_yaml_text(text, str(path))    # no aliases, bounded nesting and size (docs/RELIABILITY.md)
        data = yaml.load(text, Loader=_TagLoader)  # noqa: S506 -- SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SpecError(f"{path}:{mark.line + 1 if mark else '?'}: malformed YAML: "
                        f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top")
    return data


def _norm(d: dict) -> dict:
    """v0.3 spells keys with dashes (data-spaces, read-write); v0.4 with underscores."""
    return {k.replace("-", "_"): v for k, v in d.items()} if isinstance(d, dict) else d


# --- problem ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TimeloopProblem:
    """A Timeloop problem as nmsim reads it: the `Op`, the dims behind M/N/K, the densities, notes."""

    op: Op
    dims: dict[str, int]
    gemm_dims: dict[str, list[str]]
    densities: dict[str, float]
    notes: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # data space -> weights | inputs | outputs

    @property
    def macs(self) -> int:
        """Algorithmic multiply-accumulates (Timeloop's "Algorithmic Computes")."""
        return math.prod(self.dims.values())


def _spaces(shape: dict, path) -> tuple[dict[str, set[str]], str, str, str]:
    """{space: dims it projects on}, and the names of (output, weights, activations)."""
    spaces = {}
    for ds in shape.get("data_spaces") or []:
        ds = _norm(ds)
        dims = {d for term_list in ds["projection"] for term in term_list for d in term
                if isinstance(d, str) and d.isupper()}
        spaces[ds["name"]] = (dims, bool(ds.get("read_write")))
    outs = [n for n, (_, rw) in spaces.items() if rw]
    ins = [n for n, (_, rw) in spaces.items() if not rw]
    if len(outs) != 1 or len(ins) != 2:
        raise SpecError(f"{path}: problem has {len(outs)} read-write and {len(ins)} read-only data spaces; nmsim "
                        "represents two operands and one output (a GEMM or convolution)")
    weights = "Weights" if "Weights" in ins else ins[0]
    acts = next(n for n in ins if n != weights)
    return {n: d for n, (d, _) in spaces.items()}, outs[0], weights, acts


@foreign_reader("Timeloop problem")
def read_problem(path: str | Path) -> TimeloopProblem:
    """A Timeloop problem YAML -> TimeloopProblem (see the module docstring)."""
    prob = _norm(load_timeloop_yaml(path).get("problem") or {})
    shape, inst = _norm(prob.get("shape") or {}), dict(prob.get("instance") or {})
    if not shape or not inst:
        raise SpecError(f"{path}: no problem.shape / problem.instance (not a Timeloop problem file)")
    dens = inst.pop("densities", {}) or {}
    dims = {d: int(inst[d]) for d in shape.get("dimensions", []) if d in inst}
    missing = [d for d in shape.get("dimensions", []) if d not in inst]
    if missing:
        raise SpecError(f"{path}: problem.instance has no size for {', '.join(missing)}")
    spaces, out, w, a = _spaces(shape, path)
    n_dims = sorted(spaces[w] & spaces[out])
    m_dims = sorted(spaces[out] - spaces[w] - spaces[a]) + sorted((spaces[out] & spaces[a]) - spaces[w])
    k_dims = sorted(spaces[w] - spaces[out])
    size = lambda ds: math.prod(dims[d] for d in ds)  # noqa: E731
    density = {k: float(_norm(v).get("density", 1.0)) for k, v in dens.items()}
    notes = []
    for k, v in dens.items():
        dist = _norm(v).get("distribution", "")
        notes.append(f"{k} density {density[k]} ({dist or 'default'} distribution)")
    sp = Sparsity(kind="unstructured", density=round(density[w], 6)) if density.get(w, 1.0) < 1.0 else Sparsity.parse("dense")
    kind = "conv2d" if {"R", "S"} & set(dims) and size(k_dims) > 1 and len(k_dims) > 1 else "gemm"
    op = Op(name=str(shape.get("name", "problem")), kind=kind, M=size(m_dims), N=size(n_dims), K=size(k_dims),
            weight_sparsity=sp, act_density=min(1.0, density.get(a, 1.0)))
    if density.get(out, 1.0) < 1.0:
        notes.append(f"output density {density[out]} is not modelled by nmsim (outputs are written dense)")
    return TimeloopProblem(op, dims, {"M": m_dims, "N": n_dims, "K": k_dims}, density, notes,
                           {w: "weights", a: "inputs", out: "outputs"})


# --- architecture -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    """One node of a Timeloop architecture: `kind` storage | compute | fanout; `instances` =
    product of the spatial fan-outs above it; `keep`/`bypass` data spaces from its constraints."""

    name: str
    kind: str
    cls: str
    attributes: dict
    instances: int = 1
    fanout: int = 1
    keep: tuple[str, ...] = ()
    bypass: tuple[str, ...] = ()
    sparse_optimizations: dict | None = None


_COMPUTE = ("intmac", "mac", "fpmac", "compute")


def _level(node: dict, instances: int, parallel: bool = False) -> Level:
    attrs = dict(node.get("attributes") or {})
    cls = str(node.get("class", ""))
    ds = ((node.get("constraints") or {}).get("dataspace") or {})
    kind = "compute" if cls in _COMPUTE or node.get("_tag") == "Compute" else "storage"
    return Level(str(node["name"]), kind, cls, attrs, instances, 1, tuple(ds.get("keep") or ()),
                 tuple(ds.get("bypass") or ()), node.get("sparse_optimizations"))


def _walk_v4(nodes: list, instances: int, out: list[Level]) -> int:
    for node in nodes:
        tag = node.get("_tag", "")
        if tag in ("Parallel", "Hierarchical"):
            for child in node.get("nodes", []):
                out.append(_level(child, instances, parallel=True)) if child.get("_tag") == "Component" else \
                    _walk_v4([child], instances, out)
            continue
        spatial = node.get("spatial") or {}
        fan = int(spatial.get("meshX", 1)) * int(spatial.get("meshY", 1))
        if tag == "Container":
            if fan > 1:
                instances *= fan
                out.append(Level(str(node["name"]), "fanout", "", dict(spatial), instances, fan))
            continue
        out.append(_level(node, instances))
    return instances


def _walk_v03(tree: list, instances: int, out: list[Level]) -> None:
    import re

    for node in tree:
        m = re.search(r"\[(\d+)\.\.(\d+)\]", node.get("name", ""))
        n = int(m.group(2)) - int(m.group(1)) + 1 if m else 1
        if n > 1:
            instances *= n
            out.append(Level(str(node["name"]), "fanout", "", {"instances": n}, instances, n))
        for comp in node.get("local", []) or []:
            cm = re.search(r"\[(\d+)\.\.(\d+)\]", comp.get("name", ""))
            k = int(cm.group(2)) - int(cm.group(1)) + 1 if cm else 1
            lv = _level({**comp, "name": comp["name"].split("[")[0]}, instances * k)
            out.append(lv)
        _walk_v03(node.get("subtree", []) or [], instances, out)


@foreign_reader("Timeloop architecture")
def read_arch(path: str | Path) -> list[Level]:
    """The levels of a Timeloop architecture YAML, outermost first (v0.4 `nodes`, v0.3 `subtree`)."""
    arch = load_timeloop_yaml(path).get("architecture")
    if not isinstance(arch, dict):
        raise SpecError(f"{path}: no `architecture` key (not a Timeloop architecture file)")
    out: list[Level] = []
    if "nodes" in arch:
        _walk_v4(arch["nodes"], 1, out)
    elif "subtree" in arch:
        _walk_v03(arch["subtree"], 1, out)
    else:
        raise SpecError(f"{path}: architecture has neither `nodes` (v0.4) nor `subtree` (v0.3)")
    if not any(lv.kind == "compute" for lv in out):
        raise SpecError(f"{path}: no compute unit (class intmac/mac) in the architecture")
    return out


def unsupported_features(levels: list[Level]) -> list[str]:
    """What nmsim cannot represent in these levels, one phrase per feature naming the levels (empty:
    the levels convert to an nmsim memory hierarchy, docs/INTEROP.md 2.2): Sparseloop's sparse
    optimizations (representation formats, gating, skipping) and nested spatial fan-outs (nmsim
    has one array). What depends on the mapping is checked by `timeloop_convert.unrepresentable`."""
    found = [f"sparse_optimizations on '{lv.name}' ({', '.join(sorted(_norm(lv.sparse_optimizations)))}): "
             "Sparseloop's formats, gating and skipping" for lv in levels if lv.sparse_optimizations]
    fans = [lv.name for lv in levels if lv.kind == "fanout"]
    if len(fans) > 1:
        found.append(f"{len(fans)} nested spatial fan-outs ({', '.join(fans)}): nmsim has one array")
    return found


# --- mapping ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TLoop:
    """One loop of a Timeloop mapping: problem dim, factor, temporal or spatial, at `level`."""

    level: str
    dim: str
    factor: int
    spatial: bool


@dataclass(frozen=True)
class TimeloopMapping:
    """A Timeloop mapping: loops outermost first, and the data spaces each level keeps."""

    loops: list[TLoop]
    keep: dict[str, tuple[str, ...]]

    def factor(self, dim: str, spatial: bool | None = None) -> int:
        """Product of the factors of `dim` (spatial only, temporal only, or all when None)."""
        return math.prod(lp.factor for lp in self.loops if lp.dim == dim and (spatial is None or lp.spatial == spatial))


def _factors(text: str) -> dict[str, int]:
    import re

    return {m.group(1): int(m.group(2)) for m in re.finditer(r"([A-Z][A-Za-z]*)\s*=?\s*(\d+)", str(text))}


@foreign_reader("Timeloop mapping")
def read_mapping(path: str | Path) -> TimeloopMapping:
    """A Timeloop mapping YAML (the mapper's `map.yaml`, or a `mapping:` constraints list with
    factors and permutations) -> TimeloopMapping, loops outermost first."""
    data = load_timeloop_yaml(path)
    entries = data.get("mapping")
    if not isinstance(entries, list):
        raise SpecError(f"{path}: no `mapping:` list (not a Timeloop mapping file)")
    keep: dict[str, tuple[str, ...]] = {}
    per_level: dict[str, list[TLoop]] = {}
    order: list[str] = []
    for e in entries:
        target, kind = e.get("target"), e.get("type")
        if kind in ("datatype", "dataspace"):
            keep[target] = tuple(e.get("keep") or ())
            continue
        if kind not in ("temporal", "spatial"):
            continue
        facs = _factors(e.get("factors", ""))
        perm = [c for c in str(e.get("permutation", "")).replace(" ", "") if c.isalpha()] or list(facs)
        # Timeloop permutations list loops innermost first
        loops = [TLoop(target, d, facs.get(d, 1), kind == "spatial") for d in reversed(perm) if facs.get(d, 1) > 1]
        if target not in per_level:
            order.append(target)
        per_level.setdefault(target, []).extend(loops)
    # map.yaml lists levels innermost first
    flat = [lp for t in reversed(order) for lp in per_level[t]]
    return TimeloopMapping(flat, keep)


@foreign_reader("Sparseloop sparse-optimization file")
def sparse_opt_features(path: str | Path) -> list[str]:
    """The optimizations of a Sparseloop sparse-optimization file (v0.3 `sparse_optimizations:
    targets:`), one phrase per target and kind; nmsim represents none of them today (its own
    N:M model is not Sparseloop's format/gating/skipping model)."""
    data = _norm(load_timeloop_yaml(path).get("sparse_optimizations") or {})
    targets = data.get("targets")
    if not isinstance(targets, list):
        raise SpecError(f"{path}: no `sparse_optimizations.targets` list (not a sparse-optimization file)")
    found = []
    for t in targets:
        t = _norm(t)
        kinds = sorted(k for k in t if k != "name")
        found.append(f"sparse_optimizations on '{t.get('name')}' ({', '.join(kinds)})")
    return found
