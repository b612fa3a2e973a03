"""The `Arch` schema: what a sparse accelerator (or a GPU) is made of, validated on load.

Units are in the field names: `_hz`, `_bytes`, `_bits`, `_cycles`, `_s`, `_pj`, `_w`, `_mm2`.
Two kinds of architecture, one class each under the common `Arch` (chosen by the `kind` field):

* `SystolicArch`: a compute array fed by on-chip buffers and DRAM (dense-systolic, sat, s4, ...);
* `GpuArch`: a GPU described by its datasheet rates (t4, a100, h100), for the tile-level GPU model.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from nmsim.problem import SPATIAL, index_bits, parse_nm
from nmsim.specfile import SpecError, StrictModel, bounded_float, bounded_int

from .technology import resolve_references
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
# 10^18 B/cycle and 10^27 B/s: the ports and DRAM a converted Timeloop design leaves unlimited
# (interop.timeloop_convert.UNLIMITED_BYTES_PER_CYCLE at its 1 GHz clock); finite, so times stay numbers
PortBytesPerCycle = bounded_float(1.0e-3, 1.0e18, "1/1000 .. 10^18 bytes per cycle")
DramBytesPerS = bounded_float(1.0, 1.0e27, "1 B/s .. 10^27 B/s")
LatencyS = bounded_float(0.0, 1.0, "a second: 10^7 times a DRAM access")
LatencyCycles = bounded_int(0, 1 << 20, "a million cycles")
PicoJoules = bounded_float(0.0, 1.0e6, "a microjoule per action: 10^5 times any process")
Watts = bounded_float(0.0, 1.0e6, "a megawatt")
AreaMm2 = bounded_float(0.0, 1.0e6, "a square metre")
FlopsPerS = bounded_float(1.0, 1.0e21, "a zettaFLOP/s: 10^4 times the fastest GPU")
Instances = bounded_int(1, 1 << 24, "16 M copies: one per PE of a 4,096 x 4,096 array")
BlockCount = bounded_int(1, 1 << 16, "65,536 blocks: one per row or column of the largest array edge")
GpuClockHz = bounded_float(1.0e6, 1.0e11, "1 MHz .. 100 GHz")


class Interconnect(StrictModel):
    """What the array's wiring lets a mapping place on its rows and columns (docs/MODEL.md 3.7).

    A fixed systolic array (the default) carries the dataflow table's dimensions: rows, columns and
    time as in problem.dataflow. A flexible array can cut its rows (columns) into `row_blocks`
    (`col_blocks`) equal blocks, each with its own partial-sum output and operand injection, and
    give each block a different slice of a second GEMM dimension; with `block_reduction` an adder
    tree sums the blocks' partial sums, so blocks may also split the reduction dimension K.
    """

    row_blocks: list[BlockCount] = Field(default_factory=lambda: [1], min_length=1,
                                  description="ways the rows may be cut into independent blocks (1 = fixed)")
    col_blocks: list[BlockCount] = Field(default_factory=lambda: [1], min_length=1,
                                  description="ways the columns may be cut into independent blocks (1 = fixed)")
    block_reduction: bool = Field(False, description="partial sums of blocks can be added, so blocks may split K")

    @field_validator("row_blocks", "col_blocks")
    @classmethod
    def _with_one(cls, v: list[int]) -> list[int]:
        return sorted(set(v) | {1})  # an unsplit array is always a choice

    @property
    def flexible(self) -> bool:
        """True when some mapping may cut the rows or columns into blocks."""
        return len(self.row_blocks) > 1 or len(self.col_blocks) > 1


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
    interconnect: Interconnect = Field(default_factory=Interconnect,
                                       description="what the rows and columns may carry (docs/MODEL.md 3.7)")
    preload_overlap: bool = Field(False, description="WS/IS: the PEs double-buffer the stationary operand, so the "
                                                     "next fold's R preload cycles hide under the current fold's "
                                                     "stream (TPU v1 style); false: the preload follows the last MAC "
                                                     "(docs/MODEL.md 3.2)")

    @model_validator(mode="after")
    def _blocks_divide(self) -> "ComputeArray":
        for axis, extent in (("row", self.rows), ("col", self.cols)):
            bad = [b for b in getattr(self.interconnect, f"{axis}_blocks") if extent % b]
            if bad:
                raise ValueError(f"compute.interconnect.{axis}_blocks: {bad} do not divide "
                                 f"{'rows' if axis == 'row' else 'cols'} = {extent}")
        return self


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
    """An on-chip storage level (global buffer, accumulator, register file) that keeps tiles of some
    operands; the others pass it by. `memory:` lists levels outermost (next to DRAM) first, so an
    operand's path is DRAM, then the levels that hold it in list order, then the array. Consecutive
    levels that keep different operands sit side by side (one *tier*, sharing one tile of the
    mapping, like Timeloop's parallel buffers); a level that keeps an operand an earlier level of
    the tier keeps starts the next tier, inside the previous one (docs/MODEL.md 3.9). A level may be
    `instances` identical copies (one per PE, one per column): capacity, ports and leakage are per
    copy and scale with the count."""

    name: str = Field(min_length=1)
    size_bytes: Bytes = Field(description="capacity of one instance (bytes)")
    instances: Instances = Field(1, description="identical copies (e.g. one per PE); size and ports are per copy")
    read_bytes_per_cycle: PortBytesPerCycle = Field(description="read port of one instance (bytes/cycle)")
    write_bytes_per_cycle: PortBytesPerCycle = Field(description="write port of one instance (bytes/cycle)")
    latency_cycles: LatencyCycles = 0
    double_buffered: bool = True
    ports: Literal["shared", "separate"] = Field(
        "shared", description="shared: one port serves reads and writes, so their cycles add; separate: reads and "
                              "writes use their own ports in parallel (dual-port SRAM, register files, banks, "
                              "ping-pong halves), so the level is busy for the longer of the two (docs/MODEL.md 3.3)")
    prefetch_steps: LatencyCycles | dict[Dataflow, LatencyCycles] | None = Field(
        None, description="array steps (beats) the array's reader of a streamed operand kept here may fetch "
                          "ahead of the array (its FIFO); during a fold's fill and drain the read port then works "
                          "at most this many beats ahead; one number for every dataflow, or one per dataflow "
                          "({ws: 4, os: 8}: a reader whose slots hold more beats in one dataflow than another; "
                          "a dataflow left out has no limit); null: no limit, the port's work spreads over whole "
                          "folds (MODEL.md 3.3)")
    prefetch_latency_cycles: LatencyCycles = Field(
        0, description="cycles from the array freeing a slot of that reader to the refilled data reaching the "
                       "array (slot re-allocation, the SRAM read, the reader's output stage): exposed once per "
                       "fold when the port paces the stream and the reader ran out of slots (MODEL.md 3.3); "
                       "read only with prefetch_steps")
    holds: list[Operand] = Field(default_factory=lambda: list(OPERANDS), min_length=1,
                                 description="operands this level keeps; the others bypass it")
    keeps_activations: bool = Field(False, description="activations stay here between ops when they fit, so "
                                                       "DRAM carries only weights (docs/MODEL.md 3.10)")
    starts_tier: bool = Field(False, description="this level starts a new tier (a tile of its own) even when it "
                                                 "keeps operands the levels before it do not (docs/MODEL.md 3.9)")
    stores_feature_maps: bool = Field(False, description="a conv's inputs are held and moved on as distinct ifmap "
                                                         "pixels, not as im2col rows (docs/MODEL.md 3.11); the "
                                                         "outermost level holding inputs decides")

    @property
    def capacity_bytes(self) -> int:
        """Bytes held by all instances together."""
        return self.size_bytes * self.instances

    @field_validator("name")
    @classmethod
    def _not_dram(cls, v: str) -> str:
        if v == "dram":
            raise ValueError("'dram' is reserved for the off-chip level; describe it under 'dram:'")
        return v


RLC_BITS_PER_NONZERO = 64 / 3  # Eyeriss RLC: 5-b run + 16-b level, three pairs per 64-b word (JSSC 2017, p.6)


def coded_fraction(coding: str, density: float, operand_bits: int) -> float:
    """Bytes of an activation tensor stored with `coding` over its dense bytes, for a fraction
    `density` of nonzero values (docs/MODEL.md 3.11). 'rlc': every nonzero takes RLC_BITS_PER_NONZERO
    bits (a run of up to 31 zeros rides along), so d x (64/3) / operand_bits, never above 1 (data that
    would grow is sent raw). Runs longer than 31 zeros, which cost an extra pair, are not counted."""
    if coding == "none":
        return 1.0
    return min(1.0, density * RLC_BITS_PER_NONZERO / operand_bits)


class DRAM(StrictModel):
    """Off-chip memory: a transfer rate and, optionally, what an access pattern costs on top of it
    (docs/MODEL.md 3.4-3.5, "DRAM efficiency"); the defaults charge nothing extra."""

    bytes_per_s: DramBytesPerS = Field(description="transfer rate in bytes/s: sustained when the efficiency fields "
                                                   "below are left at 0, else the interface's peak")
    latency_s: LatencyS = Field(0.0, description="access latency in seconds")
    activation_coding: Literal["none", "rlc"] = Field(
        "none", description="how activations are stored off chip: 'rlc' run-length codes zeros as Eyeriss does "
                            "(docs/MODEL.md 3.11); weights are never coded")
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


class ReadWrite(StrictModel):
    """Energy per byte read and per byte written at one level (pJ/B)."""

    read: PicoJoules
    write: PicoJoules


class Energy(StrictModel):
    """Energy per action. Numbers, or references into the arch's technology table (`tech:`,
    accel/technology.py) that the loader replaces by numbers and records in `sources`."""

    mac_pj: PicoJoules = Field(gt=0, description="one multiply-accumulate (pJ)")
    index_decode_pj: PicoJoules = Field(0.0, description="one sparse-index decode/mux select (pJ)")
    per_byte_pj: dict[str, PicoJoules | ReadWrite] = Field(
        description="pJ per byte moved, per memory level name and 'dram': one number for reads and writes, "
                    "or {read, write}")
    static_w: Watts = Field(0.0, description="static (leakage + clock) power in watts")
    sources: dict[str, str] = Field(default_factory=dict,
                                    description="technology-table entry behind each priced action (filled by the loader)")

    def read_pj(self, level: str) -> float:
        """pJ per byte read at `level` (a memory level name or 'dram')."""
        x = self.per_byte_pj[level]
        return float(x.read if isinstance(x, ReadWrite) else x)

    def write_pj(self, level: str) -> float:
        """pJ per byte written at `level` (a memory level name or 'dram')."""
        x = self.per_byte_pj[level]
        return float(x.write if isinstance(x, ReadWrite) else x)


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

    @property
    def smem_reserved_per_block(self) -> int:
        """Shared memory (B) CUDA reserves for the system in every resident block: 1 KB from
        compute capability 8.0 on (source: CUDA C++ Programming Guide, "Technical Specifications per
        Compute Capability": 164 KB per SM and 163 KB per block on 8.0, 100 and 99 KB on 8.6 and
        8.9, 228 and 227 KB on 9.0; `cudaDevAttrReservedSharedMemoryPerBlock`), none before (7.5:
        64 KB per SM and per block)."""
        return 1024 if self.compute_capability >= 8.0 else 0

    @property
    def smem_bytes_per_block(self) -> float:
        """The most shared memory (B) one CTA may use (opt-in): the SM's less the reservation."""
        return self.smem_bytes_per_sm - self.smem_reserved_per_block

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

    def energy_basis(self) -> str:
        """Where the energies come from, in a few words (for preset tables): presets on the same
        basis compare energy action by action, others do not (docs/MODEL.md 3.8)."""
        raise NotImplementedError

    def activation_level(self) -> int | None:
        """Index of the memory level that keeps activations between ops (docs/MODEL.md 3.10); None
        for an arch without one."""
        return None

    def stores_feature_maps(self) -> bool:
        """True when a conv's inputs are held as distinct ifmap pixels, not im2col rows (docs/MODEL.md 3.11)."""
        return False

    def dram_coded_fraction(self, density: float) -> float:
        """DRAM bytes of an activation tensor over its dense bytes at `density` nonzeros (docs/MODEL.md 3.11)."""
        return 1.0


