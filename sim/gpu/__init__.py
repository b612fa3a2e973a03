"""Tile-level cost model of one GPU GEMM kernel on the `h100`, `a100`, `t4` presets
(docs/GPU.md, "GPU cost model"; formulas there, with units and sources).

A kernel computes out[M, N] = x[M, K] @ W^T in CTA tiles of BLOCK_M x BLOCK_N, walking K in
steps of BLOCK_K. The model counts CTAs, packs them into waves over the SMs (occupancy from
shared memory and threads), and costs each wave as a software pipeline of K steps. Compute is the
tensor-core time of whole (padded) tiles at the dense or 2:4 sparse rate, plus, for our
`triton_nm` kernel, the CUDA-core work of expanding compressed weights. Memory is the larger of
HBM time and L2 time. The decode kernel is a bandwidth kernel that reads nonzeros, packed indices
and gathered activations. Kernels without a recorded tile run at their fastest tile of a menu.

One concept per module, each importing only those above it:

* `calls`: one kernel call as a measurement sees it: timing methods, call paths and their host
  times, activation padding and unfused epilogue passes (`CallTerms`, `call_terms`, `call_times`);
* `kernels`: the kernel catalogue (names, families, sparse tensor cores, DTYPE_BYTES), one kernel
  call (`GemmCase`), its rates, the N:M pattern text of measurement rows (`parse_kernel_pattern`);
* `tiles`: the CTA tile record (`CtaTile`), the tile menus (our Triton kernels autotune over the
  same ones), the candidate tiles of a call, a measurement row's `config` text (`parse_config`);
* `calibrated`: the values fitted on measurements/published, per architecture class (`CALIBRATED`);
* `params`: the free efficiencies and overheads (`Param`, `PARAMS`, `ACROSS_BOARDS`, `default_params`,
  `param_status`, `arch_class`) and the measured launch floor the framework gaps count in
  (`graph_launch_floor_s`);
* `geometry`: the parameter-free tile geometry of (call, tile) pairs (`Geometry`);
* `timing`: seconds per pair and per call (`pair_times`, `power_scale`, `best_pairs`, `predict_s`, `predict_parts`, `gemm_times`,
  `GemmTime`, `bound_of`);
* `calibrate`: least-squares fit of the parameters to measured times, on one GPU (`calibrate`) or
  jointly over several (`calibrate_groups`, `FitGroup`, `resolve`), `used_params`;
* `cost`: one op of a workload on a GPU preset as a `LayerResult` (`gpu_op_cost`), what
  `sim.simulate` uses for GPU presets;
* `nongemm`: non-GEMM operators as memory-bound kernels with a launch overhead, one op or a fused
  run of them per kernel, and their own parameters (`gpu_nongemm_cost`, `nongemm_terms`,
  `fused_kernel_terms`, `kernel_work`, `work_seconds`, `NONGEMM_PARAMS`; docs/GPU.md, "Non-GEMM kernels");
* `attention`: fused attention (score, softmax, context in one kernel, the scores on chip) for the
  frameworks that run it (`attention_work`, `attention_seconds`; docs/GPU.md, "Fused attention").
"""
from .calibrate import FitGroup, calibrate, calibrate_groups, resolve, used_params
from .calibrated import CALIBRATED
from .calls import (CALL_PATHS, DENSE_MIN_ROWS, KERNEL_LEVEL_TIMINGS, TIMINGS, VARIANTS, CallTerms, call_path,
                    call_terms, call_times, padded_rows)
from .cost import gpu_op_cost, kernel_details
from .geometry import Geometry, geometry
from .nongemm import (NONGEMM_KERNEL, NONGEMM_PARAM_NAMES, NONGEMM_PARAMS, KernelWork, fused_kernel_terms,
                      gpu_nongemm_cost, kernel_work, nongemm_default_params, nongemm_prior_params, nongemm_terms,
                      placed_bytes, work_seconds)
from .attention import ATTN_BLOCK_Q, AttentionWork, attention_seconds, attention_work
from .kernels import (DECODE_KERNEL, DTYPE_BYTES, FAMILIES, KERNEL_FAMILY, LIBRARY_KERNELS, NM_KERNELS,
                      NM_PREFILL_KERNEL, SPARSE_TC_KERNELS, TORCH_CUTLASS_SPARSE_CC, GemmCase, eight_bit_tensor, kernel_rates,
                      parse_kernel_pattern)
