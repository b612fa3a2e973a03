"""The GPU model's free parameters (sim/gpu/params.py; docs/GPU.md, "What is calibrated, and why"):
properties of the priors and bounds, the architecture class rule, and which value default_params
and param_status give per GPU.

The priors are `assumed:` data, so no test copies a prior's number: each test states a property
the parameter table must have (a prior inside its own bounds, an efficiency prior a fraction of
the datasheet peak, parameters of one kind sharing the fit's documented bounds, the documented
per-architecture split) or checks the lookup rule against an oracle written here from the
module docstring (calibrated for the GPU's class, else its sibling's, else the prior).
"""
from __future__ import annotations

import math

import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import params as pm
from nmsim.sim.gpu.calibrated import CALIBRATED
from nmsim.sim.gpu.kernels import KERNEL_FAMILY
from nmsim.sim.gpu import nongemm as ng_mod
from nmsim.sim.gpu.nongemm import NONGEMM_KERNEL

PRESETS = ("t4", "a100", "a30", "rtx3060", "rtx4070-ti-super", "l40s", "h100", "h200")
# docs/GPU.md, table "What is calibrated": the efficiencies of the GEMM model (fractions of a
# datasheet rate), the fit's bounds "efficiencies 0.02..2"
EFFICIENCIES = ("tensor_eff_cublas", "tensor_eff_cusparselt", "tensor_eff_cutlass_sparse", "tensor_eff_triton",
                "mem_eff", "decode_eff")
OVERHEADS = ("overhead_s_cublas", "overhead_s_sparse_lib", "overhead_s_triton")     # "overheads 10 ns..1 ms"
HOST_TIMES = ("host_s_torch_op", "host_s_subclass", "host_s_cslt_setup")
GAPS = ("gap_launches_tensorrt", "gap_launches_torch_compile")


# read the tables at call time (not at import), through a function of their module: the mutation
# harness rebinds them per mutant and runs a module's table mutants on the tests that execute it
def by_name(name: str) -> pm.Param:
    assert name in pm.prior_params(load_arch("a100").gpu)
    return {p.name: p for p in pm.PARAMS}[name]


def ng(name: str) -> pm.Param:
    assert name in ng_mod.nongemm_prior_params(4e-6)
    return {p.name: p for p in ng_mod.NONGEMM_PARAMS}[name]


def gpu(preset: str, **fields):
    g = load_arch(preset).gpu
    return g.model_copy(update=fields) if fields else g


# --- the parameter table ---------------------------------------------------------------------

def test_every_prior_lies_inside_its_own_ordered_bounds():
    launches = [load_arch(n).gpu.launch_overhead_s for n in PRESETS]
    assert set(pm.prior_params(load_arch("a100").gpu)) | set(ng_mod.nongemm_prior_params(4e-6)) == \
        {p.name for p in pm.PARAMS + ng_mod.NONGEMM_PARAMS}
    for p in pm.PARAMS + ng_mod.NONGEMM_PARAMS:
        assert 0.0 <= p.lo < p.hi, p.name                          # bounds ordered, none negative
        # the 'launch' prior is the preset's launch_overhead_s: every preset's must lie inside too
        for v in (launches if p.default == "launch" else [p.default]):
            assert p.lo <= float(v) <= p.hi, (p.name, v)


def test_bounds_are_positive_where_the_fit_works_in_log_space():
    # calibrate fits log(p) inside [log lo, log hi]: every GEMM parameter's lower bound is > 0
    for n in pm.PARAM_NAMES:
        assert by_name(n).lo > 0 and math.isfinite(math.log(by_name(n).lo)), n


def test_efficiency_priors_are_fractions_of_the_datasheet_rate():
    # an `assumed:` efficiency says which fraction of the datasheet peak a kernel reaches (70-80 %,
    # "below", "less"): a prior above 1 would claim the kernel beats the datasheet
    for n in EFFICIENCIES:
        assert 0.0 < by_name(n).default <= 1.0, n
    for n in ("nongemm_mem_eff", "nongemm_l2_eff", "nongemm_compute_eff", "nongemm_l2_fraction"):
        assert 0.0 < ng(n).default <= 1.0, n


