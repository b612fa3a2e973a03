"""SCALE-Sim architecture config files (`.cfg`, as read by PyPI `scalesim` 3.0.0) -> `Arch`.

SCALE-Sim users keep their files: `read_scalesim_cfg` reads the INI file that
`scalesim/scale_config.py: read_conf_file` reads, with the same meaning for every key we use,
and `scalesim_arch` turns it into a validated systolic `Arch`. What the keys mean:

* `[architecture_presets]` ArrayHeight x ArrayWidth PEs (one MAC each), Dataflow ws|os|is,
  IfmapSramSzkB / FilterSramSzkB / OfmapSramSzkB: three separate SRAMs (kB = 1024 words of
  one byte: SCALE-Sim's word_size is 1 byte, single_layer_sim.py), each double-buffered;
* `[run_presets]` InterfaceBandwidth CALC (SCALE-Sim estimates the DRAM bandwidth the array
  needs and never stalls reads) or USER (DRAM words/cycle: ifmap and filter from the
  `[layout]` keys IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth, ofmap from the first
  number of `Bandwidth`: that is what single_layer_sim.py passes to its memory system);
* `[layout]` IfmapCustomLayout / FilterCustomLayout and `[run_presets]` UseRamulatorTrace switch on
  SCALE-Sim paths that compatibility mode does not reproduce (it says so per layer); the bank
  counts only have to divide the bank bandwidths in USER mode (SCALE-Sim asserts it);
* `[sparsity]` SparsitySupport turns the topology's N:M column on; OptimizedMapping replaces it
  by SCALE-Sim's row-wise scheme with groups of BlockSize (see docs/MODEL.md, "SCALE-Sim
  compatibility mode").

SCALE-Sim 3.0.0 crashes on a file without `[layout]` or `[sparsity]`; we read such a file as
"no custom layout, no sparsity" (its older files lack both). Errors are SpecErrors that name
`file:line`, the key and the fix. Keys are case-insensitive and take `:` or `=`, as configparser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nmsim.specfile import SpecError, did_you_mean, parse_int, parse_model, read_text

from nmsim.problem import DATAFLOWS

from .spec import Arch

SECTIONS = ("general", "architecture_presets", "layout", "sparsity", "run_presets", "network_presets")
BANDWIDTH_MODES = ("CALC", "USER")
SPARSE_REPS = ("csr", "csc", "ellpack_block")
# SCALE-Sim counts cycles only; 1 GHz is our assumption so that latency_s = cycles / 1e9.
CLOCK_HZ = 1.0e9
# single_layer_sim.py: word_size = 1 byte for every operand and output.
_WORD_BITS = 8
# single_layer_sim.py: active_buf_frac = 0.5 of each SRAM serves the array, the rest prefetches.
ACTIVE_BUFFER_FRACTION = 0.5
# scale_config.py defaults, used when a file has no [layout] section.
DEFAULT_SRAM_BANK_BANDWIDTH_WORDS = 10
DEFAULT_SRAM_BANK_NUM = 10
# SCALE-Sim's energy-free model borrows nmsim's per-action energies from this preset.
ENERGY_PRESET = "dense-systolic"


@dataclass(frozen=True)
class ScaleSimConfig:
    """The knobs of a SCALE-Sim `.cfg` that decide cycles (array, dataflow, sparsity) and traffic."""

    source: str
    run_name: str
    rows: int
    cols: int
    ifmap_sram_kb: int
    filter_sram_kb: int
    ofmap_sram_kb: int
    dataflow: str
    user_bandwidth: bool = False
    bandwidth_words_per_cycle: tuple[int, ...] = ()
    ifmap_dram_words_per_cycle: int = DEFAULT_SRAM_BANK_BANDWIDTH_WORDS
    filter_dram_words_per_cycle: int = DEFAULT_SRAM_BANK_BANDWIDTH_WORDS
    ifmap_custom_layout: bool = False
    filter_custom_layout: bool = False
    ramulator_trace: bool = False
    sparsity_support: bool = False
    sparse_rep: str = ""
    optimized_mapping: bool = False
    block_size: int = 4
    notes: tuple[str, ...] = field(default=(), compare=False)

    def sram_words(self, operand: str) -> int:
        """Words of the SRAM of 'inputs', 'weights' or 'outputs' (1-byte words: kB x 1024)."""
        kb = {"inputs": self.ifmap_sram_kb, "weights": self.filter_sram_kb, "outputs": self.ofmap_sram_kb}[operand]
        return kb * 1024 * 8 // _WORD_BITS

    def sram_active_words(self, operand: str) -> int:
        """Words of the SRAM half that serves the array for 'inputs', 'weights' or 'outputs' (words):
        ceil(words x 0.5), as read_buffer.py / write_buffer.py size their active part."""
        return math.ceil(self.sram_words(operand) * ACTIVE_BUFFER_FRACTION)


@dataclass(frozen=True)
class _Entry:
    key: str    # as written in the file
    value: str
    line: int


class _Ini:
    """configparser's reading of an INI file, keeping the line of every section and key."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.sections: dict[str, dict[str, _Entry]] = {}
        self.section_line: dict[str, int] = {}
        current: str | None = None
        for no, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise SpecError(f"{source}:{no}: malformed section header '{line}'; write it like [sparsity]")
                current = line[1:-1].strip()
                if current not in SECTIONS and current.lower() in SECTIONS:
                    # configparser section names are case-sensitive: SCALE-Sim would not find it
                    raise SpecError(f"{source}:{no}: section [{current}] must be written [{current.lower()}]")
                self.sections.setdefault(current, {})
                self.section_line.setdefault(current, no)
                continue
            cut = min((i for i in (line.find(":"), line.find("=")) if i >= 0), default=-1)
            if cut <= 0:
                raise SpecError(f"{source}:{no}: '{line}' is neither '[section]' nor 'Key: value'")
            if current is None:
                raise SpecError(f"{source}:{no}: '{line}' comes before any [section]; put it under one, "
                                "e.g. [architecture_presets]")
            key = line[:cut].strip()
            entries = self.sections[current]
            if key.lower() in entries:
                raise SpecError(f"{source}:{no}: {key} repeats [{current}] {entries[key.lower()].key} "
                                f"(line {entries[key.lower()].line}); keep one")
            entries[key.lower()] = _Entry(key, line[cut + 1:].strip(), no)

    def get(self, section: str, key: str, example: str | None = None) -> _Entry | None:
        """The entry, or None when absent; with `example`, absence is a SpecError showing it."""
        found = self.sections.get(section, {}).get(key.lower())
        if found is None and example is not None:
            where = self.section_line.get(section, 1)
            have = f"[{section}]" if section in self.sections else f"the file (no [{section}] section)"
            raise SpecError(f"{self.source}:{where}: {have} lacks {key}; add a line such as "
                            f"'{key}: {example}' under [{section}]")
        return found

    def fail(self, e: _Entry, problem: str) -> SpecError:
        """A SpecError located at entry `e`."""
        return SpecError(f"{self.source}:{e.line}: {e.key}: {problem}")

    def integer(self, e: _Entry, minimum: int, example: str, maximum: int = 1 << 16,
                why: str = "the array-edge bound of accel/spec.py") -> int:
        """`e` as an integer in [minimum, maximum] (specfile.parse_int: ASCII digits, `why` the bound's reason)."""
        try:
            int(e.value)
        except ValueError:
            raise self.fail(e, f"'{e.value}' is not an integer; write e.g. '{e.key}: {example}'") from None
        try:
            return parse_int(e.value, "value", minimum, maximum, why)
        except SpecError as exc:
            raise self.fail(e, str(exc).removeprefix("value: ")) from None


