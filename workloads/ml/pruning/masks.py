"""Masks: building N:M and top-k masks from scores, checking them, applying them to modules.

Conventions (the Workload contract): a layer's weight is viewed as a matrix `[groups, N, K]`:
N = output channels per group, K = inputs per group (im2col order `c, kh, kw` for convs), so
`weight.reshape(groups, N, K)` for both `nn.Linear` (groups = 1) and `nn.Conv2d`. A mask is
boolean, True = kept. N:M groups run along K (the reduction dimension) unless the pattern
says `@N`. The checks are numpy-only so that saved masks can be verified without torch.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from nmsim.specfile import SpecError

from ...sparsity import Sparsity

if TYPE_CHECKING:  # torch stays a lazy import for everything that only checks masks
    import torch
    from torch import nn

__all__ = ["MaskCheckError", "MaskReport", "check_mask", "nm_keep", "topk_keep", "prunable_layers",
           "layer_view", "fit_problem", "check_fits", "apply_masks", "parse_prune_pattern"]


class MaskCheckError(AssertionError):
    """A produced mask breaks its pattern: a bug in a pruning method, never a user error."""


@dataclass(frozen=True)
class MaskReport:
    """What `check_mask` found: kept fraction, and the most nonzeros in any N:M group."""

    density: float
    max_per_group: int | None
    groups_checked: int


def parse_prune_pattern(text: str) -> Sparsity:
    """A pruning target: `N:M`, `N:M@N` or `unstructured:D` (D = fraction of zeros); SpecError
    for dense, block or malformed patterns."""
    sp = Sparsity.parse(text)
    if sp.kind not in ("nm", "unstructured"):
        raise SpecError(f"pattern '{text}': pruning needs N:M (e.g. 2:4), N:M@N or unstructured:D "
                        f"(e.g. unstructured:0.5)")
    if sp.kind == "unstructured" and sp.density >= 1.0:
        raise SpecError(f"pattern '{text}': unstructured:0 prunes nothing; give the fraction of zeros, e.g. 0.5")
    return sp


def check_mask(mask: np.ndarray, sparsity: Sparsity, groups: int = 1, name: str = "mask",
               density_tol: float | None = None, exact: bool = True) -> MaskReport:
    """Verify a keep-mask (bool, weight-shaped or `[groups, N, K]`) against its pattern.

    N:M: every group of M consecutive values along the pattern's axis holds at most N kept
    values (the axis length must be a multiple of M), and the kept fraction is N/M.
    Unstructured: the kept fraction is the requested density within `density_tol` (default:
    one element per row, the rounding of per-row methods). With `exact=False` a sparser mask
    also passes (a pruned tensor may hold more zeros than its pattern needs).
    Raises MaskCheckError naming the layer; returns a MaskReport.
    """
    m3 = np.asarray(mask, dtype=bool)
    m3 = m3.reshape(groups, -1, m3.reshape(m3.shape[0], -1).shape[1]) if m3.ndim != 3 else m3
    if m3.ndim != 3:
        raise MaskCheckError(f"{name}: mask has {m3.ndim} dims")
    density = float(m3.mean())
    if sparsity.kind == "nm":
        n, m = sparsity.n, sparsity.m
        v = m3 if sparsity.axis == "K" else m3.transpose(0, 2, 1)
        if v.shape[-1] % m:
            raise MaskCheckError(f"{name}: {sparsity.axis}={v.shape[-1]} is not a multiple of M={m}")
        per_group = v.reshape(-1, m).sum(axis=1)
        worst = int(per_group.max()) if per_group.size else 0
        if worst > n:
            bad = int((per_group > n).sum())
            raise MaskCheckError(f"{name}: {bad} groups of {m} hold more than {n} nonzeros (up to {worst})")
        if density > n / m + 1e-9 or (exact and density < n / m - 1e-9):
            raise MaskCheckError(f"{name}: density {density:.4f} is not {n}/{m}")
        return MaskReport(density, worst, int(per_group.size))
    if sparsity.kind == "unstructured":
        tol = (1.0 / m3.shape[-1]) if density_tol is None else density_tol
        if density > sparsity.density + tol + 1e-9 or (exact and density < sparsity.density - tol - 1e-9):
            raise MaskCheckError(f"{name}: density {density:.4f} misses the requested {sparsity.density:.4f}")
        return MaskReport(density, None, 0)
    raise MaskCheckError(f"{name}: cannot check pattern {sparsity}")


# --- building masks (torch) ------------------------------------------------------------------

def nm_keep(scores: "torch.Tensor", n: int, m: int, axis: str = "K") -> "torch.Tensor":
    """Keep-mask of the `n` highest scores in every `m` consecutive values along `axis` of a
    `[groups, N, K]` score tensor (the length along the axis must be a multiple of m)."""
    import torch

    s = scores if axis == "K" else scores.transpose(1, 2)
    g = s.reshape(-1, m)
    idx = torch.topk(g, n, dim=1, sorted=False).indices
    keep = torch.zeros_like(g, dtype=torch.bool).scatter_(1, idx, True).reshape(s.shape)
    return keep if axis == "K" else keep.transpose(1, 2).contiguous()


def topk_keep(scores: "torch.Tensor", density: float, per_row: bool = False) -> "torch.Tensor":
    """Keep-mask of the round(density * count) highest scores, over the whole tensor or, with
    `per_row`, within every row of the last dimension."""
    import torch

    if per_row:
        rows = scores.reshape(-1, scores.shape[-1])
        k = int(round(density * rows.shape[1]))
        idx = torch.topk(rows, k, dim=1, sorted=False).indices
        return torch.zeros_like(rows, dtype=torch.bool).scatter_(1, idx, True).reshape(scores.shape)
    flat = scores.reshape(-1)
    k = int(round(density * flat.numel()))
    idx = torch.topk(flat, k, sorted=False).indices
    return torch.zeros_like(flat, dtype=torch.bool).scatter_(0, idx, True).reshape(scores.shape)


# --- layers ----------------------------------------------------------------------------------

def prunable_layers(model: "nn.Module", skip: Iterable[str] = ()) -> dict[str, "nn.Module"]:
    """`nn.Linear` and `nn.Conv2d` modules of `model` by qualified name, in definition order,
    minus those matching any fnmatch pattern in `skip` (e.g. `conv1`, `features.*.dw`)."""
    from torch import nn

    skip = list(skip)
    return {name: mod for name, mod in model.named_modules()
            if isinstance(mod, (nn.Linear, nn.Conv2d)) and type(mod) is not nn.ConvTranspose2d
            and not any(fnmatch.fnmatchcase(name, pat) for pat in skip)}


def layer_view(module: "nn.Module") -> tuple[int, int, int]:
    """(groups, N, K) of the module's weight seen as `[groups, N, K]`."""
    w = module.weight
    groups = getattr(module, "groups", 1)
    return groups, w.shape[0] // groups, int(w[0].numel())


