"""Measurement files: the CSV contract for real GPU timings (docs/GPU.md, DESIGN.md "Measurement files").

One row per (kernel, shape, config). Rows are appended as they are measured, so a crashed bench
keeps what it finished; a file is never edited by hand and never written without a GPU.
Times are seconds; errors are fractions (0.01 = 1%).
"""
from __future__ import annotations

import csv
from pathlib import Path

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, parse_float, parse_int, read_csv

# Column order is part of the contract: scripts and notebooks read these names.
COLUMNS: tuple[str, ...] = (
    "date",            # ISO-8601 UTC timestamp of the measurement
    "device",          # torch.cuda.get_device_name()
    "driver",          # NVIDIA driver version (nvidia-smi), "" when unknown
    "cuda",            # torch.version.cuda
    "torch",           # torch.__version__
    "triton",          # triton.__version__
    "cusparselt",      # torch.backends.cusparselt.version(), "" when absent
    "sm_clock_mhz",    # SM clock read at run time (nvidia-smi), "" when unknown
    "mem_clock_mhz",   # memory clock read at run time, "" when unknown
    "kernel",          # one of KERNELS
    "pattern",         # "dense" or "N:M"
    "dtype",           # fp16, bf16 or fp32
    "model",           # model the shape comes from (bert-base, llama2-7b, ...)
    "layer",           # layer name within the model (qkv, ffn_up, ...)
    "M",               # tokens (rows of the activation)
    "N",               # output features
    "K",               # input features (reduction)
    "config",          # tile config, e.g. "BLOCK_M=64,BLOCK_N=128,BLOCK_K=64,num_warps=4,num_stages=3"; "" for libraries
    "repeats",         # timed repetitions
    "median_s",        # median kernel time (CUDA events), seconds
    "min_s",
    "max_s",
    "max_abs_err",     # max |out - reference| over the output
    "rel_err",         # ||out - reference|| / ||reference|| (Frobenius)
    "notes",
)

# cublas: torch.matmul dense; cusparselt/cutlass: torch.sparse.to_sparse_semi_structured 2:4 with
# that backend; triton_nm: our N:M prefill kernel; triton_nm_decode: our skinny decode kernel;
# triton_dense: our Triton dense kernel with the same tiling (isolates the sparsity effect).
KERNELS: tuple[str, ...] = ("cublas", "cusparselt", "cutlass", "triton_nm", "triton_nm_decode", "triton_dense")

_INT_COLS = ("M", "N", "K", "repeats")
_FLOAT_COLS = ("median_s", "min_s", "max_s", "max_abs_err", "rel_err")


def append_rows(path: str | Path, rows: list[dict]) -> None:
    """Append measured rows to the CSV at `path` (header written once); flushes so a crash loses nothing."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="raise")
        if new:
            w.writeheader()
        for r in rows:
            missing = [c for c in COLUMNS if c not in r]
            if missing:
                raise ValueError(f"measurement row lacks {missing}")
            w.writerow(r)
        fh.flush()


def read_measurements(path: str | Path) -> list[dict]:
    """Read and check a measurement CSV; ints for M/N/K/repeats, floats (s, fractions) for times and errors."""
    path = Path(path)
    if not path.exists():
        raise SpecError(f"{path}: no such measurement file (make one on a GPU with `nmsim gpu bench`)")
    header, records = read_csv(path, "measurement file")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SpecError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                        f"a measurement file has the columns of gpu_kernels.measurements.COLUMNS")
    rows = [_parse_row(path, line, raw) for line, raw in records]
    if not rows:
        raise SpecError(f"{path}: no measurement rows")
    return rows


def _parse_row(path: Path, line: int, raw: dict) -> dict:
    row = dict(raw)
    if row["kernel"] not in KERNELS:
        raise SpecError(f"{path}:{line}: kernel {row['kernel']!r} is not one of {', '.join(KERNELS)}")
    for c in _INT_COLS:
        row[c] = parse_int(row[c], f"{path}:{line}: column {c}", 1, MAX_DIM, DIM_WHY)
    for c in _FLOAT_COLS:
        row[c] = parse_float(row[c], f"{path}:{line}: column {c}", 0.0, 1.0e6, "a million seconds or error ratio")
    if not row["min_s"] <= row["median_s"] <= row["max_s"] or row["median_s"] <= 0:
        raise SpecError(f"{path}:{line}: times must satisfy 0 < min_s <= median_s <= max_s")
    return row
