"""The inner tiers' fit rule (mapping/levels.py, docs/MAPPING.md "Inner levels") against an oracle
written out here from the docs, the fixed loop order at inner boundaries, and the tile quanta."""
from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest

from nmsim.accel import Arch, load_arch
from nmsim.mapping import (default_mapping_candidates, executed_gemm, inner_orders, inner_tiles, plan_sparsity,
                           with_inner_levels)
from nmsim.mapping.levels import quanta
from nmsim.problem import Gemm, PerDataflow
from nmsim.problem.dataflow import DATAFLOWS, SPATIAL
from nmsim.problem.spatial import valid_splits
from nmsim.workloads import Op, Sparsity, conv2d

# what each operand's tile depends on (docs/MAPPING.md): a tier is never cut along another dimension
DEPENDS = {"inputs": "mk", "weights": "kn", "outputs": "mn"}
UNSPLIT = (1, None, 1, None)


def level(name, size, holds, *, db, instances=1, starts_tier=False):
    """A memory level entry of an arch file (ports and latency do not enter the fit rule)."""
    return {"name": name, "size_bytes": size, "instances": instances, "read_bytes_per_cycle": 4,
            "write_bytes_per_cycle": 4, "double_buffered": db, "holds": holds, "starts_tier": starts_tier}


def build_arch(base, inner, *, keep=None, compute=None, nm=None, resize=None):
    """Preset `base` with its first `keep` levels (all by default), some resized ({name: size_bytes}),
    then the `inner` levels; `compute` fields overridden; `nm` the N:M patterns it supports."""
    d = load_arch(base).model_dump(exclude={"energy": {"sources"}})
    d["memory"] = d["memory"][:keep] + inner
    for lv in d["memory"]:
        lv["size_bytes"] = (resize or {}).get(lv["name"], lv["size_bytes"])
    names = {lv["name"] for lv in d["memory"]} | {"dram"}
    pj = d["energy"]["per_byte_pj"]
    d["energy"]["per_byte_pj"] = {n: pj.get(n, 0.1) for n in names}
    d["compute"].update(compute or {})
    if nm is not None:
        d["sparsity"]["nm"] = {"patterns": nm}
    return Arch.model_validate(d)


# Archs whose inner tiers really get cut: small capacities, double-buffered and not, operand widths of
# 8 and 16 bits, accumulators of 16 to 32 bits, several multipliers per PE, fixed and flexible arrays.
ARCHS = {
    # tiers: [gbuf] [acc: outputs] [wreg: weights]
    "acc-wreg": lambda: build_arch(
        "dense-systolic", [level("wreg", 40, ["weights"], db=False, instances=16, starts_tier=True)],
        compute={"operand_bits": 16, "accumulator_bits": 24, "macs_per_pe": 2}, resize={"acc": 96}),
    # tiers: [gbuf] [wbuf: weights, ibuf: inputs] [ireg: inputs]
    "pair-ireg": lambda: build_arch(
        "dense-systolic", [level("wbuf", 3000, ["weights"], db=True), level("ibuf", 1200, ["inputs"], db=False),
                           level("ireg", 48, ["inputs"], db=True, instances=8)],
        keep=1, compute={"operand_bits": 8, "accumulator_bits": 32, "macs_per_pe": 4}),
    # flexible 12 x 14; tiers: [glb, glb_filter] [spad_ifmap, spad_filter, spad_psum]
    "eyeriss": lambda: build_arch("eyeriss", [], nm=["1:4", "2:8"]),
    # flexible rows, 4 multipliers per PE, N:M down to 1:16; tiers: [gbuf] [acc] [wreg]
    "s4-wreg": lambda: build_arch(
        "s4", [level("wreg", 96, ["weights"], db=True, instances=64, starts_tier=True)],
        compute={"accumulator_bits": 16}, resize={"acc": 8}),
}


@pytest.fixture(scope="module")
def archs():
    return {name: make() for name, make in ARCHS.items()}


# --- the oracle, from docs/MAPPING.md and docs/MODEL.md 3.7, 3.9 --------------------------------------

