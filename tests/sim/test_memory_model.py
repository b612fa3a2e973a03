"""Hand-derived checks of the memory terms the SoC RTL validation added to the model (docs/MODEL.md
3.2-3.5): port semantics, read-ahead of streamed readers, whole DRAM accesses, page changes,
read/write switches, refresh, and preload overlap. The tiny arch: 4 x 4 PEs, one MAC each, int8,
int32 partial sums, 1 GHz, one level `gbuf` holding every operand."""
from __future__ import annotations

import numpy as np
import pytest

from nmsim.mapping import Mapping, executed_gemm, plan_sparsity
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.dram import page_changes, transfer_cycles
from nmsim.sim.engine import engine_cost
from nmsim.sim.schedule import build_schedule
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity

from ..conftest import make_arch

GEMM_8x4x4 = Op("g", "gemm", M=8, N=4, K=4)


def breakdown(arch, op, mapping):
    return simulate_op(arch, op, mapping).cycle_breakdown


@pytest.mark.parametrize("ports, expected", [("shared", 32.0), ("separate", 22.0)])
def test_port_semantics(ports, expected):
    """WS 8x4x4, one tile. Reads: A 8 beats x 4 rows = 32 B, B 16 B, out drained to DRAM 32 B = 80 B;
    writes: 32 int32 partial sums = 128 B plus DRAM fills A 32 + B 16 = 176 B. At 8 B/cycle each way:
    shared 10 + 22 = 32 cycles, separate max(10, 22) = 22."""
    arch = make_arch(**{"memory.0.read_bytes_per_cycle": 8, "memory.0.write_bytes_per_cycle": 8,
                        "memory.0.ports": ports})
    assert breakdown(arch, GEMM_8x4x4, Mapping("ws", 8, 4, 4))["buffer_cycles"] == expected


def test_preload_overlap():
    """Without: one fold of 2R + C - 2 + T = 10 + 8 = 18. With: R + C - 2 = 6 plus a stream of
    max(T, R) = 8 -> 14; at T = M = 2 < R the stream still lasts R = 4: 6 + 4 = 10 (not 12)."""
    over = make_arch(**{"compute.preload_overlap": True})
    assert breakdown(make_arch(), GEMM_8x4x4, Mapping("ws", 8, 4, 4))["compute_cycles"] == 18
    assert breakdown(over, GEMM_8x4x4, Mapping("ws", 8, 4, 4))["compute_cycles"] == 14
    small = Op("g", "gemm", M=2, N=4, K=4)
    assert breakdown(make_arch(), small, Mapping("ws", 2, 4, 4))["compute_cycles"] == 12
    assert breakdown(over, small, Mapping("ws", 2, 4, 4))["compute_cycles"] == 10
    assert breakdown(over, GEMM_8x4x4, Mapping("os", 8, 4, 4))["compute_cycles"] == 20  # OS has no preload


def test_prefetch_steps_expose_the_fill():
    """2:4 weights, K = 8: one row fold (4 units), T = 8 beats of 4 rows x 2 activations = 8 B, i.e. 4
    cycles per beat at 2 B/cycle. Port: reads A 64 + B 16 x 1.25 = 20 + drain 32 = 116 B -> 58 cycles
    (writes at 1e9 B/cycle cost nothing). A reader 2 beats ahead hides 8 of the fold's 10 fill cycles: +2."""
    op = Op("g", "gemm", M=8, N=4, K=8, weight_sparsity=Sparsity.parse("2:4"))
    base = {"memory.0.read_bytes_per_cycle": 2}
    assert breakdown(make_arch(**base), op, Mapping("ws", 8, 4, 8))["buffer_cycles"] == pytest.approx(58)
    ahead = make_arch(**base, **{"memory.0.prefetch_steps": 2})
    assert breakdown(ahead, op, Mapping("ws", 8, 4, 8))["buffer_cycles"] == pytest.approx(60)
    far = make_arch(**base, **{"memory.0.prefetch_steps": 3})  # 12 cycles ahead > 10: nothing exposed
    assert breakdown(far, op, Mapping("ws", 8, 4, 8))["buffer_cycles"] == pytest.approx(58)


