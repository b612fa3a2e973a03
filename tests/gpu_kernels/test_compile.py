"""The kernels compile for the H100 (sm_90a) with the installed Triton, without a GPU, the
representative fp16/bf16 configs do not spill registers, and their shared memory is the GPU
model's (tests/gpu_kernels/compile_check.py in a process of its own: the compiler cannot run where
TRITON_INTERPRET is set)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sim.test_gpu_tiles_compiler import model_bytes

pytest.importorskip("triton", reason="the ml extra (torch, triton) is not installed")

SCRIPT = Path(__file__).with_name("compile_check.py")


def test_kernels_compile_for_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # triton 3.9 warns when unset; 1 is its current default
    res = subprocess.run([sys.executable, str(SCRIPT), "--arch", "90"], capture_output=True, text=True, env=env,
                         timeout=300)
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]
    assert {r["kernel"] for r in rows} == {"nm_matmul", "nm_decode", "dense_matmul"} and len(rows) == 6
    for r in rows:
        assert "error" not in r and r["regs"] and r["shared_bytes"] <= 227 * 1024  # H100: 227 KB per block
        if r["dtype"] != "fp32":  # fp32 'ieee' dots are not tensor-core work; they spill and are not the target
            assert r["stack_bytes"] == 0, r
        # the installed compiler allocates what the GPU model says (sim/gpu/tiles.py; the decode
        # kernel's figure is the largest of the versions, tests/sim/test_gpu_tiles_compiler.py)
        model = model_bytes(r)
        assert model == r["shared_bytes"] if r["kernel"] != "nm_decode" else model >= r["shared_bytes"], (r, model)

