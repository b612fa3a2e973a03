"""The work of published end-to-end rows, kernel by kernel, and its seconds under given parameters
(docs/GPU.md, "Whole-model latency"): what gpu_kernels/e2e.py predicts, fits and scores.

A row's workload (the zoo model at its batch and sequence length; decode: one token per sequence)
is grouped into the kernels its framework launches (fusion.py). GEMM kernels are costed by the GPU
GEMM model, once per distinct call, with the parameters of the GEMM calibration; fused attention
(sim/gpu/attention.py) and non-GEMM kernels (sim/gpu/nongemm.py) are kept as work, so that the
end-to-end parameters (framework gaps, non-GEMM efficiencies) re-time them without rebuilding:

* kernel-level frameworks (TensorRT, torch.compile with CUDA graphs): every kernel costs its GPU
  time plus the framework's gap, `gap_launches_<framework>` launch floors of the GPU
  (params.graph_launch_floor_s: measured cycles at the boost clock), one launch model for GEMM,
  attention and non-GEMM kernels alike (the GEMM model's own per-call overheads are replaced by it);
* PyTorch eager: every op is a call that costs the larger of its GPU time (with the per-kernel
  overhead `overhead_s_cublas`, the same for non-GEMM kernels) and its host time (`host_s_torch_op`).

GPU times (not gaps, not host times) are divided by the architecture's `sustained_frac`: the
fraction of the one-op-calibrated rates a whole-model run sustains (1 unless fitted).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .fusion import Kernel, kernels

FRAMEWORK_TIMING = {"tensorrt": "cuda_graph", "torch_compile": "cuda_graph", "torch_eager": "python_eager"}
FRAMEWORK_GAP = {"tensorrt": "gap_launches_tensorrt", "torch_compile": "gap_launches_torch_compile"}


@lru_cache(maxsize=256)
def _build(model: str, batch: int, seq: int, sparsity: str):
    from nmsim.workloads import Sparsity, zoo

    wl = zoo.build(model, batch=batch, seq_len=seq)
    return wl.with_sparsity(Sparsity.parse(sparsity)) if sparsity != "dense" else wl


def row_workload(row: dict):
    """The zoo workload of a row (workloads.Workload): its model at the row's batch and sequence
    length (decode: one token per sequence), its linears 2:4 when the row says so."""
    return _build(row["model"], row["batch"], row["seq_len"] if row["phase"] == "inference" else 1, row["sparsity"])


def row_ops(row: dict) -> list:
    """The GEMM ops (workloads.Op) of the row's workload, in model order."""
    return row_workload(row).ops


def row_nongemm(row: dict) -> list:
    """The non-GEMM ops (workloads.NonGemmOp: norms, softmax, activations, adds, embeddings) of the
    row's workload, in model order."""
    return row_workload(row).nongemm


def row_kernels(row: dict) -> list[Kernel]:
    """The kernels the row's framework launches for its workload (fusion.kernels)."""
    return kernels(row_workload(row).layers, row["framework"])


def kernel_launches(row: dict) -> int:
    """Kernels the row's framework launches (count)."""
    return len(row_kernels(row))


def kernel_case(row: dict, k: Kernel):
    """The GemmCase of a GEMM kernel as the row's framework calls it: its GEMMs merged (N added
    up), cuBLAS for dense ones, the 2:4 library for pruned linears (cuSPARSELt, or torch's CUTLASS
    when the row's variant says `cutlass`; TensorRT and compiled graphs call it directly, through
    the C API), at the framework's timing."""
    from nmsim.sim.gpu import GemmCase

    op = k.gemms[0]
    sparse = not op.weight_sparsity.is_dense
    kernel = ("cutlass" if "cutlass" in row["variant"] else "cusparselt") if sparse else "cublas"
    path = ("c_api",) if sparse and row["framework"] != "torch_eager" else ()
    return GemmCase(kernel, op.M, sum(g.N for g in k.gemms), op.K, row["dtype"], 2 if sparse else 1,
                    4 if sparse else 1, 2 if sparse else 0, op.batch, None, FRAMEWORK_TIMING[row["framework"]], path)


def row_cases(row: dict) -> Counter:
    """{GemmCase: how many times the row runs it} over the row's GEMM kernels (kernel_case)."""
    return Counter(kernel_case(row, k) for k in row_kernels(row) if k.kind == "gemm")


@dataclass
class PresetWork:
    """The rows of one preset: their indices into the row list, the GPU, per row the kernel count
    and gap parameter name (None: eager), and per kernel occurrence arrays: GEMM calls (`gm_row`
    owning row, `gm_gpu` GPU seconds, `gm_host` host seconds, 0 at kernel level), non-GEMM kernels
    (`ng_row`, `ng`: KernelWork fields, `ng_eager`: a call with a host floor) and fused attention
    (`at_row`, `at`: AttentionWork fields)."""

    idx: np.ndarray
    gpu: object
    kernels: np.ndarray
    gap: list
    gm_row: np.ndarray
    gm_gpu: np.ndarray
    gm_host: np.ndarray
    ng_row: np.ndarray
    ng: object
    ng_eager: np.ndarray
    at_row: np.ndarray
    at: object


def _stack(items: list):
    """The fields of NamedTuples `items` (all of one type) as numpy arrays over the items, nested
    NamedTuples likewise; None when there are none."""
    if not items:
        return None
    return type(items[0])(*[_stack(list(col)) if hasattr(col[0], "_fields") else np.asarray(col, dtype=np.float64)
                            for col in zip(*items)])


