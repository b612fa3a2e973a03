"""gpu_kernels: Triton N:M sparse matmul kernels, compression formats, the GPU benchmark harness
and measurement-file I/O. Filled by the GPU issue."""
