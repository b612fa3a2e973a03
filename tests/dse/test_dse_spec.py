"""Sweep specs (every bad input names file:line, the axis and the value) and the samplers
(grid, random, Latin hypercube): counts, coverage, ranges, stratification, determinism."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import yaml

from nmsim.dse.space import Axis, axes_of, design_points, grid_points, grid_size, sampled_points, unit_lhs, unit_random
from nmsim.dse.spec import load_sweep, sweep_from_dict
from nmsim.specfile import SpecError

SMALL = {
    "name": "small",
    "base": "sat",
    "axes": {"rows": [8, 16], "cols": [16, 32], "nm_patterns": ["dense", ["2:4", "2:8"]],
             "dram_bytes_per_s": [3.0e10, 1.2e11]},
    "workloads": ["bert-base"],
    "patterns": ["dense", "2:8"],
}


def write_sweep(tmp_path: Path, spec: dict | None = None, name: str = "sweep.yaml", **changes) -> Path:
    """SMALL (or `spec`) with top-level `changes`, written as YAML under tmp_path."""
    data = dict(spec or SMALL)
    data.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def spec_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as exc:
        load_sweep(path)
    return str(exc.value)


BASE = "name: t\nbase: sat\nworkloads: [bert-base]\n"


# --- spec errors -------------------------------------------------------------------------------

def test_unknown_axis_names_file_line_and_suggests(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  rows: [8]\n  colz: [16]\n")
    assert msg.startswith(f"{tmp_path / 'bad.yaml'}:6:") and "axes.colz" in msg and "did you mean 'cols'" in msg


def test_unknown_top_level_key(tmp_path):
    msg = spec_error(tmp_path, BASE + "sampler: {method: grid}\n")
    assert ":4:" in msg and "unknown field 'sampler'" in msg and "sampling" in msg


def test_bad_nm_pattern_names_axis_and_value(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  nm_patterns: [dense, ['2:4', '5:4']]\n")
    assert ":5:" in msg and "axes.nm_patterns" in msg and "'5:4'" in msg and "cannot exceed" in msg


def test_dense_written_as_nm_is_refused(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  nm_patterns: [['4:4']]\n")
    assert "axes.nm_patterns" in msg and "'4:4'" in msg


def test_empty_axis_is_an_empty_design_space(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  rows: []\n")
    assert "axes.rows" in msg and "empty" in msg


def test_zero_points_is_an_empty_design_space(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes: {rows: [8]}\nsampling: {method: random, n: 0}\n")
    assert "sampling.n" in msg and "(got 0)" in msg


def test_negative_and_non_integer_axis_values(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  rows: [16, -4]\n")
    assert "axes.rows" in msg and "-4" in msg and "positive" in msg
    msg = spec_error(tmp_path, BASE + "axes:\n  cols: [16.5]\n")
    assert "axes.cols" in msg and "16.5" in msg and "integer" in msg


def test_bad_dataflow_and_pattern(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  dataflow: [ws, xs]\n")
    assert "axes.dataflow.1" in msg and "'xs'" in msg
    msg = spec_error(tmp_path, BASE + "patterns: [dense, '7:3']\n")
    assert "patterns.1" in msg and "'7:3'" in msg


def test_range_errors(tmp_path):
    msg = spec_error(tmp_path, BASE + "axes:\n  clock_hz: {min: 5.0e+8, max: 1.0e+8, steps: 3}\n")
    assert "axes.clock_hz" in msg and "larger than max" in msg
    msg = spec_error(tmp_path, BASE + "axes:\n  clock_hz: {min: 1.0e+8, max: 5.0e+8}\n")
    assert "axes.clock_hz" in msg and "steps" in msg


def test_sampling_n_rules(tmp_path):
    assert "needs n" in spec_error(tmp_path, BASE + "axes: {rows: [8]}\nsampling: {method: lhs}\n")
    assert "grid takes every" in spec_error(tmp_path, BASE + "axes: {rows: [8]}\nsampling: {method: grid, n: 5}\n")
    assert "at least one axis" in spec_error(tmp_path, BASE + "sampling: {method: adaptive, n: 5}\n")


def test_resolution_errors_name_the_line(tmp_path):
    msg = spec_error(tmp_path, "name: t\nbase: h100\nworkloads: [bert-base]\n")
    assert ":2:" in msg and "gpu" in msg
    msg = spec_error(tmp_path, "name: t\nbase: sat\nworkloads: [bert-bse]\n")
    assert ":3:" in msg and "did you mean 'bert-base'" in msg
    msg = spec_error(tmp_path, "name: t\nbase: sat\nworkloads: [{name: bert-base, params: {batchh: 2}}]\n")
    assert "batchh" in msg and "did you mean 'batch'" in msg


def test_base_file_resolves_next_to_the_spec(tmp_path):
    from nmsim.accel import preset_path

    (tmp_path / "archs").mkdir()
    (tmp_path / "archs" / "mine.yaml").write_text(preset_path("dense-systolic").read_text())
    sweep = load_sweep(write_sweep(tmp_path, base="archs/mine.yaml"))
    assert sweep.base.name == "dense-systolic"


def test_spec_hash_is_stable_and_sensitive():
    a, b = sweep_from_dict(SMALL), sweep_from_dict(SMALL)
    c = sweep_from_dict({**SMALL, "patterns": ["dense"]})
    assert a.spec_hash == b.spec_hash != c.spec_hash
    assert a.design_hash == c.design_hash  # same base and design rules: stored points are shared


# --- samplers ----------------------------------------------------------------------------------

def test_grid_is_every_combination_once():
    sweep = sweep_from_dict(SMALL)
    pts, n = design_points(sweep)
    pts = list(pts)
    assert n == len(pts) == 2 * 2 * 2 * 2
    combos = {tuple(p.values()) for p in pts}
    assert combos == set(itertools.product([8, 16], [16, 32], ["dense", "2:4,2:8"], [3.0e10, 1.2e11]))


def test_grid_of_a_log_range():
    ax = Axis.from_spec("dram_bytes_per_s", sweep_from_dict(
        {**SMALL, "axes": {"dram_bytes_per_s": {"min": 1e9, "max": 1e12, "log": True, "steps": 4}}}
    ).spec.axes.dram_bytes_per_s)
    assert np.allclose(ax.grid_values(), [1e9, 1e10, 1e11, 1e12])
    assert grid_size([ax]) == 4 and len(list(grid_points([ax]))) == 4


def test_no_axes_is_the_base_design_alone():
    sweep = sweep_from_dict({**SMALL, "axes": {}})
    pts, n = design_points(sweep)
    assert n == 1 and list(pts) == [{}]


@pytest.mark.parametrize("n", [1, 7, 100])
def test_lhs_puts_one_sample_in_every_stratum(n):
    u = unit_lhs(n, 5, seed=3)
    assert u.shape == (n, 5) and ((u >= 0) & (u < 1)).all()
    for d in range(5):
        assert sorted(np.floor(u[:, d] * n).astype(int)) == list(range(n))


def test_random_and_lhs_are_seeded():
    assert np.array_equal(unit_random(50, 3, 1), unit_random(50, 3, 1))
    assert not np.array_equal(unit_random(50, 3, 1), unit_random(50, 3, 2))
    assert np.array_equal(unit_lhs(50, 3, 1), unit_lhs(50, 3, 1))


def test_sampled_values_stay_in_ranges_and_lists():
    spec = {**SMALL, "axes": {"rows": {"min": 8, "max": 100, "log": True}, "clock_hz": {"min": 1e8, "max": 9e8},
                              "nm_patterns": ["dense", "2:4", ["1:8", "2:8"]]},
            "sampling": {"method": "lhs", "n": 300, "seed": 0}}
    sweep = sweep_from_dict(spec)
    pts, n = design_points(sweep)
    pts = list(pts)
    assert n == len(pts) <= 300 and len({tuple(p.values()) for p in pts}) == n
    rows = np.array([p["rows"] for p in pts])
    clocks = np.array([p["clock_hz"] for p in pts])
    assert rows.dtype.kind == "i" and rows.min() >= 8 and rows.max() <= 100
    assert clocks.min() >= 1e8 and clocks.max() <= 9e8
    # LHS over 300 strata reaches both ends of each axis and every listed value
    assert rows.min() <= 9 and rows.max() >= 95
    assert {p["nm_patterns"] for p in pts} == {"dense", "2:4", "1:8,2:8"}


def test_discrete_samples_are_deduplicated():
    axes = [Axis("dataflow", ("ws", "os"))]
    pts = sampled_points(axes, unit_random(100, 1, 0))
    assert sorted(p["dataflow"] for p in pts) == ["os", "ws"]


def test_axes_keep_canonical_order():
    sweep = sweep_from_dict({**SMALL, "axes": {"clock_hz": [1e8], "rows": [8]}})
    assert [a.name for a in axes_of(sweep)] == ["rows", "clock_hz"]
