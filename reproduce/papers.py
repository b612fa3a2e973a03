"""The published figures of the seed papers (papers.yaml), loaded and checked: every figure
carries a citation (a table, figure, section, or `abstract`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
import yaml

from nmsim.specfile import SpecError
from nmsim.workloads.ml.prune_run import Progress  # noqa: F401 (the progress callback type of every run here)

PAPERS_FILE = Path(__file__).with_name("papers.yaml")



@lru_cache(maxsize=1)
def load_papers() -> dict:
    """papers.yaml as a dict; SpecError if a figure lacks `value` or `cite`."""
    data = yaml.safe_load(PAPERS_FILE.read_text())
    for paper in ("sat", "s4", "eyeriss"):
        for key, fig in data[paper]["figures"].items():
            if not isinstance(fig, dict) or "value" not in fig or not fig.get("cite"):
                raise SpecError(f"{PAPERS_FILE}: {paper}.figures.{key}: needs `value` and `cite`")
    return data


def figure(paper: str, key: str):
    """The published value of `paper`'s figure `key` (None where the paper states no number)."""
    return load_papers()[paper]["figures"][key]["value"]


def t4_measured_ms(model: str, seq_len: int, batch: int) -> float | None:
    """Measured T4 INT8 latency (ms per batch) from papers.yaml, or None where none is recorded."""
    table = load_papers()["t4_measured"]["int8_latency_ms"]
    return table.get(model, {}).get(str(seq_len), {}).get(batch)


def stage(progress: Progress | None, what: str, done: int = 0, total: int = 1) -> None:
    """Report a step to `progress` when one is given."""
    if progress:
        progress(what, done, total)