def _flag(ini: _Ini, e: _Entry | None, notes: list[str]) -> bool:
    """SCALE-Sim's `value.lower() == 'true'` test, noting values that are neither true nor false."""
    if e is None:
        return False
    v = e.value.lower()
    if v not in ("true", "false"):
        # e.g. 'true  # comment': configparser keeps inline comments, so SCALE-Sim reads False
        notes.append(f"{ini.source}:{e.line}: {e.key} = '{e.value}' is not 'true', so SCALE-Sim 3.0.0 reads "
                     "it as false (an inline comment is part of the value); nmsim does the same")
    return v == "true"


def _layout_flag(ini: _Ini, e: _Entry | None) -> bool:
    """configparser.getboolean, which SCALE-Sim uses for the custom-layout switches."""
    if e is None:
        return False
    v = e.value.lower()
    if v in ("1", "yes", "true", "on"):
        return True
    if v in ("0", "no", "false", "off"):
        return False
    raise ini.fail(e, f"'{e.value}' is not a boolean; write True or False")


def _layout(ini: _Ini, user: bool) -> dict:
    """The [layout] keys SCALE-Sim's memory system reads: the ifmap/filter DRAM words/cycle of USER mode
    (IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth) and the custom-layout switches. In USER mode
    SCALE-Sim asserts that each bank count divides its bandwidth (read_buffer.py:93-96)."""
    out = {}
    for side in ("Ifmap", "Filter"):
        e = ini.get("layout", f"{side}SRAMBankBandwidth")
        bw = ini.integer(e, 1, "10", 1 << 40, "2^40 words per cycle") if e else DEFAULT_SRAM_BANK_BANDWIDTH_WORDS
        n = ini.get("layout", f"{side}SRAMBankNum")
        banks = ini.integer(n, 1, "1") if n else DEFAULT_SRAM_BANK_NUM
        if user and n is not None and bw % banks:
            raise ini.fail(n, f"{banks} banks do not divide {side}SRAMBankBandwidth {bw} (SCALE-Sim 3.0.0 asserts "
                              f"this in USER mode); use a bank count that divides {bw}, e.g. 1")
        out[f"{side.lower()}_dram_words_per_cycle"] = bw
        out[f"{side.lower()}_custom_layout"] = _layout_flag(ini, ini.get("layout", f"{side}CustomLayout"))
    return out


