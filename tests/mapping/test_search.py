"""The mapper driver (mapping/search.py) under hand-made cost tables: which candidate wins and in
what order ties break, how many candidates each mapper costs and counts, progress reports, the
heuristic's beam and its descent from the default mapping, and the documented defaults.

A fake `evaluate` (cycles and pJ from a formula of the candidate's fields) makes every outcome
exact; the tiny 4x4 arch (1 MiB buffer) fits every tile of the GEMMs used here (all but the
flexible-array test, which shrinks it), so `valid` equals `evaluated` and every candidate offered
reaches `evaluate`."""
from __future__ import annotations

import importlib
import time

import numpy as np
import pytest

from nmsim.mapping import LOOP_ORDERS, Candidates, Constraints, MappingSpace, search
from nmsim.mapping.search import _distinct_tiles, _TopK
from nmsim.problem import DATAFLOW_CODES
from nmsim.workloads import Op

from ..conftest import make_arch

# the module itself (nmsim.mapping's `search` attribute is the function)
search_mod = importlib.import_module("nmsim.mapping.search")

B = 4096.0  # above every tile size used here, so `_key` is injective
TOP_KEY = 2.0 ** 45  # above every `_key`


def small_space() -> MappingSpace:
    """8x8x8 GEMM: 1728 pruned candidates (every tile enumerated), under SMALL_SPACE."""
    return MappingSpace(make_arch(), Op(name="g", kind="gemm", M=8, N=8, K=8))


def large_space() -> MappingSpace:
    """256x256x256 GEMM: 1.3 M pruned candidates, so the heuristic strides and descends."""
    return MappingSpace(make_arch(), Op(name="g", kind="gemm", M=256, N=256, K=256))


def _key(c: Candidates) -> np.ndarray:
    """A number per candidate, ordered as (dataflow code, tile_m, tile_n, tile_k, loop order)."""
    return (((c.dataflow * B + c.tile_m) * B + c.tile_n) * B + c.tile_k) * 8 + c.loop_order


def tied_cost(objective: str):
    """Every candidate ties on `objective`. For latency and energy the other objective favours the
    largest `_key` (dataflow `is`, the largest tiles, loop order knm first); for edp, latency
    favours the largest tile sum."""
    def cost(c):
        pref = TOP_KEY - _key(c)  # distinct per candidate, smallest for the largest key
        if objective == "latency":
            return {"cycles": np.full(len(c), 100.0), "energy_pj": pref}
        if objective == "energy":
            return {"cycles": pref, "energy_pj": np.full(len(c), 100.0)}
        # edp: cycles x pJ = 2^60 exactly for all (powers of two); the lower cycles (the larger
        # tile sum) must win
        e = 30.0 - (c.tile_m + c.tile_n + c.tile_k)
        return {"cycles": 2.0 ** e, "energy_pj": 2.0 ** (60.0 - e)}
    return cost


def rows(res) -> list[tuple]:
    """(dataflow, tile_m, tile_n, tile_k, loop order) of each ranked mapping."""
    return [(r.mapping.dataflow, r.mapping.tile_m, r.mapping.tile_n, r.mapping.tile_k, r.mapping.loop_order)
            for r in res.ranked]


class Recorder:
    """Wraps a cost function; keeps every batch it was asked to cost."""

    def __init__(self, cost):
        self.cost, self.batches = cost, []

    def __call__(self, c):
        self.batches.append(c)
        return self.cost(c)

    def seen(self) -> int:
        return sum(len(b) for b in self.batches)


@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_ties_on_the_objective_break_on_the_other_objective(objective):
    """Exhaustive: all 1728 candidates tie on the objective; the other one ranks them all."""
    res = search(small_space(), tied_cost(objective), objective, "exhaustive", top=5)
    # the largest key: dataflow is, tiles 8x8x8, loop orders by descending index
    assert rows(res) == [("is", 8, 8, 8, LOOP_ORDERS[i]) for i in (5, 4, 3, 2, 1)]


