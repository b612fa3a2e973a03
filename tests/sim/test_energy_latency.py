"""Hand-derived energy and latency terms of the fast model (docs/MODEL.md 3.5, 3.6 and 5): index-decode
energy, static energy, DRAM and buffer latency, on the tiny 4x4 arch of tests/conftest.py (1 GHz,
mac 1 pJ, index decode 0.1 pJ, gbuf 2 pJ/B, DRAM 100 pJ/B).

The layer throughout: M=8 N=4 K=8 on WS, one whole-layer tile, int8 operands. Compute: K_nnz rows
fold over R = 4: 2 row folds (dense K=8) or 1 (2:4, K_nnz = 4), one column fold (N = 4), each fold
2R + C - 2 + M = 18 cycles. At 1 B/cycle of DRAM the tile loads A (8x8 = 64 B) and B (dense 32 B;
2:4: 16 values + 16 x 2-bit indices = 20 B) before computing and stores C (8x4 = 32 B) after.
"""
from __future__ import annotations

import copy

import pytest

from nmsim.accel.spec import Arch
from nmsim.mapping import Mapping
from nmsim.sim import simulate_op
from nmsim.workloads import Op, Sparsity

from ..conftest import TINY, make_arch

SLOW_DRAM = {"dram.bytes_per_s": 1.0e9}           # 1 B/cycle at 1 GHz
DENSE = Op("g", "gemm", M=8, N=4, K=8)
SPARSE = Op("g", "gemm", M=8, N=4, K=8, weight_sparsity=Sparsity.parse("2:4"))
WHOLE = Mapping("ws", 8, 4, 8, "nmk")


def test_index_decode_energy_is_paid_per_kept_mac():
    sparse = simulate_op(make_arch(), SPARSE, WHOLE)
    # 8 x 4 outputs x 4 kept weights = 128 MACs, each decodes its index: 128 x 0.1 pJ
    assert sparse.macs_effective == 128
    assert sparse.energy_breakdown_pj["index"] == pytest.approx(12.8)
    assert sparse.energy_breakdown_pj["mac"] == pytest.approx(128.0)
    dense = simulate_op(make_arch(), DENSE, WHOLE)
    assert dense.energy_breakdown_pj["index"] == 0.0 and dense.energy_breakdown_pj["mac"] == pytest.approx(256.0)
    pricier = simulate_op(make_arch(**{"energy.index_decode_pj": 0.35}), SPARSE, WHOLE)
    assert pricier.energy_breakdown_pj["index"] == pytest.approx(128 * 0.35)


def test_serial_single_tile_cycles_and_static_energy():
    # one tile, nothing to overlap: load 64 + 32 = 96, compute 2 x 18 = 36, store 32 -> 164 cycles
    arch = make_arch(**SLOW_DRAM, **{"energy.static_w": 0.25})
    r = simulate_op(arch, DENSE, WHOLE)
    assert r.cycle_breakdown["compute_cycles"] == 36
    assert r.cycles == 96 + 36 + 32
    assert r.latency_s == pytest.approx(164e-9)
    # static power x time: 0.25 W x 164 ns = 41 nJ = 41,000 pJ; and it is part of the total
    e = r.energy_breakdown_pj
    assert e["static"] == pytest.approx(41_000.0)
    assert r.energy_pj == pytest.approx(e["mac"] + e["index"] + e["buffer"] + e["dram"] + 41_000.0)
    assert simulate_op(make_arch(**SLOW_DRAM), DENSE, WHOLE).energy_breakdown_pj["static"] == 0.0


def test_sparse_weights_shorten_load_and_compute():
    # 2:4: B is 16 values + 16 x 2 bits = 20 B; load 64 + 20 = 84, compute 1 fold = 18, store 32 -> 134
    r = simulate_op(make_arch(**SLOW_DRAM), SPARSE, WHOLE)
    assert r.bytes["dram"] == pytest.approx(64 + 20 + 32)
    assert r.cycles == 84 + 18 + 32


@pytest.mark.parametrize("dram_ns, level_cycles, extra", [
    (10.0, 0, 2 * 10),        # DRAM latency 10 ns = 10 cycles, paid before the first load and after the last store
    (10.0, 3, 2 * 13),        # plus the buffer's 3 cycles on each of the two exposed transfers
    (0.0, 5, 2 * 5),
])
def test_latency_is_paid_on_the_two_exposed_transfers(dram_ns, level_cycles, extra):
    arch = make_arch(**SLOW_DRAM, **{"dram.latency_s": dram_ns * 1e-9, "memory.0.latency_cycles": level_cycles})
    assert simulate_op(arch, DENSE, WHOLE).cycles == 164 + extra


def test_latency_without_double_buffering_is_paid_per_tile():
    # no overlap: max(compute, buffer) + all DRAM transfers + one latency per tile. M in 2 tiles of 4:
    # compute 2 x (2 folds x (10 + 4)) = 56; DRAM A 64 + B 32 (one n and one k tile: B stays on chip
    # across the m loop) + C 32 = 128; latency 10 cycles for each of the 2 tiles
    arch = make_arch(**SLOW_DRAM, **{"memory.0.double_buffered": False, "dram.latency_s": 10e-9})
    r = simulate_op(arch, DENSE, Mapping("ws", 4, 4, 8, "nmk"))
    assert r.cycle_breakdown["compute_cycles"] == 56
    assert r.bytes["dram"] == pytest.approx(64 + 32 + 32)
    assert r.cycles == 56 + 128 + 2 * 10


def test_latency_takes_the_slowest_buffer_level():
    # weights in a second buffer 'wbuf' with 7 cycles of latency, the rest in gbuf with 3: the exposed
    # transfers wait for DRAM (10) plus the slowest level (7). Bytes and compute are those of one buffer.
    spec = copy.deepcopy(TINY)
    spec["dram"].update(bytes_per_s=1.0e9, latency_s=10e-9)
    gbuf = {**spec["memory"][0], "latency_cycles": 3, "holds": ["inputs", "outputs"]}
    spec["memory"] = [gbuf, {**gbuf, "name": "wbuf", "latency_cycles": 7, "holds": ["weights"]}]
    spec["energy"]["per_byte_pj"]["wbuf"] = 1.0
    assert simulate_op(Arch.model_validate(spec), DENSE, WHOLE).cycles == 164 + 2 * (10 + 7)