def extents(arch, df, split):
    """E_D of every dimension (MODEL.md 3.7) under dataflow name `df` and split (s_r, d_r, s_c, d_c)."""
    rows_d, cols_d, _ = SPATIAL[df]
    s_r, d_r, s_c, d_c = split
    out = {}
    for dim in "MNK":
        own = arch.compute.rows // s_r if dim == rows_d else arch.compute.cols // s_c if dim == cols_d else 1
        out[dim] = own * (s_r if dim == d_r else 1) * (s_c if dim == d_c else 1)
    return out


def oracle_quanta(arch, gemm, df, split):
    """Tile quantum per dimension (elements): its extent; for K the dense elements of E_K x P
    nonzeros, in whole N:M groups."""
    e = extents(arch, df, split)
    groups = -(-(e["K"] * arch.compute.macs_per_pe) // gemm.n)
    return {"m": e["M"], "n": e["N"], "k": groups * gemm.m}


def tier_fits(arch, gemm, levels, t):
    """Every level of the tier holds its operands' tiles, doubled where double-buffered."""
    op_b, acc_b = arch.compute.operand_bits / 8, arch.compute.accumulator_bits / 8
    parts = {"inputs": t["m"] * t["k"] * op_b * gemm.a_unique,
             "weights": -(-t["k"] // gemm.m) * gemm.n * t["n"] * (op_b + gemm.index_bits / 8),
             "outputs": t["m"] * t["n"] * acc_b}
    return all(sum(parts[o] for o in lv.holds) * (2 if lv.double_buffered else 1) <= lv.capacity_bytes
               for lv in levels)


def oracle_tiles(arch, gemm, df, split, outer):
    """(tm, tn, tk) of every inner tier of one candidate by the fit rule, cuts found by a plain scan."""
    q = oracle_quanta(arch, gemm, df, split)
    rows_d, cols_d, time_d = SPATIAL[df]
    parent, out = dict(zip("mnk", outer)), []
    for tier in arch.tiers()[1:]:
        levels = [arch.memory[i] for i in tier]
        kept = {d for lv in levels for o in lv.holds for d in DEPENDS[o]}
        t = dict(parent)
        for d in (cols_d.lower(), rows_d.lower(), time_d.lower()):
            if tier_fits(arch, gemm, levels, t) or d not in kept:
                continue
            cur = t[d]
            # largest u first; the scan ends at u = 1 when none fits (the rule's floor)
            for u in range(-(-cur // q[d]), 0, -1):
                t[d] = min(cur, u * q[d])
                if tier_fits(arch, gemm, levels, t):
                    break
        out.append((t["m"], t["n"], t["k"]))
        parent = t
    return out


def codes(split):
    """The split as dimension codes (-1: an axis not split), the form inner_tiles takes."""
    s_r, d_r, s_c, d_c = split
    return (s_r, "MNK".index(d_r) if d_r else -1, s_c, "MNK".index(d_c) if d_c else -1)


def random_candidates(arch, rng, count, dims):
    """`count` candidates: dataflow, split (the unsplit array among them) and outermost tile, tiles
    uniform or log-uniform in [1, dim] (small tiles reach the other end of the cut)."""
    ic = arch.compute.interconnect
    out = []
    for _ in range(count):
        df = str(rng.choice(arch.compute.dataflows))
        splits = valid_splits(df, ic.row_blocks, ic.col_blocks, ic.block_reduction) if ic.flexible else [UNSPLIT]
        split = splits[rng.integers(len(splits))] if rng.random() < 0.7 else UNSPLIT
        tile = tuple(int(rng.integers(1, d + 1)) if rng.random() < 0.5 else
                     max(1, min(d, int(np.exp(rng.uniform(0, np.log(d + 1)))))) for d in dims)
        out.append((df, split, tile))
    return out


GEMMS = [  # executed GEMMs: dense, N:M with index bits, and A as feature-map pixels (a_unique < 1)
    dict(n=1, m=1, index_bits=0, a_unique=1.0),
    dict(n=1, m=4, index_bits=2, a_unique=1.0),
    dict(n=2, m=8, index_bits=3, a_unique=0.5),
    dict(n=1, m=16, index_bits=4, a_unique=0.3),
    dict(n=1, m=1, index_bits=0, a_unique=0.75),
]


@pytest.mark.parametrize("name", list(ARCHS))
@pytest.mark.parametrize("g", range(len(GEMMS)))
def test_inner_tiles_match_the_oracle(archs, name, g):
    """inner_tiles on a mixed batch (dataflows, splits) equals the written-out fit rule per candidate."""
    arch = archs[name]
    rng = np.random.default_rng(1000 * g + len(name))
    dims = tuple(int(x) for x in rng.integers(40, 700, size=3))
    gemm = Gemm(*dims, **GEMMS[g])
    cands = random_candidates(arch, rng, 60, dims)
    split = None if not arch.compute.interconnect.flexible else \
        tuple(np.array(col, dtype=np.int64) for col in zip(*(codes(s) for _, s, _ in cands)))
    outer = tuple(np.array(col, dtype=np.int64) for col in zip(*(t for _, _, t in cands)))
    got = inner_tiles(arch, gemm, np.array([DATAFLOWS.index(df) for df, _, _ in cands]), split, outer)
    want = [oracle_tiles(arch, gemm, df, s, t) for df, s, t in cands]
    cut = 0
    for i, (df, s, t) in enumerate(cands):
        mine = [tuple(int(x[i]) for x in tier) for tier in got]
        assert mine == want[i], (df, s, t)
        cut += want[i][-1] != t
    # the check means something only where tiers are cut
    assert cut >= len(cands) // 6


def test_fit_rule_by_hand():
    """dense-systolic, WS, accumulators of 2,048 B double-buffered at 4 B per sum: tm x tn <= 256."""
    arch = build_arch("dense-systolic", [], resize={"acc": 64})
    gemm = Gemm(1000, 1000, 1000)
    ws = np.array([DATAFLOWS.index("ws")])

    def tiles(tm, tn, tk):
        (tier,) = inner_tiles(arch, gemm, ws, None, (np.array([tm]), np.array([tn]), np.array([tk])))
        return tuple(int(x[0]) for x in tier)

    # N (columns, quantum 32) goes to one fold, K (rows) is no dimension of the outputs, M (time) takes
    # what is left: 8 x 32 sums, exactly the capacity
    assert tiles(100, 64, 300) == (8, 32, 300)
    # only N is cut when that suffices: 4 folds, 2 x 128 = 256 sums
    assert tiles(2, 200, 300) == (2, 128, 300)
    # a tile exactly at capacity is kept whole
    assert tiles(8, 32, 300) == (8, 32, 300)
    assert tiles(16, 16, 7) == (16, 16, 7)
    assert tiles(17, 16, 7) == (16, 16, 7)


def test_inner_orders_by_hand():
    """k innermost where outputs are kept at or below the boundary or several operands are; the one
    kept operand's irrelevant dimension innermost otherwise (weights: m, inputs: n)."""
    assert inner_orders(load_arch("dense-systolic")) == ["nmk"]  # [gbuf] [acc: outputs]
    wreg = level("wreg", 64, ["weights"], db=False, instances=32, starts_tier=True)
    # [gbuf] [acc] [wreg]: outputs below the first boundary, weights alone below the second
    assert inner_orders(build_arch("dense-systolic", [wreg])) == ["nmk", "nkm"]
    ireg = level("ireg", 64, ["inputs"], db=False, instances=32)
    assert inner_orders(build_arch("dense-systolic", [ireg], keep=1)) == ["mkn"]
    assert inner_orders(build_arch("dense-systolic", [wreg], keep=1)) == ["nkm"]
    pair = [level("wbuf", 4096, ["weights"], db=True), level("ibuf", 4096, ["inputs"], db=True)]
    # two non-output operands: no single irrelevant dimension, so "nmk"
    assert inner_orders(build_arch("dense-systolic", pair, keep=1)) == ["nmk"]
    assert inner_orders(build_arch("dense-systolic", pair + [ireg], keep=1)) == ["nmk", "mkn"]


def _quanta(arch, gemm, df, split):
    sel = PerDataflow(np.array([DATAFLOWS.index(df)]))
    s = None if split is None else tuple(np.array([x], dtype=np.int64) for x in codes(split))
    return {d: int(np.asarray(v).reshape(-1)[0]) for d, v in quanta(arch, gemm, sel, s).items()}


def test_quanta_by_hand():
    """s4 (64 x 64, 4 multipliers per PE): K's quantum is E_K x 4 nonzeros in whole N:M groups."""
    s4 = load_arch("s4")
    one_8, one_16 = Gemm(512, 512, 4096, n=1, m=8, index_bits=3), Gemm(512, 512, 4096, n=1, m=16, index_bits=4)
    # WS: rows carry K, 64 x 4 = 256 nonzeros = 256 groups of 8 (16) dense elements
    assert _quanta(s4, one_8, "ws", None) == {"m": 1, "n": 64, "k": 2048}
    assert _quanta(s4, one_16, "ws", None) == {"m": 1, "n": 64, "k": 4096}
    # rows in 4 blocks over M: E_K = 16, E_M = 4
    assert _quanta(s4, one_16, "ws", (4, "M", 1, None)) == {"m": 4, "n": 64, "k": 16 * 4 * 16}
    # OS: K in time, one unit of 4 nonzeros = 4 groups of 8
    assert _quanta(s4, one_8, "os", None) == {"m": 64, "n": 64, "k": 32}
    # 3:8 with 4 nonzeros per unit: 2 whole groups (ceil(4 / 3)), 16 dense elements
    assert _quanta(s4, Gemm(64, 64, 64, n=3, m=8), "os", None)["k"] == 16
    # dense, 2 multipliers per PE on 32 rows: 64 K elements per fold
    arch = build_arch("dense-systolic", [], compute={"macs_per_pe": 2})
    assert _quanta(arch, Gemm(64, 64, 64), "ws", None) == {"m": 1, "n": 32, "k": 64}
    assert _quanta(arch, Gemm(64, 64, 64), "is", None) == {"m": 32, "n": 1, "k": 64}


def _oracle_levels(arch, op, mappings):
    gemm = executed_gemm(op, plan_sparsity(arch, op))
    orders = inner_orders(arch)
    out = []
    for mp in mappings:
        sp = mp.spatial
        split = (sp.row_blocks, sp.row_dim, sp.col_blocks, sp.col_dim)
        outer = (min(mp.tile_m, op.M), min(mp.tile_n, op.N), min(mp.tile_k, op.K))
        out.append([t + (o,) for t, o in zip(oracle_tiles(arch, gemm, mp.dataflow, split, outer), orders)])
    return out


CASES = [  # (arch, op): conv ops give a_unique < 1 on eyeriss, which stores feature maps
    ("eyeriss", conv2d("c3", 1, 14, 16, 32, 3)),
    ("eyeriss", conv2d("c1", 2, 7, 64, 48, 1)),
    ("eyeriss", Op("fc", "gemm", 96, 200, 160, weight_sparsity=Sparsity.parse("2:8"))),
    ("s4-wreg", Op("fc", "gemm", 256, 320, 1024, weight_sparsity=Sparsity.parse("1:8"))),
    ("s4-wreg", Op("fc", "gemm", 100, 192, 768, weight_sparsity=Sparsity.parse("1:4"))),
    ("acc-wreg", Op("fc", "gemm", 300, 200, 500, weight_sparsity=Sparsity.parse("1:4"))),
    ("pair-ireg", conv2d("c3", 1, 10, 24, 40, 3)),
]


@pytest.mark.parametrize("name, op", CASES)
def test_default_candidates_take_the_fit_rule(archs, name, op):
    """The default mapping's candidates, unsplit and split arrays in one batch, carry the inner tiles
    one mapping at a time would get, and the oracle's."""
    arch = archs[name]
    for df in arch.compute.dataflows:
        cands = default_mapping_candidates(arch, op, df)
        bare = default_mapping_candidates(arch, op, df, inner=False)
        assert cands == [with_inner_levels(arch, op, m) for m in bare]
        assert [[astuple(lv) for lv in m.levels] for m in cands] == _oracle_levels(arch, op, bare)
        if arch.compute.interconnect.flexible:
            kinds = {m.spatial.row_blocks * m.spatial.col_blocks > 1 for m in cands}
            assert kinds == {True, False}
        # some tier is cut on some candidate, or the comparison shows nothing
        assert any(astuple(lv)[:3] != (m.tile_m, m.tile_n, m.tile_k) for m in cands for lv in m.levels[-1:])