def test_edp_ties_break_on_latency_then_on_generation_order():
    """cycles x pJ is the same for all; lower cycles (larger tiles) win, and among equal cycles
    the candidate generated first: the default mapping's candidates (costed before the grid, all
    in loop order nmk) in dataflow order, then the grid's loop orders in order."""
    space = small_space()
    res = search(space, tied_cost("edp"), "edp", "exhaustive", top=5)
    assert [r.cost["cycles"] for r in res.ranked] == [2.0 ** 6] * 5  # 8x8x8: 2^(30 - 24)
    assert rows(res) == [("ws", 8, 8, 8, "nmk"), ("os", 8, 8, 8, "nmk"), ("is", 8, 8, 8, "nmk"),
                         ("ws", 8, 8, 8, "mnk"), ("ws", 8, 8, 8, "mkn")]
    assert {space.defaults().mapping(i).loop_order for i in range(len(space.defaults()))} == {"nmk"}


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_heuristic_merges_dataflows_with_the_same_tie_break(objective):
    """Heuristic on a large space: each dataflow's pool is merged into the result with the same
    tie-break, so the last dataflow's better candidates are not dropped for earlier ones."""
    # latency/energy: the top 3 (the 4th is the default mapping, pinned by the test below)
    res = search(large_space(), tied_cost(objective), objective, "heuristic", top=5 if objective == "edp" else 3)
    if objective == "edp":
        # the largest tiles (256^3) win on cycles in every dataflow; among them generation order:
        # the default mapping's candidates (offered first, nmk), then ws's grid, whose stage 1 costs
        # one loop order per innermost loop (mkn, nmk, nkm, in LOOP_ORDERS' order; nmk is a repeat)
        assert rows(res) == [("ws", 256, 256, 256, "nmk"), ("os", 256, 256, 256, "nmk"),
                             ("is", 256, 256, 256, "nmk"), ("ws", 256, 256, 256, "mkn"),
                             ("ws", 256, 256, 256, "nkm")]
    else:
        assert rows(res) == [("is", 256, 256, 256, LOOP_ORDERS[i]) for i in (5, 4, 3)]


def test_heuristic_ranked_mappings_are_distinct():
    """`search` promises the `top` best *distinct* mappings; here the default (is, 256^3, nmk) is 4th,
    and it is costed twice (before the search and in its dataflow's pool): it once ranked twice."""
    res = search(large_space(), tied_cost("latency"), "latency", "heuristic", top=8)
    assert len(set(rows(res))) == len(res.ranked) == 8


def test_topk_score_is_the_best_score():
    """_TopK.score: inf while empty, then the best (first) score, not another one."""
    space = small_space()
    pool = _TopK(4, "latency")
    assert pool.score() == np.inf
    c = space.grid().take(np.arange(10))
    cycles = np.array([7.0, 3.0, 9.0, 5.0, 4.0, 8.0, 6.0, 11.0, 10.0, 12.0])
    pool.offer(space, lambda _c: {"cycles": cycles, "energy_pj": np.ones(10)}, c)
    assert pool.score() == 3.0
    assert list(pool.cost["cycles"]) == [3.0, 4.0, 5.0, 6.0]


def test_distinct_tiles_ignores_loop_order_and_keeps_generation_order():
    """Rows differing only in loop order count once; the first `count` distinct tiles are
    returned in the order they come, not in sorted order."""
    table = np.array([  # dataflow, tile_m, tile_n, tile_k, loop order
        [0, 8, 8, 8, 0],
        [0, 8, 8, 8, 3],   # same tile as row 0
        [0, 2, 8, 8, 1],
        [0, 8, 8, 8, 5],   # same tile as row 0
        [1, 4, 4, 4, 2],
        [0, 2, 8, 8, 4],   # same tile as row 2
        [0, 1, 1, 1, 0],
    ])
    c = Candidates.from_stacked(table, (False, 0))
    assert _distinct_tiles(c, 2).stacked().tolist() == [table[0].tolist(), table[2].tolist()]
    assert _distinct_tiles(c, 10).stacked().tolist() == table[[0, 2, 4, 6]].tolist()


