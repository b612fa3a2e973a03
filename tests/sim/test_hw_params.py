"""`HwParams.from_arch` (sim/hw.py) against the preset files it reads, and the defaults of the fields
a hand-built HwParams may leave out. Every expected number is read off accel/presets/*.yaml (the
values and their `derived:` comments) or the spec's documented defaults (accel/spec.py, docs/MODEL.md
3.4.1 and 3.9), converted by hand to the cost model's units (bytes, cycles, pJ per byte)."""
from __future__ import annotations

import math
from dataclasses import MISSING, fields

import pytest

from nmsim.accel import load_arch
from nmsim.sim.hw import HwParams

from ..conftest import make_arch


def test_dense_systolic_fields_from_its_preset():
    hw = HwParams.from_arch(load_arch("dense-systolic"))
    # compute: 32 x 32 x 1 MAC at 700 MHz, int8 operands (1 B), int32 accumulators (4 B)
    assert (hw.name, hw.rows, hw.cols, hw.macs_per_pe, hw.clock_hz) == ("dense-systolic", 32, 32, 1, 7.0e8)
    assert (hw.operand_bytes, hw.acc_bytes) == (1.0, 4.0)
    # memory, outermost first: gbuf (all operands) then acc (outputs only, 32 instances)
    assert hw.level_names == ("gbuf", "acc")
    assert hw.keepers == {"weights": (0,), "inputs": (0,), "outputs": (0, 1)}
    assert hw.outer_of == {"weights": 0, "inputs": 0, "outputs": 0}
    assert hw.inner_of == {"weights": 0, "inputs": 0, "outputs": 1}
    # ports are of all instances together: acc 8 B/cycle x 32 columns = 256
    assert hw.read_bpc == (256, 256) and hw.write_bpc == (256, 256)
    assert hw.level_latency_cycles == (1, 1)
    assert hw.all_double_buffered and hw.level_double_buffered == (True, True)
    # acc keeps outputs, which gbuf already keeps: it starts tier 1 (MODEL.md 3.9)
    assert hw.tier_of == (0, 1) and hw.n_tiers == 2
    # one acc per column (32), not one per PE (1024); gbuf's ports are separate, acc's the default shared
    assert hw.level_per_pe == (False, False)
    assert hw.level_ports_separate == (True, False)
    assert hw.level_prefetch_steps == ((math.inf,) * 3,) * 2      # no prefetch_steps: unlimited, every dataflow
    assert hw.level_prefetch_latency == (0.0, 0.0)
    assert hw.preload_overlap is False and hw.zero_skipping is False
    # DRAM: 34 GB/s / 700 MHz = 48.57 B/cycle; 100 ns x 700 MHz = 70 cycles; 64-B bursts; refresh 3.3 %
    assert hw.dram_bpc == pytest.approx(3.4e10 / 7.0e8)
    assert hw.dram_latency_cycles == pytest.approx(70.0)
    assert hw.dram_access_bytes == 64.0 and hw.dram_refresh_fraction == pytest.approx(0.033)
    assert (hw.dram_page_bytes, hw.dram_page_cycles, hw.dram_rw_batch_bytes, hw.dram_rw_cycles) == (0, 0, 0, 0)
    # energies (45 nm table, as the preset's comments derive them): MAC 0.2 + 0.1 pJ; gbuf 1 MiB bank
    # 11.69 / 9.523 pJ/B; acc 32 KiB class 2.13 / 1.925 pJ/B; DDR3 70 pJ/bit = 560 pJ/B
    assert hw.mac_pj == pytest.approx(0.3) and hw.index_decode_pj == 0.0
    assert hw.level_read_pj == pytest.approx((11.69, 2.13), rel=1e-3)
    assert hw.level_write_pj == pytest.approx((9.523, 1.925), rel=1e-3)
    assert (hw.dram_read_pj, hw.dram_write_pj) == (pytest.approx(560.0), pytest.approx(560.0))
    assert hw.static_w > 0


