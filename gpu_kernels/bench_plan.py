"""The bench's plan for a short GPU window (`nmsim gpu bench --budget-s S`; docs/GPU.md, "Benchmark
in a budget"): which rows to measure first, and how long each is expected to take.

Priority: the rows that best separate the model's mechanisms come first. For every candidate row the
model (sim/gpu, on the device's preset) gives the sensitivity of its predicted time to each free
parameter, d log t / d log p (a tensor efficiency, the memory efficiency, a per-kernel overhead,
the per-CTA fixed time, the expansion cost of our N:M kernel, ...). Rows are then picked greedily by
value per second of bench time, where a row's value is the sum over parameters of its sensitivity
weighted by 1 / (1 + what the rows already picked cover of that parameter): every mechanism gets
rows before any gets many, and cheap rows that pin one well are preferred. A 2:4 or Triton row
brings its cuBLAS row at the same shape along (a speedup needs both).

Cost: a row's wall time is estimated from the model's kernel time and the bench's timing method
(warm-up and timed graph replays over a pool of operand copies), plus assumed fixed costs below;
the bench corrects the estimates by the ratio it observes as it goes (bench.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# assumed: Python work, pool allocation, CUDA-graph capture and the correctness check of one row
ROW_FIXED_S = 0.25
# assumed: Triton's autotuner benchmarks every config of its menu on a new key (warm-up 25 ms and
# 100 ms of repetitions by default, triton.testing.do_bench), 9 prefill / up to 14 decode configs
AUTOTUNE_S_PER_CONFIG = 0.13
# assumed: compiling one Triton config the first time a kernel specialization appears (cold cache)
COMPILE_S_PER_CONFIG = 1.5
# assumed: torch.sparse.to_sparse_semi_structured per pool copy (pruning and compressing on the GPU)
COMPRESS_S_PER_COPY = 2e-3
# a pool of operand copies whose bytes exceed L2_FACTOR x L2, so that no timed call finds its
# operands in L2 (at most MAX_POOL copies); at least MIN_INNER calls per timed graph replay
L2_FACTOR = 2
MAX_POOL = 1024
MIN_INNER = 8
SENSITIVITY_STEP = 1.1      # parameters are perturbed by 10% to read d log t / d log p
TRITON_CONFIGS = {"triton_dense": 9, "triton_nm": 9, "triton_nm_decode": 14}


@dataclass(frozen=True)
class PlannedRow:
    """A bench row in priority order: the case, the model's kernel time and the estimated wall
    time of measuring it (s), and the value it added when picked (sum of weighted sensitivities)."""

    case: object
    predicted_s: float
    estimate_s: float
    value: float


def _gemm_case(case):
    from nmsim.sim.gpu import GemmCase, parse_kernel_pattern

    return GemmCase(case.kernel, case.M, case.N, case.K, case.dtype, *parse_kernel_pattern(case.pattern))


def sensitivities(cases: list, gpu) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(kernel seconds per case, |d log t / d log p| as cases x parameters, parameter names) on
    `gpu` at its default parameters."""
    from nmsim.sim import gpu as gm

    gcases = [_gemm_case(c) for c in cases]
    geo = gm.geometry(gpu, gcases)
    p = gm.default_params(gpu)
    names = gm.used_params(gcases, one_board=True)   # a bench file does not fit the across-board ones
    base = gm.predict_s(geo, p, gpu.hbm_bytes_per_s)
    sens = np.empty((len(cases), len(names)))
    for j, n in enumerate(names):
        t = gm.predict_s(geo, p | {n: p[n] * SENSITIVITY_STEP}, gpu.hbm_bytes_per_s)
        sens[:, j] = np.abs(np.log(t / base)) / math.log(SENSITIVITY_STEP)
    return base, sens, names


def pool_size(set_bytes: int, l2_bytes: int) -> int:
    """Copies (count) of one call's operands (`set_bytes`, B) so that together they exceed
    L2_FACTOR x the L2 size (`l2_bytes`, B), between 1 and MAX_POOL."""
    return max(1, min(MAX_POOL, math.ceil(L2_FACTOR * l2_bytes / max(set_bytes, 1))))


def estimate_row_s(case, kernel_s: float, *, repeats: int, warmup: int, l2_bytes: int, first: bool) -> float:
    """Estimated wall seconds to measure one row: fixed costs, Triton autotuning (and compiling when
    `first` of its kernel specialization), compressing 2:4 pool copies, and the timed calls."""
    e = {"fp32": 4}.get(case.dtype, 2)
    pool = pool_size((case.M * case.K + case.N * case.K + case.M * case.N) * e, l2_bytes)
    inner = pool * math.ceil(MIN_INNER / pool)
    t = ROW_FIXED_S + (warmup + repeats * inner + 1) * max(kernel_s, 2e-6)
    configs = TRITON_CONFIGS.get(case.kernel, 0)
    t += configs * (AUTOTUNE_S_PER_CONFIG + (COMPILE_S_PER_CONFIG if first else 0.0))
    if case.kernel in ("cusparselt", "cutlass"):
        t += pool * COMPRESS_S_PER_COPY
    return t


def budget_plan(cases: list, gpu, *, repeats: int, warmup: int, l2_bytes: int) -> list[PlannedRow]:
    """`cases` in priority order (module docstring) with their estimates; cases the GPU cannot run
    (PyTorch's CUTLASS 2:4 off compute capability 8.x, 2:4 without sparse tensor cores) are left out."""
    from nmsim.specfile import SpecError
    from nmsim.sim.gpu import kernel_rates

    runnable = []
    for c in cases:
        try:
            kernel_rates(gpu, _gemm_case(c))
            runnable.append(c)
        except SpecError:
            continue
    kernel_s, sens, _ = sensitivities(runnable, gpu)
    seen_kernel: set = set()
    est = np.empty(len(runnable))
    for i, c in enumerate(runnable):
        spec = (c.kernel, c.dtype, c.pattern)
        est[i] = estimate_row_s(c, float(kernel_s[i]), repeats=repeats, warmup=warmup, l2_bytes=l2_bytes,
                                first=spec not in seen_kernel)
        seen_kernel.add(spec)
    return _greedy(runnable, kernel_s, sens, est)


def _greedy(cases: list, kernel_s: np.ndarray, sens: np.ndarray, est: np.ndarray) -> list[PlannedRow]:
    baseline = {(c.model, c.layer, c.dtype, c.M): i for i, c in enumerate(cases) if c.kernel == "cublas"}
    covered = np.zeros(sens.shape[1])
    left = np.ones(len(cases), dtype=bool)
    order: list[PlannedRow] = []

    def take(i: int) -> None:
        value = float(sens[i] @ (1.0 / (1.0 + covered)))
        covered[:] += sens[i]
        left[i] = False
        order.append(PlannedRow(cases[i], float(kernel_s[i]), float(est[i]), value))

    while left.any():
        score = np.where(left, (sens @ (1.0 / (1.0 + covered))) / est, -np.inf)
        i = int(np.argmax(score))
        b = baseline.get((cases[i].model, cases[i].layer, cases[i].dtype, cases[i].M))
        if b is not None and left[b] and b != i:
            take(b)
        take(i)
    return order