def key_cost(c):
    """Distinct cycles per candidate (smaller key is better), energy constant."""
    return {"cycles": 1.0 + _key(c), "energy_pj": np.full(len(c), 1.0)}


def test_documented_defaults_top_5_and_seed_0():
    """`top` defaults to 5 and `seed` to 0 (docs: `search` signature)."""
    space = small_space()
    assert len(search(space, key_cost).ranked) == 5
    unseeded = search(space, key_cost, mapper="random", samples=200, top=10)
    seeded = search(space, key_cost, mapper="random", samples=200, top=10, seed=0)
    other = search(space, key_cost, mapper="random", samples=200, top=10, seed=1)
    assert rows(unseeded) == rows(seeded)
    assert rows(other) != rows(seeded)  # the seed matters, so the check above can fail


def test_top_larger_than_the_pool_returns_that_many_distinct():
    res = search(small_space(), key_cost, mapper="exhaustive", top=50)
    assert len(res.ranked) == len(set(rows(res))) == 50
    scores = [r.score for r in res.ranked]
    assert scores == sorted(scores)


@pytest.mark.parametrize("mapper", ["exhaustive", "heuristic", "random"])
def test_small_space_evaluated_counts(mapper):
    """On a small space exhaustive and heuristic cost the whole pruned grid, random exactly
    `samples` draws; the default mapping's candidates, costed too, are not counted."""
    space = small_space()
    rec = Recorder(key_cost)
    res = search(space, rec, mapper=mapper, samples=300)
    expected = 300 if mapper == "random" else space.size()
    assert res.evaluated == res.valid == expected
    assert rec.seen() == expected + len(space.defaults())


@pytest.mark.parametrize("mapper", ["exhaustive", "random"])
def test_progress_reports_done_and_total(mapper):
    space = small_space()
    calls = []
    search(space, key_cost, mapper=mapper, samples=300, progress=lambda done, total: calls.append((done, total)))
    n = 300 if mapper == "random" else space.size()
    assert calls == [(n, n)]  # one chunk


def test_random_samples_across_chunks():
    """More samples than one chunk: the last chunk holds only the remainder."""
    n = search_mod.CHUNK + 7
    calls = []
    res = search(small_space(), key_cost, mapper="random", samples=n, top=1,
                 progress=lambda done, total: calls.append((done, total)))
    assert res.evaluated == n
    assert calls == [(search_mod.CHUNK, n), (n, n)]


def test_heuristic_descends_from_beam_distinct_tiles():
    """Each descent round starts from exactly `beam` seeds of distinct tiles, even with top=1 and
    a cost blind to the loop order (each tile ties with its 6 loop orders), and the descent
    reaches the optimum, which is off the strided grid."""
    space = large_space()
    target = {"m": 32, "n": 36, "k": 37}  # in the pruned choices, not on the stride-5 grid

    def cost(c):
        dist = sum(np.abs(np.log2(getattr(c, f"tile_{d}") / t)) for d, t in target.items())
        # a distinct energy per tile (not per loop order) keeps each tile's rows together
        return {"cycles": 1.0 + dist, "energy_pj": 1.0 + _key(c) - c.loop_order}

    seeds = []
    neighbors = space.neighbors

    def spy(s, *a, **kw):
        seeds.append(s)
        return neighbors(s, *a, **kw)

    space.neighbors = spy  # space.restricted copies instance attributes, so every dataflow uses it
    res = search(space, cost, "latency", "heuristic", top=1, beam=3)
    assert len(seeds) >= 3  # at least one round per dataflow
    for s in seeds:
        assert len(s) == 3
        assert len({tuple(r) for r in s.stacked()[:, :4].tolist()}) == 3
    best = res.best.mapping
    assert (best.tile_m, best.tile_n, best.tile_k) == (32, 36, 37) and res.best.score == 1.0


