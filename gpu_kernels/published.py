"""Published measurements: the CSV contract for other people's GPU timings (docs/GPU.md, "Published
measurements"), beside the bench's own files (gpu_kernels.measurements).

Two kinds of file live in `measurements/published/`, told apart by their header:

* GEMM files (`GEMM_COLUMNS`): one kernel call per row, `out[M, N] = x[M, K] @ W^T` (M tokens, N
  output features, K reduction), its measured time or TFLOP/s, and for 2:4 rows the speedup the
  source printed or computed against its dense baseline.
* End-to-end files (`E2E_COLUMNS`): one model forward pass (or one decode step) per row, its
  measured latency or throughput.

Every row names its source (a URL, or `owner/repo@commit:path`, plus table or figure) and the GPU
preset it is predicted on; a row without either, or with a number that does not parse, is refused
with one line naming file and line. Times are seconds, rates TFLOP/s as printed.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

from nmsim.sim.gpu import TIMINGS, VARIANTS
from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, check_number, did_you_mean, read_csv

GEMM_COLUMNS: tuple[str, ...] = (
    "source",         # where the number is printed: URL or owner/repo@commit:path, plus table/row
    "device",         # the GPU as the source words it
    "preset",         # the nmsim GPU preset the row is predicted on
    "device_stated",  # yes: the source states the device next to the number; no: inferred (never scored)
    "dtype",          # fp16, bf16, fp32, int8, fp8
    "kernel",         # one of PUBLISHED_KERNELS
    "M", "N", "K",    # tokens, output features, reduction
    "measured_s",     # seconds per call, or empty when only `tflops` is printed
    "tflops",         # TFLOP/s as printed (2*M*N*K / time), or empty
    "speedup",        # 2:4 rows: baseline time / this time, or empty
    "baseline",       # the dense kernel `speedup` divides (cublas or cutlass_dense); empty without speedup
    "timing",         # one of TIMINGS
    "variant",        # '+'-joined sim.gpu VARIANTS, or empty for the kernel's default call path
    "notes",
)
E2E_COLUMNS: tuple[str, ...] = (
    "source", "device", "preset", "device_stated", "dtype",
    "model",          # zoo model (bert-base, bert-large, llama2-7b, llama3-8b)
    "sparsity",       # dense or 2:4 (the linear layers' weights)
    "batch", "seq_len",
    "phase",          # inference (encoder forward) or decode (one token per sequence, KV cache of seq_len)
    "framework",      # one of FRAMEWORKS
    "measured_s",     # seconds per forward pass / decode step, or empty when only `throughput` is printed
    "throughput",     # as printed, or empty
    "throughput_unit",  # tokens/s or sequences/s
    "timing",
    "variant",        # the 2:4 kernel of pruned linears: cusparselt (default, empty) or cutlass
    "notes",
)

# the kernels a published GEMM row may name (sim/gpu/kernels.py models each)
PUBLISHED_KERNELS: tuple[str, ...] = ("cublas", "cutlass_dense", "cusparselt", "cutlass", "cutlass_spgemm")
DENSE_BASELINES: tuple[str, ...] = ("cublas", "cutlass_dense")
# the timing methods and call-path variants the model distinguishes (sim/gpu/calls.py); an end-to-end
# row's variant names the 2:4 kernel its pruned linears run (cuSPARSELt unless it says cutlass)
E2E_VARIANTS: tuple[str, ...] = ("cusparselt", "cutlass")
FRAMEWORKS: tuple[str, ...] = ("tensorrt", "torch_eager", "torch_compile")
THROUGHPUT_UNITS: tuple[str, ...] = ("tokens/s", "sequences/s")
PHASES: tuple[str, ...] = ("inference", "decode")
_DTYPES = ("fp16", "bf16", "fp32", "int8", "fp8")
_YES_NO = ("yes", "no")


def file_kind(path: str | Path) -> str:
    """'gemm' or 'e2e' for a published file, 'bench' for a bench measurement file (by header);
    SpecError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such file")
    header = tuple(read_csv(path, "measurement file")[0])
    if header == GEMM_COLUMNS:
        return "gemm"
    if header == E2E_COLUMNS:
        return "e2e"
    from .measurements import COLUMNS

    if all(c in header for c in COLUMNS):
        return "bench"
    raise SpecError(f"{path}:1: header is neither a published GEMM file (gpu_kernels.published.GEMM_COLUMNS), "
                    f"a published end-to-end file (E2E_COLUMNS) nor a bench file (measurements.COLUMNS)")


