"""The `Arch` schema: what a sparse accelerator (or a GPU) is made of, validated on load.

Units are in the field names: `_hz`, `_bytes`, `_bits`, `_cycles`, `_s`, `_pj`, `_w`, `_mm2`.
Two kinds of architecture, one class each under the common `Arch` (chosen by the `kind` field):

* `SystolicArch`: a compute array fed by on-chip buffers and DRAM (dense-systolic, sat, s4, ...);
* `GpuArch`: a GPU described by its datasheet rates (t4, a100, h100), for the tile-level GPU model.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from nmsim.problem import index_bits, parse_nm
from nmsim.specfile import SpecError, StrictModel, bounded_float, bounded_int

from .vector import VectorUnit

OPERANDS = ("weights", "inputs", "outputs")

Operand = Literal["weights", "inputs", "outputs"]
Dataflow = Literal["ws", "os", "is"]

# Bounds of arch numbers (docs/RELIABILITY.md): each far beyond any built or announced device, so
# that no accepted spec is refused while none can drive a count out of 64-bit range.
ArrayEdge = bounded_int(1, 1 << 16, "65,536 PEs: 256x the edge of the largest built array, TPU v1's 256")
MacsPerPe = bounded_int(1, 1 << 10, "1,024 multipliers in one PE")
Bits = bounded_int(1, 128, "128-bit numbers: twice fp64")
IndexBits = bounded_int(0, 64, "64 bits locate any element of any tensor")
ClockHz = bounded_float(1.0e3, 1.0e12, "1 kHz .. 1 THz: no clocked logic outside it")
Bytes = bounded_int(1, 1 << 48, "256 TiB: far beyond any memory of one device")
PortBytesPerCycle = bounded_float(1.0e-3, float(1 << 40), "1/1000 .. 2^40 bytes per cycle")
DramBytesPerS = bounded_float(1.0, 1.0e21, "1 B/s .. 1 ZB/s (the tests' 'practically infinite' DRAM is 1e18)")
LatencyS = bounded_float(0.0, 1.0, "a second: 10^7 times a DRAM access")
LatencyCycles = bounded_int(0, 1 << 20, "a million cycles")
PicoJoules = bounded_float(0.0, 1.0e6, "a microjoule per action: 10^5 times any process")
Watts = bounded_float(0.0, 1.0e6, "a megawatt")
AreaMm2 = bounded_float(0.0, 1.0e6, "a square metre")
FlopsPerS = bounded_float(1.0, 1.0e21, "a zettaFLOP/s: 10^4 times the fastest GPU")
GpuClockHz = bounded_float(1.0e6, 1.0e11, "1 MHz .. 100 GHz")


class ComputeArray(StrictModel):
    """The MAC array: rows x cols processing elements, each with `macs_per_pe` multipliers."""

    rows: ArrayEdge = Field(description="PE rows (the reduction/K direction for WS)")
    cols: ArrayEdge = Field(description="PE columns")
    macs_per_pe: MacsPerPe = Field(1, description="multipliers per PE; each covers one nonzero weight per cycle")
    clock_hz: ClockHz = Field(description="array clock in Hz")
    operand_bits: Bits = Field(8, description="bits per weight and per activation")
    accumulator_bits: Bits = Field(32, description="bits per partial sum")
    dataflows: list[Dataflow] = Field(default_factory=lambda: ["ws"], min_length=1,
                                      description="dataflows the array supports")
    preload_overlap: bool = Field(False, description="WS/IS: the PEs double-buffer the stationary operand, so the "
                                                     "next fold's R preload cycles hide under the current fold's "
                                                     "stream (TPU v1 style); false: the preload follows the last MAC "
                                                     "(docs/MODEL.md 3.2)")


class NMSupport(StrictModel):
    """N:M weight sparsity on an index-multiplexed datapath."""

    patterns: list[str] = Field(min_length=1, description="supported patterns, e.g. ['2:4', '2:8']")
    index_bits: IndexBits | None = Field(None, description="metadata bits per nonzero; default ceil(log2 M) (problem.index_bits)")

    @field_validator("patterns")
    @classmethod
    def _patterns_valid(cls, v: list[str]) -> list[str]:
        return [f"{n}:{m}" for n, m in (parse_nm(p) for p in v)]

    def pairs(self) -> list[tuple[int, int]]:
        """Supported (N, M) pairs."""
        return [parse_nm(p) for p in self.patterns]

    def bits_per_nonzero(self, m: int) -> int:
        """Index bits stored with each nonzero for group size `m` (bits)."""
        return self.index_bits if self.index_bits is not None else index_bits(m)


class UnstructuredSupport(StrictModel):
    """Unstructured weight sparsity with a load-balancing window."""

    window: ArrayEdge = Field(description="nonzeros a PE row may borrow across when balancing: adjacent lanes "
                                          "(output channels) that share their nonzeros evenly; 1 = no balancing "
                                          "(docs/MODEL.md 2.1)")
    index_bits: IndexBits = Field(8, description="metadata bits per nonzero (e.g. relative offsets)")


class SparsitySupport(StrictModel):
    """Which kinds of sparsity the hardware can exploit."""

    nm: NMSupport | None = None
    unstructured: UnstructuredSupport | None = None
    activation_zero_skipping: bool = Field(False, description="gate MACs whose activation is zero")


class MemoryLevel(StrictModel):
    """An on-chip buffer level that holds tiles of some operands."""

    name: str = Field(min_length=1)
    size_bytes: Bytes
    read_bytes_per_cycle: PortBytesPerCycle
    write_bytes_per_cycle: PortBytesPerCycle
    latency_cycles: LatencyCycles = 0
    double_buffered: bool = True
    ports: Literal["shared", "separate"] = Field(
        "shared", description="shared: one port serves reads and writes, so their cycles add; separate: reads and "
                              "writes use their own ports in parallel (dual-port SRAM, banks, ping-pong halves), "
                              "so the level is busy for the longer of the two (docs/MODEL.md 3.3)")
    prefetch_steps: LatencyCycles | None = Field(
        None, description="array steps (beats) the reader of a streamed operand may fetch ahead of the array "
                                "(its FIFO); during a fold's fill and drain the read port then works at most this many "
                                "beats ahead; null: no limit, the port's work spreads over whole folds (MODEL.md 3.3)")
    holds: list[Operand] = Field(default_factory=lambda: list(OPERANDS), min_length=1)

    @field_validator("name")
    @classmethod
    def _not_dram(cls, v: str) -> str:
        if v == "dram":
            raise ValueError("'dram' is reserved for the off-chip level; describe it under 'dram:'")
        return v


class DRAM(StrictModel):
    """Off-chip memory: a transfer rate and, optionally, what an access pattern costs on top of it
    (docs/MODEL.md 3.4-3.5, "DRAM efficiency"); the defaults charge nothing extra."""

    bytes_per_s: DramBytesPerS = Field(description="transfer rate in bytes/s: sustained when the efficiency fields "
                                                   "below are left at 0, else the interface's peak")
    latency_s: LatencyS = Field(0.0, description="access latency in seconds")
    access_bytes: Bytes = Field(1, description="smallest access: each contiguous run of a transfer (a tile row) "
                                                   "moves whole accesses, e.g. 16 for one BL8 burst of a x16 DDR4")
    refresh_fraction: float = Field(0.0, ge=0, lt=1, description="fraction of time the interface is lost to refresh")
    page_bytes: bounded_int(0, 1 << 48, "256 TiB") = Field(0, description="DRAM page (row buffer) size seen by the access stream; 0: no "
                                                 "row-buffer model")
    page_change_s: LatencyS = Field(0.0, description="time lost each time the access stream moves to another page")
    rw_batch_bytes: bounded_int(0, 1 << 48, "256 TiB") = Field(0, description="bytes the DMA moves in one direction before it may switch "
                                                     "between reads and writes; 0: no turnaround model")
    rw_switch_s: LatencyS = Field(0.0, description="time lost per switch between a read and a write batch")

    @model_validator(mode="after")
    def _complete(self) -> "DRAM":
        if self.page_change_s > 0 and self.page_bytes == 0:
            raise ValueError("page_change_s needs page_bytes (the page the access stream changes)")
        if self.rw_switch_s > 0 and self.rw_batch_bytes == 0:
            raise ValueError("rw_switch_s needs rw_batch_bytes (how often reads and writes alternate)")
        return self


class Energy(StrictModel):
    """Energy per action."""

    mac_pj: PicoJoules = Field(gt=0, description="one multiply-accumulate (pJ)")
    index_decode_pj: PicoJoules = Field(0.0, description="one sparse-index decode/mux select (pJ)")
    per_byte_pj: dict[str, PicoJoules] = Field(description="pJ per byte moved, per memory level name and 'dram'")
    static_w: Watts = Field(0.0, description="static (leakage + clock) power in watts")


class Area(StrictModel):
    """Optional area per component (mm^2)."""

    components_mm2: dict[str, AreaMm2] = Field(min_length=1)

    def total_mm2(self) -> float:
        """Sum of all components (mm^2)."""
        return float(sum(self.components_mm2.values()))


class GPU(StrictModel):
    """A GPU described by datasheet rates."""

    sms: ArrayEdge = Field(description="streaming multiprocessors")
    compute_capability: bounded_float(0.0, 100.0, "sm_1000", lo_open=True) = Field(
        description="CUDA compute capability (8.0 = sm80): picks the kernel efficiencies and the kernels available "
                    "on its architecture (sim/gpu)")
    boost_clock_hz: GpuClockHz
    dtype: Literal["fp16", "bf16", "int8", "fp8", "tf32"] = "fp16"
    dense_tensor_flops: dict[str, FlopsPerS] = Field(min_length=1, description="dense tensor-core FLOP/s per dtype")
    sparse_tensor_flops: dict[str, FlopsPerS] = Field(default_factory=dict, description="2:4 sparse tensor-core FLOP/s per dtype")
    cuda_core_flops: dict[str, FlopsPerS] = Field(min_length=1, description="non-tensor (CUDA-core FMA) FLOP/s per dtype; "
                                              "fp32 needed: true-fp32 GEMMs and register-level work (sim/gpu)")
    max_threads_per_sm: ArrayEdge = Field(description="resident threads per SM (occupancy limit, sim/gpu/geometry.py)")
    hbm_bytes_per_s: DramBytesPerS
    hbm_bytes: bounded_float(1.0, float(1 << 60), "an exbibyte")
    l2_bytes: Bytes
    l2_bytes_per_s: DramBytesPerS
    smem_bytes_per_sm: Bytes
    launch_overhead_s: LatencyS
    tdp_w: bounded_float(0.0, 1.0e6, "a megawatt", lo_open=True)

    @model_validator(mode="after")
    def _dtype_rated(self) -> "GPU":
        if self.dtype not in self.dense_tensor_flops:
            raise ValueError(f"dtype '{self.dtype}' has no entry in dense_tensor_flops")
        if "fp32" not in self.cuda_core_flops:
            raise ValueError("cuda_core_flops needs an 'fp32' entry (the CUDA-core FMA rate)")
        return self


class Arch(StrictModel):
    """Any architecture: the fields every kind has. A spec is one of the kinds below, chosen by its
    `kind` field (systolic when absent): `Arch.model_validate(data)` (and every loader) returns a
    `SystolicArch` or a `GpuArch`. Code that needs one kind says so in its type; what differs
    between kinds is behaviour of the classes (clock, peak rate, summary) or of the cost backend
    that sim chooses for the class (sim/backends.py), never a test of `kind`."""

    name: str = Field(min_length=1)
    description: str = ""
    kind: str = "systolic"
    sparsity: SparsitySupport = Field(default_factory=SparsitySupport)
    area: Area | None = None

    @classmethod
    def model_for(cls, obj) -> type["Arch"]:
        """The class that validates `obj`: the kind it names (`kind`, default systolic). Loaders
        (specfile.parse_model) ask for it so errors name the kind's own fields."""
        if cls is not Arch:
            return cls
        kind = obj.get("kind", "systolic") if isinstance(obj, dict) else getattr(obj, "kind", None)
        if not isinstance(kind, str) or kind not in ARCH_KINDS:  # a list or mapping is no kind (and unhashable)
            raise ValueError(f"kind: '{kind}' is not one of {', '.join(ARCH_KINDS)}")
        return ARCH_KINDS[kind]

    @classmethod
    def model_validate(cls, obj, *args, **kwargs):
        """Validate `obj` as the kind it names (`model_for`)."""
        model = cls.model_for(obj)
        if model is not cls:
            return model.model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)

    @property
    def clock_hz(self) -> float:
        """Clock of the compute engine (Hz)."""
        raise NotImplementedError

    @property
    def peak_macs_per_cycle(self) -> float:
        """Dense MACs per cycle of the compute engine (MAC/cycle)."""
        raise NotImplementedError

    def summary(self) -> str:
        """One line describing the compute engine (for preset tables)."""
        raise NotImplementedError