def test_heuristic_descends_from_the_default_mapping():
    """The per-dataflow descent also starts from the default mapping's candidates: the optimum
    here is one of them with another loop order, reachable only by a move from it (its tiles are
    neither on the strided grid nor buffer-filling boundary tiles, and everything else is flat)."""
    space = large_space()
    default = (DATAFLOW_CODES["ws"], 32, 32, 128)
    assert default + (LOOP_ORDERS.index("nmk"),) in {tuple(r) for r in space.defaults().stacked().tolist()}

    def cost(c):
        same = ((c.dataflow == default[0]) & (c.tile_m == default[1]) & (c.tile_n == default[2])
                & (c.tile_k == default[3]))
        cycles = np.where(same & (c.loop_order == LOOP_ORDERS.index("nmk")), 2.0, 10.0)
        cycles = np.where(same & (c.loop_order == LOOP_ORDERS.index("knm")), 1.0, cycles)
        return {"cycles": cycles, "energy_pj": np.ones(len(c))}

    res = search(space, cost, "latency", "heuristic", top=1)
    assert rows(res) == [("ws", 32, 32, 128, "knm")] and res.best.score == 1.0


def test_heuristic_does_not_count_the_default_candidates():
    """`evaluated` counts every candidate costed except the default mapping's, which every search
    costs once per dataflow (the heuristic's per-dataflow pools reuse those costs), never again for
    the whole space."""
    space = large_space()
    assert len(space.dataflows) > 1
    rec = Recorder(key_cost)
    res = search(space, rec, "latency", "heuristic")
    assert space.defaults().stacked().tolist() not in [b.stacked().tolist() for b in rec.batches]
    default_batches = [space.restricted(df).defaults() for df in space.dataflows]
    defaults = [b.stacked().tolist() for b in default_batches]
    counted = sum(len(b) for b in rec.batches if b.stacked().tolist() not in defaults)
    n_default = sum(len(b) for b in rec.batches if b.stacked().tolist() in defaults)
    assert n_default == sum(len(b) for b in default_batches)  # each default batch costed once
    assert res.evaluated == res.valid == counted


def test_heuristic_costs_the_buffer_filling_tiles_of_the_best_split():
    """On a flexible array the heuristic also costs the buffer-filling tiles of the spatial
    splits its best candidates use, not only the unsplit array's: here every candidate of WS with
    its rows cut in two blocks over N costs 5, others 10, and the optimum (1) is one such tile
    (the widest M x N), which neither the strided grid nor a descent over the flat costs reaches."""
    arch = make_arch(**{"compute.interconnect": {"row_blocks": [1, 2]}, "memory.0.size_bytes": 16384})
    space = MappingSpace(arch, Op(name="g", kind="gemm", M=128, N=128, K=128))
    fill = space.boundary([("ws", (2, "N", 1, None))]).stacked()
    needle = fill[np.argmax(fill[:, 1] * fill[:, 2])].copy()
    # boundary tiles come with every loop order of stage 1 (one per innermost loop): take the last
    assert space.innermost_orders() == ["mkn", "nmk", "nkm"]
    needle[4] = LOOP_ORDERS.index("nkm")

    def cost(c):
        st = c.stacked()
        # columns: dataflow, tiles, loop order, then the split (row blocks, row dim, ...)
        in_split = (st[:, 0] == DATAFLOW_CODES["ws"]) & (st[:, 5] == 2) & (st[:, 6] == 1)  # 1: N
        cycles = np.where(np.all(st == needle, axis=1), 1.0, np.where(in_split, 5.0, 10.0))
        return {"cycles": cycles, "energy_pj": np.ones(len(c))}

    res = search(space, cost, "latency", "heuristic", top=1)
    assert res.best.score == 1.0
    assert Candidates.from_mappings([res.best.mapping]).stacked()[0].tolist() == needle.tolist()


