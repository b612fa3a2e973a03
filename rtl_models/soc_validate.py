"""Memory-path validation: whole GEMM layers on the SoC RTL (LiteDRAM DRAM) against the model.

`nmsim rtl validate --memory` runs MEMORY_CASES (or a subset) on one cached Verilator build of
soc_tb.v + nm_soc.v + LiteDRAM's generated controller, in `jobs` simulator processes, and puts
beside each layer the fast model's and the detailed engine's cycles for the same preset
(`rtl-soc`), mapping and sparsity, the bound the fast model names, and the DRAM bytes of both.
Every layer's outputs are read back from DRAM and compared byte for byte with the functional
model. docs/RTL.md, "Memory path", describes the hardware; docs/MODEL.md what the comparison
changed in the model.
"""
from __future__ import annotations

import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from nmsim.accel import SystolicArch, load_arch
from nmsim.mapping import Mapping, plan_sparsity
from nmsim.sim import simulate_op
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity

from .dram import DEFAULT_MODULE, dram_verilog
from .runner import FAST_VERILATOR, RTL_DIR, SOURCES, build_design, run_tests
from .soc_driver import (SocLayer, SocParams, dram_image, expected_output, hex_words, plan_layer,
                         random_operands)

PRESET = "rtl-soc"
# Verilog of the test top: the SoC's sources and soc_tb.v (LiteDRAM's dram_sim.v comes first).
SOC_SOURCES = (*SOURCES["nm_soc"], "soc_tb.v")
# Targets of the issue (benchmarks, docs/PERFORMANCE.md): over the memory cases.
FAST_MEAN, FAST_MAX, DETAILED_MEAN, BYTES_MAX = 0.03, 0.08, 0.02, 0.01


@dataclass(frozen=True)
class MemCase:
    """One whole layer: out[M,N] = A[M,K] . W[N,K]^T, W pruned to `sparsity`, run under the mapping."""

    name: str
    M: int
    N: int
    K: int
    sparsity: str
    dataflow: str
    tile_m: int
    tile_n: int
    tile_k: int
    order: str
    regime: str   # what the layer was chosen to stress: compute, buffer or dram

    def op(self) -> Op:
        """The op sim costs."""
        return Op(name=self.name, kind="gemm", M=self.M, N=self.N, K=self.K,
                  weight_sparsity=Sparsity.parse(self.sparsity))

    def mapping(self) -> Mapping:
        """The mapping the RTL runs and sim costs."""
        return Mapping(self.dataflow, self.tile_m, self.tile_n, self.tile_k, self.order)


def _c(name, mnk, sparsity, dataflow, tiles, order, regime) -> MemCase:
    return MemCase(name, *mnk, sparsity, dataflow, *tiles, order, regime)


