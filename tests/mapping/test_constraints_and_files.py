"""Bounds of the constraint and mapping-file schemas at their edges (docs/MAPPING.md): the smallest
legal values are accepted, the first illegal ones refused, and `Constraints.allows` /
`tile_filter` keep exactly what the rule says."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from nmsim.mapping import Constraints, Mapping, load_mappings, save_mappings
from nmsim.mapping.constraints import TileBound
from nmsim.specfile import SpecError


def test_tile_of_one_is_a_legal_constraint_and_zero_is_not():
    assert Constraints(tile_m=1, tile_n=[1, 2]).tile_m == 1
    with pytest.raises(ValueError, match="greater than 0"):
        Constraints(tile_m=0)
    with pytest.raises(ValueError):
        Constraints(tile_k=[4, 0])


def test_min_equal_to_max_is_one_allowed_size():
    b = TileBound(min=64, max=64)
    assert (b.min, b.max) == (64, 64)
    with pytest.raises(ValueError, match="min=65 is larger than max=64"):
        TileBound(min=65, max=64)
    c = Constraints(tile_m=b)
    assert c.tile_filter("m", np.array([32, 64, 128]), 4096).tolist() == [64]


def test_max_keeps_its_own_value():
    c = Constraints(tile_n=TileBound(max=64, multiple_of=32))
    assert c.tile_filter("n", np.array([16, 32, 48, 64, 96]), 1000).tolist() == [32, 64]


def test_allows_follows_dataflow_and_loop_order_constraints():
    ext = {"m": 512, "n": 512, "k": 512}
    ws_nmk, os_kmn = Mapping("ws", 64, 64, 64, "nmk"), Mapping("os", 64, 64, 64, "kmn")
    by_df = Constraints(dataflow="ws")
    assert by_df.allows(ws_nmk, ext) and not by_df.allows(os_kmn, ext)
    by_order = Constraints(loop_order=["kmn", "knm"])
    assert by_order.allows(os_kmn, ext) and not by_order.allows(ws_nmk, ext)
    sized = Constraints(tile_m=TileBound(max=32))
    assert not sized.allows(ws_nmk, ext) and sized.allows(Mapping("ws", 32, 64, 64, "nmk"), ext)
    # a tile larger than its dimension counts as the dimension
    assert sized.allows(Mapping("ws", 64, 64, 64, "nmk"), {"m": 20, "n": 512, "k": 512})


def test_mapping_file_tiles_of_one_and_spatial_defaults(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("dataflow: ws\ntile_m: 1\ntile_n: 1\ntile_k: 1\nspatial: {col_blocks: 2, col_dim: M}\n")
    m = load_mappings(f).single
    assert (m.tile_m, m.tile_n, m.tile_k) == (1, 1, 1)
    assert (m.spatial.row_blocks, m.spatial.row_dim, m.spatial.col_blocks, m.spatial.col_dim) == (1, None, 2, "M")
    f.write_text("dataflow: ws\ntile_m: 8\ntile_n: 8\ntile_k: 8\nspatial: {row_blocks: 2, row_dim: N}\n")
    assert load_mappings(f).single.spatial.col_blocks == 1
    f.write_text("dataflow: ws\ntile_m: 0\ntile_n: 1\ntile_k: 1\n")
    with pytest.raises(SpecError, match="tile_m"):
        load_mappings(f)


def test_saved_mapping_keeps_the_fields_in_reading_order(tmp_path):
    """A saved file reads like the documented form: dataflow, the tiles, the loop order (not sorted
    alphabetically), after the header's comment lines; and it loads back equal."""
    m = Mapping("os", 48, 32, 128, "mkn")
    p = save_mappings(tmp_path / "one.yaml", m, header="mappings of x\non y")
    text = p.read_text()
    assert text.startswith("# mappings of x\n# on y\n")
    body = [ln.split(":")[0] for ln in text.splitlines() if ln and not ln.startswith(("#", " "))]
    assert body[:5] == ["dataflow", "tile_m", "tile_n", "tile_k", "loop_order"]
    assert load_mappings(p).single == m
    assert list(yaml.safe_load(save_mappings(tmp_path / "two.yaml", {"b": m, "a": m}).read_text())["layers"]) == ["b", "a"]
