"""Calibration: feed sample inputs through a model and collect per-layer input statistics,
layer group by layer group, pruning each group before the next one sees its inputs.

This is the sequential scheme of SparseGPT (and of Wanda's reference setup): layer l is
calibrated on the outputs of the already-pruned layers before it, so each layer compensates
for the error upstream. Layers that read the very same input tensor (q, k, v of one attention
block) form one group and are calibrated together. The forward pass of each group stops (by
an exception from a hook) as soon as the group's last layer has its input, so the cost is
about half a forward pass per group and calibration batch, not a full one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from nmsim.specfile import SpecError

from .masks import layer_view

__all__ = ["CalibBatch", "as_batches", "layer_rows", "execution_groups", "run_sequential", "prune_sequential"]


@dataclass
class CalibBatch:
    """One calibration forward call: `model(*args, **kwargs)`.

    `valid` (bool, optional) marks which rows of a Linear layer's flattened input are real
    (e.g. `attention_mask` for padded token batches): padding rows do not enter the
    statistics. It must have as many elements as the product of the input's leading dims.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    valid: torch.Tensor | None = None


def as_batches(calibration: Any) -> list[CalibBatch]:
    """Normalize calibration data (CalibBatch, tensor, tuple or dict, or a list of them) into a
    list of CalibBatch; SpecError when there is none."""
    if calibration is None:
        raise SpecError("this pruning method needs calibration inputs, and none were given")
    items = calibration if isinstance(calibration, list) else [calibration]
    out = []
    for it in items:
        if isinstance(it, CalibBatch):
            out.append(it)
        elif isinstance(it, dict):
            out.append(CalibBatch(kwargs=dict(it)))
        elif isinstance(it, tuple):
            out.append(CalibBatch(args=it))
        else:
            out.append(CalibBatch(args=(it,)))
    if not out:
        raise SpecError("the calibration set is empty: give at least one sample")
    return out


class _Stop(Exception):
    """Raised from a hook once the current group has its inputs (ends the forward early)."""


def layer_rows(module: nn.Module, x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """The layer's GEMM A operand as rows `[rows, groups*K]` (float32): a Linear input with its
    leading dims flattened (padding rows dropped via `valid`), a Conv2d input unfolded by
    im2col (columns in `c, kh, kw` order, the order of `weight.reshape(out, -1)`)."""
    if isinstance(module, nn.Conv2d):
        if isinstance(module.padding, str):
            raise SpecError(f"conv with padding='{module.padding}' is not supported by calibration; "
                            "use explicit integer padding")
        x4 = x if x.dim() == 4 else x.unsqueeze(0)
        cols = F.unfold(x4.float(), module.kernel_size, module.dilation, module.padding, module.stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])
    rows = x.reshape(-1, x.shape[-1]).float()
    if valid is not None and valid.numel() == rows.shape[0]:
        rows = rows[valid.reshape(-1).to(torch.bool)]
    return rows


def execution_groups(model: nn.Module, layers: dict[str, nn.Module], batch: CalibBatch) -> list[list[str]] | None:
    """Layers in execution order, grouped by shared input tensor; None when some layer runs
    more than once per forward (weight sharing), where sequential calibration does not apply."""
    order: list[tuple[str, tuple]] = []
    alive: list[torch.Tensor] = []     # held so that no input's memory is reused by a later one
    handles = []
    for name, mod in layers.items():
        def pre(m, inputs, _n=name):
            x = inputs[0]
            alive.append(x)
            order.append((_n, (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), x.stride())))
        handles.append(mod.register_forward_pre_hook(pre))
    try:
        with torch.no_grad():
            model(*batch.args, **batch.kwargs)
    except Exception as exc:  # noqa: BLE001 -- user model code: one line for the CLI
        raise SpecError(f"model {type(model).__name__}: forward failed on the calibration inputs: "
                        f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                        [:400]) from None
    finally:
        for h in handles:
            h.remove()
    alive.clear()
    names = [n for n, _ in order]
    if len(set(names)) != len(names):
        return None
    missing = [n for n in layers if n not in names]
    if missing:
        raise SpecError(f"layer '{missing[0]}' never ran on the calibration inputs ({len(missing)} such); "
                        f"leave it out with `skip` '{missing[0]}'")
    groups: list[list[str]] = []
    last_ptr = None
    for n, ptr in order:
        if groups and ptr == last_ptr:
            groups[-1].append(n)
        else:
            groups.append([n])
        last_ptr = ptr
    return groups


