"""The GPU model's free parameters: efficiencies and overheads that datasheets do not give.

Each parameter has an `assumed:` prior (`Param.default`, with why) and, where the published
measurements in measurements/published/ constrain it, a calibrated value (`calibrated.CALIBRATED`,
fitted by `nmsim gpu calibrate`; docs/GPU.md, "Calibration on published measurements"). Kernel
efficiencies and the memory efficiency depend on the architecture (a kernel family reaches a
different fraction of the datasheet rate on an A100, a GeForce part or an H100), so they are
calibrated per architecture class (`arch_class`: 'sm80' for compute capability 8.0); the
overheads and host times are per call path, whatever the GPU.

`default_params(gpu)` gives the values a GPU is modelled with (calibrated for its class where
available, else the prior); `param_status(gpu)` says which is which.
"""
from __future__ import annotations

from dataclasses import dataclass

from nmsim.accel.spec import GPU

from .calibrated import CALIBRATED
from .kernels import DECODE_KERNEL, LIBRARY_KERNELS, SPARSE_TC_KERNELS


@dataclass(frozen=True)
class Param:
    """A calibrated parameter: prior (a number, or 'launch' = the preset's launch_overhead_s),
    bounds (the parameter's unit: fraction, operations per slot, seconds or passes), the kernels
    whose time depends on it, whether it is calibrated per architecture class, and why the prior."""

    name: str
    default: float | str
    lo: float
    hi: float
    kernels: tuple[str, ...]
    why: str
    per_arch: bool = False


_GEMMS = ("cublas", "cutlass_dense", "cusparselt", "cutlass", "cutlass_spgemm", "triton_dense", "triton_nm")
PARAMS: tuple[Param, ...] = (
    Param("tensor_eff_cublas", 0.75, 0.02, 2.0, ("cublas", "cutlass_dense"),
          "assumed: large cuBLAS GEMMs commonly sustain 70-80% of the datasheet tensor rate", True),
    Param("tensor_eff_cusparselt", 0.6, 0.02, 2.0, ("cusparselt",),
          "assumed: 2:4 libraries usually gain well under the 2x of the sparse rate over dense", True),
    Param("tensor_eff_cutlass_sparse", 0.6, 0.02, 2.0, ("cutlass", "cutlass_spgemm"),
          "assumed: as cuSPARSELt; on sm90 these are sm80 (mma.sync) kernels recompiled for Hopper "
          "(NVIDIA/cutlass#1335), a different fraction of the rate, hence per architecture", True),
    Param("tensor_eff_triton", 0.65, 0.02, 2.0, ("triton_dense", "triton_nm"),
          "assumed: Triton tiles reach somewhat less of the tensor peak than cuBLAS", True),
    Param("mem_eff", 0.8, 0.02, 2.0, _GEMMS,
          "assumed: streaming kernels reach about 80% of peak HBM bandwidth", True),
    Param("decode_eff", 0.6, 0.02, 2.0, (DECODE_KERNEL,),
          "assumed: gathers and per-row index decoding keep the decode kernel below streaming rate", True),
    Param("expand_ops", 8.6, 0.01, 50.0, ("triton_nm",),
          "derived: CUDA-core instructions per expanded dense weight element per K step, the median over "
          "108 compiles (Triton 3.6 and 3.9, sm_80 and sm_90a, the 9 menu tiles x 2:4, 1:8, 3:32 fp16; "
          "IQR 8.0-12.1) of the main loop's vector-ALU SASS instructions beyond the dense kernel's at the "
          "same tile (tests/gpu_kernels/compile_check.py --all --loop-ops; docs/GPU.md 'Compile check'); "
          "assumed: they issue at one op per lane and clock of the SM's integer rate (geometry.py), after the "
          "tensor work"),
    Param("power_w_per_sm_ghz", 1.0, 0.05, 20.0, _GEMMS,
          "assumed: tensor-core work at the datasheet rate draws about 1 W per SM per GHz of boost clock, "
          "the TDP per SM-GHz of the L40S and the T4 (0.98, 1.10), boards built to about reach their boost "
          "clock at their power limit; boards with more power per SM-GHz (A100 SXM 2.6, H100 SXM 2.7) do not "
          "throttle at this prior, the L4 (0.61) does; the TDP is the preset's datasheet figure; energy per "
          "operation is held constant as the clock drops (timing.power_scale)", True),
    Param("cta_fixed_s", 1e-6, 1e-9, 1e-4, _GEMMS,
          "assumed: filling a CTA's pipeline (a few K steps of loads at ~1 us of memory latency) and "
          "writing its output tile cost about 1 us per CTA, whatever K"),
    Param("overhead_s_cublas", "launch", 1e-8, 1e-3, ("cublas", "cutlass_dense"),
          "assumed: the preset's launch_overhead_s (fixed time of one kernel in a stream: launch gap, prologue)"),
    Param("overhead_s_sparse_lib", "launch", 1e-8, 1e-3, SPARSE_TC_KERNELS,
          "assumed: the preset's launch_overhead_s"),
    Param("overhead_s_triton", "launch", 1e-8, 1e-3, ("triton_dense", "triton_nm", DECODE_KERNEL),
          "assumed: the preset's launch_overhead_s"),
    Param("host_s_torch_op", 1e-5, 1e-7, 1e-3, LIBRARY_KERNELS,
          "assumed: PyTorch eager dispatch of one op (Python, dispatcher, launch) takes about 10 us"),
    Param("host_s_subclass", 5e-5, 1e-7, 1e-2, ("cusparselt", "cutlass"),
          "assumed: the semi-structured tensor subclass dispatches in Python (__torch_dispatch__, padding, "
          "slicing): tens of us per call"),
    Param("host_s_cslt_setup", 2e-4, 1e-7, 1e-2, ("cusparselt",),
          "source: pytorch/pytorch#179642, 'significant CPU-side overhead (~50-200us per call for plan "
          "creation)' until plans are cached; #177866 shows 0.46 ms between launches on an H100-class GPU"),
    Param("epilogue_passes", 2.0, 0.01, 20.0, ("cutlass",),
          "assumed: an unfused epilogue transposes the output and adds the bias in two extra passes"),
    # whole-model latency (gpu_kernels/e2e.py): what separates one kernel from the next inside a
    # framework that launches without Python in between (TensorRT's enqueue, CUDA graphs); these
    # replace the per-kernel overheads above, which were fitted on one-op measurements
    Param("gap_s_tensorrt", 2e-6, 1e-8, 1e-4, (),
          "assumed: TensorRT launches its kernels back to back from C++ (or a CUDA graph), ~2 us apart"),
    Param("gap_s_torch_compile", 2e-6, 1e-8, 1e-4, (),
          "assumed: torch.compile with CUDA graphs (gpt-fast, torchao generate.py) replays kernels ~2 us apart"),
    Param("sustained_frac", 1.0, 0.1, 1.0, (),
          "assumed: a whole-model run sustains the kernel rates the one-op measurements were fitted on "
          "(the datasheet boost clock holds); power-limited cards fall below them under sustained load "
          "(Jia et al., 'Dissecting the NVidia Turing T4 GPU via Microbenchmarking', 2019, measure the "
          "70 W T4 throttling its clock on compute-intensive work)", True),
)
PARAM_NAMES = tuple(p.name for p in PARAMS)
# the whole-model parameters: fitted by gpu_kernels/e2e.py on end-to-end rows, not by the GEMM fit
E2E_PARAM_NAMES = ("gap_s_tensorrt", "gap_s_torch_compile", "sustained_frac")
PER_ARCH = tuple(p.name for p in PARAMS if p.per_arch)
# what one board's rows cannot separate from its efficiencies (its power limit scales the same SM
# work): fitted across boards of an architecture on published rows only, never on one bench file
ACROSS_BOARDS = ("power_w_per_sm_ghz",)
# an architecture class without calibrated values borrows a sibling's: GeForce/workstation Ada (sm89)
# and Orin (sm87) run the same mma.sync/mma.sp kernels as GeForce Ampere (sm86)
ARCH_FALLBACK = {"sm89": "sm86", "sm87": "sm86"}


