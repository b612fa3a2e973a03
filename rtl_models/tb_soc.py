"""cocotb testbench of the SoC (soc_tb.v): whole GEMM layers from DRAM to DRAM.

Config (rtl_models.runner.tb_config): "cases", each with
  id, cfg          the nm_soc configuration registers (rtl_models.soc_driver.plan_layer);
  image, words     a $readmemh file of the operand regions and its length in 16-B words, or null
                   (the layer then runs on whatever DRAM holds: its cycles do not depend on data);
  dump             {"base", "words", "pitch"} of the output region to read back (pitch: bytes
                   per output row), or null;
  expect           an .npy file of the expected int8 outputs [M, N] (with dump);
  limit            cycles after which the run counts as hung.
Per case: reset DRAM controller and SoC, load the image into DRAM through the test engine
(not timed), reset again (every run starts from the controller's reset state), start, wait for
the end (no Python in the cycle loop: the clock is cocotb's GPI clock), read the counters,
optionally read the outputs back and compare them byte for byte. Emits one record per case.
"""
from __future__ import annotations

import shutil

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout

from .runner import tb_config, tb_emit
from .soc_driver import words_to_bytes

COUNTERS = ("n_cycles", "n_busy", "n_rd", "n_wr", "n_turn", "stat_act", "stat_pre", "stat_ref", "stat_rd", "stat_wr",
            "stat_ref_cycles")
PERIOD_NS = 10  # 100 MHz; only simulation time, cycles are counted


async def pulse(dut, name: str) -> None:
    """Hold input `name` high for exactly one rising edge."""
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 1
    await FallingEdge(dut.clk)
    getattr(dut, name).value = 0


async def reset(dut) -> None:
    """Reset the DRAM controller and the SoC for a few cycles."""
    await FallingEdge(dut.clk)
    dut.dram_rst.value = 1
    dut.soc_rst.value = 1
    for _ in range(4):
        await FallingEdge(dut.clk)
    dut.dram_rst.value = 0
    dut.soc_rst.value = 0
    for _ in range(4):
        await FallingEdge(dut.clk)


async def engine(dut, name: str, base: int, words: int) -> None:
    """Run a test engine (tb_init / tb_dump) over `words` DRAM words from `base`, to the end."""
    dut.tb_base.value = base
    dut.tb_words.value = words
    await pulse(dut, name)
    if dut.tb_idle.value != 1:
        await with_timeout(RisingEdge(dut.tb_idle), (40 * words + 10_000) * PERIOD_NS, "ns")


async def run_case(dut, case: dict) -> dict:
    """One layer: load, run, count, check (see the module docstring)."""
    await reset(dut)
    if case.get("image"):
        shutil.copy(case["image"], "soc_image.hex")
        await pulse(dut, "tb_load")
        await engine(dut, "tb_init", 0, case["words"])
        await reset(dut)
    for name, value in case["cfg"].items():
        getattr(dut, name).value = value
    await pulse(dut, "start")
    await with_timeout(FallingEdge(dut.busy), case["limit"] * PERIOD_NS, "ns")
    rec = {"id": case["id"], **{c: int(getattr(dut, c).value) for c in COUNTERS}, "err": int(dut.err.value)}
    if case.get("dump"):
        await engine(dut, "tb_dump", case["dump"]["base"], case["dump"]["words"])
        with open("soc_dump.hex") as fh:
            got = words_to_bytes(fh.read())
        want = np.load(case["expect"])
        rows = got[: want.shape[0] * case["dump"]["pitch"]].reshape(want.shape[0], -1)[:, : want.shape[1]]
        rec["checked_bytes"] = int(want.size)
        rec["mismatches"] = int(np.count_nonzero(rows.view(np.int8) != want))
    return rec


@cocotb.test()
async def soc_layers(dut):
    """Every configured case, one after another in one simulator process."""
    cfg = tb_config()
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    for name in ("dram_rst", "soc_rst", "tb_load", "tb_init", "tb_dump", "start", "tb_base", "tb_words"):
        getattr(dut, name).value = 0
    for case in cfg["cases"]:
        tb_emit(await run_case(dut, case))
