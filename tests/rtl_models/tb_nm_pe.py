"""cocotb testbench of nm_pe: random weights, indices, activations and partial sums, random
load and enable; every registered output is checked every cycle against sim.functional.

Config (rtl_models.runner.tb_config): units (N, M, W, ACC, IDXW of each instance), vectors,
seed. Emits one record per instance: its parameters, "vectors" (MAC results checked), "loads".
"""
from __future__ import annotations

import numpy as np

import cocotb
from cocotb.triggers import FallingEdge

from nmsim.rtl_models.bits import pack, random_signed, unpack
from nmsim.rtl_models.runner import tb_config, tb_emit
from nmsim.rtl_models.tb_util import bus, run_units
from nmsim.sim.functional import nm_gemm


async def check_pe(pe, p: dict) -> None:
    """p_out = p_in + sum_j w_j * a[idx_j] (mod 2^ACC) one cycle later, under random load/en."""
    cfg = tb_config()
    n, m, w_bits, acc, idx_bits = p["N"], p["M"], p["W"], p["ACC"], p["IDXW"]
    rng = np.random.default_rng([cfg["seed"], n, m, w_bits, acc])
    assert bus(pe.p_out) == 0 and bus(pe.w_out) == 0, "reset must clear p_out and the weights"
    dense = n == m  # dense mode ignores the indices: lane j meets weight j
    held_w = np.zeros(n, dtype=np.int64)
    held_i = np.arange(n) if dense else np.zeros(n, dtype=np.int64)
    expect_p = expect_a = 0
    checked = loads = 0
    while checked < cfg["vectors"]:
        en = rng.random() < 0.9
        load = rng.random() < 0.3
        w = random_signed(rng, n, w_bits)
        idx = rng.integers(0, m, size=n)  # repeats allowed: each multiplier has its own mux
        a = random_signed(rng, m, w_bits)
        psum = int(random_signed(rng, 1, acc, edge_fraction=0.3)[0])
        pe.en.value = int(en)
        pe.load.value = int(load)
        pe.w_in.value = pack(w, w_bits)
        pe.idx_in.value = pack(idx, idx_bits)
        pe.a_in.value = pack(a, w_bits)
        pe.p_in.value = pack([psum], acc)
        if en:
            # This cycle's MAC uses the weights held before a load in the same cycle.
            expect_p = int(nm_gemm(a[None, :], held_w[None, None, :], held_i[None, None, :], m, acc,
                                   psum=[[psum]])[0, 0])
            expect_a = pack(a, w_bits)
            if load:
                held_w, held_i = w, (np.arange(n) if dense else idx)
                loads += 1
            checked += 1
        await FallingEdge(pe.clk)
        got = unpack(bus(pe.p_out), 1, acc)[0]
        assert got == expect_p, (f"{n}:{m} W={w_bits} ACC={acc}, vector {checked}: p_out {got} != {expect_p} "
                                 f"(weights {held_w.tolist()}, idx {held_i.tolist()}, a {a.tolist()}, p_in {psum})")
        assert bus(pe.a_out) == expect_a, f"{n}:{m}, vector {checked}: a_out is not the registered a_in"
        assert unpack(bus(pe.w_out), n, w_bits) == held_w.tolist(), f"{n}:{m}, vector {checked}: weights"
    tb_emit({**p, "vectors": checked, "loads": loads})


@cocotb.test()
async def pe_matches_functional_model(dut):
    """Every nm_pe instance against sim.functional.nm_gemm, all instances in parallel."""
    await run_units(dut, check_pe, ("en", "load", "w_in", "idx_in", "a_in", "p_in"))