def read_published(path: str | Path) -> tuple[str, list[dict]]:
    """Read and check a published file: ('gemm' | 'e2e', rows). Each row keeps its columns (ints for
    M/N/K/batch/seq_len, floats for numbers, None for empty cells) plus `file`, `line`,
    `source_id` and `time_s` (seconds per call: measured_s, or derived from tflops/throughput).
    SpecError naming file and line for the first bad row."""
    kind = file_kind(path)
    if kind == "bench":
        raise SpecError(f"{path}: a bench measurement file, not a published one; read it with read_measurements")
    path = Path(path)
    parse = _gemm_row if kind == "gemm" else _e2e_row
    rows = []
    for line, raw in read_csv(path, "measurement file")[1]:
        where = f"{path}:{line}"
        row = _common(where, raw) | parse(where, raw)
        rows.append(row | {"file": str(path), "line": line, "source_id": source_id(raw["source"])})
    if not rows:
        raise SpecError(f"{path}: no rows")
    return kind, rows


def source_id(source: str) -> str:
    """The independent measurement campaign a row comes from, for splits: 'owner/repo#N' for GitHub
    issues and pull requests ('owner/repo#N/author' when the source names the comment's author:
    different people measuring different GPUs in one thread), 'owner/repo@commit7:path' for
    repository files (two versions of a README are two campaigns), the URL's host and path otherwise."""
    m = re.search(r"github\.com/([\w.-]+/[\w.-]+)/(?:issues|pull)/(\d+)", source)
    if m:
        author = re.search(r"comment by ([\w-]+)", source)
        return f"{m.group(1)}#{m.group(2)}" + (f"/{author.group(1)}" if author else "")
    m = re.match(r"\s*([\w.-]+/[\w.-]+)@([0-9a-fA-F]{7,40}):([^\s,(]+)", source)
    if m:
        return f"{m.group(1)}@{m.group(2)[:7]}:{m.group(3)}"
    m = re.search(r"https?://([^\s,)]+)", source)
    return m.group(1).rstrip("/.") if m else source.strip()


def _has_source(text: str) -> bool:
    return bool(re.search(r"https?://\S", text) or re.search(r"[\w.-]+/[\w.-]+@[0-9a-fA-F]{7,40}:\S", text))


@lru_cache(maxsize=None)
def _gpu_preset(name: str) -> bool:
    from nmsim.accel import GpuArch, load_arch

    try:
        return isinstance(load_arch(name), GpuArch)
    except SpecError:
        return False


def _common(where: str, raw: dict) -> dict:
    """The columns both kinds share, checked."""
    if not _has_source(raw["source"] or ""):
        raise SpecError(f"{where}: row without a source: `source` must give a URL or owner/repo@commit:path "
                        f"with the table or figure the number is printed in")
    preset = (raw["preset"] or "").strip()
    if not preset or not _gpu_preset(preset):
        from nmsim.accel import preset_names

        raise SpecError(f"{where}: device {raw['device']!r} has no GPU preset (preset {preset!r}); add an "
                        f"accel/presets YAML with its datasheet rates or name one of "
                        f"{', '.join(n for n in preset_names() if _gpu_preset(n))}")
    return {"source": raw["source"], "device": raw["device"], "preset": preset,
            "device_stated": _choice(where, raw, "device_stated", _YES_NO) == "yes",
            "dtype": _choice(where, raw, "dtype", _DTYPES), "timing": _choice(where, raw, "timing", TIMINGS),
            "notes": raw["notes"] or ""}


def _gemm_row(where: str, raw: dict) -> dict:
    row = {"kernel": _choice(where, raw, "kernel", PUBLISHED_KERNELS), "variant": _variants(where, raw, VARIANTS)}
    row |= {c: _int(where, raw, c) for c in ("M", "N", "K")}
    row |= {c: _number(where, raw, c) for c in ("measured_s", "tflops", "speedup")}
    flop = 2.0 * row["M"] * row["N"] * row["K"]
    row["time_s"] = _time(where, row["measured_s"], None if row["tflops"] is None else flop / (row["tflops"] * 1e12),
                          "measured_s", "tflops")
    baseline = (raw["baseline"] or "").strip()
    if row["speedup"] is not None and baseline not in DENSE_BASELINES:
        raise SpecError(f"{where}: a `speedup` needs `baseline` naming its dense kernel "
                        f"({' or '.join(DENSE_BASELINES)}), got {baseline!r}")
    if row["speedup"] is None and baseline:
        raise SpecError(f"{where}: `baseline` {baseline!r} without a `speedup`")
    return row | {"baseline": baseline}