def test_seconds_is_the_search_wall_time():
    """`seconds` is measured from the call, so it lies within the caller's own measurement."""
    t0 = time.perf_counter()
    res = search(small_space(), key_cost, mapper="exhaustive")
    assert 0.0 <= res.seconds <= time.perf_counter() - t0


def test_real_cost_heuristic_ranks_distinct_mappings():
    """The same promise under nmsim's own cost model, on the s4 layers where the default mapping once
    ranked twice (a GEMV and a small GEMM)."""
    from nmsim.accel import load_arch
    from nmsim.sim.simulate import map_op
    from nmsim.workloads import parse_layer
    arch = load_arch("s4")
    for layer in ("gemm:M=64,N=64,K=64", "gemm:M=8,N=4096,K=4096"):
        for objective in ("latency", "edp"):
            ranked = map_op(arch, parse_layer(layer), "heuristic", objective, top=5).ranked
            keys = [tuple(sorted(r.mapping.to_dict().items(), key=str)) for r in ranked]
            assert len(ranked) == 5 and len(set(map(str, keys))) == 5, (layer, objective)


def test_heuristic_expands_each_seed_once(monkeypatch):
    """The descent skips a seed it expanded in an earlier round (its neighbours were costed then and
    cannot enter a pool that only improves): no seed is expanded twice, and a bowl whose minimum the
    descent must walk to over several rounds is still found exactly."""
    space = large_space()
    calls = []
    orig = MappingSpace.neighbors

    def recording(self, seeds, *a, **k):
        calls.append([tuple(r) for r in seeds.stacked().tolist()])
        return orig(self, seeds, *a, **k)

    def bowl(c):
        return {"cycles": (c.tile_m - 100.0) ** 2 + (c.tile_n - 36.0) ** 2 + (c.tile_k - 200.0) ** 2
                + c.loop_order + 1e4 * c.dataflow, "energy_pj": np.ones(len(c))}

    monkeypatch.setattr(MappingSpace, "neighbors", recording)
    res = search(space, bowl, "latency", "heuristic", top=1)
    flat = [r for batch in calls for r in batch]
    assert len(calls) >= 3 and len(flat) == len(set(flat))
    grid = space.restricted("ws").grid()
    assert res.best.score == bowl(grid)["cycles"].min()


def test_heuristic_grids_the_unsplit_array_and_the_splits_whose_defaults_score_best():
    """On a flexible array stage 1's grid covers, per dataflow, the unsplit array and the
    GRID_SPLITS splits whose best default-mapping candidate scores best (brute force here);
    the descent still reaches the others."""
    from nmsim.mapping.search import GRID_SPLITS
    arch = make_arch(**{"compute.rows": 8, "compute.interconnect": {"row_blocks": [1, 2, 4, 8]}})
    space = MappingSpace(arch, Op(name="g", kind="gemm", M=256, N=256, K=256))
    split_cost = {1: 0.0, 2: 30.0, 4: 10.0, 8: 20.0}   # by row blocks; N beats M within a count

    def cost(c):
        st = c.stacked()
        pen = np.vectorize(split_cost.get)(st[:, 5]) + np.where(st[:, 6] == 0, 5.0, 0.0) * (st[:, 5] > 1)
        return {"cycles": 1e3 - c.tile_m - c.tile_n + pen, "energy_pj": np.ones(len(c))}

    rec = Recorder(cost)
    search(space, rec, "latency", "heuristic")
    ws = space.restricted("ws")
    grids = [b for b in rec.batches if len(b) > 1 and np.all(b.dataflow == DATAFLOW_CODES["ws"])
             and len(set(b.loop_order.tolist())) == 3]   # stage 1: three loop orders
    got = set(ws.keys_of(grids[0]))
    d = ws.defaults()
    score = cost(d)["cycles"]
    best = {}
    for i in np.argsort(score, kind="stable"):
        best.setdefault(ws._key_of(d, int(i)), float(score[i]))
    others = sorted((k for k in best if k != ws.keys[0]), key=best.get)[:GRID_SPLITS]
    assert len(ws.keys) > 1 + GRID_SPLITS
    assert got == {ws.keys[0], *others}