def arch_class(gpu: GPU) -> str:
    """The architecture class of a GPU from its compute capability: 'sm80' for 8.0, 'sm90' for 9.0."""
    return f"sm{round(gpu.compute_capability * 10)}"


def param_key(name: str, arch: str) -> str:
    """The key of a parameter in a calibration covering several architectures: 'name@sm80' for
    per-architecture parameters, the name for the others."""
    return f"{name}@{arch}" if name in PER_ARCH else name


def _lookup(name: str, arch: str) -> tuple[float, str] | None:
    if name not in PER_ARCH:
        v = CALIBRATED.get("any", {}).get(name)
        return None if v is None else (v, "calibrated")
    for a in (arch, ARCH_FALLBACK.get(arch)):
        v = CALIBRATED.get(a, {}).get(name) if a else None
        if v is not None:
            return v, f"calibrated ({a})"
    return None


def prior_params(gpu: GPU) -> dict[str, float]:
    """The assumed priors (fractions, ops per slot, seconds, passes) for `gpu`, ignoring calibration."""
    return {p.name: gpu.launch_overhead_s if p.default == "launch" else float(p.default) for p in PARAMS}


def default_params(gpu: GPU) -> dict[str, float]:
    """The values `gpu` is modelled with (fractions, ops per slot, seconds, passes): calibrated for
    its architecture class where the published measurements gave one, else the assumed prior."""
    prior = prior_params(gpu)
    arch = arch_class(gpu)
    return {n: (_lookup(n, arch) or (prior[n], ""))[0] for n in PARAM_NAMES}


def param_status(gpu: GPU) -> dict[str, str]:
    """Per parameter (by name, values in their units: fractions, seconds): 'calibrated (sm80)' /
    'calibrated' where default_params uses a fitted value, 'uncalibrated' where it falls back to
    the assumed prior."""
    arch = arch_class(gpu)
    return {n: (_lookup(n, arch) or (0.0, "uncalibrated"))[1] for n in PARAM_NAMES}
