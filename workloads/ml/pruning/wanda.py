"""Wanda (Sun, Liu, Bair, Kolter 2023, "A Simple and Effective Pruning Approach for Large
Language Models"): score every weight by |W_ij| * ||X_j||_2, the magnitude of the weight times
the L2 norm of its input feature over the calibration tokens, and drop the lowest scores within
each output row (unstructured) or within each N:M group. No weight update.

Calibration is sequential (see `calibrate`): each layer's input norms come from the model with
the earlier layers already pruned.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ...sparsity import Sparsity
from .calibrate import ColumnNorms, prune_sequential
from .magnitude import weight3d
from .masks import check_fits, nm_keep, topk_keep

__all__ = ["wanda_scores", "wanda_keep", "wanda_prune"]


def wanda_scores(w3: torch.Tensor, col_norms: torch.Tensor) -> torch.Tensor:
    """|W| * ||X_j|| for a `[groups, N, K]` weight and `[groups, K]` input-column norms."""
    return w3.abs().float() * col_norms[:, None, :]


def wanda_keep(scores: torch.Tensor, sparsity: Sparsity) -> torch.Tensor:
    """Keep-mask from Wanda scores: N:M groups, or the top density fraction of every output row
    (Wanda's per-output comparison group)."""
    if sparsity.kind == "nm":
        return nm_keep(scores, sparsity.n, sparsity.m, sparsity.axis)
    return topk_keep(scores, sparsity.density, per_row=True)


def wanda_prune(model: nn.Module, layers: dict[str, nn.Module], sparsity: Sparsity, calibration: Any,
                progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Prune `layers` (modules of `model`) in place with Wanda; returns weight-shaped keep-masks.
    `calibration`: CalibBatch list, tensors, tuples or dicts of model inputs (see calibrate)."""
    check_fits(layers, sparsity)

    def prune_layer(mod, stat):
        return None, wanda_keep(wanda_scores(weight3d(mod), stat.norms()), sparsity)

    return prune_sequential(model, layers, calibration, ColumnNorms, prune_layer, progress)
