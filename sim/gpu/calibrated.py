"""Calibrated values of the GPU model's parameters (params.py, nongemm.py), per architecture class
('sm80', ...) and for the architecture-independent ones ('any').

derived: least squares on log time over the calibration sources of measurements/published/
(NVIDIA/cutlass#1335, pytorch/ao#174/philipbutler, pytorch/pytorch#111339/jcaip,
pytorch/pytorch#177866, pytorch/pytorch#90119/alexsamardzic, vllm-project/vllm#49363, vllm-
project/vllm#6996, zzc0721/torch-performance-test-data#108, zzc0721/torch-performance-test-data#120,
zzc0721/torch-performance-test-data#185, zzc0721/torch-performance-test-data#70, zzc0721/torch-
performance-test-data#79, zzc0721/torch-performance-test-data#95; held-out sources are never
fitted).
GEMM parameters on the GEMM rows; framework gaps, sustained fractions and non-GEMM
efficiencies on the end-to-end rows, with the GEMM values fixed (gpu_kernels/e2e.py).
Regenerate with `nmsim gpu calibrate measurements/published --write sim/gpu/calibrated.py`
(docs/GPU.md, "Calibration on published measurements"). A parameter missing here is
uncalibrated: the model uses its assumed prior."""
from __future__ import annotations

# fit: 27 free keys, cost 1.357 (half the sum of squared log residuals);
# unconstrained by the rows (left out): none
# end-to-end fit (gpu_kernels/e2e.py, on the GEMM fit): 7 free keys, cost 1.316;
# not pinned by the rows (left out): gap_s_torch_compile, nongemm_l2_eff
CALIBRATED: dict[str, dict[str, float]] = {
    "any": {
        "cta_fixed_s": 1.046e-06,
        "epilogue_passes": 3.651,
        "gap_s_tensorrt": 5.317e-06,
        "host_s_cslt_setup": 0.0003692,
        "host_s_subclass": 0.000176,
        "host_s_torch_op": 1.109e-05,
        "nongemm_compute_eff": 0.6113,
        "nongemm_mem_eff": 0.7238,
        "overhead_s_cublas": 3.408e-06,
        "overhead_s_sparse_lib": 4.042e-06,
    },
    "sm75": {
        "mem_eff": 0.5963,
        "power_w_per_sm_ghz": 1.022,
        "sustained_frac": 0.6477,
        "tensor_eff_cublas": 0.7101,
    },
    "sm80": {
        "mem_eff": 0.8107,
        "power_w_per_sm_ghz": 1.496,
        "sustained_frac": 1,
        "tensor_eff_cublas": 0.7693,
        "tensor_eff_cusparselt": 0.6105,
        "tensor_eff_cutlass_sparse": 0.5739,
    },
    "sm86": {
        "mem_eff": 0.8012,
        "power_w_per_sm_ghz": 2.352,
        "tensor_eff_cublas": 1.039,
        "tensor_eff_cutlass_sparse": 0.9632,
    },
    "sm89": {
        "mem_eff": 0.7818,
        "power_w_per_sm_ghz": 1.275,
        "tensor_eff_cublas": 1.063,
    },
    "sm90": {
        "mem_eff": 0.928,
        "power_w_per_sm_ghz": 1.925,
        "tensor_eff_cublas": 0.778,
        "tensor_eff_cusparselt": 0.6082,
        "tensor_eff_cutlass_sparse": 0.2357,
    },
}