class SystolicArch(Arch):
    """A compute array fed by on-chip buffers and DRAM: compute, sparsity support, memory,
    energy, the vector unit that runs non-GEMM operators (optional: without one they are not
    costed, with a note) and area (optional)."""

    kind: Literal["systolic"] = "systolic"
    compute: ComputeArray
    memory: list[MemoryLevel] = Field(min_length=1)
    dram: DRAM
    energy: Energy
    vector: VectorUnit | None = None

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data):
        # Name the missing section the way a reader of the file thinks of it.
        if isinstance(data, dict):
            for part in ("compute", "dram", "energy"):
                if data.get(part) is None:
                    raise ValueError(f"a systolic arch needs a '{part}' section")
            if not data.get("memory"):
                raise ValueError("a systolic arch needs at least one 'memory' level")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "SystolicArch":
        names = [lv.name for lv in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory level names must be unique (got {names})")
        for op in OPERANDS:
            holders = [lv.name for lv in self.memory if op in lv.holds]
            if len(holders) != 1:
                # The analytic model has one on-chip tier; a deeper hierarchy would be
                # silently ignored, so refuse it rather than report numbers that omit it.
                raise ValueError(f"operand '{op}' must be held by exactly one memory level (got {holders or 'none'})")
        missing = [n for n in names + ["dram"] if n not in self.energy.per_byte_pj]
        unknown = [n for n in self.energy.per_byte_pj if n not in names + ["dram"]]
        if missing:
            raise ValueError(f"energy.per_byte_pj lacks {missing}; give pJ/byte for every memory level and 'dram'")
        if unknown:
            raise ValueError(f"energy.per_byte_pj names unknown levels {unknown} (levels: {names + ['dram']})")
        if self.vector is not None and self.vector.level not in names:
            raise ValueError(f"vector.level '{self.vector.level}' is not a memory level (levels: {', '.join(names)})")
        return self

    def level_for(self, operand: str) -> MemoryLevel:
        """The on-chip level that holds tiles of `operand` ('weights', 'inputs', 'outputs')."""
        for lv in self.memory:
            if operand in lv.holds:
                return lv
        raise KeyError(operand)

    @property
    def clock_hz(self) -> float:
        """Clock of the array (Hz)."""
        return self.compute.clock_hz

    @property
    def peak_macs_per_cycle(self) -> int:
        """Dense MACs per cycle of the array (MAC/cycle)."""
        c = self.compute
        return c.rows * c.cols * c.macs_per_pe

    def summary(self) -> str:
        """'RxCxP @ F MHz'."""
        c = self.compute
        return f"{c.rows}x{c.cols}x{c.macs_per_pe} @ {c.clock_hz / 1e6:.0f} MHz"


class GpuArch(Arch):
    """A GPU described by its datasheet rates (the tile-level GPU model, sim/gpu)."""

    kind: Literal["gpu"]
    gpu: GPU

    @property
    def clock_hz(self) -> float:
        """Boost clock (Hz)."""
        return self.gpu.boost_clock_hz

    @property
    def peak_macs_per_cycle(self) -> float:
        """Dense tensor-core MACs per clock at the preset's dtype (MAC/cycle)."""
        g = self.gpu
        return g.dense_tensor_flops[g.dtype] / 2 / g.boost_clock_hz

    def summary(self) -> str:
        """'S SMs @ F MHz'."""
        return f"{self.gpu.sms} SMs @ {self.gpu.boost_clock_hz / 1e6:.0f} MHz"


ARCH_KINDS: dict[str, type[Arch]] = {"systolic": SystolicArch, "gpu": GpuArch}


def require_systolic(arch: Arch, purpose: str) -> SystolicArch:
    """`arch` when it is a systolic array; SpecError naming `purpose` otherwise (mappers, DSE and
    the detailed engine model arrays, not GPUs)."""
    if not isinstance(arch, SystolicArch):
        raise SpecError(f"{arch.name} is a {arch.kind} arch; {purpose} apply to systolic arrays")
    return arch
