"""Mappers: the mapping space, exhaustive/random/heuristic search, constraints, mapping files,
and the `nmsim map` command."""
from __future__ import annotations

import itertools
import re
import json

import numpy as np
import pytest
import yaml

from nmsim.accel import load_arch
from nmsim.mapping import (LOOP_ORDERS, Candidates, Constraints, LevelTile, Mapping, MappingSpace, SpatialSplit,
                           load_constraints, load_mappings, save_mappings, tile_choices)
from nmsim.sim import HwParams, simulate_op
from nmsim.sim.simulate import map_op, op_cost
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity, parse_layer

from ..conftest import make_arch, run_cli


def small_buffer_arch(size=4096):
    """The tiny 4x4 arch with a buffer small enough that capacity shapes the mapping."""
    return make_arch(**{"memory.0.size_bytes": size, "dram.bytes_per_s": 4.0e9})


def test_tile_choices_cover_extent_and_respect_quantum():
    t = tile_choices(1000, 32)
    assert t.max() == 1000 and t.min() == 32
    assert all(x % 32 == 0 or x == 1000 for x in t)
    small = tile_choices(40, 8)  # 5 units: all enumerated
    assert list(small) == [8, 16, 24, 32, 40]
    big = tile_choices(11008, 32, fold=4)
    assert 11008 in big and len(big) < 120
    # every split count up to MAX_SPLITS is represented
    assert {-(-11008 // 32 // s) * 32 for s in (2, 3, 7)} <= set(int(x) for x in big)


def test_exhaustive_matches_one_at_a_time_brute_force():
    """The vectorized search must pick the same optimum as costing each mapping via simulate_op."""
    arch = small_buffer_arch()
    op = Op("g", "gemm", M=24, N=20, K=32, weight_sparsity=Sparsity.parse("2:4"))
    space = MappingSpace(arch, op)
    grid = space.grid()
    assert len(grid) == space.size() > 1000
    best_brute, n_valid = None, 0
    for i in range(len(grid)):
        m = grid.mapping(i)
        try:
            r = simulate_op(arch, op, m)
        except SpecError:
            continue
        n_valid += 1
        key = (r.cycles, r.energy_pj)
        if best_brute is None or key < best_brute[0]:
            best_brute = (key, m)
    res = map_op(arch, op, "exhaustive", top=3)
    assert res.valid == n_valid
    assert (res.best.cost["cycles"], pytest.approx(res.best.cost["energy_pj"])) == \
        (best_brute[0][0], pytest.approx(best_brute[0][1]))
    # ranked list is sorted and distinct
    scores = [r.score for r in res.ranked]
    assert scores == sorted(scores)
    assert len({tuple(r.mapping.to_dict().values()) for r in res.ranked}) == len(res.ranked)


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
@pytest.mark.parametrize("layer", ["gemm:M=512,N=3072,K=768,sparsity=2:8", "gemm:M=196,N=256,K=2304",
                                   "gemm:M=512,N=11008,K=4096,sparsity=1:16"])
def test_heuristic_within_3_percent_of_exhaustive(layer, objective):
    arch = load_arch("sat")
    op = parse_layer(layer)
    ex = map_op(arch, op, "exhaustive", objective, top=1)
    he = map_op(arch, op, "heuristic", objective, top=1)
    assert ex.best.score <= he.best.score <= 1.03 * ex.best.score
    assert he.evaluated < ex.evaluated or ex.space_size <= 100_000


@pytest.mark.parametrize("layer", ["gemm:M=256,N=768,K=768,sparsity=1:8", "attn_score:M=128,N=128,K=64,batch=12"])
def test_heuristic_within_3_percent_on_a_flexible_two_tier_arch(layer):
    # s4: an accumulator tier, rows in up to 8 blocks, activations kept on chip
    arch = load_arch("s4")
    op = parse_layer(layer)
    ex = map_op(arch, op, "exhaustive", top=1)
    he = map_op(arch, op, "heuristic", top=1)
    assert he.best.score <= 1.03 * ex.best.score
    assert ex.space_size > MappingSpace(load_arch("sat"), op).size()  # the splits are in the space


def test_mapping_files_carry_levels_and_spatial(tmp_path):
    m = Mapping("ws", 512, 768, 768, "nmk", levels=(LevelTile(512, 64, 768, "nmk"),), spatial=SpatialSplit(2, "N"))
    path = save_mappings(tmp_path / "m.yaml", m)
    text = path.read_text()
    assert "levels:" in text and "row_blocks: 2" in text
    got = load_mappings(path).for_op(Op("q", "gemm", M=1024, N=768, K=768, weight_sparsity=Sparsity.parse("1:8")))
    assert got == m
    r = simulate_op(load_arch("s4"), Op("q", "gemm", M=1024, N=768, K=768, weight_sparsity=Sparsity.parse("1:8")), got)
    assert r.mapping == m.to_dict()
    # a mapping for a one-level arch runs on s4 with the accumulator's tile by the fit rule
    r1 = simulate_op(load_arch("s4"), Op("q", "gemm", M=1024, N=768, K=768), Mapping("ws", 512, 768, 768))
    assert len(r1.mapping["levels"]) == 1


def test_search_cost_equals_simulate_cost():
    """The mapper's cost record for its best mapping is what `simulate` reports for it."""
    arch = load_arch("s4")
    op = parse_layer("gemm:M=1024,N=768,K=3072,sparsity=1:8")
    best = map_op(arch, op, "heuristic").best
    r = simulate_op(arch, op, best.mapping)
    assert r.cycles == best.cost["cycles"]
    assert r.energy_pj == pytest.approx(best.cost["energy_pj"])
    # and beats (or ties) the default mapping, which lies in the same space's neighbourhood
    assert best.cost["cycles"] <= simulate_op(arch, op).cycles


def test_random_is_seeded_and_valid():
    arch = small_buffer_arch(8192)
    op = Op("g", "gemm", M=100, N=60, K=96)
    # top=100: every mapper also costs the default mapping's candidates (MappingSpace.defaults),
    # which can take the first few places for any seed; the draws show below them
    a = map_op(arch, op, "random", samples=3000, seed=7, top=100)
    b = map_op(arch, op, "random", samples=3000, seed=7, top=100)
    c = map_op(arch, op, "random", samples=3000, seed=8, top=100)
    assert [r.mapping for r in a.ranked] == [r.mapping for r in b.ranked]
    assert a.evaluated == 3000 and 0 < a.valid < 3000  # the small buffer rejects some draws
    # another seed draws other mappings: a mapper that ignored the seed would rank the same ones
    assert [r.mapping for r in a.ranked] != [r.mapping for r in c.ranked]
    for r in a.ranked:
        simulate_op(arch, op, r.mapping)  # raises if invalid


def test_random_samples_whole_range_respecting_constraints():
    arch = make_arch()
    op = Op("g", "gemm", M=300, N=200, K=256, weight_sparsity=Sparsity.parse("2:8"))
    cons = Constraints(tile_m={"min": 10, "max": 90, "multiple_of": 5}, loop_order=["mnk", "knm"])
    space = MappingSpace(arch, op, constraints=cons)
    c = space.sample(5000, np.random.default_rng(0))
    assert c.tile_m.min() >= 10 and c.tile_m.max() <= 90 and np.all(c.tile_m % 5 == 0)
    assert np.all(c.tile_k % 8 == 0)  # whole 2:8 groups
    assert set(c.loop_order.tolist()) == {LOOP_ORDERS.index("mnk"), LOOP_ORDERS.index("knm")}
    # below the array quantum (4) too: random covers the unpruned space
    assert c.tile_n.min() < 4


def test_constraints_restrict_every_ranked_mapping():
    arch = load_arch("sat")
    op = parse_layer("gemm:M=512,N=3072,K=768,sparsity=2:4")
    cons = Constraints(dataflow="ws", loop_order="nmk", tile_n={"max": 512, "multiple_of": 64}, tile_k=256)
    for mapper in ("heuristic", "exhaustive", "random"):
        res = map_op(arch, op, mapper, constraints=cons, top=4)
        for r in res.ranked:
            m = r.mapping
            assert (m.dataflow, m.loop_order, m.tile_k) == ("ws", "nmk", 256)
            assert m.tile_n <= 512 and m.tile_n % 64 == 0


def test_constraint_that_empties_the_space_is_named():
    arch = small_buffer_arch()
    op = Op("g", "gemm", M=64, N=64, K=64, weight_sparsity=Sparsity.parse("2:4"))
    # 128 B: not even a 1x1x64 tile fits (216 B double-buffered); at 256 B that one does, a partly
    # used fold of the default mapping, which every mapper also costs
    with pytest.raises(SpecError, match=r"tile_k: 64 leaves no mapping .* needs \d+ B in 'gbuf', which holds 128 B"):
        map_op(small_buffer_arch(128), op, constraints=Constraints(tile_k=64))
    with pytest.raises(SpecError, match=r"tile_m: min=32; tile_k: min=64 leave no mapping .*relaxing any one"):
        map_op(arch, op, constraints=Constraints(tile_k={"min": 64}, tile_m={"min": 32}))
    with pytest.raises(SpecError, match="tile_k: 6 leaves no tile for K=64 .*group size 4"):
        MappingSpace(arch, op, constraints=Constraints(tile_k=6))
    with pytest.raises(SpecError, match="leaves no dataflow"):
        MappingSpace(load_arch("s4"), op, constraints=Constraints(dataflow="is"))
    with pytest.raises(SpecError, match="tile_n: min=10, max=20, multiple_of=7 leaves no tile for N=64"):
        MappingSpace(arch, op, constraints=Constraints(tile_n={"min": 10, "max": 20, "multiple_of": 7}))


def test_buffer_smaller_than_one_fold_is_refused_with_the_arch():
    # A level that cannot hold the smallest mapping's tile (one array fold of its operands) is a
    # bad arch, refused when it loads (the per-layer search would only fail later, layer by layer).
    with pytest.raises(ValueError, match="memory.0.size_bytes: level 'gbuf' holds 16 B .*needs 72 B; enlarge"):
        small_buffer_arch(16)
    map_op(small_buffer_arch(72), Op("g", "gemm", M=64, N=64, K=64))  # one fold fits: a mapping exists


def test_mapping_files_round_trip(tmp_path):
    m = Mapping("is", 128, 768, 128, "nkm")
    p = save_mappings(tmp_path / "one.yaml", m, header="made by a test")
    f = load_mappings(p)
    op = Op("x", "gemm", M=64, N=1000, K=100)
    assert f.for_op(op) == Mapping("is", 64, 768, 100, "nkm")  # clipped to the layer
    per = {"a": Mapping("ws", 32, 32, 32, "mnk"), "b": m}
    f2 = load_mappings(save_mappings(tmp_path / "per.yaml", per))
    assert f2.for_op(Op("b", "gemm", M=1000, N=1000, K=1000)) == m
    with pytest.raises(SpecError, match="no mapping for layer 'c'"):
        f2.for_op(Op("c", "gemm", M=8, N=8, K=8))


@pytest.mark.parametrize("text,match", [
    ("dataflow: wss\ntile_m: 1\ntile_n: 1\ntile_k: 1\n", r"bad.yaml:1: dataflow: .*did you mean 'ws'"),
    ("dataflow: ws\ntile_m: 0\ntile_n: 1\ntile_k: 1\n", r"bad.yaml:2: tile_m"),
    ("dataflow: ws\ntile_m: 4\ntile_n: 4\ntile_k: 4\nloop_order: mmk\n", r"bad.yaml:5: loop_order"),
    ("layers:\n  a: {dataflow: ws, tile_m: 4, tile_n: 4, tile_k: 4, tilek: 3}\n", r"bad.yaml:2: .*tilek"),
])
def test_bad_mapping_files(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_mappings(p)


@pytest.mark.parametrize("text,match", [
    ("dataflow: wx\n", r"c.yaml:1: dataflow: 'wx' is not a dataflow"),
    ("tile_m: {min: 8, max: 4}\n", r"c.yaml:1: tile_m.*min=8 is larger than max=4"),
    ("loop_order: [nmk, mnq]\n", r"c.yaml:1: loop_order.*'mnq' is not a loop order"),
    ("tile_kk: 4\n", r"c.yaml:1: .*tile_kk.*did you mean 'tile_k'"),
    ("tile_n: {min: 8, multiple: 4}\n", r"c.yaml:1: .*multiple"),
])
def test_bad_constraints_files(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_constraints(p)


@pytest.mark.parametrize("text,match", [
    ("gemm:M=1,N=2", "missing K"),
    ("gemm M=1,N=2,K=3", "expected KIND:M="),
    ("matmul:M=1,N=2,K=3", "expected KIND:M="),
    ("gemm:M=1,N=2,K=x", "K 'x' is not an integer"),
    ("gemm:M=1,N=2,K=3,spars=2:4", "unknown key 'spars'"),
    ("gemm:M=1,N=2,K=3,sparsity=5:4", "5:4"),
])
def test_bad_layer_strings(text, match):
    with pytest.raises(SpecError, match=match):
        parse_layer(text)


def test_candidates_pack_and_unpack():
    ms = [Mapping("ws", 1, 2, 3, "knm"), Mapping("os", 4, 5, 6, "mnk")]
    c = Candidates.from_mappings(ms)
    assert [c.mapping(i) for i in range(2)] == ms
    hw = HwParams.from_arch(make_arch())
    op = Op("g", "gemm", M=8, N=8, K=8)
    from nmsim.mapping import plan_sparsity
    a = op_cost(hw, op, plan_sparsity(make_arch(), op), c)
    b = op_cost(hw, op, plan_sparsity(make_arch(), op), ms)
    assert np.array_equal(a["cycles"], b["cycles"])


# --- CLI ------------------------------------------------------------------------------------

def test_cli_map_prints_ranked_and_writes_json_and_mapping(tmp_path, capsys):
    j, y = tmp_path / "r.json", tmp_path / "best.yaml"
    code, out, err = run_cli(["map", "--arch", "sat", "--layer", "gemm:M=512,N=3072,K=768,sparsity=2:8",
                              "--objective", "edp", "--top", "3", "--json", j, "--out", y], capsys)
    assert code == 0, err
    assert "best by edp" in out and "candidates costed" in out
    doc = json.loads(j.read_text())
    assert doc["objective"] == "edp" and doc["executed_sparsity"] == "2:8" and len(doc["ranked"]) == 3
    best = doc["ranked"][0]
    assert best["score"] == pytest.approx(best["cost"]["cycles"] * best["cost"]["energy_pj"])
    m = load_mappings(y).for_op(Op("x", "gemm", M=512, N=3072, K=768))
    assert m.to_dict() == best["mapping"]


def test_cli_simulate_with_mapper_and_mapping_file_agree(tmp_path, capsys):
    j1, j2, mf = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.yaml"
    base = ["simulate", "-a", "sat", "-w", "bert-base", "-p", "seq_len=32", "-p", "batch=1", "-s", "2:8", "-q"]
    code, _, err = run_cli(base + ["--mapper", "heuristic", "--json", j1, "--save-mappings", mf], capsys)
    assert code == 0, err
    code, _, err = run_cli(base + ["--mapping", mf, "--json", j2], capsys)
    assert code == 0, err
    a, b = json.loads(j1.read_text()), json.loads(j2.read_text())
    assert [lr["cycles"] for lr in a["layers"]] == [lr["cycles"] for lr in b["layers"]]
    code, _, _ = run_cli(base + ["--json", tmp_path / "c.json"], capsys)
    default = json.loads((tmp_path / "c.json").read_text())
    assert a["total"]["cycles"] < default["total"]["cycles"]
    # every GEMM's mapping is saved; non-GEMM ops run on the vector unit and have none
    assert set(yaml.safe_load(mf.read_text())["layers"]) == {lr["name"] for lr in a["layers"] if lr["nongemm"] is None}


@pytest.mark.parametrize("argv,match", [
    (["map", "-a", "sat", "-l", "gemm:M=8,N=8"], "missing K; expected KIND:M="),
    (["map", "-a", "t4", "-l", "gemm:M=8,N=8,K=8"], "t4 is a gpu preset"),
    (["map", "-a", "sat", "-l", "gemm:M=8,N=8,K=8", "--seed", "3"], "apply to --mapper random"),
    (["map", "-a", "sat", "-l", "gemm:M=8,N=8,K=8", "-c", "missing.yaml"], "missing.yaml: constraints file not found"),
    (["simulate", "-a", "sat", "-w", "bert-base", "--mapper", "heuristic", "--mapping", "m.yaml"], "conflict"),
    (["simulate", "-a", "sat", "-w", "bert-base", "--objective", "energy"], "--objective applies to --mapper"),
    (["simulate", "-a", "t4", "-w", "bert-base", "--mapper", "heuristic"], "apply to systolic arrays"),
])
def test_cli_mapper_bad_input(argv, match, capsys):
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert match in err and len(err.strip().splitlines()) == 1


def test_cli_map_constraints_emptying(tmp_path, capsys):
    c = tmp_path / "c.yaml"
    c.write_text("tile_k: {min: 4096}\ntile_m: {min: 512}\ntile_n: {min: 11008}\n")
    code, _, err = run_cli(["map", "-a", "dense-systolic", "-l", "gemm:M=512,N=11008,K=4096", "-c", c], capsys)
    assert code == 2 and "constraints: tile_m: min=512; tile_n: min=11008; tile_k: min=4096 together leave no mapping" in err


def test_exhaustive_grid_is_all_pruned_combinations():
    arch = make_arch()
    op = Op("g", "gemm", M=12, N=8, K=16)
    space = MappingSpace(arch, op)
    g = space.grid()
    want = set()
    for df in space.dataflows:
        ch = space.choices[(df, (1, None, 1, None))]  # a fixed array: one key per dataflow
        for tm, tn, tk, o in itertools.product(ch["m"], ch["n"], ch["k"], range(6)):
            want.add((df, int(tm), int(tn), int(tk), o))
    got = {(g.mapping(i).dataflow, int(g.tile_m[i]), int(g.tile_n[i]), int(g.tile_k[i]), int(g.loop_order[i]))
           for i in range(len(g))}
    assert got == want


@pytest.mark.parametrize("preset, sparsity", [("s4", "1:8"), ("eyeriss", "dense"), ("dense-systolic", "dense")])
def test_default_candidates_take_inner_levels_as_one_by_one(preset, sparsity):
    """The fit rule run once over all default candidates (spatial splits mixed) gives each the inner
    levels `with_inner_levels` gives it alone, and a second call (cached) the same list."""
    from nmsim.mapping import default_mapping_candidates
    from nmsim.mapping.mapping import with_inner_levels
    from nmsim.workloads import Op, Sparsity
    arch = load_arch(preset)
    for M, N, K in ((1024, 768, 768), (96, 3072, 768), (8, 50, 300)):
        op = Op(name="g", kind="gemm", M=M, N=N, K=K, weight_sparsity=Sparsity.parse(sparsity))
        bare = default_mapping_candidates(arch, op, inner=False)
        assert len({m.spatial for m in bare}) > (1 if preset != "dense-systolic" else 0)
        one_by_one = [with_inner_levels(arch, op, m) for m in bare]
        assert default_mapping_candidates(arch, op) == one_by_one
        assert default_mapping_candidates(arch, op) == one_by_one
        assert all(len(m.levels) == len(arch.tiers()) - 1 for m in one_by_one)


def test_inner_levels_of_a_grid_do_not_depend_on_candidate_order():
    """complete() runs the fit rule once per run of candidates that differ only in loop order; the
    same candidates shuffled (no runs left) get the same inner tiles, candidate by candidate."""
    from nmsim.workloads import Op, Sparsity
    arch = load_arch("s4")
    op = Op(name="g", kind="gemm", M=1024, N=3072, K=768, weight_sparsity=Sparsity.parse("1:16"))
    space = MappingSpace(arch, op)
    grid = space.grid(stride=3)
    assert len(grid) > 1000 and len(grid.levels) == space.n_inner > 0
    perm = np.random.default_rng(0).permutation(len(grid))
    bare = grid.take(perm)
    bare = Candidates(bare.dataflow, bare.tile_m, bare.tile_n, bare.tile_k, bare.loop_order, split=bare.split)
    again = space.complete(bare)
    for mine, ref in zip(again.levels, grid.take(perm).levels):
        for a, b in zip(mine, ref):
            assert np.array_equal(np.broadcast_to(a, (len(grid),)), np.broadcast_to(b, (len(grid),)))


def test_default_tiles_are_the_candidates_tiles_and_survive_clear_caches():
    """`default_tiles` lists the (tile_m, tile_n, tile_k) of `default_mapping_candidates` once per
    spatial split, in order, all with loop order nmk; `clear_caches` empties the caches without
    changing what is computed next."""
    from nmsim.mapping import mapping as mm
    arch = load_arch("s4")
    op = Op(name="g", kind="gemm", M=384, N=1024, K=768, weight_sparsity=Sparsity.parse("1:8"))
    for df in arch.compute.dataflows:
        tiles = mm.default_tiles(arch, op, df)
        cands = mm.default_mapping_candidates(arch, op, df)
        n_splits = len(cands) // len(tiles)
        assert n_splits > 1 and len(cands) == n_splits * len(tiles)
        assert [(m.tile_m, m.tile_n, m.tile_k) for m in cands] == tiles * n_splits
        assert {m.loop_order for m in cands} == {mm.DEFAULT_LOOP_ORDER} == {"nmk"}
        assert mm._TILES and mm._CANDIDATES
        mm.clear_caches()
        assert not mm._TILES and not mm._CANDIDATES
        assert mm.default_tiles(arch, op, df) == tiles


def test_constraints_allow_tiles_matches_allows_per_mapping():
    """Constraints.allows_tiles (a batch of one dataflow and loop order) agrees with allows on every
    mapping: exact values, bounds with multiples, tiles clipped to the dimension, dataflow and order."""
    extents = {"m": 100, "n": 64, "k": 256}
    rng = np.random.default_rng(3)
    tiles = {d: rng.integers(1, 2 * e, 200) for d, e in extents.items()}
    rules = [Constraints(), Constraints(tile_m=[16, 32, 200]), Constraints(tile_n={"min": 16, "max": 48, "multiple_of": 8}),
             Constraints(tile_k={"multiple_of": 64}, loop_order=["nmk"]), Constraints(dataflow="os"),
             Constraints(loop_order="mnk")]
    for c in rules:
        for df, lo in (("ws", "nmk"), ("os", "nmk"), ("ws", "mnk")):
            got = c.allows_tiles(df, lo, tiles, extents)
            want = [c.allows(Mapping(df, int(tiles["m"][i]), int(tiles["n"][i]), int(tiles["k"][i]), lo), extents)
                    for i in range(200)]
            assert got.tolist() == want
        assert c.allows_tiles("ws", "nmk", tiles, extents).any() or c.active()


def test_default_mapping_is_the_first_candidate_or_the_first_cheapest():
    """default_mapping: without a cost the first candidate (the largest fitting tile of the first
    shrink path); with one, the first candidate of least cost (ties keep the earlier)."""
    from nmsim.mapping.mapping import default_mapping, default_mapping_candidates
    arch = load_arch("dense-systolic")
    op = Op(name="g", kind="gemm", M=512, N=768, K=768)
    cands = default_mapping_candidates(arch, op)
    assert default_mapping(arch, op) == cands[0]
    costs = [10.0 + i % 5 for i in range(len(cands))]
    costs[7] = costs[11] = 1.0
    assert default_mapping(arch, op, cost=lambda ms: costs) == cands[7]


def test_completed_repeats_the_innermost_tile_for_missing_tiers_and_with_inner_levels_names_tiers():
    """Mapping.completed pads missing inner tiers with the innermost tile (clipped to the op);
    with_inner_levels refuses a partial list of inner tiles, naming the tiers it expects."""
    from benchmarks.bench_sim import three_tier   # dense-systolic with a weight register per PE
    from nmsim.mapping.mapping import with_inner_levels
    m = Mapping("ws", 64, 32, 128, "nmk", levels=(LevelTile(16, 32, 64, "mnk"),))
    done = m.completed(4, Op(name="g", kind="gemm", M=48, N=512, K=512))
    assert [(lv.tile_m, lv.tile_n, lv.tile_k) for lv in done.levels] == [(16, 32, 64)] * 3
    assert (done.tile_m, done.tile_n, done.tile_k) == (48, 32, 128)
    assert [lv.loop_order for lv in done.levels] == ["mnk", "nmk", "nmk"]
    bare = Mapping("ws", 64, 32, 128, "knm").completed(3)   # no inner tile given: the outer one, twice
    assert [(lv.tile_m, lv.tile_n, lv.tile_k, lv.loop_order) for lv in bare.levels] == [(64, 32, 128, "nmk")] * 2
    arch = three_tier()   # two tiers: the buffer; the accumulators with the weight registers
    tiers = arch.tiers()
    assert len(tiers) == 2
    names = ["+".join(arch.memory[i].name for i in t) for t in tiers[1:]]
    assert names[0].count("+") == 1
    two = Mapping("ws", 64, 32, 128, "nmk", levels=(LevelTile(16, 32, 64, "mnk"), LevelTile(8, 8, 8, "nmk")))
    with pytest.raises(SpecError, match=re.escape(f"({names[0]})")):
        with_inner_levels(arch, Op(name="g", kind="gemm", M=64, N=64, K=64), two)
