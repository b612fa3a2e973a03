"""SR-STE: training N:M sparse networks from scratch (Zhou et al. 2021, "Learning N:M
Fine-grained Structured Sparse Neural Networks From Scratch").

The network keeps dense weights W. Every forward pass uses W~ = W * mask, with the mask
recomputed from |W| (N largest of every M). Backward is a straight-through estimator, refined:
the dense weights receive the gradient of the sparse ones plus lambda_W * (1 - mask) * W, a
decay on the currently pruned weights that steadies the mask during training (the paper's
eq. 6 regulariser; lambda_W = 2e-4 there).

Attach with `attach_srste(layers, n, m)` (a torch parametrization on each layer's weight),
train as usual, then `finalize_srste(layers)` writes the sparse weights back and returns the
masks.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .masks import check_fits, layer_view, nm_keep
from ...sparsity import Sparsity

__all__ = ["SRSTE", "attach_srste", "finalize_srste"]


class _SRSTEFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, n, m, axis, lam, groups):
        keep = nm_keep(w.detach().abs().reshape(groups, w.shape[0] // groups, -1), n, m, axis).reshape(w.shape)
        ctx.save_for_backward(w, keep)
        ctx.lam = lam
        return w * keep

    @staticmethod
    def backward(ctx, grad):
        w, keep = ctx.saved_tensors
        return grad + ctx.lam * (~keep) * w, None, None, None, None, None


class SRSTE(nn.Module):
    """Parametrization: weight -> its N:M-masked version with the SR-STE backward rule."""

    def __init__(self, n: int, m: int, axis: str = "K", lam: float = 2e-4, groups: int = 1) -> None:
        super().__init__()
        self.n, self.m, self.axis, self.lam, self.groups = n, m, axis, lam, groups

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return _SRSTEFn.apply(w, self.n, self.m, self.axis, self.lam, self.groups)


def attach_srste(layers: dict[str, nn.Module], sparsity: Sparsity, lam: float = 2e-4) -> None:
    """Make every layer compute with SR-STE N:M weights from now on (training and inference)."""
    check_fits(layers, sparsity)
    for mod in layers.values():
        parametrize.register_parametrization(
            mod, "weight", SRSTE(sparsity.n, sparsity.m, sparsity.axis, lam, layer_view(mod)[0]))


def finalize_srste(layers: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Remove the parametrizations, leaving the pruned weights in place; returns keep-masks."""
    masks = {}
    for name, mod in layers.items():
        p = mod.parametrizations.weight[0]
        w = mod.parametrizations.weight.original.detach()
        masks[name] = nm_keep(w.abs().reshape(p.groups, w.shape[0] // p.groups, -1), p.n, p.m, p.axis).reshape(w.shape)
        parametrize.remove_parametrizations(mod, "weight", leave_parametrized=True)
    return masks
