"""reproduce: the seed papers' headline results, recomputed with nmsim's presets and models.

`run_sat` (SAT, Fang et al., arXiv 2309.13015: N:M sparse training with BDWP on a VCU1525 FPGA),
`run_s4` (S4, Yen et al., arXiv 2207.08006: high-sparsity inference against an NVIDIA T4) and
`run_eyeriss` (Eyeriss, Chen et al., JSSC 2017: the measured chip against the `eyeriss` preset)
return plain dicts (the `nmsim reproduce --json` contract) with our figures beside the published
ones from `papers.yaml`. The package sits on top, like `dse`: it imports accel, workloads (and
their torch experiments) and sim; only the CLI imports it. See docs/REPRODUCTION.md.
"""
from .eyeriss import run_eyeriss
from .papers import load_papers
from .s4 import run_s4
from .sat import run_sat

PAPERS = ("sat", "s4", "eyeriss")  # what `nmsim reproduce PAPER` recomputes: run_sat, run_s4, run_eyeriss

__all__ = ["PAPERS", "load_papers", "run_sat", "run_s4", "run_eyeriss"]