def run_sequential(model: nn.Module, layers: dict[str, nn.Module], batches: list[CalibBatch],
                   new_stat: Callable[[nn.Module], Any], prune_group: Callable[[list[str], dict[str, Any]], None],
                   progress: Callable[[int, int], None] | None = None) -> None:
    """Calibrate and prune `layers` group by group (see module docstring).

    `new_stat(module)` makes an accumulator with `.add(rows)` (rows from `layer_rows`);
    `prune_group(names, stats)` prunes those layers in place; `progress(done, total)` is called
    with layers done.
    """
    was_training = model.training
    model.eval()
    try:
        groups = execution_groups(model, layers, batches[0])
        sequential = groups is not None
        if not sequential:              # weight sharing: one pass, all layers together
            groups = [list(layers)]
        done = 0
        for group in groups:
            stats = {n: new_stat(layers[n]) for n in group}
            state: dict[str, Any] = {"valid": None}
            handles = []
            for n in group:
                def pre(m, inputs, _n=n):
                    stats[_n].add(layer_rows(m, inputs[0], state["valid"]))
                    if sequential and _n == group[-1]:
                        raise _Stop
                handles.append(layers[n].register_forward_pre_hook(pre))
            try:
                with torch.no_grad():
                    for b in batches:
                        state["valid"] = b.valid
                        try:
                            model(*b.args, **b.kwargs)
                        except _Stop:
                            pass
            finally:
                for h in handles:
                    h.remove()
            empty = [n for n in group if stats[n].count == 0]
            if empty:
                raise SpecError(f"layer '{empty[0]}' saw no calibration rows (all inputs padding?)")
            prune_group(group, stats)
            done += len(group)
            if progress:
                progress(done, len(layers))
    finally:
        model.train(was_training)


def prune_sequential(model: nn.Module, layers: dict[str, nn.Module], calibration: Any,
                     new_stat: Callable[[nn.Module], Any],
                     prune_layer: Callable[[nn.Module, Any], tuple[torch.Tensor | None, torch.Tensor]],
                     progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Calibrated pruning driver: `prune_layer(module, stat)` returns (new weight or None to keep
    the weights, keep-mask), both weight-shaped; the pruned weights are written (zeros where the
    mask drops) before the next group is calibrated. Returns the keep-masks by layer name."""
    batches = as_batches(calibration)
    masks: dict[str, torch.Tensor] = {}

    def prune_group(names, stats):
        for n in names:
            mod = layers[n]
            new, keep = prune_layer(mod, stats[n])
            with torch.no_grad():
                if new is not None:
                    mod.weight.copy_(new.reshape(mod.weight.shape).to(mod.weight.dtype))
                mod.weight.mul_(keep.reshape(mod.weight.shape).to(mod.weight.dtype))
            masks[n] = keep.reshape(mod.weight.shape)

    run_sequential(model, layers, batches, new_stat, prune_group, progress)
    return masks


class ColumnNorms:
    """Accumulates the squared L2 norm of every input column, `[groups, K]` (Wanda)."""

    def __init__(self, module: nn.Module) -> None:
        self.groups, _, self.k = layer_view(module)
        self.sumsq = torch.zeros(self.groups * self.k, dtype=torch.float64)
        self.count = 0

    def add(self, rows: torch.Tensor) -> None:
        """Add rows `[r, groups*K]`."""
        self.sumsq += (rows.double() ** 2).sum(0)
        self.count += rows.shape[0]

    def norms(self) -> torch.Tensor:
        """Column L2 norms `[groups, K]` (float32)."""
        return self.sumsq.sqrt().float().reshape(self.groups, self.k)


class Hessian:
    """Accumulates `H = 2/n * X^T X` per group, `[groups, K, K]` (SparseGPT's layer-wise
    reconstruction objective ||WX - W'X||^2 has this Hessian)."""

    def __init__(self, module: nn.Module) -> None:
        self.groups, _, self.k = layer_view(module)
        self.xtx = torch.zeros(self.groups, self.k, self.k, dtype=torch.float32)
        self.count = 0

    def add(self, rows: torch.Tensor) -> None:
        """Add rows `[r, groups*K]`."""
        x = rows.reshape(rows.shape[0], self.groups, self.k).transpose(0, 1)   # [g, r, K]
        self.xtx += x.transpose(1, 2) @ x
        self.count += rows.shape[0]

    def hessian(self) -> torch.Tensor:
        """`[groups, K, K]` float32."""
        return self.xtx * (2.0 / max(self.count, 1))
