"""SparseGPT-style one-shot pruning (Frantar and Alistarh 2023, "SparseGPT: Massive Language
Models Can Be Accurately Pruned in One-Shot").

Per layer, minimise the reconstruction error ||W X - W' X||^2 over the calibration inputs X.
With H = 2 X X^T, removing weight q of a row and compensating with the remaining weights of the
row is the Optimal Brain Surgeon update: error e = w_q / [H^-1]_qq, then w <- w - e [H^-1]_q,: .
SparseGPT makes this affordable by sweeping the columns left to right, so that every row shares
the same sequence of inverse Hessians, all read off one upper Cholesky factor of H^-1.

* Blocked: columns go in blocks of `blocksize`; inside a block the update is applied column by
  column, and the accumulated error of the block reaches the later columns in one matmul.
* Damped: `damp` x mean(diag H) is added to the diagonal before inverting (numerical safety and
  a guard against tiny calibration sets); inputs that were always zero get a unit diagonal and
  their weights are pruned first, since they never contribute.
* Mask selection: unstructured masks are chosen per block of columns by the OBS saliency
  w^2 / [chol(H^-1)]_qq^2 with the exact number of zeros the requested density asks for so far;
  N:M masks are chosen every M columns, lowest N-M saliencies of each row's group pruned.
  Only N:M along K is supported (the update runs along K).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from nmsim.specfile import SpecError

from ...sparsity import Sparsity
from .calibrate import Hessian, prune_sequential
from .masks import check_fits

__all__ = ["sparsegpt_matrix", "sparsegpt_prune"]


def _inverse_chol(H: torch.Tensor, damp: float) -> torch.Tensor:
    """Upper Cholesky factor of (H + damp*mean(diag H)*I)^-1, raising the damping if H is not
    positive definite (collinear calibration inputs)."""
    mean_diag = torch.diag(H).mean().clamp_min(1e-8)
    eye = torch.eye(H.shape[0], dtype=H.dtype)
    for factor in (1, 10, 100, 1000):
        L, info = torch.linalg.cholesky_ex(H + damp * factor * mean_diag * eye)
        if int(info) == 0:
            Hinv = torch.cholesky_inverse(L)
            U, info = torch.linalg.cholesky_ex(Hinv, upper=True)
            if int(info) == 0:
                return U
    raise SpecError("SparseGPT: the calibration Hessian stays singular even with 1000x damping; "
                    "give more (or more varied) calibration samples")


def sparsegpt_matrix(W: torch.Tensor, H: torch.Tensor, sparsity: Sparsity, blocksize: int = 128,
                     damp: float = 0.01) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune one weight matrix W `[N, K]` with Hessian H `[K, K]` (float32).

    Returns (updated W with zeros at pruned places, keep-mask `[N, K]`).
    """
    W = W.detach().clone().float()
    H = H.detach().clone().float()
    rows, cols = W.shape
    if sparsity.kind == "nm":
        if sparsity.axis != "K":
            raise SpecError(f"sparsegpt: N:M along {sparsity.axis} is not supported (its updates run along K); "
                            "use `method` magnitude or wanda for N:M@N")
        blocksize = max(sparsity.m, blocksize // sparsity.m * sparsity.m)
    dead = torch.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    U = _inverse_chol(H, damp)
    pruned = torch.zeros(rows, cols, dtype=torch.bool)
    zeros_wanted = 1.0 - sparsity.density
    zeros_done = 0
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        U1 = U[i1:i2, i1:i2]
        d = torch.diag(U1)
        err = torch.zeros_like(W1)
        p1 = torch.zeros_like(W1, dtype=torch.bool)
        if sparsity.kind == "unstructured":
            # exact running count: after this block, round(zeros_wanted * rows * i2) are pruned
            k = int(round(zeros_wanted * rows * i2)) - zeros_done
            sal = (W1 ** 2 / d[None, :] ** 2).reshape(-1)
            if k > 0:
                p1.view(-1)[torch.topk(sal, k, largest=False, sorted=False).indices] = True
            zeros_done += k
        for i in range(i2 - i1):
            if sparsity.kind == "nm" and i % sparsity.m == 0:
                m = sparsity.m
                sal = W1[:, i:i + m] ** 2 / d[None, i:i + m] ** 2
                idx = torch.topk(sal, m - sparsity.n, dim=1, largest=False, sorted=False).indices
                p1[:, i:i + m].scatter_(1, idx, True)
            w = W1[:, i]
            q = torch.where(p1[:, i], torch.zeros_like(w), w)
            e = (w - q) / d[i]
            # OBS compensation of the remaining columns of this block
            W1[:, i:] -= e[:, None] * U1[i, i:][None, :]
            W1[:, i] = q
            err[:, i] = e
        W[:, i1:i2] = W1
        pruned[:, i1:i2] = p1
        W[:, i2:] -= err @ U[i1:i2, i2:]
    W[pruned] = 0.0
    return W, ~pruned


def sparsegpt_prune(model: nn.Module, layers: dict[str, nn.Module], sparsity: Sparsity, calibration: Any,
                    blocksize: int = 128, damp: float = 0.01,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, torch.Tensor]:
    """Prune `layers` of `model` in place with SparseGPT (weights updated, pruned ones zero);
    returns weight-shaped keep-masks."""
    if sparsity.kind == "nm" and sparsity.axis != "K":
        raise SpecError(f"sparsegpt: N:M along {sparsity.axis} is not supported (its updates run along K); "
                        "use `method` magnitude or wanda for N:M@N")
    check_fits(layers, sparsity)

    def prune_layer(mod, stat):
        Hs = stat.hessian()                                    # [groups, K, K]
        w3 = mod.weight.detach().reshape(Hs.shape[0], -1, Hs.shape[-1])
        new, keep = zip(*(sparsegpt_matrix(w3[i], Hs[i], sparsity, blocksize, damp) for i in range(Hs.shape[0])))
        return torch.stack(new), torch.stack(keep)

    return prune_sequential(model, layers, calibration, Hessian, prune_layer, progress)
