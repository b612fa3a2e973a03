"""cocotb testbench of nm_decoder: compressed groups from sim.functional.topn_select plus
groups with arbitrary (repeated) indices, random valid/ready; every dense output checked
against sim.functional.nm_decompress.

Config: units (N, M, W, IDXW of each instance), vectors (groups per instance), seed.
Emits per instance: its parameters, "vectors" (groups checked), "repeated_index_groups".
"""
from __future__ import annotations

import numpy as np

import cocotb

from nmsim.rtl_models.bits import pack, random_signed
from nmsim.rtl_models.runner import tb_config, tb_emit
from nmsim.rtl_models.tb_util import run_units, stream_check
from nmsim.sim.functional import nm_decompress, topn_select

LATENCY_EDGES = 1


async def check_decoder(unit, p: dict) -> None:
    """Dense lanes = scattered values, zeros elsewhere, the higher slot winning a repeated lane."""
    cfg = tb_config()
    n, m, w_bits, idx_bits = p["N"], p["M"], p["W"], p["IDXW"]
    rng = np.random.default_rng([cfg["seed"], n, m, w_bits])
    g = cfg["vectors"]
    values, lanes = topn_select(random_signed(rng, (g, m), w_bits), n, m)
    values, lanes = values[:, 0], lanes[:, 0]
    # Half the groups get arbitrary lanes: not sorted, possibly repeated.
    wild = rng.random(g) < 0.5
    lanes = np.where(wild[:, None], rng.integers(0, m, size=(g, n)), lanes)
    values = np.where(wild[:, None], random_signed(rng, (g, n), w_bits), values)
    dense = nm_decompress(values[:, None, :], lanes[:, None, :], m)  # [G, m]
    inputs = [{"in_val": pack(v, w_bits), "in_idx": pack(i, idx_bits)} for v, i in zip(values, lanes)]
    expected = [{"out_data": pack(d, w_bits)} for d in dense]
    checked = await stream_check(unit, inputs, expected, rng, depth=LATENCY_EDGES)
    repeated = int(sum(len(set(row)) < n for row in lanes.tolist()))
    tb_emit({**p, "vectors": checked, "repeated_index_groups": repeated})


@cocotb.test()
async def decoder_matches_functional_model(dut):
    """Every nm_decoder instance against sim.functional.nm_decompress, in parallel."""
    await run_units(dut, check_decoder, ("in_valid", "out_ready", "in_val", "in_idx"))