def test_efficiency_priors_are_ordered_as_their_reasons_say():
    d = {n: by_name(n).default for n in EFFICIENCIES}
    # "Triton tiles reach somewhat less of the tensor peak than cuBLAS"
    assert d["tensor_eff_triton"] < d["tensor_eff_cublas"]
    # "2:4 libraries usually gain well under the 2x of the sparse rate over dense": the sparse rate
    # is 2x the dense one, so gain = 2 * eff_sparse / eff_cublas < 2 means eff_sparse < eff_cublas
    assert d["tensor_eff_cusparselt"] < d["tensor_eff_cublas"]
    assert d["tensor_eff_cutlass_sparse"] < d["tensor_eff_cublas"]     # "as cuSPARSELt"
    # "gathers and per-row index decoding keep the decode kernel below streaming rate"
    assert d["decode_eff"] < d["mem_eff"]


def test_parameters_of_one_kind_share_the_fits_bounds():
    # docs/GPU.md, "Fit": one range per kind of parameter (efficiencies 0.02..2, overheads 10 ns..1 ms,
    # host times up to 10 ms, all from one 100 ns floor); a parameter whose bounds differed from its
    # kind's would be fitted over another range
    assert len({(by_name(n).lo, by_name(n).hi) for n in EFFICIENCIES}) == 1
    assert len({(by_name(n).lo, by_name(n).hi) for n in OVERHEADS}) == 1
    assert len({by_name(n).lo for n in HOST_TIMES}) == 1
    # the two per-call Python paths of the 2:4 libraries (subclass dispatch, plan creation) share
    # the widest host range
    assert by_name("host_s_subclass").hi == by_name("host_s_cslt_setup").hi
    assert by_name("host_s_torch_op").hi <= by_name("host_s_subclass").hi
    # the framework gaps: one row of the docs table, one prior (one launch floor apart) and one range
    assert len({(by_name(n).default, by_name(n).lo, by_name(n).hi) for n in GAPS}) == 1
    # the non-GEMM efficiencies: one range, a fraction of a datasheet rate (<= 1)
    effs = ("nongemm_mem_eff", "nongemm_l2_eff", "nongemm_compute_eff")
    assert len({(ng(n).lo, ng(n).hi) for n in effs}) == 1
    assert all(ng(n).hi <= 1.0 for n in effs)


def test_fraction_parameters_cannot_exceed_one():
    # sustained_frac: "power-limited cards fall below" the one-op rates, never above them;
    # nongemm_l2_fraction: a fraction of the L2's capacity
    assert by_name("sustained_frac").hi <= 1.0
    assert ng("nongemm_l2_fraction").hi <= 1.0


def test_special_cost_can_fall_to_one_alu_slot():
    # nongemm_special_cost is in ALU issue slots per special operation: one slot is the least an
    # operation can take (a GPU whose SFU ran at the FP32 rate), so the fit's floor is 1
    p = ng("nongemm_special_cost")
    assert p.lo == 1.0 and p.lo <= p.default <= p.hi


def test_per_architecture_split_is_the_documented_one():
    # module docstring: kernel efficiencies and the memory efficiency depend on the architecture;
    # overheads and host times are per call path; docs table: sustained_frac is per arch too, and
    # the tensor work's power per SM-GHz (process and design differ by architecture)
    # ... and the 8-bit factor (stop 27: the INT8 rows' fraction of their rated rate differs by class)
    per_arch = ("sustained_frac", "power_w_per_sm_ghz", "tensor_eff_8bit")
    assert set(pm.PER_ARCH) == set(EFFICIENCIES) | set(per_arch)
    assert all(by_name(n).per_arch for n in EFFICIENCIES + per_arch)
    for n in OVERHEADS + HOST_TIMES + GAPS + ("expand_ops", "cta_fixed_s", "epilogue_passes"):
        assert not by_name(n).per_arch, n
    # a Param is not per architecture unless it says so
    assert pm.Param("x", 1.0, 0.5, 2.0, (), "assumed: x").per_arch is False


def test_every_kernel_a_parameter_names_exists_and_every_kernel_has_its_parameters():
    for p in pm.PARAMS:
        assert set(p.kernels) <= set(KERNEL_FAMILY), p.name
    for p in ng_mod.NONGEMM_PARAMS:
        assert p.kernels == (NONGEMM_KERNEL,)
    for k in KERNEL_FAMILY:
        used = {p.name for p in pm.PARAMS if k in p.kernels}
        # every kernel has a compute efficiency and a fixed per-kernel overhead
        assert used & {"tensor_eff_cublas", "tensor_eff_cusparselt", "tensor_eff_cutlass_sparse",
                       "tensor_eff_triton", "decode_eff"}, k
        assert used & set(OVERHEADS), k


