"""Generate the simulation DRAM (LiteDRAM controller + crossbar + SDRAMPHYModel) as Verilog.

A standalone script, run with the LiteDRAM peer virtualenv's python (rtl_models/dram.py makes
that venv and caches the output); it imports migen and litedram, never nmsim. LiteDRAM is used
as a library: `LiteDRAMController` (bank machines, multiplexer, refresher) and
`LiteDRAMCrossbar` in front of `SDRAMPHYModel` for a named `litedram.modules` class. One native
user port is exposed under flat names; a JSON sidecar records widths, the address map, the
module's timings in controller cycles and the versions.

    python litedram_gen.py --module MT40A512M16 --clk-freq 100e6 --storage-rows 2048 --out DIR

An unknown module name: one line on stderr with close names, exit status 2.

Ports of `dram_sim` (synchronous to `clk`; `rst` synchronous, active high):
    cmd_valid, cmd_ready, cmd_we, cmd_addr[AW]       one command per cycle (16-B native words)
    wdata_ready, wdata_data[DW], wdata_we[DW/8]      write data pulled in command order
    rdata_valid, rdata_data[DW]                      read data in command order, no back-pressure
    refresh_pending                                  the refresher wants or does a refresh
    stat_act, stat_pre, stat_ref, stat_rd, stat_wr, stat_ref_cycles   32-bit command counters
"""
from __future__ import annotations

import argparse
import difflib
import inspect
import json
import math
import os
import sys


def _fail(msg: str) -> None:
    print(f"litedram_gen: error: {msg}", file=sys.stderr)
    sys.exit(2)


def simulatable_modules() -> dict:
    """Concrete module classes of litedram.modules whose memory type SDRAMPHYModel can model."""
    from litedram import modules as mods
    from litedram.phy.model import sdram_module_nphases

    return {name: cls for name, cls in vars(mods).items()
            if inspect.isclass(cls) and issubclass(cls, mods.SDRAMModule) and not name.startswith("_")
            and all(hasattr(cls, a) for a in ("memtype", "nbanks", "nrows", "ncols"))
            and cls.memtype in sdram_module_nphases}


def resolve_module(name: str):
    """The module class called `name` (case-insensitive), or exit 2 with the closest names."""
    known = simulatable_modules()
    upper = {k.upper(): k for k in known}
    if name.upper() in upper:
        return known[upper[name.upper()]]
    from litedram import modules as mods
    cls = getattr(mods, name, None)
    if inspect.isclass(cls) and hasattr(cls, "memtype"):
        _fail(f"DRAM module '{name}' is {cls.memtype}, which SDRAMPHYModel cannot simulate "
              f"(it models {', '.join(sorted({c.memtype for c in known.values()}))})")
    close = difflib.get_close_matches(name.upper(), list(upper), n=6, cutoff=0.5)
    hint = ", ".join(upper[c] for c in close) if close else "none close; try MT40A512M16 (DDR4) or MT41K128M16 (DDR3)"
    _fail(f"LiteDRAM has no DRAM module '{name}' ({len(known)} simulatable modules); close names: {hint}")


def _storage_module(cls, storage_rows: int | None):
    """The class the PHY model stores: the module, or a copy with fewer rows (addresses alias;
    the controller keeps the real geometry, so timing does not change)."""
    if storage_rows is None:
        return cls
    if storage_rows & (storage_rows - 1) or storage_rows > cls.nrows or storage_rows < 2048:
        _fail(f"--storage-rows must be a power of two in 2048..{cls.nrows} (the PHY model reads address bit A10)")
    return type(cls.__name__ + "Storage", (cls,), {"nrows": storage_rows})


def _counters(top, ctrl, io):
    """32-bit counters of the DFI commands the controller issues, and of refresh-pending cycles."""
    from migen import If, Signal

    stats = {n: io("stat_" + n, 32) for n in ("act", "pre", "ref", "rd", "wr", "ref_cycles")}
    # (cas, ras, we) active high, the DFI command encoding of DDR3/DDR4.
    enc = {"act": (0, 1, 0), "pre": (0, 1, 1), "ref": (1, 1, 0), "rd": (1, 0, 0), "wr": (1, 0, 1)}
    for name, (cas, ras, we) in enc.items():
        hits = []
        for ph in ctrl.dfi.phases:
            h = Signal()
            top.comb += h.eq((ph.cs_n == 0) & (ph.cas_n == (1 - cas)) & (ph.ras_n == (1 - ras)) & (ph.we_n == (1 - we)))
            hits.append(h)
        top.sync += stats[name].eq(stats[name] + sum(hits))
    top.sync += If(ctrl.refresher.cmd.valid, stats["ref_cycles"].eq(stats["ref_cycles"] + 1))
    return stats