@pytest.mark.parametrize("fields, expected", [
    # the case above (fill 10, 4 cycles per beat, 58 cycles of port work): a slot freed by the array is
    # refilled and back at the array L cycles later, so a fold exposes max(0, fill + L - steps c)
    ({"memory.0.prefetch_steps": 2, "memory.0.prefetch_latency_cycles": 3}, 58 + (10 + 3 - 8)),
    ({"memory.0.prefetch_steps": 3, "memory.0.prefetch_latency_cycles": 3}, 58 + (10 + 3 - 12)),
    ({"memory.0.prefetch_steps": 3, "memory.0.prefetch_latency_cycles": 1}, 58),   # 11 - 12 < 0
    ({"memory.0.prefetch_latency_cycles": 3}, 58),                  # without a limit the reader never waits
    # steps per dataflow: this WS layer takes the WS entry; a dataflow left out has no limit
    ({"memory.0.prefetch_steps": {"ws": 2, "os": 5}}, 60),
    ({"memory.0.prefetch_steps": {"os": 2}}, 58),
    ({"memory.0.prefetch_steps": {"ws": 2}, "memory.0.prefetch_latency_cycles": 4}, 58 + (10 + 4 - 8)),
])
def test_prefetch_latency_and_steps_per_dataflow(fields, expected):
    op = Op("g", "gemm", M=8, N=4, K=8, weight_sparsity=Sparsity.parse("2:4"))
    arch = make_arch(**{"memory.0.read_bytes_per_cycle": 2}, **fields)
    assert breakdown(arch, op, Mapping("ws", 8, 4, 8))["buffer_cycles"] == pytest.approx(expected)
    # the detailed engine's schedule exposes the same cycles on the one fold's tile
    hw = HwParams.from_arch(arch)
    sched = build_schedule(hw, executed_gemm(op, plan_sparsity(arch, op)), Mapping("ws", 8, 4, 8))
    assert sched.port_extra_cycles.sum() == pytest.approx(expected - 58)


def test_prefetch_steps_per_dataflow_on_an_os_fold():
    """OS, 2:4, M = N = 4, K = 16: one fold, fill R + C - 2 = 6. Its reads take 6.5 port cycles per
    beat at 2 B/cycle, so a reader allowed 0 beats ahead exposes the whole fill (6 cycles), plus its
    latency L: only under the OS entry; a WS entry leaves this OS layer unlimited."""
    op = Op("g", "gemm", M=4, N=4, K=16, weight_sparsity=Sparsity.parse("2:4"))
    m = Mapping("os", 4, 4, 16)
    base = {"memory.0.read_bytes_per_cycle": 2}

    def port(**fields):
        return breakdown(make_arch(**base, **fields), op, m)["buffer_cycles"]

    free = port()
    assert port(**{"memory.0.prefetch_steps": {"ws": 0}}) == pytest.approx(free)
    assert port(**{"memory.0.prefetch_steps": {"os": 0}}) == pytest.approx(free + 6)
    assert port(**{"memory.0.prefetch_steps": {"os": 0}, "memory.0.prefetch_latency_cycles": 2}) == \
        pytest.approx(free + 8)
    assert port(**{"memory.0.prefetch_steps": 1}) == pytest.approx(free)   # 6.5 cycles ahead > 6


@pytest.mark.parametrize("field, value", [("prefetch_steps", {"rs": 4}), ("prefetch_steps", -1),
                                          ("prefetch_latency_cycles", -1)])
def test_prefetch_fields_are_checked_by_name(field, value):
    from nmsim.accel.spec import Arch
    from nmsim.specfile import parse_model
    spec = make_arch().model_dump(exclude={"energy": {"sources"}})
    spec["memory"][0][field] = value
    with pytest.raises(SpecError) as e:
        parse_model(Arch, spec, "x.yaml", None)
    msg = str(e.value)
    assert msg.startswith(f"x.yaml: memory.0.{field}") and "\n" not in msg


