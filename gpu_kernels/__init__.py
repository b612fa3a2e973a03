"""gpu_kernels: Triton N:M sparse matmul kernels, compression formats, the GPU benchmark harness
and measurement-file I/O (docs/GPU.md).

Modules (import them directly; this package imports nothing, so `import gpu_kernels` stays free
of torch and triton and the CLI starts fast):

* `formats`      NMWeight (values + log2(M)-bit packed indices), compress_nm / decompress, the
                 byte-ratio bound, torch's 2:4 semi-structured format as the vendor reference
* `nm_matmul`    Triton N:M x dense prefill kernel (expand in registers, tl.dot) + torch reference
* `nm_decode`    Triton skinny decode kernel for 1..16 tokens reading only nonzeros + reference
* `dense_matmul` Triton dense kernel with nm_matmul's tiling (`triton_dense`) + reference
* `bench`        run_bench: CUDA-event timings of all kernels on LLM layer shapes -> CSV rows
* `measurements` the measurement-file CSV contract (COLUMNS, KERNELS, append_rows, read_measurements)
* `validate`     the GPU cost model (sim) against measured rows: calibration, held-out MAPE/Spearman

Kernels need a CUDA device, or TRITON_INTERPRET=1 set before the kernel modules are imported
(CPU tests, tests/gpu_kernels/).
"""
