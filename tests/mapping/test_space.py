"""The mapping space (mapping/space.py) against oracles written from its documented contract
(module docstring, docs/MAPPING.md "The pruned space" and "Mappers"), on small GEMMs."""
from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from nmsim.accel import Arch, load_arch
from nmsim.mapping import Constraints
from nmsim.mapping.levels import inner_tiles
from nmsim.mapping.mapping import LOOP_ORDERS, LevelTile, Mapping, SpatialSplit, footprint_bytes
from nmsim.mapping.space import (PAIR_WINDOW, TRIPLE_WINDOW, WHOLE, Candidates, MappingSpace, _coarse, _strided,
                                 _strided_len, tile_choices)
from nmsim.problem import DATAFLOW_CODES
from nmsim.problem.spatial import DIM_CODES
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity

from ..conftest import make_arch

DIMS = ("m", "n", "k")


def gemm(m=24, n=40, k=72, sparsity="2:8", name="g"):
    return Op(name=name, kind="gemm", M=m, N=n, K=k, weight_sparsity=Sparsity.parse(sparsity))


def space(arch="sat", op=None, **constraints):
    return MappingSpace(load_arch(arch), op or gemm(), constraints=Constraints(**constraints))


def oracle_choices(extent, q, fold=None):
    """Module docstring, spelled out: u*q for every u when D/q <= 64, else ceil(U/s) for s=1..32
    plus powers of two (plus whole folds when fold > 1), clipped to D."""
    units = -(-extent // q)
    if units <= 64:
        us = set(range(1, units + 1))
    else:
        us = {2 ** i for i in range(64) if 2 ** i <= units} | {-(-units // s) for s in range(1, 33)}
        if fold and fold > 1:
            ft = -(-units // fold)
            us |= {fold * f for f in ({2 ** i for i in range(64) if 2 ** i <= ft}
                                      | {-(-ft // s) for s in range(1, 33)})}
    return sorted({min(u * q, extent) for u in us})


def rows(c: Candidates):
    return Counter(map(tuple, c.stacked().tolist()))


# -- tile_choices and the per-key choices ---------------------------------------------------

@pytest.mark.parametrize("extent,q,fold", [
    (64, 1, None), (65, 1, None), (100, 1, None), (1000, 1, None), (1000, 3, None), (4000, 1, 2),
    (1000, 1, 3), (1000, 1, 7), (1000, 1, 1), (6000, 8, 64), (24, 1, None), (40, 32, None),
    (76, 8, 64), (777, 5, 12)])
def test_tile_choices_match_the_documented_rule(extent, q, fold):
    assert tile_choices(extent, q, fold).tolist() == oracle_choices(extent, q, fold)


def test_tile_choices_thresholds_are_the_documented_ones():
    # 64 units are enumerated completely, 65 are not (12 is no power of two nor ceil(65/s))
    assert tile_choices(64, 1).tolist() == list(range(1, 65))
    assert 12 not in tile_choices(65, 1).tolist()
    # s runs to 32 and no further: ceil(1000/31) = 33 kept, ceil(1000/33) = 31 not
    got = tile_choices(1000, 1).tolist()
    assert 33 in got and 31 not in got and 1 in got and 1000 in got


def test_sat_choices_per_key_are_quantum_multiples_and_whole_n_m_groups():
    sp = space()  # sat 32x32, 2:8 -> K quantum 8
    ch = {df: sp.choices[(df, WHOLE)] for df in ("ws", "os", "is")}
    assert ch["ws"]["m"].tolist() == list(range(1, 25))
    assert ch["ws"]["n"].tolist() == [32, 40]
    assert ch["ws"]["k"].tolist() == list(range(8, 73, 8))
    assert ch["os"]["m"].tolist() == [24] and ch["os"]["n"].tolist() == [32, 40]
    assert ch["is"]["m"].tolist() == [24] and ch["is"]["n"].tolist() == list(range(1, 41))
    # a K that is no multiple of the group still offers the whole K
    sp = space(op=gemm(k=76))
    assert sp.choices[("ws", WHOLE)]["k"].tolist() == list(range(8, 73, 8)) + [76]


def test_constraints_filter_the_choices():
    sp = space(tile_m={"min": 5, "max": 20, "multiple_of": 5}, tile_k=[16, 40, 1000], dataflow=["ws"])
    assert sp.keys == [("ws", WHOLE)]
    assert sp.choices[("ws", WHOLE)]["m"].tolist() == [5, 10, 15, 20]
    assert sp.choices[("ws", WHOLE)]["k"].tolist() == [16, 40, 72]


def test_quantum_and_fold():
    sat = space()
    assert sat.quantum("ws", "k") == (8, 32 * 4 // 2)  # 32 rows x 4 MACs carry 128 nonzeros = 64 groups
    assert sat.quantum("os", "k") == (8, None)        # K not spread: no fold
    assert sat.quantum("ws", "n") == (32, None) and sat.quantum("ws", "m") == (1, None)
    ey = space("eyeriss")  # 12 rows, 1 MAC/PE, dense
    assert ey.quantum("ws", "k", (6, "M", 1, None)) == (1, 2)  # two rows of K left per block
    assert ey.quantum("ws", "k") == (1, 12)


def test_empty_choice_error_names_the_rule_and_the_group_only_for_k():
    with pytest.raises(SpecError) as e:
        space(tile_k=[4, 12])
    assert "tile_k" in str(e.value) and "group size 8" in str(e.value)
    assert space(tile_k=[4, 12], op=gemm(k=72, sparsity="1:2")).choices[("ws", WHOLE)]["k"].tolist() == [4, 12]
    with pytest.raises(SpecError) as e:
        space(tile_k=[3], op=gemm(sparsity="1:2"))
    assert "group size 2" in str(e.value)
    with pytest.raises(SpecError) as e:
        space(tile_n={"min": 33, "max": 39})
    assert "tile_n" in str(e.value) and "group size" not in str(e.value)


def test_dense_k_error_has_no_group_clause():
    with pytest.raises(SpecError) as e:
        space("eyeriss", tile_k={"min": 5, "max": 5, "multiple_of": 2})
    assert "tile_k" in str(e.value) and "group size" not in str(e.value)


# -- grid, size, restricted -----------------------------------------------------------------

def test_strided_length_without_building_the_subgrid():
    # every stride-th choice from the first, plus the last when the stride steps over it: n = 7
    # choices at stride 3 keep indices 0, 3, 6 (3); n = 8 keeps 0, 3, 6 and 7 (4); stride 1 keeps all
    assert [_strided_len(7, 3), _strided_len(8, 3), _strided_len(9, 3), _strided_len(5, 1), _strided_len(1, 4)] \
        == [3, 4, 4, 5, 1]
    for n in range(1, 40):
        choices = np.arange(n) * 7 + 3
        for stride in range(1, 12):
            assert _strided_len(n, stride) == len(_strided(choices, stride))


@pytest.mark.parametrize("stride", [1, 2, 3, 5, 7])
def test_size_counts_exactly_what_grid_yields(stride):
    sp = space()
    g = sp.grid(stride)
    assert len(g) == sp.size(stride)
    want = Counter()
    for key in sp.keys:
        per = []
        for d in DIMS:
            v = sp.choices[key][d].tolist()
            per.append(sorted(set(v[::stride]) | {v[-1]}))
        for tm, tn, tk, lo in itertools.product(*per, range(len(LOOP_ORDERS))):
            want[(DATAFLOW_CODES[key[0]], tm, tn, tk, lo)] += 1
    assert rows(g) == want
    assert g.split is None  # a fixed array has no split


def test_grid_strided_keeps_largest():
    sp = space()
    assert sp.size(2) < sp.size(1)
    g = sp.grid(2)
    assert 40 in g.tile_n.tolist() and 72 in g.tile_k.tolist() and 24 in g.tile_m.tolist()
    assert 2 not in g.tile_m.tolist()


def test_restricted_keeps_one_dataflow():
    sp = space()
    sub = sp.restricted("is")
    assert sub.dataflows == ["is"] and sub.keys == [("is", WHOLE)]
    assert set(sub.grid().dataflow.tolist()) == {DATAFLOW_CODES["is"]}
    assert len(sp.grid()) == sp.size()  # the parent is untouched


def test_grid_on_flexible_arch_carries_each_key_split():
    sp = space("s4", op=gemm(m=24, n=40, k=72, sparsity="1:8"))
    g = sp.grid(3)
    assert len(g) == sp.size(3)
    keys = sp.keys_of(g)
    assert keys == sp.keys
    split = sp.cost_split(g)
    sr, dr, sc, dc = (np.asarray(a) for a in split)
    assert np.all(dr[sr == 1] == -1) and np.all(dc[sc == 1] == -1)
    assert np.all(dr[sr > 1] == g.split[1][sr > 1]) and np.all(dr[sr > 1] >= 0)
    for i in range(0, len(g), 97):
        df, (r, rd, c, cd) = sp._key_of(g, i)
        m = g.mapping(i)
        assert m.spatial == SpatialSplit(r, rd, c, cd)


def test_cost_split_marks_absent_dims_on_both_axes():
    sp = space("eyeriss")
    g = sp.grid(6)
    sr, dr, sc, dc = (np.asarray(a) for a in sp.cost_split(g))
    assert set(sc.tolist()) >= {1, 2, 7} and set(sr.tolist()) >= {1, 2}
    assert np.all(dc[sc == 1] == -1) and np.all(dr[sr == 1] == -1)
    assert np.array_equal(dc[sc > 1], g.split[3][sc > 1]) and np.all(dc[sc > 1] >= 0)
    assert np.array_equal(dr[sr > 1], g.split[1][sr > 1])
    assert space("sat").cost_split(space("sat").grid(4)) is None


# -- completion (inner levels by the fit rule) --------------------------------------------

def test_complete_matches_fit_rule_per_candidate():
    sp = space("eyeriss")
    g = sp.grid(4)
    assert len(g.levels) == sp.n_inner == 1
    for i in range(0, len(g), 53):
        split = tuple(np.array([a[i]]) for a in sp.cost_split(g))
        t = inner_tiles(sp.arch, sp.gemm, g.dataflow[i:i + 1], split,
                        (g.tile_m[i:i + 1], g.tile_n[i:i + 1], g.tile_k[i:i + 1]))
        assert [int(x[0]) for x in t[0]] == [int(g.levels[0][j][i]) for j in range(3)]


def test_complete_on_interleaved_keys_matches_fit_rule():
    # consecutive candidates that differ in every column (dataflow, split, tiles)
    sp = space("eyeriss", op=gemm(m=96, n=200, k=300))
    ka, kb = ("ws", WHOLE), ("os", (2, "N", 2, "M"))
    assert kb in sp.keys
    parts = []
    for i in range(12):
        key = (ka, kb)[i % 2]
        ch = sp.choices[key]
        parts.append(sp._block(key, ch["m"][i % len(ch["m"])], ch["n"][(3 * i) % len(ch["n"])],
                               ch["k"][(5 * i + 1) % len(ch["k"])], i % 6))
    c = sp.complete(Candidates.concat(parts))
    for i in range(len(c)):
        split = tuple(np.array([a[i]]) for a in sp.cost_split(c))
        t = inner_tiles(sp.arch, sp.gemm, c.dataflow[i:i + 1], split,
                        (c.tile_m[i:i + 1], c.tile_n[i:i + 1], c.tile_k[i:i + 1]))
        assert [int(x[0]) for x in t[0]] == [int(c.levels[0][j][i]) for j in range(3)]


def test_complete_keeps_given_levels():
    sp = space("eyeriss")
    m = Mapping(dataflow="ws", tile_m=8, tile_n=14, tile_k=12, loop_order="mnk",
                levels=(LevelTile(1, 1, 1, "mnk"),))
    c = Candidates.from_mappings([m]).with_split(WHOLE)
    assert sp.complete(c) is c


# -- Candidates round trips ------------------------------------------------------------------

def test_candidates_round_trips_with_two_levels_and_split():
    rng = np.random.default_rng(1)
    arr = lambda: rng.integers(0, 6, 5)  # noqa: E731
    c = Candidates(arr(), arr(), arr(), arr(), arr(), split=(arr(), arr(), arr(), arr()),
                   levels=((arr(), arr(), arr(), arr()), (arr(), arr(), arr(), arr())))
    back = Candidates.from_stacked(c.stacked(), c.layout)
    assert np.array_equal(back.stacked(), c.stacked()) and back.layout == (True, 2)
    c3 = Candidates(arr(), arr(), arr(), arr(), arr(), levels=tuple((arr(), arr(), arr(), arr()) for _ in range(3)))
    assert np.array_equal(Candidates.from_stacked(c3.stacked(), c3.layout).stacked(), c3.stacked())
    c2 = Candidates(arr(), arr(), arr(), arr(), arr(), levels=((arr(), arr(), arr(), arr()),) * 2)
    assert np.array_equal(Candidates.from_stacked(c2.stacked(), c2.layout).stacked(), c2.stacked())
    t = c.take(np.array([3, 0]))
    assert t.stacked().tolist() == c.stacked()[[3, 0]].tolist()


def test_mapping_and_from_mappings_round_trip_on_flexible_arch():
    sp = space("eyeriss")
    g = sp.grid(5)
    whole = next(i for i in range(len(g)) if g.split[0][i] == 1 and g.split[2][i] == 1)
    split_rows = [i for i in range(len(g)) if g.split[0][i] > 1 and g.split[2][i] > 1][:3]
    idx = [whole] + split_rows
    maps = [g.mapping(i) for i in idx]
    assert maps[0].spatial == SpatialSplit()
    assert maps[0].spatial.row_dim is None and maps[0].spatial.col_dim is None
    assert all(m.spatial.row_dim is not None and m.spatial.col_dim is not None for m in maps[1:])
    back = Candidates.from_mappings(maps)
    assert back.stacked().tolist() == g.stacked()[idx].tolist()
    with pytest.raises(ValueError):
        Candidates.from_mappings([maps[0], Mapping(dataflow="ws", tile_m=1, tile_n=1, tile_k=1, loop_order="mnk")])


def test_mapping_of_two_block_split():
    c = Candidates(*(np.array([1]),) * 5).with_split((2, "N", 2, "M"))
    assert c.mapping(0).spatial == SpatialSplit(2, "N", 2, "M")
    assert [int(a[0]) for a in c.split] == [2, DIM_CODES["N"], 2, DIM_CODES["M"]]
    w = Candidates(*(np.array([0, 1]),) * 5).with_split(WHOLE)
    assert [a.tolist() for a in w.split] == [[1, 1], [0, 0], [1, 1], [0, 0]]


def test_concat():
    a = Candidates(*(np.array([1, 2]),) * 5)
    b = Candidates(*(np.array([3]),) * 5)
    ab = Candidates.concat([a, b])
    assert ab.split is None and ab.tile_m.tolist() == [1, 2, 3]
    mixed = Candidates.concat([a, b.with_split((2, "M", 1, None))])
    assert [x.tolist() for x in mixed.split] == [[1, 1, 2], [0, 0, DIM_CODES["M"]], [1, 1, 1], [0, 0, 0]]


# -- boundary -----------------------------------------------------------------------------

def test_coarse_keeps_ends_and_at_most_ten():
    for n in range(1, 40):
        ch = np.arange(n) * 3 + 1
        got = _coarse(ch)
        if n <= 10:
            assert got.tolist() == ch.tolist()
        else:
            assert 2 <= len(got) <= 10 and got[0] == ch[0] and got[-1] == ch[-1]
            assert np.all(np.diff(got) > 0)


def _boundary_oracle(sp, keys):
    g = sp.grid()
    ok = sp.fits(g)
    fit = {}
    for i in np.flatnonzero(ok):
        key = sp._key_of(g, i)
        fit.setdefault(key, set()).add((int(g.tile_m[i]), int(g.tile_n[i]), int(g.tile_k[i])))
    want = Counter()
    for key in keys:
        ch = sp.choices[key]
        for third in DIMS:
            a, b = (d for d in DIMS if d != third)
            for va, vb in itertools.product(_coarse(ch[a]).tolist(), _coarse(ch[b]).tolist()):
                best = None
                for vc in ch[third].tolist():
                    t = {a: va, b: vb, third: vc}
                    if (t["m"], t["n"], t["k"]) in fit.get(key, ()):
                        best = t
                if best:
                    for lo in sp._orders().tolist():
                        want[(key, best["m"], best["n"], best["k"], lo)] += 1
    return want


def test_boundary_picks_the_largest_fitting_third_tile():
    # eyeriss' small buffers make the fit bind inside the choice ranges
    sp = space("eyeriss", op=gemm(m=48, n=96, k=300, sparsity="2:8"), loop_order=["nmk", "kmn"],
               dataflow="ws")
    keys = sp.keys[:4]
    b = sp.boundary(keys)
    got = Counter((sp._key_of(b, i), int(b.tile_m[i]), int(b.tile_n[i]), int(b.tile_k[i]),
                   int(b.loop_order[i])) for i in range(len(b)))
    want = _boundary_oracle(sp, keys)
    assert got == want
    assert sp.fits(b).all()
    # binding somewhere: not every pick is the largest choice
    assert any(b.tile_k[i] < sp.choices[sp._key_of(b, i)]["k"][-1] for i in range(len(b)))


def test_boundary_all_keys_single_order():
    sp = space("sat", loop_order="kmn")
    b = sp.boundary()
    assert set(b.loop_order.tolist()) == {LOOP_ORDERS.index("kmn")}
    assert {sp._key_of(b, i) for i in range(len(b))} == set(sp.keys)
    assert sp.fits(b).all()


# -- neighbors ------------------------------------------------------------------------------

def _neighbors_oracle(sp, key, tm, tn, tk, lo):
    ch = {d: sp.choices[key][d].tolist() for d in DIMS}
    cur = {"m": tm, "n": tn, "k": tk}
    pos = {d: min(range(len(ch[d])), key=lambda j: (abs(ch[d][j] - cur[d]), j)) for d in DIMS}
    win = lambda d, w: ch[d][max(0, pos[d] - w): pos[d] + w + 1]  # noqa: E731
    out = Counter()
    orders = [LOOP_ORDERS.index(o) for o in sp.loop_orders]
    for v in ch["m"]:
        out[(key, v, tn, tk, lo)] += 1
    for v in ch["n"]:
        out[(key, tm, v, tk, lo)] += 1
    for v in ch["k"]:
        out[(key, tm, tn, v, lo)] += 1
    for o in orders:
        out[(key, tm, tn, tk, o)] += 1
    w2, w3 = PAIR_WINDOW, TRIPLE_WINDOW
    assert (w2, w3) == (2, 1)   # the documented windows (docs/MAPPING.md, "heuristic")
    for a, b in itertools.product(win("m", w2), win("n", w2)):
        out[(key, a, b, tk, lo)] += 1
    for a, b in itertools.product(win("m", w2), win("k", w2)):
        out[(key, a, tn, b, lo)] += 1
    for a, b in itertools.product(win("n", w2), win("k", w2)):
        out[(key, tm, a, b, lo)] += 1
    for a, b, c in itertools.product(win("m", w3), win("n", w3), win("k", w3)):
        out[(key, a, b, c, lo)] += 1
    for other in sp.splits[key[0]]:
        if other != key[1]:
            och = sp.choices[(key[0], other)]
            snap = [min(och[d].tolist(), key=lambda v: (abs(v - cur[d]), v)) for d in DIMS]
            out[((key[0], other), *snap, lo)] += 1
    return out


def _got(sp, c):
    return Counter((sp._key_of(c, i), int(c.tile_m[i]), int(c.tile_n[i]), int(c.tile_k[i]),
                    int(c.loop_order[i])) for i in range(len(c)))


def test_neighbors_fixed_arch_documented_moves():
    sp = space("sat", op=gemm(m=200, n=300, k=1000))
    key = ("ws", WHOLE)
    ch = sp.choices[key]
    assert len(ch["m"]) > 12 and len(ch["k"]) > 12
    for tm, tn, tk, lo in [(int(ch["m"][1]), int(ch["n"][-1]), int(ch["k"][9]), 2),
                           (int(ch["m"][8]) + 1, int(ch["n"][0]), int(ch["k"][-2]) - 3, 0),
                           (int(ch["m"][-1]), 7, int(ch["k"][0]), 5)]:
        seed = sp._block(key, tm, tn, tk, lo)
        got = _got(sp, sp.neighbors(seed))
        assert got == _neighbors_oracle(sp, key, tm, tn, tk, lo)


def test_neighbors_flexible_arch_snaps_other_splits():
    sp = space("eyeriss", op=gemm(m=60, n=90, k=200), dataflow="os", loop_order=["mnk", "nkm"])
    keys = [k for k in sp.keys if k[1][2] == 2][:2] + [sp.keys[0]]
    for key in keys:
        ch = sp.choices[key]
        tm, tn, tk = int(ch["m"][len(ch["m"]) // 2]), int(ch["n"][-1]) - 1, int(ch["k"][3]) + 1
        seed = sp.complete(sp._block(key, tm, tn, tk, 1))
        nb = sp.neighbors(seed)
        assert _got(sp, nb) == _neighbors_oracle(sp, key, tm, tn, tk, 1)
        assert len(nb.levels) == 1


# -- sample -----------------------------------------------------------------------------------

def test_sample_is_log_uniform_whole_groups_and_covers_keys():
    sp = space("sat", op=gemm(m=24, n=40, k=76))
    s = sp.sample(20000, np.random.default_rng(7))
    assert len(s) == 20000
    m = s.tile_m
    assert m.min() == 1 and m.max() == 24 and np.any(m % 2 == 1)
    # log-uniform over u in 1..hi: P(u) = ln((u+1)/u) / ln(hi+1)
    freq = np.bincount(m, minlength=25)[1:] / len(m)
    want = np.array([math.log((u + 1) / u) / math.log(25) for u in range(1, 25)])
    assert np.max(np.abs(freq - want)) < 0.012
    assert abs(freq[-1] - want[-1]) < 0.004
    k = s.tile_k
    assert np.all((k % 8 == 0) | (k == 76)) and k.min() == 8 and k.max() == 76
    assert set(s.dataflow.tolist()) == {DATAFLOW_CODES[d] for d in sp.dataflows}
    assert set(s.loop_order.tolist()) == set(range(len(LOOP_ORDERS)))


def test_sample_honours_constraints():
    sp = space("sat", op=gemm(m=100, n=300, k=1000), tile_m={"max": 16}, tile_n={"min": 64, "multiple_of": 10},
               tile_k=[16, 64], loop_order=["kmn", "nkm"], dataflow="ws")
    s = sp.sample(3000, np.random.default_rng(3))
    assert s.tile_m.min() == 1 and s.tile_m.max() == 16 and len(set(s.tile_m.tolist())) == 16
    n = s.tile_n
    assert n.min() >= 64 and np.all((n % 10 == 0) | (n == 300)) and len(set(n.tolist())) > 10
    assert set(s.tile_k.tolist()) == {16, 64}
    assert set(s.loop_order.tolist()) == {LOOP_ORDERS.index("kmn"), LOOP_ORDERS.index("nkm")}
    assert set(s.dataflow.tolist()) == {DATAFLOW_CODES["ws"]}


# -- fits / need_bytes ------------------------------------------------------------------------

def test_need_bytes_sat_by_hand():
    # sat: one double-buffered level holding A (16-bit), compressed B and 32-bit partial sums
    sp = space("sat")
    g = sp.gemm
    c = sp._block(("ws", WHOLE), np.array([4, 24, 100]), 32, np.array([16, 72, 80]), 0)
    need = sp.need_bytes(c)
    assert need.shape == (1, 3)
    for i, (tm, tn, tk) in enumerate([(4, 32, 16), (24, 32, 72), (24, 32, 72)]):  # tiles clipped to the GEMM
        want = 2 * (tm * tk * 2 + g.k_nnz(tk) * tn * g.weight_bytes(2) + tm * tn * 4)
        assert need[0, i] == pytest.approx(want)
    assert g.k_nnz(16) == 4  # 2:8 keeps a quarter of K
    big = sp._block(("ws", WHOLE), 2048, 2048, 2048, 0)
    sp_big = space("sat", op=gemm(m=2048, n=2048, k=2048))
    assert sp_big.fits(sp_big._block(("ws", WHOLE), 64, 64, 64, 0)).all()
    assert not sp_big.fits(big).any()


def test_need_bytes_fills_missing_levels_with_the_outer_tile_and_fits_per_level():
    sp = space("s4", op=gemm(m=2048, n=2048, k=4096, sparsity="1:8"))
    c = Candidates.from_mappings([Mapping(dataflow="ws", tile_m=tm, tile_n=64, tile_k=tk, loop_order="mnk")
                                  for tm, tk in [(16, 64), (512, 4096), (2048, 4096)]]).with_split(WHOLE)
    need = sp.need_bytes(c)
    assert need.shape == (2, 3)
    for i in range(3):
        t = (int(c.tile_m[i]), int(c.tile_n[i]), int(c.tile_k[i]))
        want = footprint_bytes(sp.arch, sp.gemm, [t, t])
        assert need[:, i].tolist() == pytest.approx([want[lv.name] for lv in sp.arch.memory])
    sizes = np.array([lv.capacity_bytes for lv in sp.arch.memory])
    assert sp.fits(c).tolist() == np.all(need <= sizes[:, None], axis=0).tolist()
    done = sp.complete(c)
    need2 = sp.need_bytes(done)
    for i in range(3):
        outer = (int(c.tile_m[i]), int(c.tile_n[i]), int(c.tile_k[i]))
        inner = tuple(int(done.levels[0][j][i]) for j in range(3))
        want = footprint_bytes(sp.arch, sp.gemm, [outer, inner])
        assert need2[:, i].tolist() == pytest.approx([want[lv.name] for lv in sp.arch.memory])


def test_double_buffered_level_counts_twice():
    # eyeriss: glb (single) keeps inputs and psums, glb_filter (double) the weights
    sp = space("eyeriss", op=gemm(sparsity="1:8"))
    g = sp.gemm
    c = sp.complete(sp._block(("ws", WHOLE), 8, 14, 12, 0))
    need = dict(zip([lv.name for lv in sp.arch.memory], sp.need_bytes(c)[:, 0]))
    assert need["glb"] == pytest.approx(8 * 12 * 2 * g.a_unique + 8 * 14 * 2)
    assert need["glb_filter"] == pytest.approx(2 * g.k_nnz(12) * 14 * g.weight_bytes(2))


# -- defaults, smallest, explain_empty ---------------------------------------------------------

def test_defaults_split_only_on_flexible_arrays():
    d = space("sat").defaults()
    assert d is not None and d.split is None and len(d) >= 1
    d4 = space("s4", op=gemm(sparsity="1:8")).defaults()
    assert d4 is not None and d4.split is not None and len(d4.levels) == 1
    assert d4.levels[0][0].shape == d4.tile_m.shape
    sp4 = space("s4", op=gemm(sparsity="1:8"))
    assert set(sp4.keys_of(d4)) == set(sp4.keys)  # every split the interconnect allows, not just the whole array


def test_smallest_is_first_choice_per_key_in_first_order():
    sp = space("sat", loop_order="nkm")
    s = sp.smallest()
    assert len(s) == len(sp.keys)
    for i, key in enumerate(sp.keys):
        assert [int(s.tile_m[i]), int(s.tile_n[i]), int(s.tile_k[i])] == [int(sp.choices[key][d][0]) for d in DIMS]
    assert set(s.loop_order.tolist()) == {LOOP_ORDERS.index("nkm")}
    sp2 = space("sat", loop_order=["kmn", "mnk"])
    assert set(sp2.smallest().loop_order.tolist()) == {LOOP_ORDERS.index("kmn")}


def test_explain_empty_names_the_culprit_and_the_least_overflow():
    op = gemm(m=4096, n=4096, k=65536, name="big")
    sp = space("sat", op=op, tile_k={"min": 65536}, tile_n={"min": 4096})
    assert not sp.fits(sp.grid(4)).any()
    msg = sp.explain_empty()
    assert msg.startswith("constraints: tile_n: min=4096; tile_k: min=65536 leave no mapping of big that fits "
                          "(relaxing any one of them would)")
    one = space("sat", op=op, tile_k={"min": 65536}, tile_n={"min": 4096}, dataflow="ws").explain_empty()
    assert one.startswith("constraints: tile_n: min=4096; tile_k: min=65536 leave")
    alone = space("sat", op=gemm(m=4096, n=4096, k=65536, name="big"), tile_n=4096, tile_k=65536, tile_m=4096)
    assert "leave" in alone.explain_empty()
    small = sp.smallest()
    need = sp.need_bytes(small)[0]
    j = int(np.argmin(need))
    m = small.mapping(j)
    assert f"{m.tile_m}x{m.tile_n}x{m.tile_k} (MxNxK, {m.dataflow}) needs {need[j]:.0f} B in 'onchip'" in msg


@pytest.mark.parametrize("k,kmin", [(65536, 65536), (8192, 8192)])
def test_explain_empty_multilevel_names_the_overflowing_level(k, kmin):
    # the level named is the one overflowing most for the candidate overflowing least, not the biggest
    op = gemm(m=512, n=2048, k=k, sparsity="1:8", name="w")
    sp = space("eyeriss", op=op, tile_k={"min": kmin})
    small = sp.smallest()
    need = sp.need_bytes(small)
    sizes = np.array([lv.capacity_bytes for lv in sp.arch.memory], dtype=float)
    over = need - sizes[:, None]
    assert not (over <= 0).all(axis=0).any()
    j = min(range(len(small)), key=lambda i: (over[:, i].max(), i))
    lv = int(np.argmax(over[:, j]))
    m = small.mapping(j)
    msg = sp.explain_empty()
    assert (f"{m.tile_m}x{m.tile_n}x{m.tile_k} (MxNxK, {m.dataflow}) needs {need[lv, j]:.0f} B in "
            f"'{sp.arch.memory[lv].name}', which holds {sizes[lv]:.0f} B") in msg


def test_boundary_redoes_a_group_whose_pick_fails_an_inner_level():
    """dense-systolic with a 32-B accumulator: for large outer tiles even the inner fit rule's
    smallest output tile overflows it, so some tiles that fit the global buffer do not fit at all.
    boundary() checks the global buffer over every probe and the inner tiers on its picks only; a
    group whose pick fails is redone in full. The result must still be the brute-force answer."""
    d = load_arch("dense-systolic").model_dump(exclude={"energy": {"sources"}})
    d["memory"][1]["size_bytes"] = 32
    sp = MappingSpace(Arch.model_validate(d), Op("g", "gemm", M=96, N=200, K=64))
    g = sp.grid()
    assert (sp._fits_outer(g.tile_m, g.tile_n, g.tile_k) & ~sp.fits(g)).any()     # the case the redo exists for
    b = sp.boundary(sp.keys)
    got = Counter((sp._key_of(b, i), int(b.tile_m[i]), int(b.tile_n[i]), int(b.tile_k[i]),
                   int(b.loop_order[i])) for i in range(len(b)))
    assert got == _boundary_oracle(sp, sp.keys)
    assert sp.fits(b).all()


# -- stage-1 loop orders (the heuristic's grid and boundary) ---------------------------------

def test_innermost_orders_one_per_innermost_loop_in_default_relative_order():
    """One order per innermost loop dimension, the outer two in nmk's relative order where the
    constraints allow it (else the first allowed), listed in the space's loop-order order."""
    assert space().innermost_orders() == ["mkn", "nmk", "nkm"]
    assert space(loop_order=["mnk", "kmn", "knm", "nkm"]).innermost_orders() == ["mnk", "kmn", "nkm"]
    assert space(loop_order=["knm", "kmn"]).innermost_orders() == ["knm", "kmn"]
    assert space(loop_order="mnk").innermost_orders() == ["mnk"]


def test_orders_sharing_an_iterating_innermost_loop_move_the_same_bytes():
    """Why stage 1 needs one order per innermost loop (docs/MODEL.md 3.4): on one buffer level,
    when the innermost loop iterates, the two orders that share it cost the same cycles, energy and
    DRAM bytes in the fast model; orders with different innermost loops do not."""
    from nmsim.sim import simulate_op
    arch = load_arch("sat")
    op = gemm(m=256, n=1024, k=512, sparsity="dense")   # 2 x 8 x 4 tiles: no two operands alike
    res = {o: simulate_op(arch, op, Mapping("ws", 128, 128, 128, o)) for o in LOOP_ORDERS}
    key = lambda r: (r.cycles, r.energy_pj, tuple(sorted(r.bytes.items())))  # noqa: E731
    for a, b in (("mnk", "nmk"), ("mkn", "kmn"), ("nkm", "knm")):
        assert key(res[a]) == key(res[b])
    assert len({key(res[o]) for o in ("nmk", "mkn", "nkm")}) == 3


@pytest.mark.parametrize("stride", [1, 3])
def test_grid_and_size_over_a_subset_of_orders(stride):
    sp = space()
    orders = ["mkn", "nkm"]
    g = sp.grid(stride, orders=orders)
    assert len(g) == sp.size(stride, orders) == sp.size(stride) // 3
    assert sorted(set(g.loop_order.tolist())) == sorted(LOOP_ORDERS.index(o) for o in orders)
    full = sp.grid(stride)
    keep = np.isin(full.loop_order, [LOOP_ORDERS.index(o) for o in orders])
    assert rows(g) == rows(full.take(keep))


def test_boundary_over_a_subset_of_orders_is_the_full_boundary_restricted():
    sp = space(op=gemm(m=256, n=512, k=1024))
    b = sp.boundary(orders=["nkm"])
    full = sp.boundary()
    assert rows(b) == rows(full.take(full.loop_order == LOOP_ORDERS.index("nkm")))


def test_defaults_is_none_when_default_tiles_refuses(monkeypatch):
    """default_tiles raises when not even its smallest tile fits (its paths go below the array's
    extent, so a space with any fitting candidate always has some): the space then has no default
    candidates, rather than failing, and the search reports the empty space itself."""
    import nmsim.mapping.space as space_mod

    def refuse(*a, **k):
        raise SpecError("even the smallest tile does not fit")
    monkeypatch.setattr(space_mod, "default_tiles", refuse)
    sp = space("sat", op=gemm(m=64, n=64, k=64))
    assert sp.defaults() is None and sp.restricted("ws").defaults() is None
    from nmsim.mapping import search
    res = search(sp, lambda c: {"cycles": c.tile_m * 1.0, "energy_pj": np.ones(len(c))}, "latency", "exhaustive", top=1)
    assert res.best.score == min(sp.choices[k]["m"].min() for k in sp.keys)


def test_neighbors_encode_splits_as_with_split_does():
    """Neighbours carry the split arrays `with_split` gives their key (dimension code 0 where a
    side is not split), so a mapping reached twice is one row: dedup in the pool relies on it."""
    sp = space("s4", op=gemm(m=256, n=512, k=1024))
    seeds = sp.defaults().take(np.arange(0, len(sp.defaults()), 97))
    nb = sp.neighbors(seeds)
    for i in range(0, len(nb), 7):
        key = sp._key_of(nb, i)
        one = nb.take(np.array([i]))
        want = Candidates(one.dataflow, one.tile_m, one.tile_n, one.tile_k, one.loop_order).with_split(key[1])
        assert [int(a[0]) for a in one.split] == [int(a[0]) for a in want.split]