# --- architecture class -----------------------------------------------------------------------

@pytest.mark.parametrize("cc, cls", [(7.5, "sm75"), (8.0, "sm80"), (8.6, "sm86"), (8.7, "sm87"), (8.9, "sm89"),
                                     (9.0, "sm90"), (10.0, "sm100")])
def test_arch_class_is_sm_and_ten_times_the_compute_capability(cc, cls):
    assert pm.arch_class(gpu("a100", compute_capability=cc)) == cls


def test_param_key_tags_only_per_architecture_parameters():
    assert pm.param_key("tensor_eff_cublas", "sm80") == "tensor_eff_cublas@sm80"
    assert pm.param_key("sustained_frac", "sm75") == "sustained_frac@sm75"
    assert pm.param_key("cta_fixed_s", "sm80") == "cta_fixed_s"
    assert pm.param_key("host_s_torch_op", "sm90") == "host_s_torch_op"


# --- default_params / param_status: the lookup rule -----------------------------------------

def oracle(g) -> dict[str, tuple[float | None, str]]:
    """(calibrated value or None, status) per parameter, from the module docstring's rule."""
    arch = f"sm{round(g.compute_capability * 10)}"
    out = {}
    for p in pm.PARAMS:
        if not p.per_arch:
            v = CALIBRATED.get("any", {}).get(p.name)
            out[p.name] = (v, "calibrated") if v is not None else (None, "uncalibrated")
            continue
        out[p.name] = (None, "uncalibrated")
        for a in (arch, pm.ARCH_FALLBACK.get(arch)):
            if a and p.name in CALIBRATED.get(a, {}):
                out[p.name] = (CALIBRATED[a][p.name], f"calibrated ({a})")
                break
    return out


@pytest.mark.parametrize("preset, cc", [("t4", None), ("a100", None), ("rtx3060", None), ("rtx4070-ti-super", None),
                                        ("h100", None), ("a100", 8.7), ("a100", 12.0)])
def test_default_params_pick_calibrated_over_prior(preset, cc):
    g = gpu(preset, compute_capability=cc) if cc else gpu(preset)
    want = oracle(g)
    prior = pm.prior_params(g)
    vals, status = pm.default_params(g), pm.param_status(g)
    assert list(vals) == list(pm.PARAM_NAMES) == list(status)
    for n, (v, s) in want.items():
        assert status[n] == s, n
        assert vals[n] == (v if v is not None else prior[n]), n


def test_calibrated_values_reach_the_gpus_of_their_class():
    # every shipped value is used by a GPU of its class (and 'any' by every GPU): none is shadowed
    for n, v in CALIBRATED["any"].items():
        if n in pm.PARAM_NAMES:
            assert pm.default_params(gpu("a100"))[n] == v and pm.param_status(gpu("t4"))[n] == "calibrated"
    for arch, vals in CALIBRATED.items():
        if arch == "any":
            continue
        g = gpu("a100", compute_capability=int(arch[2:]) / 10)
        for n, v in vals.items():
            assert pm.default_params(g)[n] == v and pm.param_status(g)[n] == f"calibrated ({arch})", (arch, n)


def test_a_class_without_values_borrows_its_siblings_and_an_unknown_one_keeps_the_priors():
    sm86 = CALIBRATED["sm86"]
    orin = gpu("a100", compute_capability=8.7)                 # sm87 -> sm86 (ARCH_FALLBACK)
    for n, v in sm86.items():
        assert pm.default_params(orin)[n] == v and pm.param_status(orin)[n] == "calibrated (sm86)"
    # sm89 has its own cuBLAS value but borrows sm86's 2:4 CUTLASS value
    ada = gpu("a100", compute_capability=8.9)
    assert pm.param_status(ada)["tensor_eff_cublas"] == "calibrated (sm89)"
    assert pm.param_status(ada)["tensor_eff_cutlass_sparse"] == "calibrated (sm86)"
    future = gpu("a100", compute_capability=12.0)              # no class, no fallback: priors
    prior = pm.prior_params(future)
    for n in pm.PER_ARCH:
        assert pm.default_params(future)[n] == prior[n] and pm.param_status(future)[n] == "uncalibrated"


