"""Turn CLI arguments into objects: workload texts (zoo, files, Python factories, Hugging Face,
ONNX; workloads/sources.py) and their `-p KEY=VALUE` parameters."""
from __future__ import annotations

from nmsim.specfile import SpecError
from nmsim.workloads import Workload

WORKLOAD_HELP = ("zoo name, workload YAML or folder, path/to/file.py:factory, package.module:Class, Hugging Face "
                 "config folder or config.json, hf:NAME (local cache), or FILE.onnx")
PARAM_HELP = ("KEY=VALUE: zoo/factory argument or config field (batch=8, seq_len=512, num_hidden_layers=2), "
              "an input shape (input=1x3x224x224) or an ONNX symbolic dim (batch=8)")


def parse_params(pairs: list[str] | None) -> dict:
    """Parse repeated `KEY=VALUE` from --param: ints, floats, true/false, shapes `AxBxC` (tuples)
    or text (workloads.sources.parse_value); SpecError on malformed pairs."""
    from nmsim.workloads.sources import parse_value

    out: dict = {}
    for p in pairs or []:
        key, sep, val = p.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise SpecError(f"--param '{p}': expected KEY=VALUE, e.g. --param batch=8 or --param input=1x3x224x224")
        out[key.strip().replace("-", "_")] = parse_value(val)
    return out


def resolve_workload(text: str, params: dict) -> tuple[Workload, dict]:
    """Any workload text (workloads.sources.load_workload) with its --param values -> (Workload,
    its provenance record {kind, text, params})."""
    from nmsim.workloads.sources import load_workload

    from .errors import flags

    with flags(param="--param"):
        wl, src = load_workload(text, params)
    return wl, {**src.to_dict(), "params": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}}