def _e2e_row(where: str, raw: dict) -> dict:
    from nmsim.workloads.zoo import ZOO_NAMES

    model = (raw["model"] or "").strip()
    if model not in ZOO_NAMES:
        raise SpecError(f"{where}: model {model!r} is not a zoo model" + did_you_mean(model, ZOO_NAMES))
    row = {"model": model, "sparsity": _choice(where, raw, "sparsity", ("dense", "2:4")),
           "variant": _variants(where, raw, E2E_VARIANTS),
           "phase": _choice(where, raw, "phase", PHASES), "framework": _choice(where, raw, "framework", FRAMEWORKS)}
    row |= {c: _int(where, raw, c) for c in ("batch", "seq_len")}
    row |= {c: _number(where, raw, c) for c in ("measured_s", "throughput")}
    unit = (raw["throughput_unit"] or "").strip()
    from_tput = None
    if row["throughput"] is not None:
        if unit not in THROUGHPUT_UNITS:
            raise SpecError(f"{where}: throughput_unit {unit!r} is not one of {', '.join(THROUGHPUT_UNITS)}")
        # tokens/s of a decode step and sequences/s of an encoder pass both count one item per sequence
        from_tput = row["batch"] / row["throughput"]
    row["time_s"] = _time(where, row["measured_s"], from_tput, "measured_s", "throughput")
    return row | {"throughput_unit": unit}


def _time(where: str, measured: float | None, derived: float | None, a: str, b: str) -> float:
    """Seconds per call from the measured time or the printed rate; both given must agree within 5%."""
    if measured is None and derived is None:
        raise SpecError(f"{where}: neither `{a}` nor `{b}` is given")
    if measured is not None and derived is not None and abs(derived / measured - 1) > 0.05:
        raise SpecError(f"{where}: `{a}` {measured:g} s and `{b}` (-> {derived:g} s) disagree by more than 5%")
    return measured if measured is not None else derived


def _choice(where: str, raw: dict, column: str, choices: tuple[str, ...]) -> str:
    value = (raw[column] or "").strip()
    if value not in choices:
        raise SpecError(f"{where}: {column} {value!r} is not one of {', '.join(choices)}"
                        + did_you_mean(value, choices))
    return value


def _variants(where: str, raw: dict, choices: tuple[str, ...]) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in (raw["variant"] or "").split("+") if p.strip())
    for p in parts:
        if p not in choices:
            raise SpecError(f"{where}: variant {p!r} is not one of {', '.join(choices)}" + did_you_mean(p, choices))
    if len(set(parts) & {"torch_op", "c_api"}) > 1 or len(set(parts) & set(E2E_VARIANTS)) > 1:
        raise SpecError(f"{where}: variant names two call paths or two kernels ({'+'.join(parts)}); keep one")
    return parts


def _int(where: str, raw: dict, column: str) -> int:
    text = (raw[column] or "").strip()
    # ASCII digits only: int() also reads Unicode digits such as '٣' and '1_000' (docs/RELIABILITY.md)
    if not (text.isascii() and text.isdigit()) or int(text) <= 0:
        raise SpecError(f"{where}: {column} must be a positive integer, got {text!r}")
    return check_number(int(text), f"{where}: {column}", 1, MAX_DIM, DIM_WHY, integer=True)


def _number(where: str, raw: dict, column: str) -> float | None:
    text = (raw[column] or "").strip()
    if not text:
        return None
    try:
        if not text.isascii() or "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise SpecError(f"{where}: {column} must be a number in its unit (s, TFLOP/s, ratio), got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SpecError(f"{where}: {column} must be finite and > 0, got {text!r}")
    return check_number(value, f"{where}: {column}", 0.0, 1.0e9, "10^9 in its unit: a typo beyond", lo_open=True)