def test_best_keys_ranks_splits_by_their_best_candidate():
    """_best_keys: the unsplit key plus the `count` other keys whose best costed candidate scores
    best, in the space's key order, whatever the order and count of candidates per key."""
    from nmsim.mapping.search import _best_keys
    arch = make_arch(**{"compute.rows": 8, "compute.interconnect": {"row_blocks": [1, 2, 4, 8]}})
    ws = MappingSpace(arch, Op(name="g", kind="gemm", M=256, N=256, K=256)).restricted("ws")
    keys = ws.keys
    assert len(keys) == 7 and keys[0][1] == (1, None, 1, None)
    # the six best candidates all of one split, then one each of others; the unsplit array worst
    scores = {keys[5]: [7.0, 3.0, 8.0], keys[3]: [1.0] * 6, keys[1]: [9.0, 2.0], keys[0]: [50.0], keys[6]: [4.0]}
    parts = [(ws._block(k, np.full(len(v), 64), 64, 64, 0), {"cycles": np.array(v), "energy_pj": np.ones(len(v))})
             for k, v in scores.items()]
    assert _best_keys(ws, parts, "latency", 2) == [keys[0], keys[1], keys[3]]
    assert _best_keys(ws, parts, "latency", 3) == [keys[0], keys[1], keys[3], keys[5]]
    assert _best_keys(ws, parts, "latency", 1) == [keys[0], keys[3]]
    assert _best_keys(ws, parts, "latency", 9) == [keys[0], keys[1], keys[3], keys[5], keys[6]]


def _stage1_grid_keys(space, df):
    """The keys of the heuristic's stage-1 grid of dataflow `df` (its first batch with stage 1's
    loop orders: the default candidates, costed before, use one) and all keys of `df`."""
    rec = Recorder(lambda c: {"cycles": 1e3 - c.tile_m - c.tile_n + 0.0, "energy_pj": np.ones(len(c))})
    search(space, rec, "latency", "heuristic")
    sub = space.restricted(df)
    grid = next(b for b in rec.batches if np.all(b.dataflow == DATAFLOW_CODES[df])
                and len(set(b.loop_order.tolist())) == len(space.innermost_orders()))
    return set(sub.keys_of(grid)), sub.keys


def test_heuristic_restricts_the_grid_from_one_split_beyond_the_kept_ones():
    """OS on rows cut into 1, 2, 4 or 8 blocks over N has 4 keys: one more than the unsplit array
    and GRID_SPLITS, so the grid already leaves one out."""
    from nmsim.mapping.search import GRID_SPLITS
    arch = make_arch(**{"compute.rows": 8, "compute.interconnect": {"row_blocks": [1, 2, 4, 8]}})
    space = MappingSpace(arch, Op(name="g", kind="gemm", M=256, N=256, K=256), constraints=Constraints(dataflow="os"))
    got, keys = _stage1_grid_keys(space, "os")
    assert len(keys) == 2 + GRID_SPLITS
    assert len(got) == 1 + GRID_SPLITS and keys[0] in got


def test_heuristic_grids_every_split_without_default_candidates():
    """With a constraint no default candidate meets (loop order mnk; they all use nmk) nothing ranks
    the splits: the grid covers all of them, and the search still succeeds."""
    arch = make_arch(**{"compute.rows": 8, "compute.interconnect": {"row_blocks": [1, 2, 4, 8]}})
    space = MappingSpace(arch, Op(name="g", kind="gemm", M=256, N=256, K=256),
                         constraints=Constraints(dataflow="ws", loop_order="mnk"))
    assert space.defaults() is None
    rec = Recorder(lambda c: {"cycles": 1e3 - c.tile_m - c.tile_n + 0.0, "energy_pj": np.ones(len(c))})
    res = search(space, rec, "latency", "heuristic")
    assert res.best.mapping.loop_order == "mnk"
    assert set(space.keys_of(rec.batches[0])) == set(space.keys)
