"""Calibration of the GPU model (sim/gpu/calibrate.py) and the shipped values (sim/gpu/calibrated.py);
docs/GPU.md, "What is calibrated, and why" and "Calibration on published measurements".

Measurements here are synthesized in the test from the model with known parameters (no file of
measurements/ is read). Expected values come from the documented fit: least squares on
log(predicted) - log(measured) plus a log-normal prior per fitted parameter, (log p - log prior) / 3,
over log-parameters inside the bounds; a parameter whose Jacobian column is (nearly) zero is
reported unconstrained and keeps its start value."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim import gpu as gm
from nmsim.sim.gpu import FitGroup, GemmCase, calibrate, calibrate_groups, geometry, predict_s, used_params

H100 = load_arch("h100").gpu
A100 = load_arch("a100").gpu
DOCS = Path(__file__).resolve().parents[2] / "docs" / "GPU.md"
BOUNDS = {p.name: (p.lo, p.hi) for p in (*gm.PARAMS, *gm.NONGEMM_PARAMS)}


# --- which parameters a set of rows depends on ------------------------------------------------

GEMM_CUBLAS = ["tensor_eff_cublas", "mem_eff", "power_w_per_sm_ghz", "cta_fixed_s", "overhead_s_cublas"]
GEMM_CSLT = ["tensor_eff_cusparselt", "mem_eff", "power_w_per_sm_ghz", "cta_fixed_s", "overhead_s_sparse_lib"]


def _in_params_order(names):
    return [n for n in gm.PARAM_NAMES if n in names]


@pytest.mark.parametrize("case,extra", [
    # kernel-level timing sees no host time, whatever the path
    (GemmCase("cublas", 8, 64, 64), []),
    (GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2), []),
    # call level: cuBLAS is a framework op (torch_op path)
    (GemmCase("cublas", 8, 64, 64, timing="torch_benchmark"), ["host_s_torch_op"]),
    # cuSPARSELt through the tensor subclass, plan re-created every call
    (GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2, timing="cuda_events"),
     ["host_s_subclass", "host_s_cslt_setup"]),
    # ... with the plan cached: the subclass dispatch only
    (GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2, timing="cuda_events", variant=("cached_plan",)),
     ["host_s_subclass"]),
    # ... through the C API (a C++ loop): no host term at all
    (GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2, timing="cuda_events", variant=("c_api",)), []),
    # ... called as a plain framework op: dispatch and plan setup, no subclass
    (GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2, timing="unknown", variant=("torch_op",)),
     ["host_s_torch_op", "host_s_cslt_setup"]),
])
def test_used_params_follow_kernel_timing_and_call_path(case, extra):
    base = GEMM_CUBLAS if case.kernel == "cublas" else GEMM_CSLT
    assert used_params([case]) == _in_params_order(base + extra)


def test_one_board_drops_only_what_several_boards_separate():
    cases = [GemmCase("cublas", 8, 64, 64), GemmCase("cusparselt", 8, 64, 64, n=2, m=4, index_bits=2)]
    both = used_params(cases)
    assert "power_w_per_sm_ghz" in both
    assert used_params(cases, one_board=True) == [n for n in both if n not in gm.ACROSS_BOARDS]


def test_used_params_epilogue_and_union_of_kernels():
    # the unfused epilogue is a GPU pass: it counts at kernel-level timing too
    cut = GemmCase("cutlass", 8, 64, 64, n=2, m=4, index_bits=2, variant=("unfused_epilogue",))
    assert used_params([cut]) == _in_params_order(
        ["tensor_eff_cutlass_sparse", "mem_eff", "power_w_per_sm_ghz", "cta_fixed_s", "overhead_s_sparse_lib",
         "epilogue_passes"])
    plain = GemmCase("cutlass", 8, 64, 64, n=2, m=4, index_bits=2)
    assert "epilogue_passes" not in used_params([plain])
    # several kernels: the union; never the whole-model parameters (no kernel lists them)
    mixed = [GemmCase("cublas", 8, 64, 64), GemmCase("triton_nm", 8, 64, 64, n=1, m=8, index_bits=3)]
    assert used_params(mixed) == _in_params_order(
        ["tensor_eff_cublas", "tensor_eff_triton", "mem_eff", "expand_ops", "power_w_per_sm_ghz", "cta_fixed_s",
         "overhead_s_cublas", "overhead_s_triton"])
    assert not set(used_params(mixed)) & set(gm.E2E_PARAM_NAMES)


# --- the fit --------------------------------------------------------------------------------

def test_nothing_free_is_nothing_to_calibrate():
    geo = geometry(H100, [GemmCase("cublas", 8, 64, 64)])
    params = gm.default_params(H100)
    fitted, info = calibrate(geo, np.array([1e-5]), params, [], H100.hbm_bytes_per_s)
    assert fitted == params and fitted is not params
    assert info["free"] == [] and info["unconstrained"] == [] and info["cost"] is None
    assert info["nfev"] == 0 and info["status"] == "nothing to calibrate"
    values = {"a": 1.0}
    out, info = calibrate_groups([], values, [])
    assert out == values and out is not values and info["nfev"] == 0


def _host_bound_row():
    # 8 x 64 x 64 fp16 on an H100: a few us of kernel and launch, below any host floor >= 10 us; timed
    # with torch.utils.benchmark, so the call costs max(GPU, host) = host_s_torch_op
    case = GemmCase("cublas", 8, 64, 64, timing="torch_benchmark")
    params = gm.default_params(H100) | {"host_s_torch_op": 1e-5}
    geo = geometry(H100, [case])
    gpu_s = predict_s(geo, params | {"host_s_torch_op": 0.0}, H100.hbm_bytes_per_s)[0]
    assert gpu_s < 1e-5
    return geo, params


def test_prior_pulls_the_fit_by_the_documented_weight():
    # one row whose predicted time is the host floor p itself: residual x - log(t_meas), prior
    # (x - log p0) / 3. The minimum of (x - a)^2 + (x - b)^2 / 9 is x = (9a + b) / 10.
    geo, params = _host_bound_row()
    measured = 5e-5                                          # five times the 10 us start (and prior)
    fitted, info = calibrate(geo, np.array([measured]), params, ["host_s_torch_op"], H100.hbm_bytes_per_s)
    a, b = math.log(measured), math.log(1e-5)
    x = (9 * a + b) / 10
    assert fitted["host_s_torch_op"] == pytest.approx(math.exp(x), rel=1e-6)     # 5e-5 / 5**0.1 = 42.6 us
    assert math.exp(x) == pytest.approx(5e-5 / 5 ** 0.1, rel=1e-12)
    # cost: half the sum of the squared residuals, data and prior
    assert info["cost"] == pytest.approx(0.5 * ((x - a) ** 2 + ((x - b) / 3) ** 2), rel=1e-5)
    assert info["free"] == ["host_s_torch_op"] and info["unconstrained"] == [] and info["nfev"] >= 1
    # every other parameter is returned as given
    assert {k: v for k, v in fitted.items() if k != "host_s_torch_op"} == {
        k: v for k, v in params.items() if k != "host_s_torch_op"}


def test_a_parameter_no_row_reaches_is_unconstrained_and_keeps_its_start():
    # at kernel-level timing (CUDA graphs) the host floor never enters: its Jacobian column is 0
    case = GemmCase("cublas", 512, 1024, 1024)
    geo = geometry(H100, [case])
    params = gm.default_params(H100) | {"host_s_torch_op": 3.3e-5}
    true = params | {"tensor_eff_cublas": 0.6}
    measured = predict_s(geo, true, H100.hbm_bytes_per_s)
    fitted, info = calibrate(geo, measured, params, ["host_s_torch_op", "overhead_s_cublas"], H100.hbm_bytes_per_s)
    assert info["unconstrained"] == ["host_s_torch_op"]
    assert fitted["host_s_torch_op"] == pytest.approx(3.3e-5, rel=1e-12)
    assert fitted["overhead_s_cublas"] != params["overhead_s_cublas"]            # this one the row moves


def test_threshold_of_unconstrained_is_a_micro_change_of_the_log_time():
    # an additive term p of a time t moves log t by d(log t)/d(log p) = p / t. A launch overhead of
    # 1.4e-6 of a ~12 ms GEMM (16384^3 fp16 on an H100 at ~78% of 989 TFLOP/s) moves the log residual
    # by 1.4e-6 per unit of log p: above the 1e-6 threshold (constrained); 4e-7 of a ~47 ms GEMM
    # (4 x 16384 rows) moves it by 4e-7: below (unconstrained)
    for rows, frac, unconstrained in ((16384, 1.4e-6, []), (65536, 4e-7, ["overhead_s_cublas"])):
        geo = geometry(H100, [GemmCase("cublas", rows, 16384, 16384)])
        base = gm.default_params(H100) | {"overhead_s_cublas": 0.0}
        kernel_s = predict_s(geo, base, H100.hbm_bytes_per_s)[0]
        assert 5e-3 * rows / 16384 < kernel_s < 5e-2 * rows / 16384
        params = base | {"overhead_s_cublas": frac * kernel_s}
        assert params["overhead_s_cublas"] > BOUNDS["overhead_s_cublas"][0]       # inside the bounds
        measured = predict_s(geo, params, H100.hbm_bytes_per_s)
        _, info = calibrate(geo, measured, params, ["overhead_s_cublas"], H100.hbm_bytes_per_s)
        assert info["unconstrained"] == unconstrained, frac


@pytest.mark.parametrize("name,start", [("tensor_eff_cublas", 3.0),        # above its upper bound 2.0
                                        ("overhead_s_cublas", 1e-9)])      # below its lower bound 1e-8
def test_a_start_outside_the_bounds_is_clipped_into_them(name, start):
    cases = [GemmCase("cublas", 4096, 4096, 4096), GemmCase("cublas", 16, 256, 256)]
    geo = geometry(H100, cases)
    true = gm.default_params(H100) | {"tensor_eff_cublas": 0.7, "overhead_s_cublas": 5e-6}
    measured = predict_s(geo, true, H100.hbm_bytes_per_s)
    fitted, info = calibrate(geo, measured, true | {name: start}, [name], H100.hbm_bytes_per_s)
    lo, hi = BOUNDS[name]
    assert lo <= fitted[name] <= hi
    assert fitted[name] != start and info["unconstrained"] == []


def test_calibration_recovers_known_factors():
    # compute-bound, HBM-bound and launch-bound rows generated with known parameters away from the
    # start values: the fit finds them. The prior (sigma 3, centred on the start) pulls each by about
    # log(start / true) / (1 + 9 * sum of J^2) with J ~ 1 on the rows a parameter dominates: a tenth
    # of the way back to the start at most, with two such rows each
    cases = [GemmCase("cublas", 4096, 8192, 8192), GemmCase("cublas", 8192, 4096, 4096),
             GemmCase("cublas", 1, 16384, 8192), GemmCase("cublas", 2, 8192, 16384),
             GemmCase("cublas", 8, 64, 64), GemmCase("cublas", 16, 128, 64)]
    geo = geometry(H100, cases)
    start = gm.default_params(H100) | {"tensor_eff_cublas": 0.75, "mem_eff": 0.8, "overhead_s_cublas": 4e-6}
    true = start | {"tensor_eff_cublas": 0.62, "mem_eff": 0.9, "overhead_s_cublas": 6e-6}
    measured = predict_s(geo, true, H100.hbm_bytes_per_s)
    free = ["tensor_eff_cublas", "mem_eff", "overhead_s_cublas"]
    fitted, info = calibrate(geo, measured, start, free, H100.hbm_bytes_per_s)
    for name in free:
        pull = math.log(fitted[name] / true[name]) / math.log(start[name] / true[name])
        assert 0.0 <= pull < 0.1, (name, fitted[name])
    # the minimum costs no more than the truth does (exact rows: only its prior residuals)
    at_truth = 0.5 * sum((math.log(true[n] / start[n]) / 3) ** 2 for n in free)
    assert info["unconstrained"] == [] and info["cost"] <= at_truth


def test_joint_fit_gives_each_architecture_its_own_efficiency():
    # the same compute-bound shapes on an A100 (sm80) and an H100 (sm90), made with different cuBLAS
    # efficiencies: one key per class for per-architecture parameters, one for the others
    cases = [GemmCase("cublas", 4096, 4096, 8192), GemmCase("cublas", 8192, 8192, 4096), GemmCase("cublas", 8, 64, 64)]
    values = {gm.param_key(n, a): v for a, g in (("sm80", A100), ("sm90", H100))
              for n, v in gm.default_params(g).items()}
    truth = values | {"tensor_eff_cublas@sm80": 0.55, "tensor_eff_cublas@sm90": 0.85}
    groups = []
    for g, arch in ((A100, "sm80"), (H100, "sm90")):
        geo = geometry(g, cases)
        groups.append(FitGroup(geo, g.hbm_bytes_per_s, arch,
                               predict_s(geo, gm.resolve(truth, arch), g.hbm_bytes_per_s)))
    free = ["tensor_eff_cublas@sm80", "tensor_eff_cublas@sm90"]
    fitted, info = calibrate_groups(groups, values, free)
    # each within a tenth of the way back to its start (the prior; two compute-bound rows per class)
    for key, want in (("tensor_eff_cublas@sm80", 0.55), ("tensor_eff_cublas@sm90", 0.85)):
        pull = math.log(fitted[key] / want) / math.log(values[key] / want)
        assert 0.0 <= pull < 0.1, (key, fitted[key])
    assert info["free"] == free and info["unconstrained"] == []


# --- the shipped values --------------------------------------------------------------------

def test_shipped_values_are_inside_their_bounds_and_classes():
    per_arch = set(gm.PER_ARCH)
    for cls, vals in gm.CALIBRATED.items():
        assert cls == "any" or re.fullmatch(r"sm\d\d", cls), cls
        for name, v in vals.items():
            assert name in BOUNDS, name
            assert (name in per_arch) == (cls != "any"), (cls, name)
            lo, hi = BOUNDS[name]
            assert lo <= v <= hi, (cls, name, v)


# "name 1.28 us" / "name 0.78"; a per-architecture value of the end-to-end row names its class after
# it: "sustained_frac 0.62 (sm75), 1.0 (sm80, ..."
NUM = r"(\d+(?:\.\d+)?)"
ENTRY = re.compile(rf"\b([a-z][a-z0-9_]*) {NUM}( us)?(?: \((sm\d\d)\)(?:, {NUM} \((sm\d\d))?)?")


def _documented_fit() -> dict[tuple[str, str], tuple[float, float]]:
    """(class, parameter) -> (value in the parameter's unit, half a unit of the last printed digit)
    from docs/GPU.md's "Fitted values" table."""
    text = DOCS.read_text()
    table = text[text.index("**Fitted values**"):]
    table = table[table.index("| class | values |"):]
    table = table[:table.index("\n\n")]
    out = {}

    def add(cls, name, num, unit):
        scale = 1e-6 if unit else 1.0
        decimals = len(num.split(".")[1]) if "." in num else 0
        out[(cls, name)] = (float(num) * scale, 0.5 * 10.0 ** -decimals * scale)

    for row in table.splitlines()[2:]:
        cls_cell, values = (c.strip() for c in row.strip("|").split("|", 1))
        row_cls = cls_cell.split()[0]
        for m in ENTRY.finditer(values):
            name, num, unit, cls1, num2, cls2 = m.groups()
            if name not in BOUNDS:
                continue
            if name in gm.PER_ARCH:
                add(cls1 or row_cls, name, num, unit)
                if num2:
                    add(cls2, name, num2, unit)
            else:
                add("any", name, num, unit)
    return out


def test_shipped_values_are_the_documented_fit():
    doc = _documented_fit()
    shipped = {(cls, n): v for cls, vals in gm.CALIBRATED.items() for n, v in vals.items()}
    assert set(doc) == set(shipped), sorted(set(doc) ^ set(shipped))
    for key, (value, half_unit) in doc.items():
        assert abs(shipped[key] - value) <= half_unit * 1.0001, (key, shipped[key], value)


def test_default_params_take_the_shipped_values_of_the_class():
    # an A100 (sm80) is modelled with the sm80 fit and the architecture-independent ones
    p = gm.default_params(A100)
    for name, v in {**gm.CALIBRATED["sm80"], **gm.CALIBRATED["any"]}.items():
        if name in p:
            assert p[name] == v, name
    # the non-GEMM kernels take their fitted values from the 'any' class
    ng = gm.nongemm_default_params(A100)
    assert ng["nongemm_mem_eff"] == gm.CALIBRATED["any"]["nongemm_mem_eff"]
    assert ng["nongemm_launch_s"] == gm.CALIBRATED["any"]["overhead_s_cublas"]


def test_used_params_include_the_8bit_factor_only_for_8bit_tensor_work():
    fp16 = GemmCase("cublas", 64, 1024, 1024)
    int8 = GemmCase("cublas", 64, 1024, 1024, "int8")
    fp8 = GemmCase("cusparselt", 64, 1024, 1024, "fp8", n=2, m=4, index_bits=2)
    decode = GemmCase("triton_nm_decode", 1, 1024, 1024, "int8", n=2, m=4, index_bits=2)
    assert "tensor_eff_8bit" not in used_params([fp16])
    assert "tensor_eff_8bit" in used_params([fp16, int8]) and "tensor_eff_8bit" in used_params([fp8])
    assert "tensor_eff_8bit" not in used_params([decode])     # CUDA-core gathers, no tensor work


def test_a_measured_prior_holds_against_one_row_an_assumed_one_does_not():
    # one HBM-bound row measured at half the memory efficiency of the prior: in log space the MAP
    # fit of x = log(mem_eff / prior) minimizes (J x - r)^2 + (x / sigma)^2 with r = log 0.5 and J
    # close to 1, so x = J r / (J^2 + 1 / sigma^2): sigma 0.25 (a stream measurement, sm89) leaves it
    # within 5 % of the prior, sigma 3 (the assumed prior of sm75) moves it 90 % of the way
    case = GemmCase("cublas", 1, 16384, 16384)
    geo = geometry(H100, [case])
    prior = gm.default_params(H100) | {"mem_eff": 0.9}
    measured = predict_s(geo, prior | {"mem_eff": 0.45}, H100.hbm_bytes_per_s)
    assert gm.prior_sigma("mem_eff@sm89") == gm.MEASURED_PRIOR_SIGMA == 0.25
    assert gm.prior_sigma("mem_eff@sm75") is None and gm.prior_sigma("mem_eff@_") is None
    assert gm.prior_sigma("tensor_eff_cublas@sm89") is None
    for arch, expect in (("sm89", 0.9 * 0.5 ** (1 / (1 + 1 / 0.25 ** 2))), ("sm75", 0.9 * 0.5 ** (1 / (1 + 1 / 9)))):
        values = {gm.param_key(n, arch): v for n, v in prior.items()}
        fitted, info = calibrate_groups([FitGroup(geo, H100.hbm_bytes_per_s, arch, measured)], values,
                                        [gm.param_key("mem_eff", arch)])
        assert fitted[gm.param_key("mem_eff", arch)] == pytest.approx(expect, rel=0.03), arch


def test_the_mem_eff_prior_is_the_stream_measurement_of_the_class():
    # te42kyfo/gpu-benches@1c36d50 gpu-stream: best "read" GB/s over the boards' datasheet GB/s
    measured = {"a100-40gb": 1490 / 1555, "a100": 1490 / 1555, "a40": 679 / 696, "rtx3060": 679 / 696,
                "l40s": 844 / 864, "rtx4090": 844 / 864, "h100-pcie": 1942 / 2000, "h200": 1942 / 2000}
    for preset, frac in measured.items():
        assert gm.prior_params(load_arch(preset).gpu)["mem_eff"] == pytest.approx(frac, rel=1e-12), preset
    assert gm.prior_params(load_arch("t4").gpu)["mem_eff"] == 0.8       # no stream measurement of sm75
