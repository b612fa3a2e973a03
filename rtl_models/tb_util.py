"""Helpers shared by the cocotb testbenches (rtl_models/tb_array.py, tests/rtl_models/tb_*.py).

Convention of every testbench here: inputs are written right after a falling edge and outputs
are read right after a falling edge, so the design has settled half a cycle after the rising
edge that changed it and the next rising edge samples what was written (no races, and no
writes after ReadOnly).
"""
from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer

CLOCK_PERIOD_NS = 10


async def start_and_reset(dut, inputs_low=(), cycles: int = 2) -> None:
    """Start dut.clk, hold dut.rst high for `cycles` rising edges with the handles in
    `inputs_low` at 0, then release it; returns just after a falling edge: the next rising
    edge is the first normal one."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start())
    for handle in inputs_low:
        handle.value = 0
    dut.rst.value = 1
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run_units(dut, checker, inputs: tuple[str, ...]) -> list:
    """Reset, then run `checker(unit, params)` on every instance of a wrapper at once.

    `inputs` are the port names held at 0 during reset; the instances' parameter sets come
    from tb_config()["units"]. Returns the checkers' results in instance order; the first
    failure fails the test.
    """
    from .runner import tb_config
    from .wrapper import Unit

    units = [Unit(dut, i) for i in range(len(tb_config()["units"]))]
    await start_and_reset(dut, [getattr(u, name) for u in units for name in inputs])
    tasks = [cocotb.start_soon(checker(u, p)) for u, p in zip(units, tb_config()["units"])]
    return [await t for t in tasks]


def bus(handle) -> int:
    """Current value of a bus as an unsigned int (X/Z fail loudly)."""
    return handle.value.to_unsigned()


async def stream_check(dut, inputs: list[dict], expected: list[dict], rng, depth: int,
                       p_valid: float = 0.8, p_ready: float = 0.8, max_cycles: int | None = None) -> int:
    """Push `inputs` through a one-in, one-out valid/ready block and check every output.

    The block has in_valid/in_ready and out_valid/out_ready and advances its whole pipeline
    together: in_ready = !out_valid || out_ready. `inputs[k]` maps input port names to bus
    values; output k must carry `expected[k]` (port name -> bus value). Valid and ready are
    dropped at random (`p_valid`, `p_ready` = probability of being high), and every output must
    appear exactly `depth` advancing clock edges after its input was taken. Returns the number
    of outputs checked.
    """
    assert len(inputs) == len(expected)
    max_cycles = max_cycles or 20 * (len(inputs) + depth + 10)
    taken_at: list[int] = []   # advancing-edge count right after each input was taken
    adv = 0                    # advancing edges so far
    sent = received = 0
    fresh = True               # the output now presented has not been seen before
    for _ in range(max_cycles):
        out_valid = dut.out_valid.value == 1
        if out_valid and fresh:
            assert received < len(expected), "an output appeared that no input asked for"
            age = adv - taken_at[received]
            assert age == depth - 1, f"output {received} came {age + 1} advancing edges after its input, not {depth}"
            got = {name: bus(getattr(dut, name)) for name in expected[received]}
            assert got == expected[received], f"output {received}: got {got}, expected {expected[received]}"
        out_ready = bool(rng.random() < p_ready)
        in_valid = sent < len(inputs) and bool(rng.random() < p_valid)
        dut.out_ready.value = int(out_ready)
        dut.in_valid.value = int(in_valid)
        if sent < len(inputs):
            for name, value in inputs[sent].items():
                getattr(dut, name).value = value
        advance = (not out_valid) or out_ready
        await Timer(1, unit="ns")
        assert (dut.in_ready.value == 1) == advance, "in_ready must be !out_valid || out_ready"
        await FallingEdge(dut.clk)
        out_fire = out_valid and out_ready
        received += out_fire
        fresh = out_fire or not out_valid
        if advance:
            adv += 1
            if in_valid:
                taken_at.append(adv)
                sent += 1
        if received == len(expected):
            return received
    raise AssertionError(f"timeout: {received} of {len(expected)} outputs after {max_cycles} cycles")
