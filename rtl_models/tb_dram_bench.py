"""cocotb testbench of dram_bench_tb.v: LiteDRAM alone under synthetic patterns (dram_bench.py).

Config "patterns": each a dict of the generator's inputs (n, batch, y_on, x_base, x_run, x_pitch,
x_we, y_...) plus "name". Emits one record per pattern: name, cycles and LiteDRAM's command counts.
"""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, with_timeout

from .runner import tb_config, tb_emit

STATS = ("stat_act", "stat_pre", "stat_ref", "stat_rd", "stat_wr", "stat_ref_cycles")
INPUTS = ("n", "batch", "y_on", "x_base", "y_base", "x_run", "y_run", "x_pitch", "y_pitch", "x_we", "y_we")


@cocotb.test()
async def dram_patterns(dut):
    """Every configured pattern after a fresh reset of the controller."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.go.value = 0
    for p in tb_config()["patterns"]:
        await FallingEdge(dut.clk)
        dut.rst.value = 1
        for name in INPUTS:
            getattr(dut, name).value = p.get(name, 0)
        for _ in range(4):
            await FallingEdge(dut.clk)
        dut.rst.value = 0
        for _ in range(4):
            await FallingEdge(dut.clk)
        dut.go.value = 1
        await FallingEdge(dut.clk)
        dut.go.value = 0
        await with_timeout(FallingEdge(dut.busy), 40 * p["n"] * 10 + 100_000, "ns")
        tb_emit({"name": p["name"], "n": p["n"], "cycles": int(dut.cycles.value),
                 **{s[5:]: int(getattr(dut, s).value) for s in STATS}})
