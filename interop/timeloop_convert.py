"""A Timeloop design (architecture, problem, the mapper's reference mapping, the Accelergy ERT)
converted into an nmsim arch, op and mapping, so that nmsim can be costed under Timeloop's own
mapping and set beside Timeloop's reference stats (docs/INTEROP.md 2.3).

* Levels: every Timeloop storage level that keeps a data space in the reference mapping becomes an
  nmsim `memory:` level, outermost first, `holds` from the mapping's keep lists (Weights -> weights,
  the other read-only space -> inputs, the read-write one -> outputs); levels below the PE fan-out
  get one instance per utilized PE. A one-word per-PE register of a streamed operand is left out
  (the array forwards such values PE to PE); the stationary operand is the one a PE's one-word
  register keeps across the most MACs. A level nmsim's tier rule would put beside another while
  Timeloop's mapping tiles it apart gets `starts_tier` (docs/MODEL.md 3.9).
* Array: the utilized PEs only; the spatial factors of the mapping, grouped by GEMM dim, give the
  rows and columns, and the dataflow follows from which GEMM dims are spatial (K x N: ws, M x N: os,
  K x M: is); with a single spatial dim, the stationary operand's dataflow.
* Tiles: the tile of an nmsim tier is the Timeloop tile of its outermost level (the product of the
  loop factors at and below it) times the spatial factors above it (the tile spans the instances);
  the tier's loop order is that of the temporal loops between it and its parent, by GEMM dim.
* Energy (accelergy.ert_energies): per byte = ERT energy per vector access / (width / 8), reads and
  writes apart (fills and updates take the `write` action); MAC = the compute action; static power
  = the leak actions of the utilized instances (Timeloop charges leakage per utilized instance and
  cycle, TL buffer.cpp).

What cannot be represented is refused by name (`unrepresentable`, SpecError): Sparseloop's sparse
optimizations (formats, gating, skipping), nested spatial fan-outs, spatial factors over all three
GEMM dims at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nmsim.accel import Arch
from nmsim.mapping import LevelTile, Mapping
from nmsim.specfile import SpecError
from nmsim.workloads import Op
from nmsim.workloads.ops import ConvShape

from .accelergy import ert_energies
from .timeloop import (Level, TimeloopMapping, TimeloopProblem, load_timeloop_yaml, read_arch, read_mapping,
                       read_problem)

__all__ = ["ConvertedDesign", "convert_design", "UNLIMITED_BYTES_PER_CYCLE"]

# Timeloop leaves a bandwidth out when a level is not a bottleneck ("-" in its stats); nmsim needs a
# number: this one never binds (derived: far above any per-cycle demand of these designs).
UNLIMITED_BYTES_PER_CYCLE = 1.0e18
CLOCK_HZ = 1.0e9  # derived: the ERT's global_cycle_seconds 1e-9; Timeloop reports cycles, so the clock only names seconds


@dataclass
class ConvertedDesign:
    """What `convert_design` gives: the nmsim arch (its levels keep Timeloop's names), op and mapping,
    the problem as read, the Timeloop levels left out as forwarding registers (`forwarded`), the
    bytes of a word, and each figure's derivation."""

    arch: Arch
    op: Op
    mapping: Mapping
    problem: TimeloopProblem
    forwarded: list[str]
    word_bytes: float
    notes: list[str] = field(default_factory=list)


def unrepresentable(levels: list[Level], tmap: TimeloopMapping, problem: TimeloopProblem,
                    sparse_opt: str | Path | None = None) -> list[str]:
    """Features of the design nmsim's hierarchy cannot represent, one phrase each (empty: convertible)."""
    from .timeloop import sparse_opt_features, unsupported_features

    found = unsupported_features(levels)
    if sparse_opt is not None:
        found += [f + ": Sparseloop's formats, gating and skipping" for f in sparse_opt_features(sparse_opt)]
    gemm_of = {d: g for g, ds in problem.gemm_dims.items() for d in ds}
    spatial = {gemm_of.get(lp.dim) for lp in tmap.loops if lp.spatial and lp.factor > 1}
    if len(spatial) > 2:
        found.append(f"spatial factors over {', '.join(sorted(spatial))} at once: an nmsim array carries two GEMM dims "
                     "(and a flexible split a third only on a fixed block grid)")
    return found


def _nest_order(tmap: TimeloopMapping) -> list[str]:
    """Mapping targets, innermost first (the order of the mapper's datatype entries)."""
    return list(tmap.keep)


def _spatial_by_gemm(tmap: TimeloopMapping, gemm_of: dict[str, str]) -> dict[str, int]:
    out = {"M": 1, "N": 1, "K": 1}
    for lp in tmap.loops:
        if lp.spatial:
            out[gemm_of[lp.dim]] *= lp.factor
    return out


def _dataflow(spatial: dict[str, int], stationary: str | None) -> tuple[str, int, int]:
    """(dataflow, rows, cols) from the spatial extents per GEMM dim (docs/MODEL.md 3.1's table)."""
    used = {d for d, f in spatial.items() if f > 1}
    if used == {"K", "N"} or (not used and stationary in (None, "weights")):
        return "ws", spatial["K"], spatial["N"]
    if used == {"M", "N"}:
        return "os", spatial["M"], spatial["N"]
    if used == {"K", "M"}:
        return "is", spatial["K"], spatial["M"]
    only = next(iter(used)) if used else None
    by_stationary = {"weights": ("ws", {"K": "rows", "N": "cols"}), "outputs": ("os", {"M": "rows", "N": "cols"}),
                     "inputs": ("is", {"K": "rows", "M": "cols"})}
    for name in ([stationary] if stationary else []) + ["weights", "outputs", "inputs"]:
        df, axes = by_stationary[name]
        if only in axes:
            rows = spatial[only] if axes[only] == "rows" else 1
            cols = spatial[only] if axes[only] == "cols" else 1
            return df, rows, cols
    raise SpecError(f"spatial factors {spatial} fit no nmsim dataflow")  # unreachable: every dim is on one table row


def _tile(tmap: TimeloopMapping, order: list[str], level: str, gemm_of: dict[str, str]) -> dict[str, int]:
    """The nmsim tile of a tier whose outermost Timeloop level is `level`: loops at or below it, and
    the spatial loops above it (the tier spans the instances)."""
    idx = {t: i for i, t in enumerate(order)}
    at = idx[level]
    tile = {"M": 1, "N": 1, "K": 1}
    for lp in tmap.loops:
        if idx.get(lp.level, len(order)) <= at or (lp.spatial and idx.get(lp.level, len(order)) > at):
            tile[gemm_of[lp.dim]] *= lp.factor
    return tile


def _loop_order(tmap: TimeloopMapping, order: list[str], inner: str, outer: str | None,
                gemm_of: dict[str, str], notes: list[str]) -> str:
    """GEMM loop order (outermost first) of the temporal loops strictly above `inner` and at or
    below `outer` (None: every level above). A GEMM dim whose loops are interleaved with another's
    keeps its innermost position (where reuse breaks for the operands it is relevant to), noted."""
    idx = {t: i for i, t in enumerate(order)}
    lo, hi = idx[inner], idx[outer] if outer is not None else len(order)
    seq = [gemm_of[lp.dim].lower() for lp in tmap.loops
           if not lp.spatial and lp.factor > 1 and lo < idx.get(lp.level, len(order)) <= hi]
    dedup: list[str] = []
    for d in seq:
        if d in dedup and dedup[-1] != d:
            note = (f"loops above '{inner}' interleave {''.join(seq)}: nmsim keeps one loop per GEMM dim, at its "
                    "innermost place")
            notes.extend([note] if note not in notes else [])
            dedup.remove(d)
        if not dedup or dedup[-1] != d:
            dedup.append(d)
    return "".join(dedup + [d for d in "mnk" if d not in dedup])


def _conv_shape(problem: TimeloopProblem, problem_path) -> ConvShape | None:
    """The conv the problem describes, with the input extent Timeloop's projection spans
    ((P-1)*stride + R), so nmsim's distinct-pixel count equals Timeloop's Inputs size; None (inputs
    counted as the im2col matrix) unless square, equal strides and dilation 1."""
    from .timeloop import _norm

    prob = _norm(load_timeloop_yaml(problem_path).get("problem") or {})
    inst = dict(prob.get("instance") or {})
    coef = {c["name"]: c.get("default", 1) for c in (_norm(prob.get("shape") or {}).get("coefficients") or [])}
    coef.update({k: v for k, v in inst.items() if k in coef})
    d = problem.dims
    stride = int(coef.get("Hstride", 1))
    square = d.get("R") == d.get("S") and d.get("P") == d.get("Q") and stride == int(coef.get("Wstride", 1))
    if not {"C", "M", "R", "S", "P", "Q"} <= set(d) or not square or \
            int(coef.get("Hdilation", 1)) != 1 or int(coef.get("Wdilation", 1)) != 1:
        return None
    extent = (d["P"] - 1) * stride + d["R"]
    return ConvShape(batch=d.get("N", 1), in_h=extent, in_w=extent, in_ch=d["C"], out_ch=d["M"], kernel=d["R"],
                     stride=stride)


def _ports(attrs: dict, word_bytes: float) -> dict:
    """Read/write bytes per cycle of one instance and the port kind, from Timeloop's bandwidths (words/cycle)."""
    shared = attrs.get("shared_bandwidth")
    if shared is not None:
        bpc = float(shared) * word_bytes
        return {"read_bytes_per_cycle": bpc, "write_bytes_per_cycle": bpc, "ports": "shared"}
    rd, wr = attrs.get("read_bandwidth"), attrs.get("write_bandwidth")
    return {"read_bytes_per_cycle": float(rd) * word_bytes if rd is not None else UNLIMITED_BYTES_PER_CYCLE,
            "write_bytes_per_cycle": float(wr) * word_bytes if wr is not None else UNLIMITED_BYTES_PER_CYCLE,
            "ports": "separate"}


def _energy(ert_path, levels: dict[str, Level], used: dict[str, int], mac: Level, notes: list[str]) -> dict:
    """energy: section from the ERT (accelergy.ert_energies: per byte = action energy / vector bytes, read
    and write apart); static power = the leak actions of the utilized instances."""
    got = ert_energies(ert_path, {name: lv.name for name, lv in levels.items()},
                       {lv.name: lv.attributes for lv in levels.values()}, mac=mac.name)
    leak_pj = sum(pj * used.get(name, 1) for name, pj in got["leak_pj"].items())
    notes.extend(got["derivation"].values())
    notes.append(f"static_w: leak actions of the storage levels' utilized instances, {leak_pj:g} pJ/cycle "
                 "(Timeloop charges no MAC leakage in its totals)")
    return {"mac_pj": got["mac_pj"], "index_decode_pj": 0.0, "per_byte_pj": got["per_byte_pj"],
            "static_w": leak_pj * 1e-12 * CLOCK_HZ}


def _stationary(storage: list[Level], holds_of: dict, per_pe: set[str], tmap: TimeloopMapping) -> str | None:
    """The operand the array keeps stationary: the one a PE's one-word register keeps across the most
    MACs (the product of the temporal loops at that register), else the one the outermost per-PE
    level keeps alone."""
    best, reuse = None, 1
    for lv in storage:
        if lv.name in per_pe and int(lv.attributes.get("depth", 0)) == 1 and len(holds_of[lv.name]) == 1:
            r = math.prod(lp.factor for lp in tmap.loops if lp.level == lv.name and not lp.spatial)
            if r > reuse:
                best, reuse = holds_of[lv.name][0], r
    first = next((holds_of[lv.name] for lv in storage if lv.name in per_pe and holds_of[lv.name]), [])
    return best or (first[0] if len(first) == 1 else None)


def _memory(storage: list[Level], holds_of: dict, per_pe: set[str], pes: int, stationary: str | None) -> tuple:
    """nmsim memory levels (outermost first) and the per-PE one-word registers of streamed operands left
    out (`forwarded`): in a systolic array those values move PE to PE through the array's own registers."""
    mem, forwarded = [], []
    for lv in storage:
        holds = holds_of[lv.name]
        if not holds:
            continue
        if lv.name in per_pe and int(lv.attributes.get("depth", 0)) == 1 and stationary not in holds:
            forwarded.append(lv.name)
            continue
        wb = float(lv.attributes.get("datawidth", lv.attributes.get("width", 8))) / 8
        size = int(lv.attributes.get("depth", 1)) * float(lv.attributes.get("width", 8)) / 8
        mem.append({"name": lv.name, "size_bytes": max(1, int(size)), "instances": pes if lv.name in per_pe else 1,
                    **_ports(lv.attributes, wb), "latency_cycles": 0, "double_buffered": False, "holds": holds})
    return mem, forwarded


def convert_design(arch_path: str | Path, problem_path: str | Path, mapping_path: str | Path,
                   ert_path: str | Path, *, sparse_opt: str | Path | None = None) -> ConvertedDesign:
    """Timeloop architecture + problem + (reference) mapping + ERT -> nmsim arch, op and mapping
    (see the module docstring). SpecError naming every feature nmsim cannot represent."""
    problem, levels, tmap = read_problem(problem_path), read_arch(arch_path), read_mapping(mapping_path)
    bad = unrepresentable(levels, tmap, problem, sparse_opt)
    if bad:
        raise SpecError(f"{arch_path}: nmsim cannot represent: {'; '.join(bad)} (docs/INTEROP.md 2.2)")
    roles = problem.roles
    gemm_of = {d: g for g, ds in problem.gemm_dims.items() for d in ds}
    for d in problem.dims:
        gemm_of.setdefault(d, "M")  # a dim no data space projects on (size 1 in practice) rides with M
    order = _nest_order(tmap)
    storage = [lv for lv in levels if lv.kind == "storage" and lv.cls.upper() != "DRAM"]
    dram = next((lv for lv in levels if lv.cls.upper() == "DRAM"), None)
    mac = next(lv for lv in levels if lv.kind == "compute")
    missing = [lv.name for lv in storage + ([dram] if dram else []) if lv.name not in order]
    if dram is None or missing:
        raise SpecError(f"{mapping_path}: the mapping names no keep/bypass for {missing or ['DRAM']}; give the "
                        "mapper's map.yaml of this architecture")
    fan = next((i for i, lv in enumerate(levels) if lv.kind == "fanout"), len(levels))
    per_pe = {lv.name for lv in levels[fan:] if lv.kind == "storage"}
    notes: list[str] = []
    spatial = _spatial_by_gemm(tmap, gemm_of)
    pes = math.prod(spatial.values())
    holds_of = {lv.name: sorted((roles[s] for s in tmap.keep.get(lv.name, lv.keep) if s in roles),
                                key=["inputs", "weights", "outputs"].index) for lv in storage}
    stationary = _stationary(storage, holds_of, per_pe, tmap)
    mem, forwarded = _memory(storage, holds_of, per_pe, pes, stationary)
    if forwarded:
        notes.append(f"one-word per-PE registers of streamed operands ({', '.join(forwarded)}) are the array's "
                     "forwarding registers in nmsim, not memory levels")
    df, rows, cols = _dataflow(spatial, stationary)
    notes.append(f"array: the {pes} utilized PEs of {mac.instances} as {rows} x {cols} ({df}; spatial factors "
                 f"M{spatial['M']} N{spatial['N']} K{spatial['K']})")
    bits = int(mac.attributes.get("datawidth", storage[0].attributes.get("datawidth", 16)))
    first_in = next(m for m in mem if "inputs" in m["holds"])
    conv = _conv_shape(problem, problem_path)
    if conv is not None:
        first_in["stores_feature_maps"] = True
        notes.append("inputs stored as the distinct points of Timeloop's projection (stores_feature_maps)")
    used = {m["name"]: m["instances"] for m in mem}
    energy = _energy(ert_path, {m["name"]: next(lv for lv in storage if lv.name == m["name"]) for m in mem}
                     | {"dram": dram}, used, mac, notes)
    spec = {"name": f"timeloop-{Path(arch_path).parent.parent.name or 'design'}", "kind": "systolic",
            "compute": {"rows": rows, "cols": cols, "macs_per_pe": 1, "clock_hz": CLOCK_HZ, "operand_bits": bits,
                        "accumulator_bits": bits, "dataflows": [df]},
            "memory": mem, "dram": {"bytes_per_s": UNLIMITED_BYTES_PER_CYCLE * CLOCK_HZ, "latency_s": 0.0},
            "energy": energy}
    arch = _tiered_arch(spec, tmap, order, gemm_of, notes)
    mapping = _mapping(arch, tmap, order, gemm_of, df=df, notes=notes)
    op = problem.op if conv is None else _with_conv(problem.op, conv)
    wb = bits / 8
    return ConvertedDesign(arch, op, mapping, problem, forwarded, wb, notes)


def _with_conv(op: Op, conv: ConvShape) -> Op:
    from dataclasses import replace

    return replace(op, conv=conv)


RELEVANT_DIMS = {"inputs": "MK", "weights": "KN", "outputs": "MN"}


def _tiered_arch(spec: dict, tmap: TimeloopMapping, order: list[str], gemm_of: dict, notes: list[str]) -> Arch:
    """The arch of `spec`, with `starts_tier` on every level that nmsim's tier rule would put beside a
    level whose Timeloop tile differs from its own on the dims of what it keeps (docs/MODEL.md 3.9)."""
    idx = {t: i for i, t in enumerate(order)}
    while True:
        arch = Arch.model_validate(spec)
        found = None
        for tier in arch.tiers():
            head = max(tier, key=lambda i: idx[arch.memory[i].name])
            tile = _tile(tmap, order, arch.memory[head].name, gemm_of)
            for i in tier:
                own = _tile(tmap, order, arch.memory[i].name, gemm_of)
                if any(own[d] != tile[d] for op in arch.memory[i].holds for d in RELEVANT_DIMS[op]):
                    found = (max(i, head), own, tile, arch.memory[min(i, head)].name)
                    break
            if found:
                break
        if found is None:
            return arch
        i, own, tile, beside = found
        spec["memory"][i]["starts_tier"] = True
        notes.append(f"{spec['memory'][i]['name']} starts a tier of its own: Timeloop's mapping tiles it apart from "
                     f"'{beside}' ({'x'.join(str(own[d]) for d in 'MNK')} against {'x'.join(str(tile[d]) for d in 'MNK')})")


def _mapping(arch, tmap: TimeloopMapping, order: list[str], gemm_of: dict, *, df: str, notes: list[str]) -> Mapping:
    """The reference mapping as nmsim tiles per tier and loop orders."""
    idx = {t: i for i, t in enumerate(order)}
    outer = [max((arch.memory[i].name for i in tier), key=idx.__getitem__) for tier in arch.tiers()]
    tiles = [_tile(tmap, order, name, gemm_of) for name in outer]
    orders = [_loop_order(tmap, order, name, outer[j - 1] if j else None, gemm_of, notes)
              for j, name in enumerate(outer)]
    levels = tuple(LevelTile(t["M"], t["N"], t["K"], o) for t, o in zip(tiles[1:], orders[1:]))
    notes.append("tiles (MxNxK, loop order): " + ", ".join(f"{n} {t['M']}x{t['N']}x{t['K']} {o}"
                                                            for n, t, o in zip(outer, tiles, orders)))
    return Mapping(df, tiles[0]["M"], tiles[0]["N"], tiles[0]["K"], orders[0], levels=levels)
