"""Peer benchmark: ZigZag (PyPI `zigzag-dse`) on the same dense GEMMs as nmsim, from nmsim's .venv.

    from benchmarks.peers.zigzag import ensure_zigzag_venv, run_zigzag
    ensure_zigzag_venv()                      # creates .peers/zigzag-venv on first use
    rows = run_zigzag(load_arch("dense-systolic"), [("q", 128, 768, 768)])

ZigZag lives in its own virtualenv (`.peers/zigzag-venv`, git-ignored; override with
$NMSIM_ZIGZAG_VENV) and never in the project's .venv: `run_zigzag` turns an `accel.Arch` into a
JSON job and runs `benchmarks/peers/zigzag_runner.py` with that venv's python.

How an nmsim systolic Arch becomes a ZigZag accelerator (`arch_to_job` + the runner)
------------------------------------------------------------------------------------
* Array: `rows x cols` PEs -> operational array D1 x D2 (both declared `systolic_dimensions`,
  so ZigZag adds the drain of the last results). `macs_per_pe = P > 1` -> a third dimension D3
  of size P that splits the reduction, like nmsim's "PE units". MAC energy `mac_pj` ->
  `unit_energy`; operand bits -> `input_precision` and the I/W precision of the layer;
  `accumulator_bits` -> partial-sum precision `O`; the final output is stored at operand width
  (`O_final`), as nmsim's DRAM write-back is.
* Dataflow: nmsim's default mapping uses the first of `compute.dataflows` (WS for
  dense-systolic), so `spatial="ws"` fixes ZigZag's spatial unrolling to the same one:
  rows <- K (reduction), cols <- N, time <- M. ZigZag then searches the temporal mapping (loop
  order, tiling and memory-level allocation: LOMA). `spatial="search"` lets ZigZag's spatial
  mapping generator pick instead (not our array's dataflow; for information).
* Memory: ZigZag needs a memory level per operand next to the MACs to express a stationary
  operand, so each MAC gets a one-weight register (`pe_weight_reg`, served_dimensions []) whose
  energy is 0, because nmsim charges nothing inside a PE. Inputs and partial sums have no
  register: the on-chip level (nmsim's single memory level, e.g. `gbuf`) serves the whole array,
  which is ZigZag's way of saying an input is shared along a row and partial sums are reduced
  down a column, both for free, as in nmsim.
* Buffer: `size_bytes` -> size in bits; `double_buffered` -> `force_double_buffering` (LOMA then
  fits a tile into half the buffer, as nmsim doubles the tile footprint). nmsim charges port
  time as reads/read_bw + writes/write_bw; with equal read and write widths that is one
  read_write port of that width, which is what we declare (unequal widths -> one read port
  and one write port, which ZigZag lets run concurrently: a difference, noted in the result).
  `per_byte_pj` -> `r_cost`/`w_cost` = pJ/byte x port width in bytes, with bandwidth_min = 8
  bits so ZigZag's access count is byte-granular (energy = bytes x pJ/byte, as in nmsim).
* DRAM: bytes/s / clock -> one read_write port of round(8 x bytes/cycle) bits (48.57 B/cycle
  -> 389 bits for dense-systolic, +0.1%); `per_byte_pj['dram']` as for the buffer.
* Workload: out[M,N] = A[M,K] . B[K,N] is ZigZag's own GEMM form O[d][k] += I[d][c] * W[c][k]
  (zigzag/parser/onnx/gemm_parser.py) with D = M, K = N, C = K; both inputs start in DRAM.

What cannot be configured alike (see also the doc text in the lead's report)
---------------------------------------------------------------------------
* Static power: ZigZag has no leakage/clock-tree term; nmsim adds `static_w x latency`.
  Compare `energy_pj` against nmsim's energy minus `energy_breakdown_pj['static']`.
* Latencies: ZigZag 3.9.1 reads a memory's `latency` field but its cost model never uses it;
  nmsim adds 2 x (DRAM latency + buffer latency) per op (2 x (70 + 1) cycles for dense-systolic).
* Array timing: nmsim charges each WS fold the weight shift-in and skew (2R + C - 2 cycles);
  ZigZag loads the weights through the buffer port (stall if not hidden) and adds the systolic
  drain once per layer.
* Port model: ZigZag computes, per operand and per transfer period, ceil(bits / port width)
  whole cycles and serializes operands that share a port; nmsim divides total bytes by
  bandwidth. With the array fed directly from one shared buffer port, ZigZag therefore spends
  a whole cycle each on the 32 B input read, the 128 B partial-sum write and the 128 B
  partial-sum read-back of every compute cycle (about 3x the ideal cycles; measured: doubling
  the port width leaves ZigZag's latency unchanged). `buffer_ports="per_operand"` shows the
  same search with one full-width port per operand.
* Search space: LOMA with its default `lpf_limit=6` (loop prime factors); `lpf_limit=8` found the
  same energy on Llama gate and BERT q at 30-90 times the search time (docs/PERFORMANCE.md, ZigZag).
* Sparsity: ZigZag has no N:M or unstructured sparsity model. `run_zigzag` costs dense GEMMs
  only; an arch's sparsity support is ignored.
* One on-chip level: nmsim's schema has exactly one level per operand; a preset with different
  levels for different operands (none today) is refused here rather than guessed at.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from nmsim.accel import Arch

from nmsim.specfile.peer_venv import ensure_venv, last_lines, venv_python

ZIGZAG_VERSION = "3.9.1"
# zigzag-dse 3.9.1 imports `six` (zigzag/parser/upgraded_validator.py) without declaring it.
ZIGZAG_REQUIREMENTS = (f"zigzag-dse=={ZIGZAG_VERSION}", "six")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".peers" / "zigzag-venv"
RUNNER = Path(__file__).resolve().with_name("zigzag_runner.py")


class ZigZagUnavailable(RuntimeError):
    """ZigZag could not be installed or started; the message says why (callers skip with it)."""


def _venv_dir(path: str | os.PathLike | None) -> Path:
    return Path(path or os.environ.get("NMSIM_ZIGZAG_VENV") or DEFAULT_VENV)


ZIGZAG_PROBE = "import importlib.metadata as m, zigzag.api; print(m.version('zigzag-dse'))"


def ensure_zigzag_venv(path: str | os.PathLike | None = None, *, install: bool = True) -> Path:
    """Return the ZigZag virtualenv, creating it and pip-installing zigzag-dse if needed.

    Raises ZigZagUnavailable with pip's (or venv's) error text when it cannot be set up, so a
    benchmark or test can skip with that reason.
    """
    return ensure_venv(_venv_dir(path), ZIGZAG_REQUIREMENTS, ZIGZAG_PROBE, ZIGZAG_VERSION,
                       ZigZagUnavailable, install=install)


def arch_to_job(arch: Arch, layers: Iterable[tuple[str, int, int, int]], *,
                objectives: Sequence[str] = ("latency", "energy"), spatial: str = "ws",
                lpf_limit: int = 6, nb_spatial_mappings: int = 3, buffer_ports: str = "shared") -> dict:
    """The runner's JSON job for `arch` and dense GEMM `layers` (name, M, N, K); see module doc.

    `buffer_ports="per_operand"` is a sensitivity variant, not like nmsim: each operand gets its
    own full-width buffer port (3x nmsim's aggregate buffer bandwidth), which shows how much of
    ZigZag's latency comes from serializing operands on the shared port.
    """
    if buffer_ports not in ("shared", "per_operand"):
        raise ValueError(f"buffer_ports '{buffer_ports}': use shared or per_operand")
    if arch.kind != "systolic":
        raise ValueError(f"{arch.name} is a {arch.kind} arch; ZigZag is configured for systolic arrays only")
    levels = {arch.level_for(op).name for op in ("weights", "inputs", "outputs")}
    if len(levels) != 1:
        raise ValueError(f"{arch.name}: operands live in different on-chip levels {sorted(levels)}; "
                         "the ZigZag peer maps exactly one shared on-chip buffer")
    lv = arch.memory[[m.name for m in arch.memory].index(levels.pop())]
    c, e = arch.compute, arch.energy
    if spatial != "search" and spatial not in c.dataflows:
        raise ValueError(f"{arch.name} supports dataflows {c.dataflows}, not '{spatial}'")
    job_layers = []
    for name, m, n, k in layers:
        if min(m, n, k) <= 0:
            raise ValueError(f"layer {name}: M, N, K must be positive (got {m}, {n}, {k})")
        job_layers.append({"name": str(name), "M": int(m), "N": int(n), "K": int(k)})
    return {
        "arch": {
            "name": arch.name,
            "rows": c.rows, "cols": c.cols, "macs_per_pe": c.macs_per_pe,
            "clock_hz": c.clock_hz, "operand_bits": c.operand_bits, "accumulator_bits": c.accumulator_bits,
            "buffer": {"name": lv.name, "size_bytes": lv.size_bytes,
                       "read_bytes_per_cycle": lv.read_bytes_per_cycle,
                       "write_bytes_per_cycle": lv.write_bytes_per_cycle,
                       "latency_cycles": lv.latency_cycles, "double_buffered": lv.double_buffered},
            "dram_bytes_per_cycle": arch.dram.bytes_per_s / c.clock_hz,
            "dram_latency_cycles": arch.dram.latency_s * c.clock_hz,
            "buffer_ports": buffer_ports,
            "energy": {"mac_pj": e.mac_pj, "buffer_pj_per_byte": e.per_byte_pj[lv.name],
                       "dram_pj_per_byte": e.per_byte_pj["dram"],
                       "pe_register_pj_per_byte": 0.0,  # nmsim charges nothing inside a PE
                       "static_w_not_modelled": e.static_w},
        },
        "layers": job_layers,
        "objectives": list(objectives),
        "spatial": spatial,
        "lpf_limit": int(lpf_limit),
        "nb_spatial_mappings": int(nb_spatial_mappings),
    }


def run_zigzag(arch: Arch, layers: list[tuple[str, int, int, int]], *,
               objectives: Sequence[str] = ("latency", "energy"), spatial: str = "ws",
               lpf_limit: int = 6, buffer_ports: str = "shared", venv: str | os.PathLike | None = None,
               timeout_s: float | None = 3600, keep_dir: str | os.PathLike | None = None) -> list[dict]:
    """Run ZigZag's mapping search on each dense GEMM layer (name, M, N, K) for each objective.

    Returns one dict per (layer, objective): layer, M, N, K, objective, latency_cycles,
    latency_s, energy_pj, search_s (wall time of that ZigZag call), spatial_mapping,
    temporal_mapping, breakdowns, zigzag_version; or `error` with ZigZag's message when ZigZag
    failed on that layer. Raises ZigZagUnavailable when the venv is missing or the runner dies.
    `keep_dir` keeps the generated YAML and ZigZag's dumps there.
    """
    job = arch_to_job(arch, layers, objectives=objectives, spatial=spatial, lpf_limit=lpf_limit,
                      buffer_ports=buffer_ports)
    venv = ensure_zigzag_venv(venv, install=False)
    with tempfile.TemporaryDirectory(prefix="nmsim-zigzag-") as tmp:
        job_path = Path(tmp) / "job.json"
        out_path = Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job, indent=1))
        cmd = [str(venv_python(venv)), str(RUNNER), str(job_path), "--out", str(out_path)]
        if keep_dir:
            cmd += ["--keep", str(keep_dir)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise ZigZagUnavailable(f"ZigZag runner exceeded {timeout_s} s") from exc
        if r.returncode != 0 or not out_path.exists():
            raise ZigZagUnavailable(f"ZigZag runner failed (exit {r.returncode}):\n{last_lines(r.stderr, 25)}")
        out = json.loads(out_path.read_text())
    rows = []
    for res in out["results"]:
        rows.append({**res, "zigzag_version": out["zigzag_version"], "arch": arch.name,
                     "spatial_requested": spatial, "buffer_ports": buffer_ports,
                     "dram_bits_per_cycle": out["effective"]["dram_bits_per_cycle"]})
    return rows