# Chosen by construction, before comparing: compute-bound layers reuse every tile over long
# streams (dense and 2:4 run a beat per cycle); buffer-bound layers run 1:8, whose activation
# beats (128 B) take four reads of the 32-B buffer port; DRAM-bound layers spill partial sums
# (K split outside M and N), refetch operands, or stream weights with little reuse. Odd sizes
# and edge tiles throughout; every layer is larger than the 16 KiB buffer halves.
MEMORY_CASES = (
    _c("ws-dense-square", (128, 128, 256), "dense", "ws", (32, 128, 128), "nmk", "compute"),
    _c("ws-dense-odd", (150, 72, 300), "dense", "ws", (50, 48, 300), "nmk", "compute"),
    _c("ws-dense-ntiles", (96, 200, 160), "dense", "ws", (64, 48, 160), "mnk", "compute"),
    _c("ws-2:4", (128, 128, 256), "2:4", "ws", (64, 64, 256), "nmk", "compute"),
    _c("ws-2:4-odd", (120, 88, 328), "2:4", "ws", (40, 32, 328), "nmk", "compute"),
    _c("ws-2:8-as-2:4", (96, 64, 512), "2:8", "ws", (48, 64, 256), "nkm", "compute"),
    _c("os-dense", (256, 64, 256), "dense", "os", (64, 64, 64), "mnk", "compute"),
    _c("os-dense-odd", (180, 40, 200), "dense", "os", (60, 40, 200), "nmk", "compute"),
    _c("os-2:4", (128, 96, 384), "2:4", "os", (32, 32, 384), "mnk", "compute"),
    _c("os-2:4-odd", (100, 56, 260), "2:4", "os", (50, 56, 260), "nmk", "compute"),
    _c("ws-1:8", (128, 128, 512), "1:8", "ws", (32, 64, 512), "nmk", "buffer"),
    _c("ws-1:8-odd", (100, 40, 600), "1:8", "ws", (25, 40, 600), "nmk", "buffer"),
    _c("ws-1:8-ksplit", (64, 96, 1024), "1:8", "ws", (32, 96, 512), "nmk", "buffer"),
    _c("ws-1:16-as-1:8", (96, 64, 768), "1:16", "ws", (32, 64, 384), "mnk", "buffer"),
    _c("os-1:8", (128, 128, 512), "1:8", "os", (32, 64, 512), "nmk", "buffer"),
    _c("os-1:8-odd", (90, 50, 700), "1:8", "os", (20, 50, 700), "nmk", "buffer"),
    _c("os-1:8-ksplit", (64, 64, 1024), "1:8", "os", (32, 64, 512), "mkn", "buffer"),
    _c("os-1:16-as-1:8", (72, 48, 640), "1:16", "os", (24, 48, 640), "nmk", "buffer"),
    _c("ws-dense-spill", (160, 128, 512), "dense", "ws", (32, 32, 64), "kmn", "dram"),
    _c("ws-dense-spill-odd", (100, 80, 200), "dense", "ws", (20, 32, 64), "kmn", "dram"),
    _c("ws-2:4-spill", (128, 96, 512), "2:4", "ws", (32, 32, 64), "knm", "dram"),
    _c("os-dense-spill", (120, 96, 384), "dense", "os", (24, 32, 48), "kmn", "dram"),
    _c("os-2:4-spill", (96, 64, 512), "2:4", "os", (32, 32, 64), "kmn", "dram"),
    _c("os-dense-gemv", (4, 512, 1024), "dense", "os", (4, 32, 512), "nmk", "dram"),
    _c("os-2:4-gemv", (8, 384, 1536), "2:4", "os", (8, 16, 768), "nmk", "dram"),
    _c("os-dense-refetch", (64, 256, 320), "dense", "os", (8, 256, 64), "mkn", "dram"),
    _c("ws-dense-thin", (256, 64, 256), "dense", "ws", (8, 32, 256), "mnk", "compute"),
    _c("ws-1:8-spill", (64, 64, 2048), "1:8", "ws", (16, 32, 256), "kmn", "dram"),
    _c("ws-dense-small", (24, 40, 72), "dense", "ws", (24, 40, 72), "nmk", "compute"),
    _c("os-1:8-small", (20, 24, 136), "1:8", "os", (20, 24, 136), "nmk", "buffer"),
    _c("ws-dense-wide", (64, 320, 128), "dense", "ws", (64, 64, 128), "mnk", "compute"),
    _c("os-dense-deep", (64, 48, 1600), "dense", "os", (48, 48, 320), "nmk", "dram"),
)
# The test suite's subset: one of each dataflow and regime, small enough for seconds.
QUICK_CASES = ("ws-dense-small", "os-1:8-small", "ws-dense-spill-odd")


def soc_arch() -> SystolicArch:
    """The rtl-soc preset (the hardware the RTL is built as)."""
    return load_arch(PRESET)


def soc_layer(arch: SystolicArch, case: MemCase) -> SocLayer:
    """The layer as the SoC runs it: the executed n:m is sim's sparsity plan for the preset."""
    plan = plan_sparsity(arch, case.op())
    return SocLayer(case.M, case.N, case.K, plan.n, plan.m, case.mapping())


def build_soc(arch: SystolicArch, module: str = DEFAULT_MODULE) -> Path:
    """The cached Verilator build of soc_tb (SoC + LiteDRAM `module`); SpecError for a module
    LiteDRAM lacks, SimulatorNotFound / DramToolMissing when a tool is missing."""
    dram = dram_verilog(module)
    sources = [dram / "dram_sim.v"] + [RTL_DIR / s for s in SOC_SOURCES]
    return build_design("soc_tb", sources, "verilator", FAST_VERILATOR, ports_only=True,
                        parameters=SocParams.from_arch(arch).verilog())