def test_eyeriss_per_pe_scratchpads_and_zero_skipping():
    hw = HwParams.from_arch(load_arch("eyeriss"))
    # 12 x 14 = 168 PEs; the three spads have 168 instances (one per PE), the two GLBs one
    assert hw.level_names == ("glb", "glb_filter", "spad_ifmap", "spad_filter", "spad_psum")
    assert hw.level_per_pe == (False, False, True, True, True)
    # glb + glb_filter keep different operands (one tier); spad_ifmap keeps inputs again -> tier 1,
    # which the filter and psum spads join
    assert hw.tier_of == (0, 0, 1, 1, 1) and hw.n_tiers == 2
    assert hw.keepers == {"weights": (1, 3), "inputs": (0, 2), "outputs": (0, 4)}
    # spads: 2 B/cycle each x 168; glb 10 / 8, glb_filter 8 / 8
    assert hw.read_bpc == (10, 8, 336, 336, 336) and hw.write_bpc == (8, 8, 336, 336, 336)
    # glb is single-buffered, so not all levels are
    assert hw.level_double_buffered == (False, True, False, False, False) and not hw.all_double_buffered
    # spad_filter gives no `ports` (shared); the others are separate
    assert hw.level_ports_separate == (True, True, True, False, True)
    assert hw.operand_bytes == 2.0 and hw.acc_bytes == 2.0       # 16-bit operands and psums
    assert hw.zero_skipping is True
    assert hw.dram_bpc == pytest.approx(4.8e8 / 2.0e8) and hw.dram_latency_cycles == 0.0


def test_rtl_soc_dram_efficiency_and_prefetch_in_cycles():
    hw = HwParams.from_arch(load_arch("rtl-soc"))
    # 100 MHz: 1.6 GB/s = 16 B/cycle; 170 ns = 17 cycles; 86.1 ns page change = 8.61 cycles;
    # 85.1 ns read/write switch = 8.51 cycles; 16-B words, 2 KiB pages, 256-B batches, 8 % refresh
    assert hw.clock_hz == 1.0e8
    assert hw.dram_bpc == pytest.approx(16.0) and hw.dram_latency_cycles == pytest.approx(17.0)
    assert hw.dram_access_bytes == 16.0 and hw.dram_refresh_fraction == pytest.approx(0.08)
    assert hw.dram_page_bytes == 2048.0 and hw.dram_page_cycles == pytest.approx(8.61)
    assert hw.dram_rw_batch_bytes == 256.0 and hw.dram_rw_cycles == pytest.approx(8.51)
    # abuf / wbuf stream with 4 and 32 steps of prefetch; cbuf gives none (unlimited)
    assert hw.level_names == ("abuf", "wbuf", "cbuf")
    assert hw.level_prefetch_steps == ((4.0, 8.0, math.inf), (32.0, 32.0, 32.0), (math.inf,) * 3)
    assert hw.level_prefetch_latency == (3.0, 3.0, 0.0)
    assert hw.level_ports_separate == (True, True, True)
    assert hw.tier_of == (0, 0, 0) and hw.n_tiers == 1          # three buffers side by side: one tier
    assert hw.read_bpc == (32, 32, 32) and hw.write_bpc == (16, 16, 32)


def _required(hw: HwParams) -> dict:
    """The fields of `hw` that HwParams has no default for."""
    return {f.name: getattr(hw, f.name) for f in fields(HwParams)
            if f.default is MISSING and f.default_factory is MISSING}


def test_defaults_of_a_hand_built_hwparams_are_the_spec_defaults():
    # A HwParams built with the required fields only (tools and tests build them by hand) must mean
    # what an arch that leaves those sections out means: one tier, no WS/IS preload overlap, and an
    # ideal DRAM interface (the DRAM spec's defaults: 1-B accesses, no refresh, no pages, no
    # read/write switches; docs/MODEL.md 3.4.1).
    bare = HwParams(**_required(HwParams.from_arch(make_arch())))
    assert bare.tier_of == (0,) and bare.n_tiers == 1
    assert bare.preload_overlap is False
    assert bare.dram_access_bytes == 1.0
    assert bare.dram_refresh_fraction == 0.0
    assert bare.dram_page_bytes == 0.0 and bare.dram_page_cycles == 0.0
    assert bare.dram_rw_batch_bytes == 0.0 and bare.dram_rw_cycles == 0.0


def test_defaults_agree_with_from_arch_of_an_arch_that_leaves_them_out():
    # the tiny arch gives one memory level, no preload_overlap and only bytes_per_s and latency_s of
    # its DRAM: from_arch fills those fields from the spec's defaults; the dataclass's own defaults
    # must be the same values
    full = HwParams.from_arch(make_arch())
    bare = HwParams(**_required(full))
    for name in ("tier_of", "preload_overlap", "dram_access_bytes", "dram_refresh_fraction", "dram_page_bytes",
                 "dram_page_cycles", "dram_rw_batch_bytes", "dram_rw_cycles"):
        assert getattr(bare, name) == getattr(full, name), name
