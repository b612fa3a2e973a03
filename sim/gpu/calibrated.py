"""Calibrated values of the GPU model's parameters (params.py, nongemm.py), per architecture class
('sm80', ...) and for the architecture-independent ones ('any').

derived: least squares on log time over the calibration sources of measurements/published/
(NVIDIA/cutlass#1335, bcacdwk/vllmbench@92a8ca4:slidesparse/benchmark_kernel/kernel_speedup_results,
pytorch/ao#174/philipbutler, pytorch/pytorch#111339/jcaip, pytorch/pytorch#177866,
pytorch/pytorch#90119/alexsamardzic, vllm-project/vllm#49363, vllm-project/vllm#6996, zzc0721/torch-
performance-test-data#108, zzc0721/torch-performance-test-data#120, zzc0721/torch-performance-test-
data#185, zzc0721/torch-performance-test-data#70, zzc0721/torch-performance-test-data#79,
zzc0721/torch-performance-test-data#95; held-out sources are never fitted).
GEMM parameters on the GEMM rows; framework gaps, sustained fractions and non-GEMM
efficiencies on the end-to-end rows, with the GEMM values fixed (gpu_kernels/e2e.py).
Regenerate with `nmsim gpu calibrate measurements/published --write sim/gpu/calibrated.py`
(docs/GPU.md, "Calibration on published measurements"). A parameter missing here is
uncalibrated: the model uses its assumed prior."""
from __future__ import annotations

# fit: 32 free keys, cost 2.581 (half the sum of squared log residuals);
# unconstrained by the rows (left out): mem_eff@sm89
# end-to-end fit (gpu_kernels/e2e.py, on the GEMM fit): 7 free keys, cost 1.409;
# not pinned by the rows (left out): gap_launches_torch_compile, nongemm_l2_eff
CALIBRATED: dict[str, dict[str, float]] = {
    "any": {
        "cta_fixed_s": 1.019e-06,
        "epilogue_passes": 4.264,
        "gap_launches_tensorrt": 4.039,
        "host_s_cslt_setup": 0.0003692,
        "host_s_subclass": 0.000176,
        "host_s_torch_op": 1.109e-05,
        "nongemm_compute_eff": 0.6558,
        "nongemm_mem_eff": 0.7872,
        "overhead_s_cublas": 3.891e-06,
        "overhead_s_sparse_lib": 2.843e-06,
    },
    "sm75": {
        "mem_eff": 0.5975,
        "power_w_per_sm_ghz": 1.025,
        "sustained_frac": 0.6418,
        "tensor_eff_8bit": 0.9189,
        "tensor_eff_cublas": 0.705,
    },
    "sm80": {
        "mem_eff": 0.9517,
        "power_w_per_sm_ghz": 1.495,
        "sustained_frac": 1,
        "tensor_eff_8bit": 0.926,
        "tensor_eff_cublas": 0.7527,
        "tensor_eff_cusparselt": 0.618,
        "tensor_eff_cutlass_sparse": 0.5697,
    },
    "sm86": {
        "mem_eff": 0.9756,
        "power_w_per_sm_ghz": 2.357,
        "tensor_eff_cublas": 1.043,
        "tensor_eff_cutlass_sparse": 0.9631,
    },
    "sm89": {
        "power_w_per_sm_ghz": 1.28,
        "tensor_eff_8bit": 0.7868,
        "tensor_eff_cublas": 1.065,
        "tensor_eff_cusparselt": 0.9557,
    },
    "sm90": {
        "mem_eff": 0.9662,
        "power_w_per_sm_ghz": 2.159,
        "tensor_eff_8bit": 0.9983,
        "tensor_eff_cublas": 0.8009,
        "tensor_eff_cusparselt": 0.6336,
        "tensor_eff_cutlass_sparse": 0.2348,
    },
}