def parse_scalesim_cfg(text: str, source: str = "<scalesim cfg>") -> ScaleSimConfig:
    """Parse the text of a SCALE-Sim `.cfg`; SpecError naming `source:line` and the fix on bad input."""
    ini = _Ini(source, text)
    notes: list[str] = []
    arch = "architecture_presets"
    g = ini.get("general", "run_name")
    run_name = g.value if g else Path(source).stem

    rows = ini.integer(ini.get(arch, "ArrayHeight", "32"), 1, "32")
    cols = ini.integer(ini.get(arch, "ArrayWidth", "32"), 1, "32")
    kb = [ini.integer(ini.get(arch, k, "256"), 1, "256", 1 << 38, "256 TiB, the memory bound of accel/spec.py")
          for k in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")]
    e = ini.get(arch, "Dataflow", "ws")
    if e.value not in DATAFLOWS:
        raise ini.fail(e, f"'{e.value}' is not a dataflow{did_you_mean(e.value, DATAFLOWS)}")
    dataflow = e.value

    e = ini.get("run_presets", "InterfaceBandwidth", "CALC")
    if e.value not in BANDWIDTH_MODES:
        raise ini.fail(e, f"'{e.value}' must be CALC (SCALE-Sim estimates the bandwidth) or USER "
                          "(Bandwidth gives it)")
    user = e.value == "USER"
    bws: tuple[int, ...] = ()
    if user:
        e = ini.get(arch, "Bandwidth", "10")
        try:
            bws = tuple(parse_int(x, "", None, 1 << 40, "2^40 words per cycle") for x in e.value.split(","))
        except SpecError:
            raise ini.fail(e, f"'{e.value}' is not a comma-separated list of integers (words/cycle) up to 2^40, "
                              "e.g. 'Bandwidth: 10'") from None
        if min(bws) < 1:
            raise ini.fail(e, f"bandwidths must be positive words/cycle (got {e.value})")
    e = ini.get("run_presets", "UseRamulatorTrace")
    ramulator = e is not None and e.value == "True"   # scale_config.py:88-92 compares the string
    layout = _layout(ini, user)

    sp = "sparsity"
    support = _flag(ini, ini.get(sp, "SparsitySupport"), notes)
    rep, optimized, block = "", False, 4
    if support:
        e = ini.get(sp, "SparseRep", "ellpack_block")
        if e.value not in SPARSE_REPS:
            raise ini.fail(e, f"'{e.value}' is not a SCALE-Sim sparse representation{did_you_mean(e.value, SPARSE_REPS)}")
        rep = e.value
        e = ini.get(sp, "OptimizedMapping", "false")
        optimized = _flag(ini, e, notes)
        if optimized and dataflow != "ws":
            raise ini.fail(e, f"OptimizedMapping runs only with Dataflow ws in SCALE-Sim 3.0.0 (with "
                              f"{dataflow} it fails with 'Dimension mismatch between operands'); "
                              "set Dataflow: ws or OptimizedMapping: false")
        if optimized:
            e = ini.get(sp, "BlockSize", "4")
            block = ini.integer(e, 2, "4")
            if block > rows:
                raise ini.fail(e, f"BlockSize {block} exceeds ArrayHeight {rows} (SCALE-Sim refuses it); "
                                  f"use at most {rows}")
    return ScaleSimConfig(
        source=source, run_name=run_name, rows=rows, cols=cols,
        ifmap_sram_kb=kb[0], filter_sram_kb=kb[1], ofmap_sram_kb=kb[2], dataflow=dataflow,
        user_bandwidth=user, bandwidth_words_per_cycle=bws,
        ramulator_trace=ramulator, **layout,
        sparsity_support=support, sparse_rep=rep, optimized_mapping=optimized, block_size=block,
        notes=tuple(notes))


def read_scalesim_cfg(path: str | Path) -> ScaleSimConfig:
    """Read a SCALE-Sim `.cfg` file (see parse_scalesim_cfg)."""
    return parse_scalesim_cfg(read_text(path, "SCALE-Sim config file"), str(path))


def scalesim_arch(cfg: ScaleSimConfig, nm_patterns: list[str] | tuple[str, ...] = ()) -> Arch:
    """The systolic `Arch` SCALE-Sim simulates for `cfg`; `nm_patterns` are the topology's N:M.

    Three SRAMs (inputs, weights, outputs), double-buffered like SCALE-Sim's scratchpads. SCALE-Sim
    serves every request of a demand line in one cycle and, in CALC mode, never stalls on DRAM, so
    SRAM ports and CALC-mode DRAM get one word per PE per cycle (`rows x cols` B/cycle): more than
    any demand line, so they never bind. USER-mode DRAM is the sum of the three interfaces'
    words/cycle. Energies per action come from the dense-systolic preset (SCALE-Sim has none).
    """
    from .presets import load_arch

    ref = load_arch(ENERGY_PRESET)
    e = ref.energy
    word_b = _WORD_BITS / 8
    port_bpc = cfg.rows * cfg.cols * word_b
    if cfg.user_bandwidth:
        words = cfg.ifmap_dram_words_per_cycle + cfg.filter_dram_words_per_cycle + cfg.bandwidth_words_per_cycle[0]
        dram_bpc = words * word_b
    else:
        dram_bpc = port_bpc
    srams = (("ifmap_sram", cfg.ifmap_sram_kb, "inputs"), ("filter_sram", cfg.filter_sram_kb, "weights"),
             ("ofmap_sram", cfg.ofmap_sram_kb, "outputs"))
    sram_pj = e.per_byte_pj[ref.memory[0].name]
    spec = {
        "name": f"scalesim-{cfg.run_name}",
        "description": f"SCALE-Sim config {cfg.source} ({cfg.rows}x{cfg.cols} {cfg.dataflow.upper()})",
        "kind": "systolic",
        "compute": {"rows": cfg.rows, "cols": cfg.cols, "macs_per_pe": 1, "clock_hz": CLOCK_HZ,
                    "operand_bits": _WORD_BITS, "accumulator_bits": _WORD_BITS, "dataflows": [cfg.dataflow]},
        "memory": [{"name": name, "size_bytes": int(kb * 1024 * word_b), "read_bytes_per_cycle": port_bpc,
                    "write_bytes_per_cycle": port_bpc, "double_buffered": True, "holds": [operand]}
                   for name, kb, operand in srams],
        "dram": {"bytes_per_s": dram_bpc * CLOCK_HZ, "latency_s": 0.0},
        "energy": {"mac_pj": e.mac_pj, "index_decode_pj": e.index_decode_pj, "static_w": 0.0,
                   "per_byte_pj": {**{name: sram_pj for name, _, _ in srams}, "dram": e.per_byte_pj["dram"]}},
    }
    patterns = sorted(set(nm_patterns))
    if cfg.sparsity_support and patterns:
        spec["sparsity"] = {"nm": {"patterns": patterns}}
    try:
        return parse_model(Arch, spec, source="arch")
    except SpecError as exc:   # e.g. SRAMs too small for one array fold: name the cfg keys to change
        why = str(exc).removeprefix("arch: ").removeprefix("(top level): ")
        raise SpecError(f"{cfg.source}: the design it describes is not one nmsim can cost ({why}); "
                        "check ArrayHeight/ArrayWidth and IfmapSramSzkB/FilterSramSzkB/OfmapSramSzkB") from None
