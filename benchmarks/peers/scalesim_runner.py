"""Run SCALE-Sim (PyPI `scalesim` 3.0.0) on config/topology texts; meant to run INSIDE its virtualenv.

    .peers/scalesim-venv/bin/python benchmarks/peers/scalesim_runner.py JOB.json RESULT.json

This file imports nothing from nmsim (the SCALE-Sim venv does not have it). The driver
`benchmarks/peers/scalesim.py` writes the job; the runner writes each job's files into a
temporary folder, runs SCALE-Sim through its Python API without traces (`save_disk_space=True`:
the traces are the slow, huge part), and reads the rows of the COMPUTE_REPORT.csv it wrote.

Job (JSON): {"jobs": [{"id": str, "cfg": text, "topology": text, "input_type": "gemm" | "conv"}]}
Result (JSON): {id: {"layers": [{report column: value}], "seconds": s} | {"error": text}}
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Python puts this script's folder first on sys.path, and it holds our driver `scalesim.py`,
# which would shadow the `scalesim` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

# SCALE-Sim 3.0.0 opens a layout CSV even when IfmapCustomLayout/FilterCustomLayout are false
# (ENVIRONMENT.md); with custom layouts off it never reads a row, so the header suffices.
LAYOUT_HEADER = "Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor,\n"


def _report_rows(path: Path) -> list[dict]:
    """COMPUTE_REPORT.csv rows keyed by their stripped header names (numbers as float)."""
    with path.open() as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    header = [h.strip() for h in rows[0] if h.strip()]
    out = []
    for r in rows[1:]:
        vals = [v.strip() for v in r if v.strip()]
        if vals:
            out.append({h: float(v) for h, v in zip(header, vals)})
    return out


def run_job(job: dict) -> dict:
    """Run one SCALE-Sim job in a fresh temporary folder; returns its report rows and wall time (s)."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="nmsim-scalesim-") as tmp:
        d = Path(tmp)
        (d / "arch.cfg").write_text(job["cfg"])
        (d / "topology.csv").write_text(job["topology"])
        (d / "layout.csv").write_text(LAYOUT_HEADER)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            s = scalesim(save_disk_space=True, verbose=False, config=str(d / "arch.cfg"),
                         topology=str(d / "topology.csv"), layout=str(d / "layout.csv"),
                         input_type_gemm=job["input_type"] == "gemm")
            s.run_scale(top_path=str(d / "out"))
        seconds = time.perf_counter() - t0
        report = next((d / "out").glob("*/COMPUTE_REPORT.csv"))
        return {"layers": _report_rows(report), "seconds": seconds}


def main(argv: list[str]) -> int:
    """Run every job of argv[0] (JSON) and write the results to argv[1] (JSON)."""
    jobs = json.loads(Path(argv[0]).read_text())["jobs"]
    results = {}
    for job in jobs:
        try:
            results[job["id"]] = run_job(job)
        except BaseException:  # SCALE-Sim reports bad input with assert/exit(); record it per job
            results[job["id"]] = {"error": traceback.format_exc(limit=3)}
    Path(argv[1]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