@pytest.mark.parametrize("mapping, expected", [
    # One tile: A 3 rows of 20 B -> 32 each, B 5 columns of 20 B -> 32, out 3 rows of 5 B -> 16.
    (Mapping("ws", 3, 5, 20), 3 * 32 + 5 * 32 + 3 * 16),
    # K in tiles of 16: rows of 16, 16, 8 B -> 16 each, A 3 x 48, B 5 x 48; out once (k innermost).
    (Mapping("ws", 3, 5, 16, "nmk"), 3 * 48 + 5 * 48 + 3 * 16),
])
def test_dram_moves_whole_accesses(mapping, expected):
    arch = make_arch(**{"dram.access_bytes": 16})
    op = Op("g", "gemm", M=3, N=5, K=20 if mapping.tile_k == 20 else 40)
    if mapping.tile_k == 16:
        expected = 3 * 48 + 5 * 48 + 3 * 16  # K = 40: tiles 16, 16, 8
    assert simulate_op(arch, op, mapping).bytes["dram"] == expected
    assert simulate_op(make_arch(), op, mapping).bytes["dram"] == op.M * op.K + op.K * op.N + op.M * op.N


def test_transfer_cycles_and_page_changes_by_hand():
    arch = make_arch(**{"dram.bytes_per_s": 16e9, "dram.page_bytes": 2048, "dram.page_change_s": 10e-9,
                        "dram.refresh_fraction": 0.2, "dram.rw_batch_bytes": 256, "dram.rw_switch_s": 4e-9})
    hw = HwParams.from_arch(arch)
    # 4096 B at 16 B/cycle = 256, 3 page changes x 10, 2 x 512/256 = 4 switches x 4; / (1 - 0.2)
    assert transfer_cycles(hw, 4096.0, 3.0, 512.0) == pytest.approx((256 + 30 + 16) / 0.8)
    # Rows 400 B apart share pages: 2 transfers + 10 x 400/2048; a page or more apart each opens one
    assert page_changes(hw, 2, 10, 100, 400) == pytest.approx(2 + 10 * 400 / 2048)
    assert page_changes(hw, 2, 10, 100, 4096) == pytest.approx(2 + 10 * 2148 / 2048)
    assert page_changes(HwParams.from_arch(make_arch()), 2, 10, 100, 400) == 0.0


def test_fast_model_counts_pages_per_transfer():
    """64 x 64 x 64 dense, one tile: A, B and out are one transfer each of 64 rows of 64 B (the rows
    are contiguous): 1 + 64 x 64 / 2048 = 3 page changes each, 9 in all, 10 cycles each."""
    arch = make_arch(**{"dram.page_bytes": 2048, "dram.page_change_s": 10e-9})
    op = Op("g", "gemm", M=64, N=64, K=64)
    assert breakdown(arch, op, Mapping("ws", 64, 64, 64))["dram_cycles"] == pytest.approx(90.0, abs=1e-3)


def test_dram_fields_need_their_partners():
    with pytest.raises(ValueError, match="page_change_s needs page_bytes"):
        make_arch(**{"dram.page_change_s": 1e-8})
    with pytest.raises(ValueError, match="rw_switch_s needs rw_batch_bytes"):
        make_arch(**{"dram.rw_switch_s": 1e-8})
    with pytest.raises(ValueError):
        make_arch(**{"memory.0.ports": "dual"})


@pytest.mark.parametrize("order, tiles", [("nmk", (16, 24, 32)), ("kmn", (8, 16, 16)), ("mkn", (24, 8, 48))])
def test_schedule_sums_equal_the_closed_form_with_the_new_fields(order, tiles):
    """The detailed engine's per-tile transfers add up to the fast model's DRAM bytes (whole accesses)
    and, page model and switches included, to its DRAM cycles within the closed form's one-tile
    approximation of run lengths."""
    arch = make_arch(**{"dram.bytes_per_s": 8e9, "dram.access_bytes": 16, "dram.page_bytes": 512,
                        "dram.page_change_s": 8e-9, "dram.refresh_fraction": 0.05, "dram.rw_batch_bytes": 64,
                        "dram.rw_switch_s": 5e-9, "memory.0.ports": "separate"})
    op = Op("g", "gemm", M=50, N=40, K=100)
    mp = Mapping("ws", *tiles, order)
    fast = simulate_op(arch, op, mp)
    sched = build_schedule(HwParams.from_arch(arch), executed_gemm(op, plan_sparsity(arch, op)), mp)
    assert sched.dram_bytes == pytest.approx(fast.bytes["dram"])
    assert sched.dram_cycles == pytest.approx(fast.cycle_breakdown["dram_cycles"], rel=0.05)


