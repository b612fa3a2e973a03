"""Result records (sim/results.py): the figure checks, the run totals and the JSON/CSV forms, on
hand-built layers whose every figure is chosen here, so each expected value is plain arithmetic."""
from __future__ import annotations

import csv
import json
import math

import pytest

from nmsim.sim.results import MAX_CYCLES, LayerResult, RunResult
from nmsim.specfile import ImpossibleFigure, SpecError
from nmsim.specfile.results import provenance
from nmsim.workloads.nongemm import NonGemmOp


def layer(name="a", cycles=10, macs=40, util=None, bytes=None, energy=5.0, actions=None, **kw) -> LayerResult:
    """A GEMM layer on a peak of 16 MACs/cycle at 1 GHz (utilization = macs / (cycles x 16))."""
    if util is None:
        util = macs / (cycles * 16) if cycles else 0.0
    return LayerResult(name=name, op="gemm", M=2, N=4, K=5, batch=1, sparsity="dense", executed_sparsity="dense",
                       cycles=cycles, latency_s=cycles * 1e-9, utilization=util, macs_dense=macs,
                       macs_effective=macs, bytes=dict(bytes or {}), energy_pj=energy,
                       energy_actions_pj=dict(actions or {}), **kw)


def ng_layer(name="ln", cycles=0, energy=0.0, costed=True, operand_bytes=1.0) -> LayerResult:
    op = NonGemmOp(name, "layernorm", rows=2, cols=8)
    return LayerResult.for_nongemm(op, operand_bytes=operand_bytes, cycles=cycles, latency_s=cycles * 1e-9,
                                   bytes={}, energy_pj=energy, energy_breakdown_pj={}, cycle_breakdown={},
                                   bottleneck="", costed=costed)


def run(*layers) -> RunResult:
    return RunResult(arch="t", workload="w", sparsity="dense", layers=list(layers), clock_hz=1e9,
                     peak_macs_per_cycle=16)


# --- check_figures --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(energy=math.nan), dict(energy=-1.0), dict(energy=math.inf),
                                 dict(bytes={"dram": -4.0}), dict(bytes={"dram": math.nan})])
def test_impossible_figures_refused(bad):
    # NaN, infinite or negative figures are a bug of the cost model, never a result
    with pytest.raises(ImpossibleFigure):
        layer(**bad)


def test_non_numeric_figure_refused():
    with pytest.raises(ImpossibleFigure):
        layer(energy="5")


def test_utilization_above_one_refused_within_the_slack():
    layer(cycles=10, macs=160, util=1.0)                 # exactly the peak: fine
    layer(cycles=10, macs=160, util=1.0 + 1e-9)          # round-off within the documented 1e-9 slack
    for u in (1.0 + 1.5e-9, 1.5, 2.5):                   # beyond the slack: a bug
        with pytest.raises(ImpossibleFigure, match="utilization"):
            layer(cycles=10, macs=160, util=u)


def test_cycles_cap_is_two_to_the_62():
    # result stores keep cycles as int64: 2^62 is still accepted, one more is refused as far-off inputs
    assert MAX_CYCLES == 2 ** 62
    layer(cycles=2 ** 62, macs=0, util=0.0)
    with pytest.raises(SpecError, match="2\\^62"):
        layer(cycles=2 ** 62 + 1, macs=0, util=0.0)


# --- non-GEMM layers ---------------------------------------------------------------------------------

def test_for_nongemm_has_no_macs_and_bytes_are_elements_times_operand_bytes():
    op = NonGemmOp("ln", "layernorm", rows=2, cols=8)
    lr = LayerResult.for_nongemm(op, operand_bytes=2.0, cycles=7, latency_s=7e-9, bytes={"dram": 1.0},
                                 energy_pj=1.0, energy_breakdown_pj={}, cycle_breakdown={}, bottleneck="dram")
    assert (lr.macs_dense, lr.macs_effective, lr.utilization, lr.K) == (0, 0, 0.0, None)
    assert lr.nongemm["bytes_read"] == op.elements_read * 2.0
    assert lr.nongemm["bytes_written"] == op.elements_written * 2.0 == 2 * 8 * 2.0
    assert lr.nongemm["costed"] is True and lr.is_nongemm


# --- totals ------------------------------------------------------------------------------------------

def test_total_sums_bytes_per_level_and_actions():
    a = layer("a", bytes={"gbuf": 10.0, "dram": 5.0}, actions={"mac": 2.0, "dram.read": 1.5})
    b = layer("b", bytes={"dram": 3.0}, actions={"mac": 4.0})
    tot = run(a, b).total
    assert tot["bytes"] == {"gbuf": 10.0, "dram": 8.0}
    assert tot["energy_actions_pj"] == {"mac": 6.0, "dram.read": 1.5}
    assert run(a, b).energy_actions() == {"mac": 6.0, "dram.read": 1.5}


def test_total_utilization_over_the_run():
    # 40 + 80 MACs in 10 + 30 cycles on 16 MACs/cycle: 120 / 640
    tot = run(layer("a", cycles=10, macs=40), layer("b", cycles=30, macs=80)).total
    assert tot["cycles"] == 40 and tot["macs_effective"] == 120
    assert tot["utilization"] == pytest.approx(120 / 640)


def test_zero_cost_run_has_zero_utilization_and_shares():
    # a run of one uncosted non-GEMM layer (as SCALE-Sim mode gives): 0 cycles, 0 s, 0 pJ; 0/0 is 0
    tot = run(ng_layer(costed=False)).total
    assert tot["cycles"] == 0 and tot["utilization"] == 0.0
    assert tot["nongemm_share"] == 0.0 and tot["nongemm_energy_share"] == 0.0
    assert (tot["nongemm_layers"], tot["nongemm_uncosted"]) == (1, 1)


def test_nongemm_shares():
    # GEMM 30 cycles / 6 pJ, non-GEMM 10 cycles / 2 pJ: shares 10/40 and 2/8
    tot = run(layer("a", cycles=30, macs=0, energy=6.0), ng_layer(cycles=10, energy=2.0)).total
    assert tot["nongemm_share"] == pytest.approx(0.25) and tot["nongemm_energy_share"] == pytest.approx(0.25)
    assert tot["nongemm_latency_s"] == pytest.approx(10e-9) and tot["nongemm_energy_pj"] == 2.0


# --- JSON and CSV ------------------------------------------------------------------------------------

def test_write_json_keeps_the_given_provenance_or_makes_a_bare_one(tmp_path):
    r = run(layer("a", bytes={"dram": 4.0}))
    prov = provenance("simulate", engine="my-engine")
    r.write_json(tmp_path / "given.json", prov)
    doc = json.loads((tmp_path / "given.json").read_text())
    assert doc["provenance"]["engine"] == "my-engine" and doc["total"]["cycles"] == 10
    r.write_json(tmp_path / "bare.json")
    doc = json.loads((tmp_path / "bare.json").read_text())
    assert doc["provenance"]["kind"] == "simulate" and doc["provenance"]["engine"] is None


def test_csv_fills_missing_levels_with_zero(tmp_path):
    a = layer("a", bytes={"gbuf": 10.0, "dram": 5.0})
    b = layer("b", bytes={"dram": 3.0})                     # never touched gbuf: 0 bytes there
    run(a, b).write_csv(tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [(r["name"], float(r["bytes_dram"]), float(r["bytes_gbuf"])) for r in rows] == [
        ("a", 5.0, 10.0), ("b", 3.0, 0.0)]
