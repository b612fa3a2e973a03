"""Workloads: a named list of ops plus optional explicit weight masks, saved as YAML + NPZ.

File layout: `NAME.yaml` holds the op list; when masks exist, `NAME.masks.npz` beside it holds
one boolean array per masked op, keyed by op name, shaped [N, K] (torch's [out, in] layout) or
[batch, N, K] for batched ops. Save then load is lossless (a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import (SpecError, StrictModel, atomic_path, bounded_int, load_npz, load_yaml, parse_model,
                            referenced_path)

from .ops import OP_KINDS, ConvShape, Op
from .sparsity import Sparsity


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


class _OpSpec(StrictModel):
    name: str = Field(min_length=1)
    kind: Literal[OP_KINDS]  # type: ignore[valid-type]
    M: Dim
    N: Dim
    K: Dim
    batch: Dim = 1
    sparsity: str = "dense"
    act_density: float = Field(1.0, gt=0, le=1)
    conv: _ConvSpec | None = None


class _WorkloadSpec(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""
    ops: list[_OpSpec] = Field(min_length=1)
    masks: str | None = None


@dataclass
class Workload:
    """A named op list; `masks` maps op names to boolean weight masks ([N, K] or [batch, N, K])."""

    name: str
    ops: list[Op]
    description: str = ""
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [op.name for op in self.ops]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError(f"workload '{self.name}': op names must be unique (repeated: {', '.join(dup)})")
        for key, mask in self.masks.items():
            self._check_mask(key, mask)

    def _check_mask(self, key: str, mask: np.ndarray) -> None:
        op = next((o for o in self.ops if o.name == key), None)
        if op is None:
            raise SpecError(f"workload '{self.name}': mask '{key}' names no op")
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if tuple(mask.shape) != want:
            raise SpecError(f"workload '{self.name}': mask '{key}' has shape {tuple(mask.shape)}, "
                            f"expected {want} ([N, K] of the op)")

    def distinct_ops(self) -> list[tuple[Op, int]]:
        """Ops that differ in more than their name, in first-seen order, each with how many times
        it occurs (count). A deterministic cost model gives equal ops equal costs, so costing these
        and weighting by the counts equals costing every op (a 12-layer BERT has 5 distinct
        GEMMs). Masks are not compared: for callers that cost patterns, not masks."""
        seen: dict[Op, list] = {}
        for op in self.ops:
            key = replace(op, name="")
            if key in seen:
                seen[key][1] += 1
            else:
                seen[key] = [op, 1]
        return [(op, n) for op, n in seen.values()]

    @property
    def macs(self) -> int:
        """Dense MACs of all ops."""
        return sum(op.macs for op in self.ops)

    def with_sparsity(self, sparsity: Sparsity | str) -> "Workload":
        """A copy with `sparsity` applied to every op that has weights (attention is unchanged)."""
        sp = Sparsity.parse(sparsity) if isinstance(sparsity, str) else sparsity
        return replace(self, ops=[op.with_sparsity(sp) for op in self.ops], masks=dict(self.masks))

    # --- files -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write NAME.yaml (and NAME.masks.npz when masks exist); returns the YAML path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc: dict = {"name": self.name, "description": self.description, "ops": []}
        for op in self.ops:
            d = {"name": op.name, "kind": op.kind, "M": op.M, "N": op.N, "K": op.K}
            if op.batch != 1:
                d["batch"] = op.batch
            if not op.weight_sparsity.is_dense:
                d["sparsity"] = str(op.weight_sparsity)
            if op.act_density != 1.0:
                d["act_density"] = op.act_density
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
                sp = Sparsity.parse(o.sparsity)
                conv = ConvShape(**o.conv.model_dump()) if o.conv else None
                ops.append(Op(name=o.name, kind=o.kind, M=o.M, N=o.N, K=o.K, batch=o.batch,
                              weight_sparsity=sp, act_density=o.act_density, conv=conv))
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
    by_name = {op.name: op for op in ops}

    def accept(key: str, shape: tuple[int, ...]) -> None:
        op = by_name.get(key)
        if op is None:
            raise SpecError(f"{npz}: mask '{key}' names no op of {path}")
        want = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
        if shape != want:
            raise SpecError(f"{npz}: mask '{key}' has shape {shape}, expected {want} ([N, K] of the op)")

    return {k: v.astype(bool) for k, v in load_npz(npz, accept).items()}