def test_engine_streams_fills_through_the_port():
    """WS 8x4x4, 16 B/cycle of DRAM and of write port, no latency. A (32 B) streams in over cycles
    0-2 and is written as it arrives, B (16 B) over 2-3: the tile starts at 3, computes 18 cycles
    (its 128 B of partial sums take 8 write-port cycles under them) and its 32 B store takes 2: 23.
    Filling only after each transfer ended would start the tile at 5."""
    arch = make_arch(**{"dram.bytes_per_s": 16e9, "memory.0.write_bytes_per_cycle": 16, "memory.0.ports": "separate"})
    op = Op("g", "gemm", M=8, N=4, K=4)
    res = engine_cost(HwParams.from_arch(arch), executed_gemm(op, plan_sparsity(arch, op)), Mapping("ws", 8, 4, 4))
    assert res["cycles"] == 3 + 18 + 2
    assert np.isclose(res["stall_buffer_port_cycles"], 0.0)


def test_bad_preset_fields_name_the_field():
    """A spec valid but for one memory field: the one-line error names that field (and only it)."""
    from nmsim.accel.spec import Arch
    from nmsim.specfile import parse_model
    spec = {"name": "x", "compute": {"rows": 1, "cols": 1, "clock_hz": 1e9}, "memory": [
        {"name": "m", "size_bytes": 64, "read_bytes_per_cycle": 1, "write_bytes_per_cycle": 1}],
        "dram": {"bytes_per_s": 1e9}, "energy": {"mac_pj": 1, "per_byte_pj": {"m": 0, "dram": 0}}}
    parse_model(Arch, spec, "x.yaml", None)   # valid as it stands
    spec["memory"][0]["ports"] = "dual"
    with pytest.raises(SpecError) as e:
        parse_model(Arch, spec, "x.yaml", None)
    msg = str(e.value)
    assert msg.startswith("x.yaml: memory.0.ports") and "more" not in msg and "\n" not in msg


@pytest.mark.parametrize("op, mapping, expected", [
    # Two tiles along the streamed M (8 + 2): with overlap 2 x (R + C - 2) + max(8, 4) + max(2, 4) = 24;
    # without, 2 x (2R + C - 2) + 8 + 2 = 30. Two whole tiles (8 + 8): 2 x 6 + 16 = 28.
    (Op("g", "gemm", M=10, N=4, K=4), Mapping("ws", 8, 4, 4), (24, 30)),
    (Op("g", "gemm", M=16, N=4, K=4), Mapping("ws", 8, 4, 4), (28, 36)),
    # OS streams K and has no preload to hide: R + C - 2 + T = 6 + 2, with or without the field
    (Op("g", "gemm", M=4, N=4, K=2), Mapping("os", 4, 4, 2), (8, 8)),
])
def test_preload_overlap_over_several_tiles(op, mapping, expected):
    over = make_arch(**{"compute.preload_overlap": True})
    assert breakdown(over, op, mapping)["compute_cycles"] == expected[0]
    assert breakdown(make_arch(), op, mapping)["compute_cycles"] == expected[1]