def prepare(arch: SystolicArch, case: MemCase, index: int, folder: Path) -> dict:
    """The testbench's description of one case: registers, operand image, expected outputs."""
    params = SocParams.from_arch(arch)
    layer = soc_layer(arch, case)
    plan = plan_layer(params, layer)
    rng = np.random.default_rng(1000 + index)
    w_nm = Sparsity.parse(case.sparsity)
    ops = random_operands(layer, rng, (w_nm.n, w_nm.m) if w_nm.kind == "nm" else None)
    image = folder / f"image{index}.hex"
    image.write_text(hex_words(dram_image(plan, ops)))
    expect = folder / f"expect{index}.npy"
    np.save(expect, expected_output(layer, ops, params.ACC))
    # A hang guard, not a prediction: far above any layer's cycles.
    limit = 64 * (plan.dram_words + case.M * case.N * case.K // (params.R * params.C)) + 100_000
    return {"id": index, "cfg": plan.cfg, "image": str(image), "words": plan.image_words,
            "dump": {"base": plan.base["o"], "words": case.M * plan.pitch["o"], "pitch": 16 * plan.pitch["o"]},
            "expect": str(expect), "limit": limit}


def predict(arch: SystolicArch, case: MemCase) -> dict:
    """The model's view of a case: fast and detailed cycles, the fast model's bound, DRAM bytes."""
    fast = simulate_op(arch, case.op(), case.mapping())
    detailed = simulate_op(arch, case.op(), case.mapping(), engine="detailed")
    return {"fast_cycles": int(fast.cycles), "detailed_cycles": int(detailed.cycles), "bound": fast.bottleneck,
            "model_dram_bytes": float(fast.bytes["dram"]), "executed": plan_sparsity(arch, case.op()).label,
            "breakdown": {k: float(v) for k, v in fast.cycle_breakdown.items()
                          if k in ("compute_cycles", "buffer_cycles", "dram_cycles")}}


def run_memory_cases(cases: list[MemCase], *, jobs: int = 2, module: str = DEFAULT_MODULE,
                     on_record=None) -> list[dict]:
    """Run `cases` on the RTL in `jobs` simulator processes and compare each with the model.

    One row per case, in case order: the case's fields, the RTL's cycles, DRAM bytes (16 x the
    commands the controller accepted), array busy cycles, DRAM command counts and the output check,
    the model's predictions (`predict`), and the relative errors (model - RTL) / RTL.
    """
    arch = soc_arch()
    build_dir = build_soc(arch, module)
    records: dict[int, dict] = {}
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="nmsim-soc-") as tmp:
        folder = Path(tmp)
        prepared = [prepare(arch, c, i, folder) for i, c in enumerate(cases)]
        shares = [prepared[j::jobs] for j in range(max(1, min(jobs, len(prepared))))]

        def work(share: list[dict]) -> None:
            try:
                for rec in run_tests(build_dir, "soc_tb", "verilator", "nmsim.rtl_models.tb_soc", {"cases": share},
                                     on_record):
                    records[rec["id"]] = rec
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in shares]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return [compare(arch, c, records[i]) for i, c in enumerate(cases)]


def compare(arch: SystolicArch, case: MemCase, rec: dict) -> dict:
    """One result row: the case, the RTL's record and the model's predictions side by side."""
    if rec.get("err"):
        raise SpecError(f"{case.name}: the SoC flagged an internal error (FIFO overflow or buffer conflict)")
    pred = predict(arch, case)
    rtl_bytes = 16 * (rec["n_rd"] + rec["n_wr"])
    row = {**asdict(case), **pred, "rtl_cycles": rec["n_cycles"], "rtl_dram_bytes": rtl_bytes,
           "array_busy_cycles": rec["n_busy"], "rw_turns": rec["n_turn"], "dram_commands": {k[5:]: rec[k] for k in rec if k.startswith("stat_")},
           "checked_bytes": rec.get("checked_bytes", 0), "mismatches": rec.get("mismatches", 0)}
    row["fast_error"] = (pred["fast_cycles"] - rec["n_cycles"]) / rec["n_cycles"]
    row["detailed_error"] = (pred["detailed_cycles"] - rec["n_cycles"]) / rec["n_cycles"]
    row["bytes_error"] = (pred["model_dram_bytes"] - rtl_bytes) / rtl_bytes
    return row


def summary(rows: list[dict]) -> dict:
    """Mean and max |error| of cycles (fast, detailed) and DRAM bytes over the rows, and the
    targets (docs/PERFORMANCE.md)."""
    def stats(key):
        e = np.abs([r[key] for r in rows])
        return {"mean": float(e.mean()), "max": float(e.max())}
    out = {"fast": stats("fast_error"), "detailed": stats("detailed_error"), "bytes": stats("bytes_error"),
           "mismatches": int(sum(r["mismatches"] for r in rows)), "cases": len(rows)}
    out["targets"] = {"fast_mean": FAST_MEAN, "fast_max": FAST_MAX, "detailed_mean": DETAILED_MEAN,
                      "bytes_max": BYTES_MAX}
    out["met"] = (out["fast"]["mean"] <= FAST_MEAN and out["fast"]["max"] <= FAST_MAX
                  and out["detailed"]["mean"] <= DETAILED_MEAN and out["bytes"]["max"] <= BYTES_MAX
                  and out["mismatches"] == 0)
    return out