from .params import (ACROSS_BOARDS, ARCH_FALLBACK, E2E_PARAM_NAMES, MEASURED_GRAPH_LAUNCH_CYCLES, MEASURED_MEM_EFF, MEASURED_PRIOR_SIGMA, PARAM_NAMES, PARAMS,
                     PER_ARCH, Param, arch_class, default_params, graph_launch_floor_s, param_key, param_status, prior_params, prior_sigma)
from .tiles import (DECODE_TILES, GEMM_GROUP_M, GEMM_TILES, LIBRARY_TILE_MENU, MAX_DECODE_ELEMS_PER_THREAD,
                    SPARSE_TILE_MENU, SPLIT_K_MENU, TORCH_CUTLASS_SPARSE_GROUP_M, TORCH_CUTLASS_SPARSE_TILE, CtaTile, candidate_tiles, decode_elems_per_thread, decode_tiles_for,
                    fit_decode_tiles, kernel_menu, parse_config, stage_bytes, smem_bytes, triton_smem_bytes,
                    decode_smem_bytes, cta_smem_bytes)
from .timing import GemmTime, best_pairs, bound_of, gemm_times, pair_times, power_scale, predict_parts, predict_s

__all__ = [
    # kernels
    "DTYPE_BYTES", "KERNEL_FAMILY", "FAMILIES", "SPARSE_TC_KERNELS", "LIBRARY_KERNELS", "NM_KERNELS",
    "NM_PREFILL_KERNEL", "DECODE_KERNEL", "TORCH_CUTLASS_SPARSE_CC", "GemmCase", "eight_bit_tensor", "kernel_rates", "parse_kernel_pattern",
    # calls
    "TIMINGS", "KERNEL_LEVEL_TIMINGS", "VARIANTS", "CALL_PATHS", "DENSE_MIN_ROWS", "CallTerms", "call_path",
    "call_terms", "call_times", "padded_rows",
    # tiles
    "CtaTile", "GEMM_TILES", "GEMM_GROUP_M", "DECODE_TILES", "LIBRARY_TILE_MENU", "SPLIT_K_MENU", "SPARSE_TILE_MENU",
    "TORCH_CUTLASS_SPARSE_TILE", "TORCH_CUTLASS_SPARSE_GROUP_M", "kernel_menu",
    "MAX_DECODE_ELEMS_PER_THREAD", "decode_elems_per_thread", "fit_decode_tiles", "decode_tiles_for", "candidate_tiles", "parse_config", "stage_bytes",
    "smem_bytes", "triton_smem_bytes", "decode_smem_bytes", "cta_smem_bytes",
    # params
    "Param", "PARAMS", "PARAM_NAMES", "E2E_PARAM_NAMES", "PER_ARCH", "ACROSS_BOARDS", "ARCH_FALLBACK", "MEASURED_MEM_EFF", "MEASURED_PRIOR_SIGMA", "MEASURED_GRAPH_LAUNCH_CYCLES", "default_params", "prior_params",
    "prior_sigma", "param_status",
    "arch_class", "graph_launch_floor_s", "param_key", "CALIBRATED",
    # geometry, timing, calibration
    "Geometry", "geometry", "GemmTime", "pair_times", "power_scale", "best_pairs", "predict_s", "predict_parts", "bound_of", "gemm_times",
    "calibrate", "calibrate_groups", "FitGroup", "resolve", "used_params",
    # cost
    "gpu_op_cost", "kernel_details",
    # non-GEMM kernels
    "NONGEMM_KERNEL", "NONGEMM_PARAMS", "NONGEMM_PARAM_NAMES", "nongemm_default_params", "nongemm_prior_params",
    "nongemm_terms", "fused_kernel_terms", "gpu_nongemm_cost", "KernelWork", "kernel_work", "work_seconds",
    "placed_bytes",
    # fused attention
    "ATTN_BLOCK_Q", "AttentionWork", "attention_work", "attention_seconds",
]
