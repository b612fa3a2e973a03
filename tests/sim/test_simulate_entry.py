"""The run pipeline of sim/simulate.py: the progress callback, the run's sparsity label and header
fields, the masks and the detailed engine's preflight, on the tiny 4x4 arch of conftest."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.mapping import Mapping
from nmsim.sim import simulate_workload
from nmsim.sim.engine import Trace
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Workload, parse_layer

from ..conftest import make_arch

OPS = [Op("a", "gemm", M=4, N=4, K=4), Op("b", "gemm", M=8, N=4, K=4), Op("c", "gemm", M=4, N=8, K=4)]


@pytest.mark.parametrize("engine", ["fast", "detailed"])
def test_progress_counts_every_op_done_out_of_all(engine):
    calls = []
    res = simulate_workload(make_arch(), Workload("w", OPS), engine=engine, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert [lr.name for lr in res.layers] == ["a", "b", "c"]


def test_run_header_fields():
    arch = make_arch(**{"compute.macs_per_pe": 2})
    res = simulate_workload(arch, Workload("w", OPS))
    assert (res.arch, res.workload, res.sparsity) == ("tiny", "w", "as-given")
    # 4 x 4 x 2 MACs per cycle at 1 GHz
    assert (res.clock_hz, res.peak_macs_per_cycle) == (1.0e9, 32)
    over = simulate_workload(arch, Workload("w", OPS), sparsity="2:4")
    assert over.sparsity == "2:4"
    assert all(lr.sparsity == "2:4" for lr in over.layers)


def test_a_masked_op_is_left_to_cost_by_the_preflight():
    # The preflight refuses a run whose unmasked layers pass the tile cap. A layer costed with a mask is
    # left to cost(), which may choose another mapping; here the mask's op, 11 x 9091 x 1 under
    # one-element tiles, is 100,001 tiles: cost refuses it itself, after the first layer ran.
    arch = make_arch(**{"sparsity.unstructured": {"window": 1, "index_bits": 4}})
    big = parse_layer("gemm:M=11,N=9091,K=1,sparsity=unstructured:0.5")
    big = Op("big", big.kind, M=big.M, N=big.N, K=big.K, weight_sparsity=big.weight_sparsity)
    mask = np.zeros((9091, 1), dtype=bool)
    mask[::2] = True
    wl = Workload("w", [Op("small", "gemm", M=4, N=4, K=4), big], masks={"big": mask})
    done = []
    ones = Mapping("ws", 1, 1, 1, "nmk")
    with pytest.raises(SpecError, match="layer 'big': 100,001 tiles"):
        simulate_workload(arch, wl, engine="detailed", mappings=ones, trace=Trace(arch.clock_hz),
                          progress=lambda d, n: done.append((d, n)))
    assert done == [(1, 2)]                 # the first layer ran: the preflight left 'big' out
    # with the pattern overridden the mask no longer applies: the preflight refuses before any layer
    done.clear()
    with pytest.raises(SpecError, match="layer 'big': 100,001 tiles"):
        simulate_workload(arch, wl, sparsity="unstructured:0.5", engine="detailed", mappings=ones,
                          progress=lambda d, n: done.append((d, n)))
    assert done == []
