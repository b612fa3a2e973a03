"""Calibration: fit the free parameters (params.py) to measured kernel times by least squares
on log time (docs/GPU.md, "What is calibrated, and why")."""
from __future__ import annotations

import numpy as np

from .geometry import Geometry
from .params import PARAMS
from .timing import predict_s


def used_params(kernels: set[str]) -> list[str]:
    """Names of the parameters that cases of these kernels depend on."""
    return [p.name for p in PARAMS if set(p.kernels) & kernels]


def calibrate(geo: Geometry, measured_s: np.ndarray, params: dict, free: list[str]) -> tuple[dict, dict]:
    """Least squares on log(predicted / measured) over the `free` parameters (others fixed at
    `params`), in log-parameter space within each Param's bounds; `measured_s` in seconds, one per
    case of `geo`. Returns (params in their units: fractions, ops per slot, seconds; fit info:
    free, cost = half the sum of squared log residuals, nfev (count), status)."""
    from scipy.optimize import least_squares

    if not free:
        return dict(params), {"free": [], "cost": None, "nfev": 0, "status": "nothing to calibrate"}
    bounds = {p.name: (p.lo, p.hi) for p in PARAMS}
    lo = np.log([bounds[f][0] for f in free])
    hi = np.log([bounds[f][1] for f in free])
    x0 = np.clip(np.log([params[f] for f in free]), lo + 1e-9, hi - 1e-9)
    log_meas = np.log(measured_s)

    def residuals(x):
        p = dict(params, **{f: float(np.exp(v)) for f, v in zip(free, x)})
        return np.log(predict_s(geo, p)) - log_meas

    # kinks (max, min over tiles) make the objective piecewise smooth: a coarse difference step
    # sees across them instead of reading a zero slope on one side
    fit = least_squares(residuals, x0, bounds=(lo, hi), method="trf", diff_step=1e-3, x_scale=1.0)
    out = dict(params, **{f: float(np.exp(v)) for f, v in zip(free, fit.x)})
    return out, {"free": list(free), "cost": float(fit.cost), "nfev": int(fit.nfev), "status": fit.message}