def test_prior_params_ignore_calibration_and_take_the_presets_launch():
    g = gpu("t4", launch_overhead_s=7e-6)
    prior = pm.prior_params(g)
    for p in pm.PARAMS:
        assert prior[p.name] == (7e-6 if p.default == "launch" else float(p.default)), p.name


# --- the launch floor the framework gaps are counted in --------------------------------------

def test_launch_floor_is_the_cited_measurement_at_the_presets_clock():
    # te42kyfo/gpu-benches@1c36d50 gpu-small-kernels/*_graph.txt, 64 kB: A100 80GB 1.337 us at
    # 1410 MHz, A40 1.092 us at 1740, L40 0.936 us at 2490, H200 1.260 us at 1980
    measured = {"a100": 1.337e-6, "h200": 1.260e-6}
    for preset, s in measured.items():                    # the measured boards' own clocks
        assert pm.graph_launch_floor_s(gpu(preset)) == pytest.approx(s, rel=1e-9), preset
    assert pm.graph_launch_floor_s(gpu("a40")) == pytest.approx(1.092e-6, rel=1e-9)
    assert pm.graph_launch_floor_s(gpu("l40s")) == pytest.approx(0.936e-6 * 2.49 / 2.52, rel=1e-9)
    # cycles, not seconds: the same class at a lower clock pays more per kernel
    assert pm.graph_launch_floor_s(gpu("a100", boost_clock_hz=0.705e9)) == pytest.approx(2 * 1.337e-6)
    # the two Ampere boards agree in cycles (the reason the floor is counted in them)
    c = pm.MEASURED_GRAPH_LAUNCH_CYCLES
    assert c["sm86"] / c["sm80"] == pytest.approx(1.0, abs=0.01)
    assert 0.5e-6 < min(pm.graph_launch_floor_s(gpu(p)) for p in PRESETS)
    assert max(pm.graph_launch_floor_s(gpu(p)) for p in PRESETS) < 2e-6


def test_an_unmeasured_class_borrows_then_assumes():
    # sm87 (Orin) borrows sm86's measurement (ARCH_FALLBACK); Turing has none: Ampere's cycles, assumed
    orin = gpu("rtx3060", compute_capability=8.7, boost_clock_hz=1.0e9)
    assert pm.graph_launch_floor_s(orin) == pytest.approx(pm.MEASURED_GRAPH_LAUNCH_CYCLES["sm86"] / 1e9)
    assert pm.graph_launch_floor_s(gpu("t4")) == pytest.approx(pm.ASSUMED_LAUNCH_CYCLES / 1.59e9)
    assert pm.ASSUMED_LAUNCH_CYCLES == pm.MEASURED_GRAPH_LAUNCH_CYCLES["sm80"]
    v100 = gpu("t4", compute_capability=7.0, boost_clock_hz=2.0e9)
    assert pm.graph_launch_floor_s(v100) == pytest.approx(pm.ASSUMED_LAUNCH_CYCLES / 2.0e9)


# --- docs/GPU.md's parameter table states every parameter's prior range -----------------------

def _documented_bounds() -> dict[str, tuple[float, float]]:
    """name -> (lo, hi) from the 'fit bounds' column of docs/GPU.md's table of the GEMM model's
    parameters ('0.02..2', '10 ns..1 ms', '0.05..20 W')."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "GPU.md").read_text()
    start = text.index("| parameter | prior | fit bounds |")
    table = text[start:text.index("\n\n", start)].splitlines()[2:]
    unit = {"": 1.0, "W": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    num = r"(\d+(?:\.\d+)?(?:e-?\d+)?)(?: (ns|us|ms|s|W))?"
    out = {}
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        m = re.fullmatch(rf"{num}\.\.{num}", cells[2])
        assert m, row
        lo = float(m.group(1)) * unit[m.group(2) or m.group(4) or ""]
        hi = float(m.group(3)) * unit[m.group(4) or ""]
        for name in re.findall(r"`([a-z0-9_]+)`", cells[0]):
            assert name not in out, name
            out[name] = (lo, hi)
    return out


def test_documented_fit_bounds_are_the_code():
    doc = _documented_bounds()
    assert set(doc) == set(pm.PARAM_NAMES), set(doc) ^ set(pm.PARAM_NAMES)
    for name, (lo, hi) in doc.items():
        p = by_name(name)
        assert (p.lo, p.hi) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9)), (name, p.lo, p.hi, lo, hi)