class SystolicArch(Arch):
    """A compute array fed by on-chip buffers and DRAM: compute, sparsity support, memory,
    energy, the vector unit that runs non-GEMM operators (optional: without one they are not
    costed, with a note) and area (optional)."""

    kind: Literal["systolic"] = "systolic"
    tech: str | None = Field(None, description="technology table the energy section refers to (accel/tech/<tech>.yaml)")
    compute: ComputeArray
    memory: list[MemoryLevel] = Field(min_length=1, description="on-chip levels, outermost (next to DRAM) first")
    dram: DRAM
    energy: Energy
    _tiers: list = PrivateAttr(default_factory=list)  # tiers(), computed once (the model is frozen)
    _tier_of: list = PrivateAttr(default_factory=list)  # tier_of(), likewise
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
            data = resolve_references(data)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "SystolicArch":
        names = [lv.name for lv in self.memory]
        if len(set(names)) != len(names):
            raise ValueError(f"memory level names must be unique (got {names})")
        for op in OPERANDS:
            if not self.keepers(op):
                raise ValueError(f"memory: operand '{op}' has no path from DRAM to the array: no level holds it "
                                 "(the array reads operands from on-chip storage); add it to a level's holds")
        missing = [n for n in names + ["dram"] if n not in self.energy.per_byte_pj]
        unknown = [n for n in self.energy.per_byte_pj if n not in names + ["dram"]]
        if missing:
            raise ValueError(f"energy.per_byte_pj lacks {missing}; give pJ/byte for every memory level and 'dram'")
        if unknown:
            raise ValueError(f"energy.per_byte_pj names unknown levels {unknown} (levels: {names + ['dram']})")
        self._activation_level_valid()
        for i, lv in enumerate(self.memory):
            need = self.fold_footprint(i)
            if lv.capacity_bytes < need:
                raise ValueError(f"memory.{i}.size_bytes: level '{lv.name}' holds {lv.capacity_bytes} B "
                                 f"({lv.instances} x {lv.size_bytes} B) but one array fold of its operands "
                                 f"({', '.join(lv.holds)}), the smallest mapping's tile, needs {need:.0f} B; "
                                 "enlarge size_bytes")
        if self.vector is not None and self.vector.level not in names:
            raise ValueError(f"vector.level '{self.vector.level}' is not a memory level (levels: {', '.join(names)})")
        return self

    def _activation_level_valid(self) -> None:
        keep = [i for i, lv in enumerate(self.memory) if lv.keeps_activations]
        if len(keep) > 1:
            raise ValueError(f"memory.{keep[1]}.keeps_activations: only one level can keep activations between ops")
        for i in keep:
            if self.keepers("inputs")[0] is not self.memory[i] or self.keepers("outputs")[0] is not self.memory[i]:
                raise ValueError(f"memory.{i}.keeps_activations: level '{self.memory[i].name}' must be the outermost "
                                 "level holding both inputs and outputs to keep activations between ops")

    def fold_footprint(self, level: int) -> float:
        """Bytes level `level` needs for the smallest mapping's tile: one array fold of each operand it
        keeps (the rows' and columns' dimensions at the array's extent, one step of time) under the
        dataflow that needs least, doubled where double-buffered (docs/MODEL.md 3.9). Every level
        must hold it."""
        c, lv = self.compute, self.memory[level]
        op_b, acc_b = c.operand_bits / 8, c.accumulator_bits / 8
        needs = []
        for df in c.dataflows:
            rows, cols, _ = SPATIAL[df]
            ext = {"M": 1, "N": 1, "K": 1}
            ext[rows], ext[cols] = c.rows * (c.macs_per_pe if rows == "K" else 1), c.cols
            per = {"inputs": ext["M"] * ext["K"] * op_b, "weights": ext["K"] * ext["N"] * op_b,
                   "outputs": ext["M"] * ext["N"] * acc_b}
            needs.append(sum(per[o] for o in lv.holds) * (2 if lv.double_buffered else 1))
        return min(needs)

    def activation_level(self) -> int | None:
        """Index of the level that keeps activations between ops (docs/MODEL.md 3.10), or None."""
        return next((i for i, lv in enumerate(self.memory) if lv.keeps_activations), None)

    def stores_feature_maps(self) -> bool:
        """The outermost level holding inputs stores feature maps (docs/MODEL.md 3.11)."""
        return self.level_for("inputs").stores_feature_maps

    def dram_coded_fraction(self, density: float) -> float:
        """DRAM bytes of an activation tensor over its dense bytes under `dram.activation_coding`."""
        return coded_fraction(self.dram.activation_coding, density, self.compute.operand_bits)

    def tiers(self) -> list[tuple[int, ...]]:
        """Indices of `memory` grouped into tiers, outermost first: runs of consecutive levels that keep
        pairwise different operands (docs/MODEL.md 3.9). Each tier holds one tile of the mapping.
        Computed once (do not modify the answer)."""
        if not self._tiers:
            tiers: list[list[int]] = []
            held: set[str] = set()
            for i, lv in enumerate(self.memory):
                if not tiers or held & set(lv.holds) or lv.starts_tier:
                    tiers.append([])
                    held = set()
                tiers[-1].append(i)
                held |= set(lv.holds)
            self._tiers = [tuple(t) for t in tiers]
        return self._tiers

    def tier_of(self) -> list[int]:
        """The tier of every memory level. Computed once (do not modify the answer): the mappers
        ask for it once per footprint."""
        if not self._tier_of:
            self._tier_of = [j for j, tier in enumerate(self.tiers()) for _ in tier]
        return self._tier_of

    def keepers(self, operand: str) -> list[MemoryLevel]:
        """The on-chip levels that keep `operand` ('weights', 'inputs', 'outputs'), outermost first:
        its path from DRAM to the array."""
        return [lv for lv in self.memory if operand in lv.holds]

    def level_for(self, operand: str) -> MemoryLevel:
        """The outermost on-chip level that keeps `operand` (the one DRAM fills)."""
        found = self.keepers(operand)
        if not found:
            raise KeyError(operand)
        return found[0]

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

    def energy_basis(self) -> str:
        """'tech <node>' when the energies come from a technology table (some may stay literal), else
        'assumed numbers'."""
        return f"tech {self.tech}" if self.tech and self.energy.sources else "assumed numbers"


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

    def energy_basis(self) -> str:
        """GPUs publish no per-action energy: TDP x time bounds it."""
        return "TDP x time (bound)"


ARCH_KINDS: dict[str, type[Arch]] = {"systolic": SystolicArch, "gpu": GpuArch}


def require_systolic(arch: Arch, purpose: str) -> SystolicArch:
    """`arch` when it is a systolic array; SpecError naming `purpose` otherwise (mappers, DSE and
    the detailed engine model arrays, not GPUs)."""
    if not isinstance(arch, SystolicArch):
        raise SpecError(f"{arch.name} is a {arch.kind} arch; {purpose} apply to systolic arrays")
    return arch
