"""Pruning methods that produce weight masks for the simulator's workloads.

One-shot (post-training): `magnitude` (N:M along any axis, unstructured per layer),
`magnitude-global` (unstructured, one threshold for the whole model), `wanda` (|W| times input
norm), `sparsegpt` (second-order, blocked, damped, with weight updates). Training-time:
`srste` (SR-STE) and `bdwp` (SAT's bidirectional N:M), in their own modules.

Every method returns keep-masks shaped like the weights (True = kept) and leaves the pruned
weights at zero; `prune(..., inplace=False)` works on a copy. docs/PRUNING.md describes each
method and cites its paper. torch is needed (`pip install -e .[ml]`).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

from nmsim.specfile import SpecError, did_you_mean

from ...sparsity import Sparsity
from .masks import MaskCheckError, MaskReport, check_mask, layer_view, parse_prune_pattern, prunable_layers

__all__ = ["METHODS", "ONE_SHOT", "TRAINING", "CALIBRATED", "prune", "verify_masks", "CalibBatch", "check_mask", "MaskReport",
           "MaskCheckError", "parse_prune_pattern", "prunable_layers"]


def __getattr__(name: str):
    """`CalibBatch` on first use, so that importing the package (mask checks) needs no torch."""
    if name == "CalibBatch":
        from .calibrate import CalibBatch
        return CalibBatch
    raise AttributeError(name)


ONE_SHOT = ("magnitude", "magnitude-global", "wanda", "sparsegpt")
TRAINING = ("srste", "bdwp")             # train from scratch (their own modules, digits-cnn in `nmsim prune`)
METHODS = ONE_SHOT + TRAINING
CALIBRATED = ("wanda", "sparsegpt")


def prune(model, sparsity: Sparsity | str, method: str, calibration: Any = None, skip: Iterable[str] = (),
          inplace: bool = True, progress: Callable[[int, int], None] | None = None,
          **options: Any) -> dict[str, Any]:
    """Prune the Linear and Conv2d layers of `model` (minus `skip` globs) one-shot.

    sparsity: `N:M`, `N:M@N` or `unstructured:D` (D = fraction of zeros), text or Sparsity.
    method: one of ONE_SHOT; `wanda` and `sparsegpt` need `calibration` (see
    `calibrate.as_batches`). `options` go to the method (sparsegpt: blocksize, damp).
    Returns {layer name: bool keep-mask shaped like its weight}; with `inplace=False` the model
    is left untouched (a deep copy is pruned). Masks are verified before they are returned.
    """
    sp = parse_prune_pattern(sparsity) if isinstance(sparsity, str) else sparsity
    if method not in ONE_SHOT:
        raise SpecError(f"unknown one-shot pruning method '{method}'" + did_you_mean(method, ONE_SHOT)
                        + ("; srste and bdwp train the model: see workloads.ml.pruning.srste / .bdwp"
                           if method in METHODS else ""))
    if method == "magnitude-global" and sp.kind != "unstructured":
        raise SpecError(f"magnitude-global is unstructured only (got {sp}); use magnitude for N:M")
    if method in CALIBRATED and calibration is None:
        raise SpecError(f"{method} needs calibration inputs and none were given")
    target = model if inplace else copy.deepcopy(model)
    layers = prunable_layers(target, skip)
    if not layers:
        raise SpecError("no Linear or Conv2d layer left to prune" + (" after `skip`" if list(skip) else ""))
    if method == "magnitude":
        from .magnitude import magnitude_prune
        masks = magnitude_prune(layers, sp)
    elif method == "magnitude-global":
        from .magnitude import global_magnitude_prune
        masks = global_magnitude_prune(layers, sp.density)
    elif method == "wanda":
        from .wanda import wanda_prune
        masks = wanda_prune(target, layers, sp, calibration, progress)
    else:
        from .sparsegpt import sparsegpt_prune
        masks = sparsegpt_prune(target, layers, sp, calibration, progress=progress, **options)
    verify_masks(layers, masks, sp, per_layer=method != "magnitude-global")
    return masks


def verify_masks(layers: dict, masks: dict, sparsity: Sparsity, per_layer: bool = True) -> dict[str, MaskReport]:
    """Check every mask against `sparsity` (N:M groups, density) and that the pruned weights are
    zero; with `per_layer=False` the unstructured density is checked over all layers together.
    Raises MaskCheckError; returns per-layer reports."""
    reports = {}
    kept = total = 0
    for name, mk in masks.items():
        mod = layers[name]
        g = layer_view(mod)[0]
        arr = mk.detach().cpu().numpy()
        if (mod.weight.detach()[~mk] != 0).any():
            raise MaskCheckError(f"{name}: pruned weights are not zero")
        if per_layer or sparsity.kind != "unstructured":
            reports[name] = check_mask(arr, sparsity, g, name)
        else:
            reports[name] = MaskReport(float(arr.mean()), None, 0)
        kept, total = kept + int(arr.sum()), total + arr.size
    if not per_layer and sparsity.kind == "unstructured" and abs(kept - sparsity.density * total) > 1:
        raise MaskCheckError(f"all layers: density {kept / total:.4f} misses the requested {sparsity.density:.4f}")
    return reports
