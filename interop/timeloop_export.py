"""nmsim -> Timeloop v0.4: a systolic arch, one op and its mapping as Timeloop architecture,
problem and mapping YAML (docs/INTEROP.md 2.4), so a design can be run through Timeloop as well.

* Architecture: DRAM (`width` = operand bits x 4, Timeloop's usual block) -> the on-chip buffer
  (depth = size / (width / 8), `read_bandwidth`/`write_bandwidth` in words per cycle from the
  arch's bytes per cycle) -> a PE container with `meshY` = rows, `meshX` = cols -> `intmac`.
* Problem: the GEMM `Outputs[M,N] = Inputs[M,K] . Weights[K,N]` (dims M, N, K; `batch` folds
  into M), weight density from the op's pattern, input density from `act_density`.
* Mapping: DRAM loops = the tile loops (M/tile_m, N/tile_n, K/tile_k in `loop_order`), spatial
  factors at the PE container = the dataflow's row and column dims (problem.dataflow.SPATIAL) up
  to the array, buffer temporal = the rest of each tile. Timeloop needs whole factors: a tile that
  does not divide its dim is refused by name.
"""
from __future__ import annotations

import math

import yaml

from nmsim.accel import SystolicArch
from nmsim.mapping import Mapping
from nmsim.problem.dataflow import SPATIAL
from nmsim.specfile import SpecError
from nmsim.workloads import Op

__all__ = ["export_timeloop"]


class _Tagged(dict):
    """A mapping written with a YAML tag (!Component, !Container)."""

    def __init__(self, tag: str, data: dict):
        super().__init__(data)
        self.tag = tag


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Tagged, lambda d, v: d.represent_mapping(f"!{v.tag}", dict(v)))


def _arch(arch: SystolicArch) -> dict:
    word = arch.compute.operand_bits
    lv = arch.memory[0]
    width = word * 4
    clock = arch.compute.clock_hz
    words = lambda bpc: max(1, int(bpc * 8 // word))  # noqa: E731
    nodes = [
        _Tagged("Container", {"name": "system", "attributes": {"technology": "45nm",
                                                               "global_cycle_seconds": 1.0 / clock}}),
        _Tagged("Component", {"name": "DRAM", "class": "DRAM", "attributes": {
            "type": "LPDDR4", "width": width, "datawidth": word,
            "read_bandwidth": words(arch.dram.bytes_per_s / clock), "write_bandwidth": words(arch.dram.bytes_per_s / clock)}}),
        _Tagged("Component", {"name": lv.name, "class": "smartbuffer_SRAM", "attributes": {
            "depth": int(lv.size_bytes * 8 // width), "width": width, "datawidth": word,
            "read_bandwidth": words(lv.read_bytes_per_cycle), "write_bandwidth": words(lv.write_bytes_per_cycle)}}),
        _Tagged("Container", {"name": "PE", "spatial": {"meshX": arch.compute.cols, "meshY": arch.compute.rows}}),
        _Tagged("Component", {"name": "mac", "class": "intmac", "attributes": {
            "multiplier_width": word, "adder_width": arch.compute.accumulator_bits}}),
    ]
    return {"architecture": {"version": 0.4, "nodes": nodes}}


def _problem(op: Op) -> dict:
    dens = {}
    if not op.weight_sparsity.is_dense:
        dens["Weights"] = {"distribution": "fixed_structured", "density": round(op.weight_sparsity.density, 6)}
    if op.act_density < 1.0:
        dens["Inputs"] = {"distribution": "fixed_structured", "density": op.act_density}
    inst = {"M": op.M * op.batch, "N": op.N, "K": op.K} | ({"densities": dens} if dens else {})
    return {"problem": {"version": 0.4, "instance": inst, "shape": {
        "name": op.name, "dimensions": ["M", "N", "K"],
        "data_spaces": [{"name": "Weights", "projection": [[["K"]], [["N"]]]},
                        {"name": "Inputs", "projection": [[["M"]], [["K"]]]},
                        {"name": "Outputs", "projection": [[["M"]], [["N"]]], "read_write": True}]}}}


def _mapping(arch: SystolicArch, op: Op, m: Mapping) -> dict:
    dims = {"M": op.M * op.batch, "N": op.N, "K": op.K}
    tiles = {"M": m.tile_m * (op.batch if m.tile_m >= op.M else 1), "N": m.tile_n, "K": m.tile_k}
    for d in dims:
        tiles[d] = min(tiles[d], dims[d])
        if dims[d] % tiles[d]:
            raise SpecError(f"tile_{d.lower()} {tiles[d]} does not divide {d} = {dims[d]}; Timeloop mappings need "
                            "whole factors (choose a dividing tile)")
    rows_dim, cols_dim, _ = SPATIAL[m.dataflow]
    spatial = {rows_dim: math.gcd(tiles[rows_dim], arch.compute.rows), cols_dim: math.gcd(tiles[cols_dim], arch.compute.cols)}
    dram = " ".join(f"{d}{dims[d] // tiles[d]}" for d in "MNK")
    buf = " ".join(f"{d}{tiles[d] // spatial.get(d, 1)}" for d in "MNK")
    sp = " ".join(f"{d}{spatial.get(d, 1)}" for d in "MNK")
    order = m.loop_order.upper()[::-1]          # Timeloop permutations list loops innermost first
    return {"mapping": [
        {"target": "DRAM", "type": "temporal", "factors": dram, "permutation": order},
        {"target": arch.memory[0].name, "type": "temporal", "factors": buf, "permutation": "KNM"},
        {"target": "PE", "type": "spatial", "factors": sp,
         "permutation": f"{cols_dim}{rows_dim}{({'M', 'N', 'K'} - {rows_dim, cols_dim}).pop()}", "split": 1},
        {"target": arch.memory[0].name, "type": "dataspace", "keep": ["Weights", "Inputs", "Outputs"]},
        {"target": "DRAM", "type": "dataspace", "keep": ["Weights", "Inputs", "Outputs"]}]}


def export_timeloop(arch: SystolicArch, op: Op, mapping: Mapping) -> dict[str, str]:
    """{"arch.yaml", "problem.yaml", "mapping.yaml"}: YAML texts of `op` under `mapping` on `arch`."""
    if len(arch.memory) != 1:
        raise SpecError(f"arch '{arch.name}': {len(arch.memory)} on-chip levels; the exporter writes one buffer")
    dump = lambda d: yaml.dump(d, Dumper=_Dumper, sort_keys=False)  # noqa: E731
    return {"arch.yaml": dump(_arch(arch)), "problem.yaml": dump(_problem(op)), "mapping.yaml": dump(_mapping(arch, op, mapping))}