def build(module_name: str, clk_freq: float, storage_rows: int | None, timing_checker: bool):
    """(migen top, its ports, description dict); a fresh instance on every call (LiteDRAM mutates
    shared default settings, and a migen module converts once)."""
    from migen import ClockDomain, Module, Signal
    from litedram.core.controller import ControllerSettings, LiteDRAMController
    from litedram.core.crossbar import LiteDRAMCrossbar
    from litedram.phy.model import (SDRAM_VERBOSE_OFF, SDRAM_VERBOSE_STD, SDRAMPHYModel, get_sdram_phy_settings,
                                    sdram_module_nphases)

    cls = resolve_module(module_name)
    rate = f"1:{sdram_module_nphases[cls.memtype]}"
    module = cls(clk_freq, rate)
    phy_module = _storage_module(cls, storage_rows)(clk_freq, rate)
    phy_settings = get_sdram_phy_settings(memtype=cls.memtype, data_width=16, clk_freq=clk_freq)

    top = Module()
    top.clock_domains.cd_sys = cd = ClockDomain("sys")
    cd.clk.name_override, cd.rst.name_override = "clk", "rst"
    phy = SDRAMPHYModel(phy_module, phy_settings, clk_freq=clk_freq,
                        verbosity=SDRAM_VERBOSE_STD if timing_checker else SDRAM_VERBOSE_OFF)
    ctrl = LiteDRAMController(phy.settings, module.geom_settings, module.timing_settings, clk_freq,
                              controller_settings=ControllerSettings())
    xbar = LiteDRAMCrossbar(ctrl.interface)
    top.submodules += phy, ctrl, xbar
    # Straight DFI connection: what LiteDRAMCore's DFIInjector does in its reset state
    # (hardware control); the PHY model needs no software initialisation.
    top.comb += ctrl.dfi.connect(phy.dfi)
    port = xbar.get_port()
    dw = ctrl.interface.data_width

    def io(name, width):
        return Signal(width, name_override=name)

    p = {n: io(n, w) for n, w in [("cmd_valid", 1), ("cmd_ready", 1), ("cmd_we", 1), ("cmd_addr", len(port.cmd.addr)),
                                  ("wdata_ready", 1), ("wdata_data", dw), ("wdata_we", dw // 8), ("rdata_valid", 1),
                                  ("rdata_data", dw), ("refresh_pending", 1)]}
    top.comb += [port.cmd.valid.eq(p["cmd_valid"]), p["cmd_ready"].eq(port.cmd.ready), port.cmd.we.eq(p["cmd_we"]),
                 port.cmd.addr.eq(p["cmd_addr"]), port.cmd.last.eq(0), port.wdata.valid.eq(1),
                 p["wdata_ready"].eq(port.wdata.ready), port.wdata.data.eq(p["wdata_data"]),
                 port.wdata.we.eq(p["wdata_we"]), p["rdata_valid"].eq(port.rdata.valid), port.rdata.ready.eq(1),
                 p["rdata_data"].eq(port.rdata.data), p["refresh_pending"].eq(ctrl.refresher.cmd.valid)]
    stats = _counters(top, ctrl, io)
    ios = {cd.clk, cd.rst, *p.values(), *stats.values()}
    return top, ios, _describe(cls, module, phy, xbar, clk_freq=clk_freq, rate=rate, storage_rows=storage_rows,
                               timing_checker=timing_checker, port=port, dw=dw)


def _describe(cls, module, phy, xbar, *, clk_freq, rate, storage_rows, timing_checker, port, dw) -> dict:
    """The JSON sidecar: module, clocks, geometry, PHY and controller timings, port widths and address map."""
    from importlib.metadata import version

    geom, t = module.geom_settings, module.timing_settings
    colbits = geom.colbits - int(math.log2(8))  # a native word is one BL8 burst: 8 columns
    return {
        "top": "dram_sim", "module": cls.__name__, "memtype": cls.memtype, "sys_clk_hz": clk_freq, "rate": rate,
        "versions": {p: version(p) for p in ("litedram", "litex", "migen")},
        "geometry": {"nbanks": cls.nbanks, "nrows": cls.nrows, "ncols": cls.ncols,
                     "row_bytes": cls.ncols * 16 // 8},
        "storage_rows": storage_rows or cls.nrows, "timing_checker": timing_checker,
        "phy": {k: getattr(phy.settings, k) for k in ("nphases", "cl", "cwl", "read_latency", "write_latency")},
        "timing_sys_cycles": {k: getattr(t, k) for k in ("tRP", "tRCD", "tWR", "tWTR", "tREFI", "tRFC", "tFAW",
                                                          "tCCD", "tRRD", "tRC", "tRAS")},
        "crossbar_latency": {"read": xbar.read_latency, "write": xbar.write_latency},
        "port": {"data_width": dw, "addr_width": len(port.cmd.addr), "word_bytes": dw // 8,
                 "address_fields": {"column": [0, colbits], "bank": [colbits, geom.bankbits],
                                    "row": [colbits + geom.bankbits, geom.rowbits]}},
    }


def generate(out_dir: str, module_name: str, clk_freq: float, storage_rows: int | None, timing_checker: bool) -> dict:
    """Write out_dir/dram_sim.v and out_dir/dram_sim.json; returns the description."""
    from migen.fhdl.verilog import convert

    top, ios, desc = build(module_name, clk_freq, storage_rows, timing_checker)
    conv = convert(top, ios=ios, name="dram_sim")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "dram_sim.v"), "w") as fh:
        fh.write(conv.main_source)
    with open(os.path.join(out_dir, "dram_sim.json"), "w") as fh:
        json.dump(desc, fh, indent=1)
    return desc


def main(argv=None) -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--module", default="MT40A512M16", help="litedram.modules class name (default MT40A512M16, DDR4)")
    ap.add_argument("--clk-freq", type=float, default=100e6, help="controller clock in Hz (default 100e6)")
    ap.add_argument("--storage-rows", type=int, default=None, help="rows of the PHY model's storage per bank")
    ap.add_argument("--timing-checker", action="store_true", help="include SDRAMPHYModel's DFI timing checker")
    ap.add_argument("--out", required=True, help="output folder (dram_sim.v, dram_sim.json)")
    a = ap.parse_args(argv)
    desc = generate(a.out, a.module, a.clk_freq, a.storage_rows, a.timing_checker)
    print(f"{a.out}/dram_sim.v: {desc['module']} {desc['memtype']} @ {desc['sys_clk_hz'] / 1e6:g} MHz {desc['rate']}")


if __name__ == "__main__":
    main()
