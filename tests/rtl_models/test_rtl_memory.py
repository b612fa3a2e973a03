"""The memory-path SoC (nm_soc.v around the arrays, LiteDRAM as DRAM): the driver's layout and
refusals by hand, the case list's coverage, the LiteDRAM pattern counts and fit, and a few whole
layers on the RTL (Verilator) against the functional model and the cost model."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.mapping import Mapping
from nmsim.rtl_models.dram_bench import fit, stream_counts
from nmsim.rtl_models.soc_driver import (SocLayer, SocOperands, SocParams, check_runnable, dram_image, hex_words,
                                         plan_layer, words_to_bytes)
from nmsim.rtl_models.soc_validate import (FAST_MAX, MEMORY_CASES, QUICK_CASES, run_memory_cases, soc_arch,
                                           soc_layer)
from nmsim.specfile import SpecError

ARCH = soc_arch()
P = SocParams.from_arch(ARCH)


def test_build_parameters_come_from_the_preset():
    assert P == SocParams(R=8, C=8, NP=2, LANES=16, ACC=32, half_rows=512)
    assert P.verilog() == {"R": 8, "C": 8, "NP": 2, "LANES": 16, "ACC": 32, "BAW": 9}


def test_plan_of_a_hand_case():
    """40 x 32 x 96 dense, WS tiles 16 x 16 x 32 in kmn order: every register derived by hand."""
    plan = plan_layer(P, SocLayer(40, 32, 96, 1, 1, Mapping("ws", 16, 16, 32, "kmn")))
    # Row pitches in 16-B words: A 96 B -> 6, B 96 one-byte weights -> 6, out 32 B -> 2, int32 sums 128 B -> 8.
    assert plan.pitch == {"a": 6, "b": 6, "o": 2, "p": 8}
    # Regions at 4 KiB (256-word) boundaries: A 240 words, B 192, out 80.
    assert plan.base == {"a": 0, "b": 256, "o": 512, "p": 768}
    assert plan.image_words == 256 + 32 * 6
    cfg = plan.cfg
    assert (cfg["cfg_tiles_m"], cfg["cfg_tiles_n"], cfg["cfg_tiles_k"]) == (3, 2, 3)
    assert (cfg["cfg_tm_full"], cfg["cfg_tm_last"], cfg["cfg_tn_last"], cfg["cfg_tk_last"]) == (16, 8, 16, 32)
    assert cfg["cfg_order"] == (2 << 4) | (0 << 2) | 1  # k, m, n outermost first
    assert (cfg["cfg_u_full"], cfg["cfg_knnz_full"]) == (16, 32)  # 32 kept weights on 2 multipliers
    assert (cfg["cfg_a_mstep"], cfg["cfg_a_kstep"], cfg["cfg_b_nstep"], cfg["cfg_b_kstep"]) == (96, 2, 96, 2)
    assert (cfg["cfg_o_mstep"], cfg["cfg_o_nstep"], cfg["cfg_p_mstep"], cfg["cfg_p_nstep"]) == (32, 1, 128, 4)
    assert (cfg["cfg_a_pitch"], cfg["cfg_b_pitch"], cfg["cfg_c_pitch"]) == (1, 1, 2)
    assert (cfg["cfg_a_words_full"], cfg["cfg_b_words_full"], cfg["cfg_o_words_full"],
            cfg["cfg_p_words_full"]) == (2, 2, 1, 4)
    assert (cfg["cfg_g"], cfg["cfg_sparse"], cfg["cfg_lane_base"]) == (2, 0, 1 << 5)


def test_image_layout_of_a_sparse_layer():
    """2:4 weights: each column's run holds (value, in-group index) byte pairs; rows padded to words."""
    layer = SocLayer(2, 1, 8, 2, 4, Mapping("ws", 2, 1, 8, "nmk"))
    plan = plan_layer(P, layer)
    a = np.arange(16).reshape(2, 8) - 8
    values = np.array([[[5, -3], [7, 1]]])
    indices = np.array([[[0, 2], [1, 3]]])
    img = dram_image(plan, SocOperands(a, values, indices))
    assert plan.pitch == {"a": 1, "b": 1, "o": 1, "p": 1}
    assert list(img[0:8].view(np.int8)) == list(range(-8, 0)) and not img[8:16].any()
    assert list(img[16:24].view(np.int8)) == list(range(0, 8))
    b0 = plan.base["b"] * 16
    assert list(img[b0:b0 + 8].view(np.int8)) == [5, 0, -3, 2, 7, 1, 1, 3] and not img[b0 + 8:b0 + 16].any()
    assert (words_to_bytes(hex_words(img)) == img).all()


