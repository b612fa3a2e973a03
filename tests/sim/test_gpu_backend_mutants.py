"""The GPU backend's training hook (sim/gpu_backend.py): SAT's N:M mask pre-generation is an
accelerator mechanism that nmsim does not model on GPUs, so it costs 0 cycles even for N:M ops
(on a systolic arch the same ops cost top-N selection cycles, tests/sim/test_training.py)."""
from __future__ import annotations

from nmsim.accel import load_arch
from nmsim.sim import backend_for
from nmsim.sim.training import pregen_cycles, training_ops
from nmsim.workloads import parse_layer

OP = parse_layer("gemm:M=8,N=4,K=16,sparsity=2:8")


def test_gpu_runs_no_mask_pregeneration():
    t4 = load_arch("t4")
    fwd, bwd, _ = training_ops(OP)
    assert backend_for(t4).pregen_cycles(fwd, bwd) == 0
    assert pregen_cycles(t4, fwd, bwd) == 0
