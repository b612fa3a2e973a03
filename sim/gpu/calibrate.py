"""Calibration: fit the free parameters (params.py) to measured call times by least squares on log
time (docs/GPU.md, "What is calibrated, and why"), on one GPU (`calibrate`) or jointly over
several (`calibrate_groups`: per-architecture parameters get one value per architecture class)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calls import call_path
from .geometry import Geometry
from .kernels import eight_bit_tensor
from .params import ACROSS_BOARDS, PARAMS, param_key, prior_sigma
from .timing import predict_s

_BOUNDS = {p.name: (p.lo, p.hi) for p in PARAMS}
# a parameter whose fitted log-value moves the log residuals less than this (summed norm) is not
# constrained by the rows: it is reported as such and keeps its starting value
_UNCONSTRAINED = 1e-6
# assumed: a weak log-normal prior on every fitted parameter (sigma = 3 in log space, a factor of
# 20): a maximum a posteriori fit that keeps a parameter the rows barely see near its prior instead
# of letting it trade off against another (an overhead against an efficiency) without limit
PRIOR_SIGMA = 3.0


@dataclass
class FitGroup:
    """The rows of one GPU in a joint fit: their geometry, the GPU's HBM rate (B/s), its
    architecture class ('sm80') and the measured times (s)."""

    geo: Geometry
    hbm_bytes_per_s: float
    arch: str
    measured_s: np.ndarray


def used_params(cases: list, one_board: bool = False) -> list[str]:
    """Names of the parameters the times of these GemmCases depend on: by kernel, and the host and
    epilogue terms only where a case's timing and call path use them; `one_board`: without those
    only several boards can separate (params.ACROSS_BOARDS), for a fit or plan on one device's rows."""
    kernels = {c.kernel for c in cases}
    call_level = [c for c in cases if c.timing not in ("profiler", "cuda_graph")]
    paths = {call_path(c.kernel, c.variant) for c in call_level}
    need = {"host_s_torch_op": "torch_op" in paths, "host_s_subclass": "torch_subclass" in paths,
            "host_s_cslt_setup": any(c.kernel == "cusparselt" and "cached_plan" not in c.variant
                                     and call_path(c.kernel, c.variant) != "c_api" for c in call_level),
            "epilogue_passes": any("unfused_epilogue" in c.variant for c in cases),
            "tensor_eff_8bit": any(eight_bit_tensor(c.kernel, c.dtype) for c in cases)}
    return [p.name for p in PARAMS if need.get(p.name, bool(set(p.kernels) & kernels))
            and not (one_board and p.name in ACROSS_BOARDS)]


def resolve(values: dict[str, float], arch: str) -> dict[str, float]:
    """The parameter dict (by name) of one architecture class from a joint fit's values keyed by
    params.param_key (fractions, seconds, ... as each parameter's unit)."""
    return {p.name: values[param_key(p.name, arch)] for p in PARAMS}


def calibrate(geo: Geometry, measured_s: np.ndarray, params: dict, free: list[str],
              hbm_bytes_per_s: float) -> tuple[dict, dict]:
    """Least squares on log(predicted / measured) over the `free` parameters (others fixed at
    `params`), in log-parameter space within each Param's bounds; `measured_s` in seconds, one per
    case of `geo`; `hbm_bytes_per_s` the GPU's (B/s). Returns (params in their units: fractions,
    ops per slot, seconds; fit info: free, unconstrained, cost = half the sum of squared log
    residuals, nfev (count), status)."""
    group = FitGroup(geo, hbm_bytes_per_s, "_", np.asarray(measured_s, dtype=np.float64))
    values = {param_key(n, "_"): v for n, v in params.items()}
    fitted, info = calibrate_groups([group], values, [param_key(f, "_") for f in free])
    names = {param_key(n, "_"): n for n in params}
    info = info | {k: [names[f] for f in info[k]] for k in ("free", "unconstrained")}
    return {names[k]: v for k, v in fitted.items()}, info


def calibrate_groups(groups: list[FitGroup], values: dict[str, float], free: list[str]) -> tuple[dict, dict]:
    """Joint least squares over several GPUs: `values` every parameter by its key
    (params.param_key: 'tensor_eff_cublas@sm80'), also the prior of each free key (PRIOR_SIGMA;
    params.prior_sigma where the prior is a measurement),
    `free` the keys to fit. Returns (values with the
    fitted keys replaced, in each parameter's unit: fractions, seconds, ...; fit info as `calibrate`)."""
    from scipy.optimize import least_squares

    if not free:
        return dict(values), {"free": [], "unconstrained": [], "cost": None, "nfev": 0,
                              "status": "nothing to calibrate"}
    lo = np.log([_BOUNDS[f.split("@")[0]][0] for f in free])
    hi = np.log([_BOUNDS[f.split("@")[0]][1] for f in free])
    x0 = np.clip(np.log([values[f] for f in free]), lo + 1e-9, hi - 1e-9)
    log_meas = np.concatenate([np.log(g.measured_s) for g in groups])
    log_prior = np.log([values[f] for f in free])
    sigma = np.asarray([prior_sigma(f) or PRIOR_SIGMA for f in free])

    def at(x):
        return dict(values, **{f: float(np.exp(v)) for f, v in zip(free, x)})

    def residuals(x):
        v = at(x)
        pred = [predict_s(g.geo, resolve(v, g.arch), g.hbm_bytes_per_s) for g in groups]
        return np.concatenate([np.log(np.concatenate(pred)) - log_meas, (x - log_prior) / sigma])

    # kinks (max, min over tiles and host floors) make the objective piecewise smooth: a coarse
    # difference step sees across them instead of reading a zero slope on one side
    fit = least_squares(residuals, x0, bounds=(lo, hi), method="trf", diff_step=1e-3, x_scale=1.0)  # pragma: no mutate (solver tuning: the step and scaling change the path, not the minimum within ftol)
    moved = np.linalg.norm(fit.jac[:len(log_meas)], axis=0)
    unconstrained = [f for f, j in zip(free, moved) if j < _UNCONSTRAINED]
    x = np.where(moved < _UNCONSTRAINED, x0, fit.x)
    return at(x), {"free": list(free), "unconstrained": unconstrained, "cost": float(fit.cost),
                   "nfev": int(fit.nfev), "status": fit.message}
