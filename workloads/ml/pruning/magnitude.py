"""Magnitude pruning: keep the weights of largest |w|.

* N:M along K or N (`nm_keep` on |W|), any N <= M;
* unstructured per layer (the top density fraction of each layer's |W|);
* unstructured global (one threshold over all layers, so layers end up with different densities).
"""
from __future__ import annotations

import torch
from torch import nn

from ...sparsity import Sparsity
from .masks import apply_masks, check_fits, layer_view, nm_keep, topk_keep

__all__ = ["magnitude_keep", "magnitude_prune", "global_magnitude_prune"]


def weight3d(module: nn.Module) -> torch.Tensor:
    """The module's weight as `[groups, N, K]` (a view, detached)."""
    g, n, k = layer_view(module)
    return module.weight.detach().reshape(g, n, k)


def magnitude_keep(w3: torch.Tensor, sparsity: Sparsity) -> torch.Tensor:
    """Keep-mask `[groups, N, K]` of the largest-|w| weights under `sparsity`."""
    score = w3.abs().float()
    if sparsity.kind == "nm":
        return nm_keep(score, sparsity.n, sparsity.m, sparsity.axis)
    return topk_keep(score, sparsity.density)


def magnitude_prune(layers: dict[str, nn.Module], sparsity: Sparsity, inplace: bool = True) -> dict[str, torch.Tensor]:
    """Per-layer magnitude masks (weight-shaped bool, True = kept); zeroes pruned weights when
    `inplace`. SpecError if an N:M pattern does not fit a layer's shape."""
    check_fits(layers, sparsity)
    masks = {n: magnitude_keep(weight3d(m), sparsity).reshape(m.weight.shape) for n, m in layers.items()}
    if inplace:
        apply_masks(layers, masks)
    return masks


def global_magnitude_prune(layers: dict[str, nn.Module], density: float, inplace: bool = True) -> dict[str, torch.Tensor]:
    """Unstructured masks with one |w| threshold over all `layers`, keeping a `density` fraction
    (0..1, of nonzeros) of their weights in total."""
    flat = torch.cat([m.weight.detach().abs().reshape(-1).float() for m in layers.values()])
    keep_total = int(round(density * flat.numel()))
    drop = flat.numel() - keep_total
    thresh = torch.kthvalue(flat, drop).values if drop > 0 else flat.min() - 1
    del flat
    masks = {n: (m.weight.detach().abs().float() > thresh) for n, m in layers.items()}
    # weights equal to the threshold (ties, e.g. exact zeros) fill up to the exact count
    short = keep_total - sum(int(mk.sum()) for mk in masks.values())
    for n, m in layers.items():
        if short <= 0:
            break
        tie = (m.weight.detach().abs().float() == thresh).reshape(-1)
        idx = tie.nonzero().reshape(-1)[:short]
        masks[n].view(-1)[idx] = True
        short -= idx.numel()
    if inplace:
        apply_masks(layers, masks)
    return masks
