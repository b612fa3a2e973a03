"""Torch models from anywhere: a Python factory or a Hugging Face configuration, built on the meta
device (no weight memory) and traced into a Workload (docs/INTEROP.md 1).

* `path/to/file.py:factory` / `package.module:Attr`: `Attr` is called with the `-p` values its
  signature accepts (a class is instantiated); it must return an `nn.Module`.
* Hugging Face: a folder holding `config.json`, a config JSON file, or `hf:NAME` found in the
  local cache. The class is the config's first `architectures` entry when transformers has it,
  else `AutoModel`; weights are never read (`_from_config` on the meta device).

`src` arguments are `workloads.sources.WorkloadSource` records (not imported here: sources.py
imports this module on use). Example inputs (docs/INTEROP.md 1.2): `-p NAME=AxBxC` gives forward argument NAME that shape
(`input_ids`/`*_mask`/`*_ids` are integer tensors); otherwise the input is guessed from the
model: Hugging Face models from `main_input_name` (token ids [batch, seq_len] or pixel values
[batch, C, image_size, image_size]), other modules from their first layer (Conv2d -> images,
Embedding -> token ids, Linear -> [batch, in_features]); the guess is stated in the workload's
description. `batch` (default 1), `seq_len` (128) and `image_size` (the config's, else 224) size it.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nmsim.specfile import SpecError, did_you_mean

from ..workload import Workload
from .trace import trace_module

__all__ = ["load_torch_source", "build_source_module", "example_inputs_for", "random_like", "INPUT_PARAMS",
           "hf_cache_config"]

INPUT_PARAMS = {"batch": 1, "seq_len": 128, "image_size": 224}
_INT_INPUTS = ("input_ids", "token_type_ids", "position_ids", "attention_mask")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()[:300]


def _user_frame(exc: BaseException, file: str | None) -> str:
    """' (file.py:LINE)' for the deepest traceback frame in the user's file, else ''."""
    if file is None:
        return ""
    tb, line = exc.__traceback__, None
    target = str(Path(file).resolve())
    while tb is not None:
        if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" ({Path(file).name}:{line})" if line else ""


# --- Python factories ----------------------------------------------------------------------------

def _import_target(src):
    """The module a Python source names (file or dotted module); SpecError in one line on failure."""
    if src.target.endswith(".py"):
        path = Path(src.target).resolve()
        name = f"nmsim_user_{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 -- user code: one line, not a traceback
            sys.modules.pop(name, None)
            raise SpecError(f"{src.target}: importing it failed{_user_frame(exc, str(path))}: "
                            f"{_one_line(exc)}") from None
        return module
    try:
        return importlib.import_module(src.target)
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"workload '{src.text}': cannot import module '{src.target}': {_one_line(exc)}") from None


