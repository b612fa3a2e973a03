"""Workloads: a named list of ops in model order plus optional explicit weight masks, saved as
YAML + NPZ.

The ops are GEMMs (`Op`: linears, convolutions, attention matmuls) and non-GEMM operators
(`NonGemmOp`: norms, softmax, activations, residual adds, embeddings, pooling), interleaved as
the model runs them. `Workload.layers` lists them all; `Workload.ops` and `distinct_ops()` list
the GEMMs only, for everything that prices a GEMM on a MAC array (mappers, dse, RTL, SCALE-Sim).

File layout: `NAME.yaml` holds the op list (a GEMM entry has M, N, K; a non-GEMM entry rows,
cols); when masks exist, `NAME.masks.npz` beside it holds one boolean array per masked op, keyed
by op name, shaped [N, K] (torch's [out, in] layout) or [batch, N, K] for batched ops. Save then
load is lossless (a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Union

import numpy as np
import yaml
from pydantic import Field, model_validator

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import (SpecError, StrictModel, atomic_path, bounded_int, load_npz, load_yaml, parse_model,
                            referenced_path)

from .nongemm import NONGEMM_KINDS, NonGemmOp
from .ops import OP_KINDS, ConvShape, Op
from .sparsity import Sparsity

AnyOp = Union[Op, NonGemmOp]
Dim = bounded_int(1, MAX_DIM, DIM_WHY)


class _ConvSpec(StrictModel):
    batch: Dim
    in_h: Dim
    in_w: Dim
    in_ch: Dim
    out_ch: Dim
    kernel: Dim
    stride: Dim = 1
    padding: bounded_int(0, MAX_DIM, DIM_WHY) = 0
    groups: Dim = 1


_GEMM_FIELDS = ("M", "N", "K", "sparsity", "act_density", "out_density", "conv")
_NONGEMM_FIELDS = ("rows", "cols", "window", "in_elements", "fused")


class _OpSpec(StrictModel):
    """One entry of `ops:`: a GEMM (M, N, K, ...) or a non-GEMM op (rows, cols, ...) by its kind."""

    name: str = Field(min_length=1)
    kind: Literal[OP_KINDS + NONGEMM_KINDS]  # type: ignore[valid-type]
    M: Dim | None = None
    N: Dim | None = None
    K: Dim | None = None
    batch: Dim = 1
    sparsity: str | None = None
    act_density: float | None = Field(None, gt=0, le=1)
    out_density: float | None = Field(None, gt=0, le=1)
    conv: _ConvSpec | None = None
    rows: Dim | None = None
    cols: Dim | None = None
    window: Dim | None = None
    in_elements: Dim | None = None
    fused: bool | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "_OpSpec":
        gemm = self.kind in OP_KINDS
        need, other = (("M", "N", "K"), _NONGEMM_FIELDS) if gemm else (("rows", "cols"), _GEMM_FIELDS)
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} op needs {', '.join(need)} (missing {', '.join(missing)})")
        wrong = [f for f in other if getattr(self, f) is not None]
        if wrong:
            what = "GEMM ops (M, N, K)" if not gemm else "non-GEMM ops (rows, cols)"
            raise ValueError(f"{', '.join(wrong)}: fields of {what}, not of a {self.kind} op")
        return self

    def build(self) -> "AnyOp":
        """The Op or NonGemmOp this entry describes (SpecError on inconsistent values)."""
        if self.kind in NONGEMM_KINDS:
            return NonGemmOp(name=self.name, kind=self.kind, rows=self.rows, cols=self.cols, batch=self.batch,
                             window=self.window or 1, in_elements=self.in_elements, fused=bool(self.fused))
        conv = ConvShape(**self.conv.model_dump()) if self.conv else None
        return Op(name=self.name, kind=self.kind, M=self.M, N=self.N, K=self.K, batch=self.batch,
                  weight_sparsity=Sparsity.parse(self.sparsity or "dense"),
                  act_density=1.0 if self.act_density is None else self.act_density,
                  out_density=1.0 if self.out_density is None else self.out_density, conv=conv)


class _WorkloadSpec(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""
    ops: list[_OpSpec] = Field(min_length=1)
    masks: str | None = None


@dataclass(init=False)
class Workload:
    """A named list of ops in model order; `masks` maps GEMM op names to boolean weight masks
    ([N, K] or [batch, N, K]).

    `ops` given to the constructor may mix GEMM `Op`s and `NonGemmOp`s in model order (what the
    zoo, the tracer and workload files produce); afterwards `layers` holds them all and `ops` the
    GEMMs alone, so code that prices GEMMs keeps seeing GEMMs."""

    name: str
    layers: list[AnyOp]
    description: str
    masks: dict[str, np.ndarray]

    def __init__(self, name: str, ops: list[AnyOp], description: str = "",
                 masks: dict[str, np.ndarray] | None = None) -> None:
        self.name, self.layers, self.description = name, list(ops), description
        self.masks = dict(masks or {})
        names = [op.name for op in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError(f"workload '{self.name}': op names must be unique (repeated: {', '.join(dup)})")
        for i, op in enumerate(self.layers):
            if not isinstance(op, (Op, NonGemmOp)):
                raise SpecError(f"workload '{self.name}': entry {i} is a {type(op).__name__}, not an Op or NonGemmOp")
            if isinstance(op, NonGemmOp) and op.fused and not self._follows_gemm(i):
                raise SpecError(f"workload '{self.name}': op '{op.name}' is fused but does not follow a GEMM "
                                "(a fused activation runs in the epilogue of the GEMM just before it)")
        for key, mask in self.masks.items():
            self._check_mask(key, mask)

    def _follows_gemm(self, i: int) -> bool:
        """Whether layer `i` comes right after a GEMM or after fused ops that do."""
        j = i - 1
        while j >= 0 and isinstance(self.layers[j], NonGemmOp) and self.layers[j].fused:
            j -= 1
        return j >= 0 and isinstance(self.layers[j], Op)

    @property
    def ops(self) -> list[Op]:
        """The GEMM ops, in model order (what mappers, dse, RTL and SCALE-Sim price)."""
        return of_type(self.layers, Op)

    @property
    def nongemm(self) -> list[NonGemmOp]:
        """The non-GEMM ops, in model order."""
        return of_type(self.layers, NonGemmOp)

    def _check_mask(self, key: str, mask: np.ndarray) -> None:
        op = next((o for o in self.ops if o.name == key), None)
        if op is None:
            raise SpecError(f"workload '{self.name}': mask '{key}' names no GEMM op")
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if tuple(mask.shape) != want:
            raise SpecError(f"workload '{self.name}': mask '{key}' has shape {tuple(mask.shape)}, "
                            f"expected {want} ([N, K] of the op)")

    def distinct_ops(self) -> list[tuple[Op, int]]:
        """GEMM ops that differ in more than their name, in first-seen order, each with how many
        times it occurs (count). A deterministic cost model gives equal ops equal costs, so costing
        these and weighting by the counts equals costing every op (a 12-layer BERT has 5 distinct
        GEMMs). Masks are not compared: for callers that cost patterns, not masks."""
        return _distinct(self.ops)

    def distinct_layers(self) -> list[tuple[AnyOp, int]]:
        """As `distinct_ops`, over every op, GEMM or not (BERT-base: 5 GEMMs and 8 others)."""
        return _distinct(self.layers)

    @property
    def macs(self) -> int:
        """Dense MACs of all GEMM ops."""
        return sum(op.macs for op in self.ops)

    def with_sparsity(self, sparsity: Sparsity | str) -> "Workload":
        """A copy with `sparsity` applied to every op that has weights (attention and non-GEMM
        ops are unchanged)."""
        sp = Sparsity.parse(sparsity) if isinstance(sparsity, str) else sparsity
        return Workload(self.name, [op.with_sparsity(sp) for op in self.layers], self.description, self.masks)

    # --- files -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write NAME.yaml (and NAME.masks.npz when masks exist); returns the YAML path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc: dict = {"name": self.name, "description": self.description, "ops": []}
        for op in self.layers:
            if isinstance(op, NonGemmOp):
                doc["ops"].append(op.to_dict())
                continue
            d = {"name": op.name, "kind": op.kind, "M": op.M, "N": op.N, "K": op.K}
            if op.batch != 1:
                d["batch"] = op.batch
            if not op.weight_sparsity.is_dense:
                d["sparsity"] = str(op.weight_sparsity)
            if op.act_density != 1.0:
                d["act_density"] = op.act_density
            if op.out_density != 1.0:
                d["out_density"] = op.out_density
            if op.conv is not None:
                d["conv"] = dict(op.conv.__dict__)
            doc["ops"].append(d)
        if self.masks:
            npz = path.with_suffix(".masks.npz")
            with atomic_path(npz) as tmp:
                with open(tmp, "wb") as fh:  # a file object: savez would append .npz to the temporary name
                    np.savez_compressed(fh, **{k: np.asarray(v, dtype=bool) for k, v in self.masks.items()})
            doc["masks"] = npz.name
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    @staticmethod
    def load(path: str | Path) -> "Workload":
        """Read a workload YAML (and its masks NPZ), or the `workload.yaml` of a workload directory
        (what `nmsim prune --out DIR` writes); SpecError naming file:line on bad input."""
        path = Path(path)
        if path.is_dir():
            if not (path / "workload.yaml").is_file():
                raise SpecError(f"{path}: directory holds no workload.yaml (not a workload directory; "
                                "`nmsim prune` writes one)")
            path = path / "workload.yaml"
        data, lines = load_yaml(path)
        if data is None:
            raise SpecError(f"{path}: file is empty")
        spec = parse_model(_WorkloadSpec, data, str(path), lines)
        ops = []
        for i, o in enumerate(spec.ops):
            try:
                ops.append(o.build())
            except SpecError as exc:
                raise SpecError(f"{path}:{lines.get(('ops', i), '?')}: ops.{i}: {exc}") from None
        masks = _load_masks(path, spec.masks, ops, lines) if spec.masks else {}
        try:
            return Workload(name=spec.name, ops=ops, description=spec.description, masks=masks)
        except SpecError as exc:
            raise SpecError(f"{path}: {exc}") from None


def _load_masks(path: Path, name: str, ops: list[Op], lines: dict) -> dict[str, np.ndarray]:
    """The masks NPZ named by workload file `path` (relative names stay in its folder), each
    member checked against its op's shape before it is read (specfile.load_npz)."""
    where = f"{path}:{lines.get(('masks',), '?')}: masks"
    npz = referenced_path(name, path.parent, where)
    if not npz.is_file():
        raise SpecError(f"{where}: masks file '{npz}' not found")
    by_name = {op.name: op for op in ops if isinstance(op, Op)}

    def accept(key: str, shape: tuple[int, ...]) -> None:
        op = by_name.get(key)
        if op is None:
            raise SpecError(f"{npz}: mask '{key}' names no op of {path}")
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if shape != want:
            raise SpecError(f"{npz}: mask '{key}' has shape {shape}, expected {want} ([N, K] of the op)")

    return {k: v.astype(bool) for k, v in load_npz(npz, accept).items()}
def of_type(layers: list, cls: type) -> list:
    """The ops of `layers` that are `cls` (Op: the GEMMs, NonGemmOp: the others), in order."""
    return [op for op in layers if isinstance(op, cls)]


def _distinct(ops: list) -> list[tuple]:
    """Ops that differ in more than their name, first-seen order, with their counts."""
    seen: dict = {}
    for op in ops:
        key = replace(op, name="")
        if key in seen:
            seen[key][1] += 1
        else:
            seen[key] = [op, 1]
    return [(op, n) for op, n in seen.values()]
