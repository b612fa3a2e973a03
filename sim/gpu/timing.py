"""Timing: the seconds of every (case, tile) pair of a `Geometry` under given parameters, the
fastest tile of each case, and the model's answer per case (`GemmTime`).

Each wave is costed as a software pipeline of K steps: max(compute, memory) plus one step of the
shorter of the two (the prologue or epilogue that cannot overlap); memory is the larger of HBM and
L2 time. A fixed overhead per kernel family is added (docs/GPU.md, "Formulas").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmsim.accel.spec import GPU

from .calls import call_times
from .geometry import Geometry, geometry
from .kernels import FAMILIES, GemmCase
from .params import default_params
from .tiles import CtaTile


def _family_values(params: dict, fam: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    return np.asarray([params[x] for x in names])[fam]


# assumed: the exponent of the smooth minimum in power_scale (6: 0.3 % slower at half the TDP, 11 % at
# it); chosen on stop 26's first calibration set (the L4 and H100 PCIe added): 6 fit it better than 8
# (least-squares cost 1.166 vs 1.201, where 8 leaves the fit at the knee's flat side and lowers sm90's
# cuBLAS efficiency instead) and kept the unthrottled boards' efficiencies where they were, where 4
# (1.163) moved sm89's cuBLAS efficiency to 1.11
POWER_KNEE = 6.0


def power_scale(geo: Geometry, params: dict) -> float:
    """The fraction (0-1] of its boost clock a board sustains under tensor-core load: about 1 where
    the power that work draws at the boost clock, SMs x GHz x `power_w_per_sm_ghz` (W), is well under
    the TDP, about TDP over that power where it is well over (the clock drops until power meets the
    limit, energy per operation held); a smooth minimum of the two, (1 + r^k)^(-1/k) with r = power /
    TDP, so that boards near their limit throttle a little and a fit sees the slope on both sides
    (docs/GPU.md, "Power limit")."""
    r = geo.sm_ghz * params["power_w_per_sm_ghz"] / geo.tdp_w
    return float((1.0 + r ** POWER_KNEE) ** (-1.0 / POWER_KNEE))


def pair_times(geo: Geometry, params: dict) -> dict[str, np.ndarray]:
    """Per (case, tile) pair, in seconds: total_s and its parts (compute_s, memory_s, hbm_s, l2_s
    summed over waves; overhead_s), and waves (count), under `params`."""
    eff_c = _family_values(params, geo.family, ("tensor_eff_cublas", "tensor_eff_cusparselt",
                                                "tensor_eff_cutlass_sparse", "tensor_eff_triton", "decode_eff"))
    # 8-bit tensor work reaches its own fraction of its (2x) rated rate, the same for every family
    eff_c = eff_c * np.where(geo.eight_bit, params["tensor_eff_8bit"], 1.0)
    eff_m = np.where(geo.family == FAMILIES.index("decode"), params["decode_eff"], params["mem_eff"])
    overhead = _family_values(params, geo.family, ("overhead_s_cublas", "overhead_s_sparse_lib",
                                                   "overhead_s_sparse_lib", "overhead_s_triton", "overhead_s_triton"))
    # a CTA fills its pipeline before the first MMA and drains its tile after the last: a fixed time
    # per CTA that long K hides and short K exposes (not for the decode kernel, which has no MMA)
    fixed = np.where(geo.family == FAMILIES.index("decode"), 0.0, params["cta_fixed_s"])
    # the SM clock, not the memory clock, drops under a power limit: only the SMs' work slows
    t_cta = (geo.t_tensor_s / eff_c + geo.t_expand_s * params["expand_ops"]) / power_scale(geo, params) + fixed
    slots = geo.sms * geo.occupancy
    # stream-K kernels spread the whole work over the SMs: no quantization into waves
    full = np.where(geo.stream_k, geo.ctas / slots, np.floor(geo.ctas / slots))
    tail = geo.ctas - np.floor(geo.ctas / slots) * slots
    tail = np.where(geo.stream_k, 0.0, tail)

    def wave(n_cta, per_sm, active_sms):
        comp = per_sm * t_cta
        hbm = n_cta * geo.hbm_cta_s / eff_m
        # idle SMs leave their share of L2 bandwidth unused; the L2 rate is taken as given (the
        # presets' figure is already a sustained-rate assumption), only HBM has a calibrated efficiency
        l2 = n_cta * geo.l2_cta_s / np.maximum(active_sms, 1)
        mem = np.maximum(hbm, l2)
        return np.maximum(comp, mem) + np.minimum(comp, mem) / geo.steps, comp, hbm, l2

    wf, cf, hf, lf = wave(slots, geo.occupancy, geo.sms)
    wt, ct, ht, lt = wave(tail, np.ceil(tail / geo.sms), np.minimum(tail, geo.sms))
    has_tail = tail > 0
    total = full * wf + np.where(has_tail, wt, 0.0) + overhead
    hbm_s = full * hf + np.where(has_tail, ht, 0.0)
    l2_s = full * lf + np.where(has_tail, lt, 0.0)
    return {"total_s": total, "compute_s": full * cf + np.where(has_tail, ct, 0.0), "hbm_s": hbm_s, "l2_s": l2_s,
            "memory_s": np.maximum(hbm_s, l2_s), "overhead_s": overhead, "waves": np.ceil(full) + has_tail}


def best_pairs(geo: Geometry, params: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(index of the fastest pair of every case, pair_times in seconds); cases with a given tile
    have one pair."""
    pt = pair_times(geo, params)
    order = np.lexsort((pt["total_s"], geo.row))               # by case, then time: first of each case is its best
    first = np.flatnonzero(np.r_[True, geo.row[order][1:] != geo.row[order][:-1]])
    return order[first], pt


