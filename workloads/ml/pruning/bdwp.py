"""BDWP, bidirectional weight pruning (the training method of SAT: "Efficient N:M Sparse DNN
Training Using Algorithm, Architecture, and Dataflow Co-Design").

Training keeps dense weights W. The forward pass multiplies by W pruned N:M along the input
channels (the reduction dimension of the forward GEMM). The backward pass computes the input
gradient dX = dY . W with W pruned N:M along the output channels (the reduction dimension of
that GEMM), so both passes run on N:M hardware. The weight gradient dW = dY^T X is dense and
updates the dense W (a straight-through estimator). Both masks are recomputed from |W| at every
step; the deployed network uses the forward (input-channel) masks.

Attach with `attach_bdwp(layers, sparsity)` (replaces the layers' forward), train, then
`finalize_bdwp(layers)`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nmsim.specfile import SpecError

from ...sparsity import Sparsity
from .masks import check_fits, layer_view, nm_keep

__all__ = ["attach_bdwp", "finalize_bdwp", "bdwp_masks"]


def bdwp_masks(w: torch.Tensor, n: int, m: int, groups: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(forward mask along K, backward mask along N) of a weight, both weight-shaped."""
    w3 = w.detach().abs().reshape(groups, w.shape[0] // groups, -1)
    return nm_keep(w3, n, m, "K").reshape(w.shape), nm_keep(w3, n, m, "N").reshape(w.shape)


class _LinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, n, m):
        fwd, bwd = bdwp_masks(w, n, m)
        ctx.save_for_backward(x, w * bwd)
        ctx.has_bias = b is not None
        return F.linear(x, w * fwd, b)

    @staticmethod
    def backward(ctx, gy):
        x, w_bwd = ctx.saved_tensors
        gx = gy @ w_bwd
        gw = gy.reshape(-1, gy.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        gb = gy.reshape(-1, gy.shape[-1]).sum(0) if ctx.has_bias else None
        return gx, gw, gb, None, None


class _Conv2dFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, n, m, stride, padding, dilation, groups):
        fwd, bwd = bdwp_masks(w, n, m, groups)
        ctx.save_for_backward(x, w, w * bwd)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return F.conv2d(x, w * fwd, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w, w_bwd = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        gx = torch.nn.grad.conv2d_input(x.shape, w_bwd, gy, stride, padding, dilation, groups)
        gw = torch.nn.grad.conv2d_weight(x, w.shape, gy, stride, padding, dilation, groups)
        gb = gy.sum((0, 2, 3)) if ctx.has_bias else None
        return gx, gw, gb, None, None, None, None, None, None


def attach_bdwp(layers: dict[str, nn.Module], sparsity: Sparsity) -> None:
    """Make the layers train with BDWP (N:M forward along K, backward along N). Both directions
    must fit the layer's shape: SpecError otherwise."""
    if sparsity.kind != "nm" or sparsity.axis != "K":
        raise SpecError(f"bdwp: needs an N:M pattern along K (got {sparsity}); the backward direction "
                        "is along N by construction")
    check_fits(layers, sparsity)
    check_fits(layers, Sparsity(kind="nm", n=sparsity.n, m=sparsity.m, axis="N", density=sparsity.density))
    n, m = sparsity.n, sparsity.m
    for mod in layers.values():
        if isinstance(mod, nn.Conv2d):
            if isinstance(mod.padding, str):
                raise SpecError("bdwp: conv padding must be integers")
            mod.forward = (lambda x, _m=mod: _Conv2dFn.apply(x, _m.weight, _m.bias, n, m, _m.stride, _m.padding,
                                                             _m.dilation, _m.groups))
        else:
            mod.forward = lambda x, _m=mod: _LinearFn.apply(x, _m.weight, _m.bias, n, m)


def finalize_bdwp(layers: dict[str, nn.Module], sparsity: Sparsity) -> dict[str, torch.Tensor]:
    """Restore the layers' forward and prune their weights with the forward (K-axis) masks;
    returns those keep-masks."""
    masks = {}
    for name, mod in layers.items():
        del mod.forward                     # back to the class's forward
        keep = bdwp_masks(mod.weight, sparsity.n, sparsity.m, layer_view(mod)[0])[0]
        with torch.no_grad():
            mod.weight.mul_(keep.to(mod.weight.dtype))
        masks[name] = keep
    return masks
