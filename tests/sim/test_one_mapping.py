"""Costing one mapping alone (`Candidates.one`: Python ints, the fast path of `op_cost` for a
single mapping) gives exactly the numbers of the same mapping costed inside a batch of arrays, on
archs that exercise every branch of the model: spatial splits (s4), inner tiers (a register file
per PE), DRAM access granularity, pages and refresh (rtl-soc), N:M and dense."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.mapping import Candidates, Mapping, MappingSpace, executed_gemm, plan_sparsity
from nmsim.sim import HwParams
from nmsim.sim.analytic import gemm_cost
from nmsim.sim.simulate import op_cost
from nmsim.workloads import Op, Sparsity

from benchmarks.bench_sim import three_tier   # dense-systolic with a weight register per PE


ARCHS = {"s4": lambda: load_arch("s4"), "three-tier": three_tier, "rtl-soc": lambda: load_arch("rtl-soc"),
         "eyeriss": lambda: load_arch("eyeriss"), "sat": lambda: load_arch("sat")}


@pytest.mark.parametrize("name", sorted(ARCHS))
@pytest.mark.parametrize("pattern", ["dense", "1:8"])
def test_one_mapping_alone_equals_it_in_a_batch(name, pattern):
    arch = ARCHS[name]()
    op = Op("g", "gemm", M=200, N=96, K=304).with_sparsity(Sparsity.parse(pattern))
    space = MappingSpace(arch, op)
    rng = np.random.default_rng(7)
    batch = space.sample(24, rng)   # random tiles, orders, splits and inner tiles, edge tiles included
    hw = HwParams.from_arch(arch)
    gemm = executed_gemm(op, plan_sparsity(arch, op))
    together = gemm_cost(hw, gemm, batch)
    for i in range(len(batch)):
        alone = gemm_cost(hw, gemm, Candidates.one(batch.mapping(i)))
        assert set(alone) == set(together)
        for key, v in together.items():
            want = np.broadcast_to(v, (len(batch),))[i]
            assert np.asarray(alone[key]).item() == want, (name, i, key)


def test_one_is_python_ints_and_op_cost_keeps_every_mapping_of_a_list():
    arch = load_arch("s4")
    op = Op("g", "gemm", M=64, N=64, K=256)
    plan = plan_sparsity(arch, op)
    a = Mapping("ws", 64, 32, 128, "nmk")
    b = Mapping("ws", 32, 64, 256, "knm")
    one = Candidates.one(a)
    assert all(type(x) is int for x in one.arrays())
    hw = HwParams.from_arch(arch)
    both = op_cost(hw, op, plan, [a, b])
    assert np.shape(both["cycles"]) == (2,)
    for i, m in enumerate((a, b)):
        alone = op_cost(hw, op, plan, [m])
        assert np.asarray(alone["cycles"]).item() == both["cycles"][i]
        assert np.asarray(alone["energy_pj"]).item() == both["energy_pj"][i]
    assert both["cycles"][0] != both["cycles"][1]   # two different mappings, so a mix-up would show
