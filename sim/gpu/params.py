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
    Param("tensor_eff_8bit", 1.0, 0.2, 2.0, _GEMMS,
          "assumed: INT8 and FP8 GEMMs reach the same fraction of their rated rate (twice the 16-bit "
          "one) as 16-bit GEMMs of the same kernel family; a multiplier on that family's efficiency for "
          "1-byte operands, fitted per architecture where 8-bit rows exist (stop 27: the SlideSparse "
          "kernel benchmark's INT8 cuBLASLt rows reach 0.56-0.58 of the A100 PCIe's rated INT8 rate "
          "where its BF16 rows reach 0.71-0.75)", True),
    Param("mem_eff", 0.8, 0.02, 2.0, _GEMMS,
          "source (sm80, sm86, sm89, sm90): the best read-only STREAM bandwidth a third party measured on a "
          "board of the class over its rated bandwidth (MEASURED_MEM_EFF), a prior the fit moves only as far as "
          "many rows ask (prior_sigma); assumed elsewhere: streaming kernels reach about 80% of it", True),
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
    Param("gap_launches_tensorrt", 1.0, 0.01, 100.0, (),
          "assumed: TensorRT runs its kernels back to back like a CUDA graph (the demo's perf binary replays "
          "one), one launch floor apart; counted in launch floors (graph_launch_floor_s: GPU cycles at the "
          "boost clock), so a faster-clocked board pays less per kernel"),
    Param("gap_launches_torch_compile", 1.0, 0.01, 100.0, (),
          "assumed: torch.compile with CUDA graphs (gpt-fast, torchao generate.py) replays its kernels one "
          "launch floor apart (graph_launch_floor_s)"),
    Param("sustained_frac", 1.0, 0.1, 1.0, (),
          "assumed: a whole-model run sustains the kernel rates the one-op measurements were fitted on "
          "(the datasheet boost clock holds); power-limited cards fall below them under sustained load "
          "(Jia et al., 'Dissecting the NVidia Turing T4 GPU via Microbenchmarking', 2019, measure the "
          "70 W T4 throttling its clock on compute-intensive work)", True),
)
PARAM_NAMES = tuple(p.name for p in PARAMS)
# source: te42kyfo/gpu-benches@1c36d50 gpu-stream/{a100_40,a40,l40,h100_pcie}.txt, the best "read"
# column over block sizes (GB/s) over the board's datasheet bandwidth: A100 40GB 1490 of 1555, A40 679
# of 696, L40 844 of 864, H100 PCIe 1942 of 2000 (the prior of `mem_eff` for the class; docs/GPU.md)
MEASURED_MEM_EFF = {"sm80": 1490 / 1555, "sm86": 679 / 696, "sm89": 844 / 864, "sm90": 1942 / 2000}
# assumed: the spread (log units, a factor 1.28) of a prior that is a measurement: a GEMM's tiled traffic
# reaches somewhat less of the DRAM rate than a stream does, not a factor 20 less (the assumed priors'
# spread, calibrate.PRIOR_SIGMA); fixed before it was scored (stop 27, docs/GPU.md)
MEASURED_PRIOR_SIGMA = 0.25
# source: te42kyfo/gpu-benches@1c36d50 gpu-small-kernels/{a100_80,a40,l40,h200}_graph.txt: 10,000
# dependent SCALE kernels over 4,096 doubles (64 kB, L2-resident) captured in one CUDA graph; at that
# smallest size the best block size's GB/s gives the seconds one kernel costs back to back (A100 80GB
# 1.337 us, A40 1.092, L40 0.936, H200 1.260), times the board's boost clock (1410, 1740, 2490, 1980 MHz)
# the cycles it costs. The two Ampere boards agree in cycles (1885, 1900) where they differ in time by
# 1.22x: the launch floor is GPU clock-domain work (the front end, CTA dispatch, the kernel's drain)
MEASURED_GRAPH_LAUNCH_CYCLES = {"sm80": 1.337e-6 * 1.41e9, "sm86": 1.092e-6 * 1.74e9,
                                "sm89": 0.936e-6 * 2.49e9, "sm90": 1.260e-6 * 1.98e9}
# assumed: an architecture the benchmark did not measure (Turing's T4) launches like Ampere
ASSUMED_LAUNCH_CYCLES = MEASURED_GRAPH_LAUNCH_CYCLES["sm80"]
# the whole-model parameters: fitted by gpu_kernels/e2e.py on end-to-end rows, not by the GEMM fit
E2E_PARAM_NAMES = ("gap_launches_tensorrt", "gap_launches_torch_compile", "sustained_frac")
PER_ARCH = tuple(p.name for p in PARAMS if p.per_arch)
# what one board's rows cannot separate from its efficiencies (its power limit scales the same SM
# work): fitted across boards of an architecture on published rows only, never on one bench file
ACROSS_BOARDS = ("power_w_per_sm_ghz",)
# an architecture class without calibrated values borrows a sibling's: GeForce/workstation Ada (sm89)
# and Orin (sm87) run the same mma.sync/mma.sp kernels as GeForce Ampere (sm86)
ARCH_FALLBACK = {"sm89": "sm86", "sm87": "sm86"}


def prior_sigma(key: str) -> float | None:
    """The prior's standard deviation of the log of a fit key's value (param_key: 'mem_eff@sm89',
    a fraction; 0.25 is a factor 1.28) where that prior is a third party's measurement
    (MEASURED_MEM_EFF); None where the prior is assumed (the fit's own, calibrate.PRIOR_SIGMA), and
    for keys of no architecture class (a bench file's fit, whose prior is the shipped calibration)."""
    name, _, arch = key.partition("@")
    return MEASURED_PRIOR_SIGMA if name == "mem_eff" and arch in MEASURED_MEM_EFF else None


def arch_class(gpu: GPU) -> str:
    """The architecture class of a GPU from its compute capability: 'sm80' for 8.0, 'sm90' for 9.0."""
    return f"sm{round(gpu.compute_capability * 10)}"

def graph_launch_floor_s(gpu: GPU) -> float:
    """Seconds (s) one kernel costs back to back in a CUDA graph when it does almost nothing: the
    measured launch cycles of the GPU's architecture class (or of the class it borrows from,
    ARCH_FALLBACK; else ASSUMED_LAUNCH_CYCLES) at the preset's boost clock. The unit of the
    framework gaps (gap_launches_*)."""
    arch = arch_class(gpu)
    cycles = MEASURED_GRAPH_LAUNCH_CYCLES.get(arch, MEASURED_GRAPH_LAUNCH_CYCLES.get(ARCH_FALLBACK.get(arch),
                                                                                    ASSUMED_LAUNCH_CYCLES))
    return cycles / gpu.boost_clock_hz



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
    """The priors (fractions, ops per slot, seconds, passes) for `gpu`, ignoring calibration: each
    Param's default, the class's measured stream fraction for `mem_eff` (MEASURED_MEM_EFF)."""
    out = {p.name: gpu.launch_overhead_s if p.default == "launch" else float(p.default) for p in PARAMS}
    out["mem_eff"] = MEASURED_MEM_EFF.get(arch_class(gpu), out["mem_eff"])
    return out


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