def _walk_transfers(M, N, K, mapping):
    """The tile loop nest walked one tile at a time (docs/MODEL.md 9's reload rule, written out here):
    an A tile (m, k) moves when its index differs from the previous tile's, a B tile (k, n) likewise;
    consecutive tiles of one (m, n) accumulate in place; a run of them that does not end at the last k
    spills its partial sums, and one that does not start at k = 0 reads them back. Yields
    (operand, rows, row length in elements, tensor row length in elements) per transfer."""
    import itertools

    tiles = {"M": mapping.tile_m, "N": mapping.tile_n, "K": mapping.tile_k}
    size = {"M": M, "N": N, "K": K}
    starts = {d: range(0, size[d], tiles[d]) for d in "MNK"}
    ext = lambda d, s: min(tiles[d], size[d] - s)  # noqa: E731 - the edge tile is what is left
    order = mapping.loop_order.upper()
    nest = [dict(zip(order, idx)) for idx in itertools.product(*(starts[d] for d in order))]
    out, prev_a, prev_b = [], None, None
    for i, t in enumerate(nest):
        m, n, k = t["M"], t["N"], t["K"]
        if (m, k) != prev_a:
            out.append(("A", ext("M", m), ext("K", k), K))
        if (k, n) != prev_b:
            out.append(("B", ext("N", n), ext("K", k), K))
        prev_a, prev_b = (m, k), (k, n)
        first = i == 0 or (nest[i - 1]["M"], nest[i - 1]["N"]) != (m, n)
        last = i == len(nest) - 1 or (nest[i + 1]["M"], nest[i + 1]["N"]) != (m, n)
        if first and k != 0:
            out.append(("psum", ext("M", m), ext("N", n), N))
        if last:
            out.append(("C" if k + ext("K", k) == K else "psum", ext("M", m), ext("N", n), N))
    return out


ORDERS = ["mnk", "mkn", "nmk", "nkm", "kmn", "knm"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("dims, tiles", [((10, 7, 40), (4, 3, 16)), ((9, 12, 33), (9, 5, 8))])
def test_dram_bytes_with_whole_accesses_equal_a_walk_of_the_loop_nest(order, dims, tiles):
    # int8 operands, int32 partial sums; every row of a transfer rounds up to 16-B accesses
    M, N, K = dims
    mapping = Mapping("ws", *tiles, order)
    width = {"A": 1, "B": 1, "C": 1, "psum": 4}
    whole = lambda b: -(-b // 16) * 16  # noqa: E731
    expected = sum(rows * whole(run * width[op]) for op, rows, run, _ in _walk_transfers(M, N, K, mapping))
    arch = make_arch(**{"dram.access_bytes": 16})
    assert simulate_op(arch, Op("g", "gemm", M=M, N=N, K=K), mapping).bytes["dram"] == expected


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("page", [64, 4096])
def test_page_changes_equal_a_walk_of_the_loop_nest(order, page):
    # Whole tiles (the page term takes a tile's row length), 1 cycle per page change, a DRAM too fast
    # for bytes to count: dram_cycles = page changes = sum over transfers of 1 + rows x min(pitch,
    # page + run) / page, the pitch being the tensor's row in DRAM (sim/dram.py).
    M, N, K = 12, 16, 48
    mapping = Mapping("ws", 4, 8, 16, order)
    width = {"A": 1, "B": 1, "C": 1, "psum": 4}
    expected = sum(1 + rows * min(pitch * width[op], page + run * width[op]) / page
                   for op, rows, run, pitch in _walk_transfers(M, N, K, mapping))
    arch = make_arch(**{"dram.page_bytes": page, "dram.page_change_s": 1e-9})
    got = breakdown(arch, Op("g", "gemm", M=M, N=N, K=K), mapping)["dram_cycles"]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-3)


def test_one_byte_pages_and_batches_by_hand():
    # The smallest values the spec allows: a 1-B page (every byte past the first of a row opens one) and
    # a DMA that switches direction after every byte (2 switches per written byte)
    arch = make_arch(**{"dram.bytes_per_s": 16e9, "dram.page_bytes": 1, "dram.page_change_s": 1e-9,
                        "dram.rw_batch_bytes": 1, "dram.rw_switch_s": 4e-9})
    hw = HwParams.from_arch(arch)
    assert page_changes(hw, 2, 10, 100, 400) == pytest.approx(2 + 10 * 101)
    # 64 B at 16 B/cycle = 4, 3 page changes x 1, 2 x 8 written bytes = 16 switches x 4 cycles
    assert transfer_cycles(hw, 64.0, 3.0, 8.0) == pytest.approx(4 + 3 + 64)
