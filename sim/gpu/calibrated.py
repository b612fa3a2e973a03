"""Calibrated values of the GPU model's parameters (params.py, nongemm.py), per architecture class
('sm80', ...) and for the architecture-independent ones ('any').

derived: least squares on log time over the calibration sources of measurements/published/
(NVIDIA/cutlass#1335, pytorch/ao#174/philipbutler, pytorch/pytorch#111339/jcaip,
pytorch/pytorch#177866, pytorch/pytorch#90119/alexsamardzic, vllm-project/vllm#6996; held-out
sources are never fitted).
GEMM parameters on the GEMM rows; framework gaps, sustained fractions and non-GEMM
efficiencies on the end-to-end rows, with the GEMM values fixed (gpu_kernels/e2e.py).
Regenerate with `nmsim gpu calibrate measurements/published --write sim/gpu/calibrated.py`
(docs/GPU.md, "Calibration on published measurements"). A parameter missing here is
uncalibrated: the model uses its assumed prior."""
from __future__ import annotations

# fit: 20 free keys, cost 0.9233 (half the sum of squared log residuals);
# unconstrained by the rows (left out): host_s_torch_op, mem_eff@sm86, mem_eff@sm90
# end-to-end fit (gpu_kernels/e2e.py, on the GEMM fit): 7 free keys, cost 1.388;
# not pinned by the rows (left out): gap_s_torch_compile, nongemm_l2_eff
CALIBRATED: dict[str, dict[str, float]] = {
    "any": {
        "cta_fixed_s": 1.347e-06,
        "epilogue_passes": 3.795,
        "gap_s_tensorrt": 5.306e-06,
        "host_s_cslt_setup": 0.0003692,
        "host_s_subclass": 0.000176,
        "nongemm_compute_eff": 0.6001,
        "nongemm_mem_eff": 0.6761,
        "overhead_s_cublas": 4.655e-06,
        "overhead_s_sparse_lib": 4.191e-06,
    },
    "sm75": {
        "mem_eff": 0.5991,
        "sustained_frac": 0.6196,
        "tensor_eff_cublas": 0.714,
    },
    "sm80": {
        "mem_eff": 0.8477,
        "sustained_frac": 1,
        "tensor_eff_cublas": 0.7742,
        "tensor_eff_cusparselt": 0.6085,
        "tensor_eff_cutlass_sparse": 0.5764,
    },
    "sm86": {
        "tensor_eff_cublas": 1.041,
        "tensor_eff_cutlass_sparse": 0.948,
    },
    "sm90": {
        "tensor_eff_cublas": 0.7436,
        "tensor_eff_cusparselt": 0.6037,
        "tensor_eff_cutlass_sparse": 0.2361,
    },
}