def _factory_kwargs(fn, params: dict, label: str) -> dict:
    """The `-p` values `fn` accepts; SpecError for one it does not (unless it is an input size)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    names = [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and n != "self"]
    out = {}
    for key, value in params.items():
        if key in names or (takes_any and key not in INPUT_PARAMS and not isinstance(value, tuple)):
            out[key] = value
        elif key not in INPUT_PARAMS and not isinstance(value, tuple):
            raise SpecError(f"{label}: unknown parameter '{key}'{did_you_mean(key, names + list(INPUT_PARAMS))}; "
                            f"it takes {', '.join(names) or 'no arguments'} (plus input sizes batch, seq_len, "
                            "image_size or NAME=AxBxC shapes)")
    return out


def _build_python(src, params: dict, device: str = "meta") -> nn.Module:
    module = _import_target(src)
    fn = getattr(module, src.attr, None)
    label = src.text
    if fn is None:
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise SpecError(f"{label}: '{src.target}' has no attribute '{src.attr}'{did_you_mean(src.attr, names)}")
    if not callable(fn):
        raise SpecError(f"{label}: '{src.attr}' is a {type(fn).__name__}, not a callable returning an nn.Module")
    kwargs = _factory_kwargs(fn, params, label)
    file = src.target if src.target.endswith(".py") else getattr(module, "__file__", None)
    try:
        with torch.device(device):
            model = fn(**kwargs)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 -- the user's factory: one line
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise SpecError(f"{label}: {src.attr}({args}) raised{_user_frame(exc, file)}: {_one_line(exc)}") from None
    if not isinstance(model, nn.Module):
        raise SpecError(f"{label}: {src.attr}(...) returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


# --- Hugging Face --------------------------------------------------------------------------------

def hf_cache_config(name: str) -> Path:
    """config.json of Hugging Face model `name` in the local cache; SpecError saying what to
    download where when it is not there (nmsim never downloads)."""
    import os

    from huggingface_hub import constants, try_to_load_from_cache

    cache = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE     # read now: tests and users may set it late
    found = try_to_load_from_cache(repo_id=name, filename="config.json", cache_dir=cache)
    if isinstance(found, str) and Path(found).is_file():
        return Path(found)
    raise SpecError(f"hf:{name}: not in the local Hugging Face cache ({cache}); nmsim reads only "
                    f"the config and never downloads: on a machine with network run `hf download {name} "
                    f"config.json` (it lands in that cache; copy the cache folder here if needed), or pass a "
                    f"folder holding its config.json: -w path/to/folder")


def _hf_config(src):
    """The transformers config of a Hugging Face source."""
    import transformers

    path = hf_cache_config(src.target) if src.attr == "cache" else Path(src.target)
    file = path / "config.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SpecError(f"{file}: not a readable JSON config: {_one_line(exc)}") from None
    if not isinstance(data, dict) or "model_type" not in data:
        raise SpecError(f"{file}: no 'model_type' key; not a Hugging Face config.json")
    kind = data.pop("model_type")
    try:
        return transformers.AutoConfig.for_model(kind, **data)
    except Exception as exc:  # noqa: BLE001 -- unknown model types and bad fields, one line
        raise SpecError(f"{file}: transformers {transformers.__version__} cannot build a '{kind}' config: "
                        f"{_one_line(exc)}") from None


def _build_hf(src, params: dict, device: str = "meta") -> nn.Module:
    import transformers

    config = _hf_config(src)
    archs = [a for a in (getattr(config, "architectures", None) or []) if hasattr(transformers, a)]
    cls = getattr(transformers, archs[0]) if archs else transformers.AutoModel
    unknown = sorted(k for k, v in params.items() if k not in INPUT_PARAMS and not isinstance(v, tuple))
    for key in unknown:                     # -p overrides config fields (num_hidden_layers=2, ...)
        if not hasattr(config, key):
            raise SpecError(f"{src.text}: unknown parameter '{key}': not an input size and not a field of its "
                            f"{type(config).__name__}")
        setattr(config, key, params[key])
    if "image_size" in params and hasattr(config, "image_size"):
        config.image_size = params["image_size"]
    try:
        with torch.device(device):
            model = (cls._from_config(config) if hasattr(cls, "_from_config") else cls.from_config(config))
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"{src.text}: transformers could not build {cls.__name__} from its config: "
                        f"{_one_line(exc)}") from None
    return model.eval()


# --- inputs --------------------------------------------------------------------------------------

def _first_layer(model: nn.Module) -> nn.Module | None:
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Embedding, nn.Linear, nn.Conv1d)):
            return mod
    return None


def _tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name in _INT_INPUTS or name.endswith(("_ids", "_mask")):
        return torch.zeros(shape, dtype=torch.long, device="meta")
    return torch.empty(shape, device="meta")


def example_inputs_for(model: nn.Module, params: dict, config_image_size: int | None = None) -> tuple[Any, str]:
    """(example inputs on the meta device, a sentence saying what they are) for tracing `model`."""
    shapes = {k: v for k, v in params.items() if isinstance(v, tuple)}
    sizes = {k: params.get(k, d) for k, d in INPUT_PARAMS.items()}
    for k, v in sizes.items():
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise SpecError(f"-p {k}={v!r}: must be a positive integer")
    if shapes:
        inputs = {k: _tensor(k, v) for k, v in shapes.items()}
        if list(inputs) == ["input"]:
            return inputs["input"], f"input {'x'.join(map(str, shapes['input']))} (from -p)"
        return inputs, "inputs " + ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in shapes.items()) + " (from -p)"
    b, s = sizes["batch"], sizes["seq_len"]
    img = params.get("image_size", config_image_size or INPUT_PARAMS["image_size"])
    main = getattr(model, "main_input_name", None)
    if main == "pixel_values":
        ch = getattr(getattr(model, "config", None), "num_channels", 3)
        return {main: torch.empty((b, ch, img, img), device="meta")}, f"assumed input pixel_values {b}x{ch}x{img}x{img}"
    if main == "input_ids":
        return {main: _tensor(main, (b, s))}, f"assumed input input_ids {b}x{s}"
    first = _first_layer(model)
    if isinstance(first, nn.Conv2d):
        shape = (b, first.in_channels, img, img)
    elif isinstance(first, nn.Embedding):
        return _tensor("input_ids", (b, s)), f"assumed input token ids {b}x{s} (first layer {type(first).__name__})"
    elif isinstance(first, nn.Conv1d):
        shape = (b, first.in_channels, s)
    elif isinstance(first, nn.Linear):
        shape = (b, first.in_features)
    else:
        raise SpecError(f"{type(model).__name__}: cannot guess its input (no Conv2d, Embedding or Linear found); "
                        "give it with -p input=1x3x224x224 (or -p NAME=AxB for a named forward argument)")
    return torch.empty(shape, device="meta"), (f"assumed input {'x'.join(map(str, shape))} "
                                                f"(first layer {type(first).__name__})")


def build_source_module(src, params: dict, device: str = "meta") -> nn.Module:
    """The eval-mode module of a Python or Hugging Face source, on `device` ("meta": no weight
    memory; "cpu": random initial weights, or what the factory loads)."""
    return _build_hf(src, params, device) if src.kind == "hf" else _build_python(src, params, device)


def random_like(inputs: Any, model: nn.Module, generator: torch.Generator) -> Any:
    """CPU tensors shaped like meta `inputs` (a tensor or a dict): token ids below the model's
    vocabulary (its first Embedding), standard-normal floats otherwise."""
    emb = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    high = emb.num_embeddings if emb is not None else 2

    def one(t: torch.Tensor) -> torch.Tensor:
        if t.dtype == torch.long:
            return torch.randint(0, high, tuple(t.shape), generator=generator)
        return torch.randn(tuple(t.shape), generator=generator)
    return {k: one(v) for k, v in inputs.items()} if isinstance(inputs, dict) else one(inputs)


def load_torch_source(src, params: dict) -> Workload:
    """Build `src` on the meta device and trace it into a Workload (see the module docstring)."""
    model = build_source_module(src, params)
    image = getattr(getattr(model, "config", None), "image_size", None)
    inputs, said = example_inputs_for(model, params, image if isinstance(image, int) else None)
    traced = trace_module(model, inputs)
    folder = Path(src.target).parent if src.attr == "config" else Path(src.target)
    name = src.text if src.kind == "python" or src.attr == "cache" else folder.name
    return traced.workload(name, f"{type(model).__name__} from {src.text}; {said}")
