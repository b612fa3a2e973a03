"""A small CNN trained from scratch on scikit-learn's bundled digits (8x8 grey images, 10
classes, 1,797 samples; no download), for sparse-training experiments on this CPU.

Network: conv1 3x3 1->16, conv2 3x3 16->32, 2x2 max-pool, fc1 512->64, fc2 64->10 (ReLU).
The first conv (K = 1*3*3 = 9) and the classifier (N = 10 outputs) cannot hold 2:4 or 2:8
groups (9 and 10 are not multiples of 4 or 8), so, as is common practice for the first and
last layers, they stay dense; conv2 and fc1 carry 95% of the weights and are pruned.

Everything is seeded: same seed, same split, same weights, same accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nmsim.specfile import SpecError

from ..sparsity import Sparsity

__all__ = ["DigitsCNN", "load_data", "train", "accuracy", "PRUNED_LAYERS", "DENSE_LAYERS", "run_experiment"]

PRUNED_LAYERS = ("conv2", "fc1")
DENSE_LAYERS = ("conv1", "fc2")        # K = 9 and N = 10 hold no 4- or 8-groups


class DigitsCNN(nn.Module):
    """The digits classifier; input `[batch, 1, 8, 8]`, output logits `[batch, 10]`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


@dataclass
class DigitsData:
    """Train/test split: images `[n, 1, 8, 8]` in [0, 1], integer labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(seed: int = 0, test_fraction: float = 0.25) -> DigitsData:
    """scikit-learn's digits, split with a seeded stratified shuffle."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SpecError("model 'digits-cnn' needs scikit-learn: pip install -e '.[ml]'") from None
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=test_fraction, random_state=seed, stratify=d.target)
    t = torch.from_numpy
    return DigitsData(t(xtr), t(ytr).long(), t(xte), t(yte).long())


def train(model: nn.Module, data: DigitsData, epochs: int = 30, lr: float = 0.05, batch_size: int = 32,
          seed: int = 0, progress: Callable[[int, int], None] | None = None) -> nn.Module:
    """SGD with momentum 0.9 and cosine learning-rate decay, seeded shuffles; returns `model`."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    n = len(data.y_train)
    for ep in range(epochs):
        perm = torch.randperm(n, generator=g)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if progress:
            progress(ep + 1, epochs)
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of correctly classified samples."""
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


def new_model(seed: int = 0) -> DigitsCNN:
    """A freshly initialised network (seeded)."""
    torch.manual_seed(seed)
    return DigitsCNN()


def pruned_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers sparse methods act on (see module docstring)."""
    return {n: getattr(model, n) for n in PRUNED_LAYERS}


def run_experiment(method: str, sparsity: Sparsity | None, data: DigitsData, epochs: int = 30, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> tuple[nn.Module, dict]:
    """Train from scratch with `method` in dense | srste | bdwp (SR-STE and BDWP at `sparsity`).

    Returns (model with the final sparse weights in place, keep-masks of the pruned layers).
    """
    model = new_model(seed)
    layers = pruned_layers(model)
    if method == "dense":
        return train(model, data, epochs, seed=seed, progress=progress), {}
    if method == "srste":
        from .pruning.srste import attach_srste, finalize_srste
        attach_srste(layers, sparsity)
        train(model, data, epochs, seed=seed, progress=progress)
        return model, finalize_srste(layers)
    if method == "bdwp":
        from .pruning.bdwp import attach_bdwp, finalize_bdwp
        attach_bdwp(layers, sparsity)
        train(model, data, epochs, seed=seed, progress=progress)
        return model.eval(), finalize_bdwp(layers, sparsity)
    raise SpecError(f"digits-cnn: unknown training method '{method}' (dense, srste, bdwp)")