@pytest.mark.parametrize("mapping, rule", [
    (Mapping("is", 64, 64, 64), "runs the ws and os dataflows"),
    (Mapping("ws", 64, 64, 40), "whole 16-B DRAM words per tile row"),
    (Mapping("ws", 64, 40, 64), "tile_n a multiple of 16"),
    (Mapping("ws", 512, 64, 64), "the A tile needs 1024 rows"),
    (Mapping("os", 64, 128, 64), "the C tile needs 1024 rows"),
])
def test_mappings_the_sequencer_cannot_run_are_refused(mapping, rule):
    with pytest.raises(SpecError, match=rule):
        check_runnable(P, SocLayer(512, 128, 256, 1, 1, mapping))


def test_split_k_rule_names_the_tile_that_works():
    """1:8 weights are 2 B per kept weight, one per 8 of K: a 64-wide K tile is the first whole word."""
    with pytest.raises(SpecError, match="multiple of 64 for tile_k"):
        check_runnable(P, SocLayer(64, 64, 512, 1, 8, Mapping("ws", 64, 64, 32)))
    check_runnable(P, SocLayer(64, 64, 512, 1, 8, Mapping("ws", 64, 64, 64)))


def test_memory_cases_cover_what_the_issue_asks():
    assert len(MEMORY_CASES) >= 30
    assert len({c.name for c in MEMORY_CASES}) == len(MEMORY_CASES)
    assert {c.regime for c in MEMORY_CASES} >= {"compute", "buffer", "dram"}
    assert {c.dataflow for c in MEMORY_CASES} == {"ws", "os"}
    assert {"dense", "2:4", "1:8"} <= {c.sparsity for c in MEMORY_CASES}
    assert any(c.M % 8 or c.N % 8 or c.K % 16 for c in MEMORY_CASES)  # odd sizes
    half = P.half_rows * 32
    assert sum(c.M * c.K > half or c.K * c.N > half for c in MEMORY_CASES) >= 25  # larger than a buffer half
    assert set(QUICK_CASES) <= {c.name for c in MEMORY_CASES}
    for c in MEMORY_CASES:
        check_runnable(P, soc_layer(ARCH, c))


def test_stream_counts_by_hand():
    """Open-page counting: a new row of a bank is a miss, a return to an open row of another bank a bank switch."""
    rows_apart = {"name": "x", "n": 8, "batch": 16, "y_on": 0, "x_base": 0, "x_run": 2, "x_pitch": 128, "x_we": 0}
    assert stream_counts(rows_apart) == {"misses": 4, "bank_switches": 0, "switches": 0}  # banks 0..3 opened
    ping_pong = {"name": "xy", "n": 4, "batch": 1, "y_on": 1, "x_base": 0, "x_run": 128, "x_pitch": 0, "x_we": 0,
                 "y_base": 1024, "y_run": 128, "y_pitch": 0, "y_we": 1}  # bank 0, rows 0 and 1, read/write
    assert stream_counts(ping_pong) == {"misses": 4, "bank_switches": 0, "switches": 3}
    two_banks = dict(ping_pong, y_base=128)  # bank 1: both rows stay open
    assert stream_counts(two_banks) == {"misses": 2, "bank_switches": 2, "switches": 3}


def test_fit_recovers_known_costs():
    rng = np.random.default_rng(3)
    recs = []
    for i in range(8):
        n, ev = 4096, {"misses": int(rng.integers(0, 800)), "bank_switches": int(rng.integers(0, 800)),
                       "switches": int(rng.integers(0, 800))}
        cycles = (n + 8.5 * ev["misses"] + 3.0 * ev["bank_switches"] + 5.5 * ev["switches"]) / (1 - 0.07)
        recs.append({"name": f"p{i}", "n": n, "cycles": cycles, **ev})
    res = fit(recs)
    assert res["refresh_fraction"] == pytest.approx(0.07)
    assert (res["misses_cycles"], res["bank_switches_cycles"], res["switches_cycles"]) == pytest.approx((8.5, 3.0, 5.5))


def test_quick_layers_run_dram_to_dram_and_agree_with_the_model():
    cases = [c for c in MEMORY_CASES if c.name in QUICK_CASES]
    rows = run_memory_cases(cases, jobs=2)
    for r in rows:
        assert r["mismatches"] == 0 and r["checked_bytes"] == r["M"] * r["N"], r["name"]
        assert r["rtl_dram_bytes"] == r["model_dram_bytes"], r["name"]
        assert abs(r["fast_error"]) <= FAST_MAX, (r["name"], r["fast_error"])
        assert r["rtl_cycles"] > r["array_busy_cycles"] > 0


def test_missing_litedram_names_the_fix(tmp_path, monkeypatch):
    from nmsim.rtl_models.dram import DramToolMissing, ensure_litedram

    monkeypatch.setenv("NMSIM_LITEDRAM_VENV", str(tmp_path / "no-venv"))
    with pytest.raises(DramToolMissing, match=r"make peer-deps.*litedram==2024\.12"):
        ensure_litedram(install=False)
