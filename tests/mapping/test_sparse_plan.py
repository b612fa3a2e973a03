"""How an arch executes an op's weight pattern (mapping.sparse_plan.plan_sparsity), case by case
from the rules in its docstring: the sparsest supported N:M that the op's pattern satisfies, notes
where it runs as another pattern or K is padded to whole groups, dense otherwise."""
from __future__ import annotations

import pytest

from nmsim.accel import load_arch
from nmsim.mapping import SparsePlan, plan_sparsity
from nmsim.workloads import Op, Sparsity


def _plan(arch: str, pattern: str, K: int = 64):
    op = Op(name="g", kind="gemm", M=8, N=8, K=K, weight_sparsity=Sparsity.parse(pattern))
    p = plan_sparsity(load_arch(arch), op)
    return (p.n, p.m, p.density, p.kind, p.note)


def test_dense_plan_keeps_all_work():
    assert (SparsePlan().n, SparsePlan().m, SparsePlan().density, SparsePlan().kind) == (1, 1, 1.0, "dense")
    assert _plan("sat", "dense") == (1, 1, 1.0, "dense", None)


@pytest.mark.parametrize("arch, pattern, K, expect", [
    # supported, K in whole groups: exactly the pattern, no note
    ("sat", "2:8", 64, (2, 8, 0.25, "nm", None)),
    ("sat", "1:16", 64, (1, 16, 0.0625, "nm", None)),
    # K = 60 is not a multiple of 8: padded to 64, said so
    ("s4", "1:8", 60, (1, 8, 0.125, "nm", "g: K=60 padded to 64 for 1:8 groups")),
    # 3:8 is not supported; 4:8 is the sparsest supported pattern it satisfies
    ("sat", "3:8", 64, (4, 8, 0.5, "nm", "sat lacks 3:8; runs as 4:8")),
    ("sat", "3:8", 60, (4, 8, 0.5, "nm", "sat lacks 3:8; runs as 4:8; g: K=60 padded to 64 for 4:8 groups")),
    # s4 keeps one of m: 2:8 fits none of its patterns
    ("s4", "2:8", 64, (1, 1, 1.0, "dense", "s4 supports 1:2, 1:4, 1:8, 1:16, 1:32; 2:8 fits none of them and runs dense")),
])
def test_nm_plans(arch, pattern, K, expect):
    assert _plan(arch, pattern, K) == expect
