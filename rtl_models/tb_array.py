"""cocotb testbench of nm_systolic_array: GEMM tiles run fold after fold, outputs checked
against sim.functional.nm_gemm, busy cycles counted for the cycle validation.

Config (rtl_models.runner.tb_config):
  units   the Verilog parameters of each array instance (from ArrayParams.verilog());
  arches  the Arch (model_dump) each instance implements, same order;
  cases   rtl_models.validate.ArrayCase fields; `array` picks the instance;
  stall   probability that a requested weight or activation beat is withheld for a cycle;
  seed    of the stall pattern.
Emits one record per case: case id, rtl_cycles (cycles with busy high), stall_cycles, folds,
outputs_checked.
"""
from __future__ import annotations

import numpy as np

import cocotb
from cocotb.triggers import FallingEdge

from nmsim.accel import Arch
from nmsim.sim.functional import nm_gemm, wrap_signed

from .bits import unpack
from .runner import tb_config, tb_emit
from .tb_util import bus, run_units
from .validate import ArrayCase, build_tile

INPUTS = ("start", "t_len", "w_valid", "w_data", "w_idx", "a_valid", "a_data")


async def drive_folds(arr, folds: list[dict], t_len: int, stall: float, rng) -> tuple[list[int], int, int]:
    """Run `folds` back to back; returns (output rows in order, busy cycles, stall cycles).

    start stays high while folds remain: the array takes it when idle and in the last busy
    cycle of a fold (so the next fold follows without a gap) and ignores it otherwise.
    """
    w_beats = [b for f in folds for b in f["weights"]]
    a_beats = [b for f in folds for b in f["acts"]]
    arr.t_len.value = t_len
    wi = ai = busy = stalls = dones = 0
    rows: list[int] = []
    was_busy = False
    limit = 4 * (len(w_beats) + len(a_beats) + len(folds) * 64) + 100
    for _ in range(limit):
        # Half a cycle after the rising edge: the state it produced is settled.
        is_busy = arr.busy.value == 1
        busy += is_busy
        if arr.o_valid.value == 1:
            rows.append(bus(arr.o_data))
        if arr.done.value == 1:
            dones += 1
            if dones == len(folds):
                assert was_busy and not is_busy, "done must follow the last busy cycle directly"
                assert wi == len(w_beats) and ai == len(a_beats), "the array asked for too few beats"
                # Leave this cycle to the tile, so the next call does not see its done again.
                arr.start.value = arr.w_valid.value = arr.a_valid.value = 0
                await FallingEdge(arr.clk)
                return rows, busy, stalls
        was_busy = is_busy
        w_ready, a_ready = arr.w_ready.value == 1, arr.a_ready.value == 1
        w_valid = wi < len(w_beats) and not rng.random() < stall
        a_valid = ai < len(a_beats) and not rng.random() < stall
        arr.start.value = int(wi < len(w_beats))
        arr.w_valid.value = int(w_valid)
        arr.a_valid.value = int(a_valid)
        if wi < len(w_beats):
            arr.w_data.value, arr.w_idx.value = w_beats[wi]
        if ai < len(a_beats):
            arr.a_data.value = a_beats[ai]
        stalls += (w_ready and not w_valid) or (a_ready and not a_valid)
        await FallingEdge(arr.clk)
        wi += w_valid and w_ready
        ai += a_valid and a_ready
    raise AssertionError(f"timeout after {limit} cycles: {dones} of {len(folds)} folds done")


async def check_array(arr, p: dict) -> None:
    """Run this instance's cases; outputs must equal sim.functional.nm_gemm bit for bit."""
    cfg = tb_config()
    unit = arr.index
    arch = Arch.model_validate(cfg["arches"][unit])
    rng = np.random.default_rng([cfg["seed"], unit])
    for fields in cfg["cases"]:
        case = ArrayCase(**fields)
        if case.array != unit:
            continue
        tile = build_tile(arch, case)
        rows, busy, stalls = await drive_folds(arr, tile.folds, case.M, cfg["stall"], rng)
        assert len(rows) == len(tile.folds) * case.M, f"case {case.id}: {len(rows)} output rows"
        out = np.zeros((case.M, case.N), dtype=np.int64)
        for f, fold in enumerate(tile.folds):
            c0, c1 = fold["cols"]
            block = [unpack(r, p["C"], p["ACC"]) for r in rows[f * case.M:(f + 1) * case.M]]
            # Row folds are partial sums of the same outputs; the buffer adds them up.
            out[:, c0:c1] += np.array(block, dtype=np.int64)[:, : c1 - c0]
        out = wrap_signed(out, p["ACC"])
        golden = nm_gemm(tile.a, tile.values, tile.indices, tile.m, p["ACC"])
        bad = np.argwhere(out != golden)
        assert not len(bad), (f"case {case.id} ({case.M}x{case.N}x{case.K} {case.sparsity}): {len(bad)} outputs differ, "
                              f"first at {bad[0].tolist()}: {out[tuple(bad[0])]} != {golden[tuple(bad[0])]}")
        tb_emit({"case": case.id, "rtl_cycles": busy, "stall_cycles": stalls, "folds": len(tile.folds),
                 "outputs_checked": int(out.size)})


@cocotb.test()
async def array_tiles(dut):
    """Every case on its array instance; instances run in parallel."""
    await run_units(dut, check_array, INPUTS)
