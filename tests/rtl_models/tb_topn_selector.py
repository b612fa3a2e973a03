"""cocotb testbench of topn_selector: random groups (with many ties and the most negative
value), random valid/ready; every output group checked against sim.functional.topn_select.

Config: units (N, M, W, IDXW of each instance), vectors (groups per instance), seed.
Emits per instance: its parameters, "vectors" (groups checked), "tied_groups".
"""
from __future__ import annotations

import numpy as np

import cocotb

from nmsim.rtl_models.bits import pack, random_signed
from nmsim.rtl_models.runner import tb_config, tb_emit
from nmsim.rtl_models.tb_util import run_units, stream_check
from nmsim.sim.functional import topn_select

LATENCY_EDGES = 2  # ranking stage + compaction stage (topn_selector.v)


async def check_topn(unit, p: dict) -> None:
    """Each group's N largest magnitudes (ties to the lower lane), ascending lanes, 2-edge latency."""
    cfg = tb_config()
    n, m, w_bits, idx_bits = p["N"], p["M"], p["W"], p["IDXW"]
    rng = np.random.default_rng([cfg["seed"], n, m, w_bits])
    groups = random_signed(rng, (cfg["vectors"], m), w_bits)
    # A third of the groups come from a tiny alphabet, so equal magnitudes (ties) are common.
    tiny = rng.integers(-2, 3, size=groups.shape)
    groups = np.where(rng.random((cfg["vectors"], 1)) < 1 / 3, tiny, groups)
    values, lanes = topn_select(groups, n, m)  # [G, 1, n]
    inputs = [{"in_data": pack(g, w_bits)} for g in groups]
    expected = [{"out_val": pack(v, w_bits), "out_idx": pack(i, idx_bits)}
                for v, i in zip(values[:, 0], lanes[:, 0])]
    checked = await stream_check(unit, inputs, expected, rng, depth=LATENCY_EDGES)
    tied = int(sum(len(set(row)) < m for row in np.abs(groups).tolist()))
    tb_emit({**p, "vectors": checked, "tied_groups": tied})


@cocotb.test()
async def topn_matches_functional_model(dut):
    """Every topn_selector instance against sim.functional.topn_select, in parallel."""
    await run_units(dut, check_topn, ("in_valid", "out_ready", "in_data"))
