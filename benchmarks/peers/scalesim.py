"""Peer simulator: SCALE-Sim (PyPI `scalesim` 3.0.0) in its own virtualenv, with a result cache.

    from benchmarks.peers.scalesim import ensure_scalesim_venv, run_scalesim
    ensure_scalesim_venv()            # creates .peers/scalesim-venv on first use
    rows = run_scalesim([{"id": "a", "cfg": CFG_TEXT, "topology": CSV_TEXT, "input_type": "gemm"}])
    rows["a"]["layers"][0]["Total Cycles"]

    python -m benchmarks.peers.scalesim --ensure    # what `make test` runs

SCALE-Sim 3.0.0 needs numpy<2 (with numpy 2 it dies with "only 0-dimensional arrays can be
converted to Python scalars"), so it never enters the project's .venv: `run_scalesim` runs
`benchmarks/peers/scalesim_runner.py` with the peer venv's python ($NMSIM_SCALESIM_VENV
overrides the folder). Results are cached in `<venv>/nmsim-cache/`, one file per job, keyed by a
hash of the job's cfg and topology texts, its input type, the SCALE-Sim version and the runner's
source: a changed input runs again, an unchanged one is read back.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from nmsim.specfile.peer_venv import ensure_venv, last_lines, venv_python

SCALESIM_VERSION = "3.0.0"
SCALESIM_REQUIREMENTS = (f"scalesim=={SCALESIM_VERSION}", "numpy<2")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".peers" / "scalesim-venv"
RUNNER = Path(__file__).resolve().with_name("scalesim_runner.py")
CACHE_DIR = "nmsim-cache"
# numpy is imported too: with numpy 2 the install "succeeds" but SCALE-Sim dies mid-run.
PROBE = "import importlib.metadata as m, numpy, scalesim.scale_sim; print(m.version('scalesim'))"


class ScaleSimUnavailable(RuntimeError):
    """SCALE-Sim could not be installed or started; the message says why (callers skip with it)."""


def venv_dir(path: str | os.PathLike | None = None) -> Path:
    """The peer virtualenv folder: `path`, else $NMSIM_SCALESIM_VENV, else .peers/scalesim-venv."""
    return Path(path or os.environ.get("NMSIM_SCALESIM_VENV") or DEFAULT_VENV)


def ensure_scalesim_venv(path: str | os.PathLike | None = None, *, install: bool = True) -> Path:
    """Return the SCALE-Sim virtualenv, creating it and pip-installing scalesim if needed.

    Raises ScaleSimUnavailable carrying venv's or pip's error text when that fails, so a test can
    skip with the reason.
    """
    return ensure_venv(venv_dir(path), SCALESIM_REQUIREMENTS, PROBE, SCALESIM_VERSION, ScaleSimUnavailable,
                       install=install)


def job_key(job: dict) -> str:
    """Cache key of a job: hash of what decides SCALE-Sim's answer (texts, input type, versions)."""
    what = {k: job[k] for k in ("cfg", "topology", "input_type")}
    what["scalesim"] = SCALESIM_VERSION
    what["runner"] = hashlib.sha256(RUNNER.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def run_scalesim(jobs: list[dict], venv: str | os.PathLike | None = None, timeout_s: float = 600) -> dict[str, dict]:
    """Run SCALE-Sim on `jobs` ({"id", "cfg", "topology", "input_type": "gemm"|"conv"}), cached.

    Returns {id: {"layers": [COMPUTE_REPORT.csv row as {column: number}], "seconds": s,
    "cached": bool}} or {id: {"error": text}} for a job SCALE-Sim refused. Raises
    ScaleSimUnavailable when the venv is missing or the runner itself dies.
    """
    v = ensure_scalesim_venv(venv, install=False)
    cache = v / CACHE_DIR
    cache.mkdir(exist_ok=True)
    out: dict[str, dict] = {}
    todo = []
    for job in jobs:
        hit = cache / f"{job_key(job)}.json"
        if hit.is_file():
            out[job["id"]] = {**json.loads(hit.read_text()), "cached": True}
        else:
            todo.append(job)
    if todo:
        with tempfile.TemporaryDirectory(prefix="nmsim-scalesim-job-") as tmp:
            jf, rf = Path(tmp) / "job.json", Path(tmp) / "result.json"
            jf.write_text(json.dumps({"jobs": todo}))
            r = subprocess.run([str(venv_python(v)), str(RUNNER), str(jf), str(rf)], capture_output=True,
                               text=True, timeout=timeout_s, cwd=tmp)
            if r.returncode != 0 or not rf.is_file():
                raise ScaleSimUnavailable(f"the SCALE-Sim runner failed (exit {r.returncode}):\n"
                                          f"{last_lines(r.stderr or r.stdout)}")
            results = json.loads(rf.read_text())
        for job in todo:
            res = results[job["id"]]
            if "error" not in res:
                (cache / f"{job_key(job)}.json").write_text(json.dumps(res))
            out[job["id"]] = {**res, "cached": False}
    return out


def cfg_text(df: str, rows: int, cols: int, kb: tuple[int, int, int] = (256, 256, 256), *, mode: str = "USER",
             bw: tuple[int, int, int] = (10, 10, 10), sparse: bool = False, optimized: bool = False,
             block: int = 4, run_name: str = "nmsim_peer") -> str:
    """A complete SCALE-Sim 3.0.0 config (every key it reads). `kb` = ifmap/filter/ofmap SRAM kB; `bw` =
    ifmap/filter/ofmap DRAM words/cycle in USER mode: [layout] IfmapSRAMBankBandwidth and
    FilterSRAMBankBandwidth, and the first `Bandwidth` value (single_layer_sim.py:251-254)."""
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {kb[0]}
FilterSramSzkB:   {kb[1]}
OfmapSramSzkB:    {kb[2]}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bw[2]}
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw[0]}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw[1]}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : {str(sparse).lower()}
SparseRep : ellpack_block
OptimizedMapping : {str(optimized).lower()}
BlockSize : {block}
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""


def main(argv: list[str] | None = None) -> int:
    """`--ensure`: create the peer venv (exit 0), or print why it cannot be made (exit 1)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ensure", action="store_true", help="create .peers/scalesim-venv if needed")
    args = p.parse_args(argv)
    if args.ensure:
        try:
            print(f"SCALE-Sim {SCALESIM_VERSION} ready in {ensure_scalesim_venv()}")
        except ScaleSimUnavailable as exc:
            print(f"SCALE-Sim peer unavailable (its tests will skip): {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