def predict_parts(geo: Geometry, params: dict, hbm_bytes_per_s: float) -> dict[str, np.ndarray]:
    """Per case, the call around the kernel at its tile, or the fastest of its menu, as
    calls.call_times gives it (s): total_s as its timing method sees it, gpu_s, host_s, extra_s;
    `hbm_bytes_per_s` the GPU's (B/s)."""
    kernel_s = np.minimum.reduceat(pair_times(geo, params)["total_s"], geo.starts)
    return call_times(geo.calls, kernel_s, params, hbm_bytes_per_s)


def predict_s(geo: Geometry, params: dict, hbm_bytes_per_s: float) -> np.ndarray:
    """Predicted time (s) of every case as its timing method sees the call (predict_parts' total_s)."""
    return predict_parts(geo, params, hbm_bytes_per_s)["total_s"]


def bound_of(compute_s: float, hbm_s: float, l2_s: float) -> str:
    """'compute', 'dram' (HBM) or 'buffer' (L2): which summed wave term (s) is largest."""
    if compute_s >= max(hbm_s, l2_s):
        return "compute"
    return "dram" if hbm_s >= l2_s else "buffer"


@dataclass(frozen=True)
class GemmTime:
    """The model's answer for one case: seconds in total (the call as its timing method sees it) and
    by part (kernel_s: the kernel with its overhead; compute, memory = max(HBM, L2), HBM, L2 summed
    over waves; overhead; extra_s: GPU work the call path adds; host_s: the host time of a call,
    0 at kernel-level timing), HBM and L2 bytes (B), tile, CTAs, waves and resident CTAs per SM
    (counts), bound."""

    total_s: float
    kernel_s: float
    extra_s: float
    host_s: float
    compute_s: float
    memory_s: float
    hbm_s: float
    l2_s: float
    overhead_s: float
    hbm_bytes: float
    l2_bytes: float
    tile: CtaTile
    ctas: int
    waves: int
    occupancy: int

    @property
    def bound(self) -> str:
        """'compute', 'dram' (HBM) or 'buffer' (L2): the largest of the summed wave terms."""
        return bound_of(self.compute_s, self.hbm_s, self.l2_s)


def gemm_times(gpu: GPU, cases: list[GemmCase], params: dict | None = None) -> list[GemmTime]:
    """Model every case on `gpu` with `params` (default: `default_params(gpu)`): one `GemmTime`
    (seconds, bytes, counts) per case, at its tile or the fastest of its menu."""
    params = params or default_params(gpu)
    geo = geometry(gpu, cases)
    best, pt = best_pairs(geo, params)
    call = call_times(geo.calls, pt["total_s"][best], params, gpu.hbm_bytes_per_s)
    out = []
    for c, i in enumerate(best):
        out.append(GemmTime(total_s=float(call["total_s"][c]), kernel_s=float(pt["total_s"][i]),
                            extra_s=float(call["extra_s"][c]), host_s=float(call["host_s"][c]),
                            **{k: float(pt[k][i]) for k in ("compute_s", "memory_s", "hbm_s", "l2_s", "overhead_s")},
                            hbm_bytes=float(geo.hbm_bytes[i]), l2_bytes=float(geo.l2_bytes[i]), tile=geo.tiles[i],
                            ctas=int(geo.ctas[i]), waves=int(pt["waves"][i]), occupancy=int(geo.occupancy[i])))
    return out