def fit_problem(name: str, module: "nn.Module", sparsity: Sparsity) -> str | None:
    """Why `sparsity` cannot be laid on this layer (one phrase), or None when it fits."""
    if sparsity.kind != "nm":
        return None
    g, n_out, k = layer_view(module)
    length = k if sparsity.axis == "K" else n_out
    if length % sparsity.m:
        return f"'{name}' has {sparsity.axis}={length}, not a multiple of {sparsity.m}"
    return None


def check_fits(layers: dict[str, "nn.Module"], sparsity: Sparsity) -> None:
    """SpecError naming every layer whose shape cannot hold `sparsity` (and how to skip them)."""
    bad = [(n, p) for n, mod in layers.items() if (p := fit_problem(n, mod, sparsity))]
    if not bad:
        return
    shown = "; ".join(p for _, p in bad[:3]) + (f"; and {len(bad) - 3} more" if len(bad) > 3 else "")
    names = " ".join(f"`skip` '{n}'" for n, _ in bad[:3])
    raise SpecError(f"pattern {sparsity} cannot be held by {len(bad)} layer(s) (groups of {sparsity.m} run "
                    f"along {sparsity.axis}): {shown}; leave them dense with {names}"
                    + (" ..." if len(bad) > 3 else ""))


def apply_masks(layers: dict[str, "nn.Module"], masks: dict[str, "torch.Tensor"]) -> None:
    """Zero the pruned weights in place (masks shaped like the weights, True = kept)."""
    import torch

    with torch.no_grad():
        for name, mk in masks.items():
            w = layers[name].weight
            w.mul_(mk.reshape(w.shape).to(w.dtype))
