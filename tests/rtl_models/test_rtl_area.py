"""Yosys synthesis of nm_pe (dense, 2:4, 1:8 at 8 bits): the shipped area factors in
accel/pe_area_factors.yaml are what a fresh synthesis gives, and they behave as they must.
Yosys comes from `make test-deps` (Debian package); a missing Yosys fails."""
from __future__ import annotations

import pytest
import yaml

from nmsim.accel.area import FACTOR_FILE, pe_area_factor
from nmsim.rtl_models.area import factor_file_text, factors, pe_areas, yosys_version
from nmsim.specfile import SpecError

from ..accel.test_presets import unsourced_lines


@pytest.fixture(scope="module")
def areas():
    return pe_areas()


def test_shipped_factors_match_a_fresh_synthesis(areas):
    shipped = yaml.safe_load(FACTOR_FILE.read_text())
    assert shipped["cells"] == {a.label: a.cells for a in areas}, "regenerate with `nmsim rtl area --write`"
    assert shipped["factors"] == factors(areas)
    assert FACTOR_FILE.read_text() == factor_file_text(areas, yosys_version())


def test_sparse_pe_costs_more_than_dense_of_equal_multipliers(areas):
    by = {a.label: a for a in areas}
    assert by["dense2"].cells > by["dense1"].cells
    assert 1.0 < pe_area_factor("2:4") < pe_area_factor("1:8") < 2.0
    # Flip-flops: weights, indices, the M-lane activation register and the partial sum.
    assert by["1:8"].flops == 8 + 3 + 8 * 8 + 32
    assert by["2:4"].flops == 2 * 8 + 2 * 2 + 4 * 8 + 32
    assert by["dense1"].flops == 8 + 1 + 8 + 32


def test_factor_file_is_sourced_and_lookup_is_strict():
    assert not unsourced_lines(FACTOR_FILE.read_text())
    assert pe_area_factor("dense") == 1.0
    with pytest.raises(SpecError, match="no synthesized PE area factor for '2:8'"):
        pe_area_factor("2:8")