# TensorRT builds INT8 engines from its own kernels (tactics timed at build time), not cuBLASLt's: the
# library 8-bit factor (params.py tensor_eff_8bit, fitted on cuBLASLt/cuSPARSELt/CUTLASS calls) is
# not applied to kernel-level frameworks. Chosen on the end-to-end calibration rows (TensorRT 2022
# INT8 on T4, A100, A30): 8.1 % MAPE without it, 8.7 % with it (stop 27, docs/GPU.md)
KERNEL_LEVEL_8BIT = 1.0


def _gemm_calls(gpu, cases: list, gemm_params: dict) -> dict:
    """{GemmCase: (GPU s, host s)} of distinct GEMM calls; kernel-level calls without the one-call
    overheads (the framework's gap replaces them) and at the 16-bit efficiency for 8-bit GEMMs
    (KERNEL_LEVEL_8BIT)."""
    from nmsim.sim import gpu as gm

    out = {}
    for eager in (False, True):
        todo = sorted({c for c in cases if (c.timing == "python_eager") == eager}, key=repr)
        if todo:
            q = gemm_params if eager else gemm_params | {"overhead_s_cublas": 0.0, "overhead_s_sparse_lib": 0.0,
                                                         "tensor_eff_8bit": KERNEL_LEVEL_8BIT}
            parts = gm.predict_parts(gm.geometry(gpu, todo), q, gpu.hbm_bytes_per_s)
            out |= {c: (float(g), float(h)) for c, g, h in zip(todo, parts["gpu_s"], parts["host_s"])}
    return out


def preset_work(rows: list[dict], idx: list[int], gpu, gemm_params: dict, l2_fraction: float) -> PresetWork:
    """The PresetWork of rows[idx] (all on `gpu`), GEMM calls timed under `gemm_params`; non-GEMM
    activations placed in L2 or HBM with `l2_fraction` (a fixed parameter, not fitted)."""
    from nmsim.sim.gpu.attention import attention_work
    from nmsim.sim.gpu.nongemm import kernel_work

    per_row = [(rows[i], row_kernels(rows[i])) for i in idx]
    cases = [(j, kernel_case(r, k)) for j, (r, ks) in enumerate(per_row) for k in ks if k.kind == "gemm"]
    calls = _gemm_calls(gpu, [c for _, c in cases], gemm_params)
    ng, ng_row, ng_eager, at, at_row = [], [], [], [], []
    for j, (r, ks) in enumerate(per_row):
        for k in ks:
            if k.kind == "attention":
                at.append(attention_work(gpu, k.gemms[0], k.gemms[1], k.ops[0] if k.ops else None, r["dtype"],
                                         l2_fraction))
                at_row.append(j)
            elif k.ops:
                ng.append(kernel_work(gpu, k.ops, r["dtype"], l2_fraction, on_chip=k.kind == "gemm"))
                ng_row.append(j)
                ng_eager.append(r["framework"] == "torch_eager")
    return PresetWork(
        idx=np.asarray(idx), gpu=gpu, kernels=np.asarray([len(ks) for _, ks in per_row], dtype=np.float64),
        gap=[FRAMEWORK_GAP.get(r["framework"]) for r, _ in per_row],
        gm_row=np.asarray([j for j, _ in cases], dtype=np.int64),
        gm_gpu=np.asarray([calls[c][0] for _, c in cases]), gm_host=np.asarray([calls[c][1] for _, c in cases]),
        ng_row=np.asarray(ng_row, dtype=np.int64), ng=_stack(ng), ng_eager=np.asarray(ng_eager, dtype=bool),
        at_row=np.asarray(at_row, dtype=np.int64), at=_stack(at))


def _per_row(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(rows, weights=values, minlength=n) if len(rows) else np.zeros(n)


def preset_seconds(w: PresetWork, params: dict) -> dict[str, np.ndarray]:
    """Per row of `w`, seconds under `params` (GEMM, non-GEMM and end-to-end parameters by name):
    gemm_s, nongemm_s, attention_s, gaps_s (kernels x gap x the GPU's launch floor; 0 in eager) and
    total_s. GPU times are divided by `sustained_frac`; an eager call costs at least its host time."""
    from nmsim.sim.gpu import graph_launch_floor_s
    from nmsim.sim.gpu.attention import attention_seconds
    from nmsim.sim.gpu.nongemm import work_seconds

    n, frac = len(w.idx), params["sustained_frac"]
    gemm = _per_row(w.gm_row, np.maximum(w.gm_gpu / frac, w.gm_host), n)
    nongemm = np.zeros(n)
    if len(w.ng_row):
        s = work_seconds(w.gpu, w.ng, params)
        busy = np.maximum(s["memory_s"], s["compute_s"]) / frac
        # eager: each op is a call, its kernel with the per-kernel overhead GEMMs pay, at least its host time
        per_kernel = np.where(w.ng_eager, np.maximum(params["overhead_s_cublas"] + busy, params["host_s_torch_op"]),
                              busy)
        nongemm = _per_row(w.ng_row, per_kernel, n)
    attention = np.zeros(n)
    if len(w.at_row):
        attention = _per_row(w.at_row, attention_seconds(w.gpu, w.at, params)["total_s"] / frac, n)
    gaps = w.kernels * np.asarray([params[g] if g else 0.0 for g in w.gap]) * graph_launch_floor_s(w.gpu)
    return {"gemm_s": gemm, "nongemm_s": nongemm, "attention_s": attention, "gaps_s": gaps,
            "total_s": gemm + nongemm + attention + gaps}
