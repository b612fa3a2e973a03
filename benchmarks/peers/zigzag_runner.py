"""Run ZigZag (PyPI `zigzag-dse`) on dense GEMM layers; meant to run INSIDE the ZigZag virtualenv.

    .peers/zigzag-venv/bin/python benchmarks/peers/zigzag_runner.py JOB.json [--out RESULT.json]

This file imports nothing from nmsim (the ZigZag venv does not have it): the driver
`benchmarks/peers/zigzag.py` turns an `accel.Arch` into the job below, and documents every
mapping decision. The runner only writes ZigZag's own input formats (hardware, mapping and
workload YAML, as read by zigzag/parser/*_validator.py of zigzag-dse 3.9.1) into a temporary
folder, calls `zigzag.api.get_hardware_performance_zigzag` once per layer and objective, and
times each call.

Job (JSON):
    {"arch": {"name": str, "rows": int, "cols": int, "clock_hz": float,
              "operand_bits": int, "accumulator_bits": int,
              "buffer": {"name": str, "size_bytes": int, "read_bytes_per_cycle": float,
                         "write_bytes_per_cycle": float, "latency_cycles": int,
                         "double_buffered": bool},
              "dram_bytes_per_cycle": float, "dram_latency_cycles": float,
              "energy": {"mac_pj": float, "buffer_pj_per_byte": float, "dram_pj_per_byte": float,
                         "pe_register_pj_per_byte": float}},
     "layers": [{"name": str, "M": int, "N": int, "K": int}, ...],
     "objectives": ["latency", "energy"],        # any of latency, energy, EDP
     "spatial": "ws" | "os" | "is" | "search",   # fixed array dataflow, or ZigZag's generator
     (arch may also carry "macs_per_pe" (default 1) and "buffer_ports": "shared" (default, like
      nmsim) | "per_operand" (sensitivity: one full-width buffer port per operand))
     "lpf_limit": 6,                             # LOMA loop-prime-factor limit (its default)
     "nb_spatial_mappings": 3}                   # only for spatial == "search" (its default)

Result (JSON on stdout, and in --out): {"zigzag_version", "job", "hardware_yaml", "results": [...]}
with one entry per (layer, objective): latency in cycles (ZigZag's `latency_total2`: compute +
stalls + on/off-loading + systolic drain), energy in pJ (`energy_total`: MAC + memory), the
search's wall time in seconds, the spatial mapping and the temporal mapping ZigZag chose.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from importlib.metadata import version

import yaml

# Python puts this script's folder first on sys.path, and that folder holds our driver
# `zigzag.py`, which would shadow the `zigzag` package: drop it before importing ZigZag.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

# ZigZag's api calls logging.basicConfig(level=INFO); configuring the root logger first keeps
# its per-mapping INFO lines off our output (basicConfig is a no-op once a handler exists).
logging.basicConfig(level=logging.WARNING, format="zigzag: %(levelname)s %(message)s", stream=sys.stderr)

from zigzag.api import get_hardware_performance_zigzag  # noqa: E402

# ZigZag's GEMM convention (zigzag/parser/onnx/gemm_parser.py): I[d][c] * W[c][k] -> O[d][k]
# with C the reduction. Ours: out[M,N] = A[M,K] . B[K,N], B the weights. So D = M, K = N, C = K.
ZZ_DIM = {"M": "D", "N": "K", "K": "C"}
EQUATION = "O[d][k]+=I[d][c]*W[c][k]"
# Our dataflows as (array rows, array cols) in our dims (mapping/mapping.py SPATIAL).
DATAFLOW_SPATIAL = {"ws": ("K", "N"), "os": ("M", "N"), "is": ("K", "M")}


def _port(name: str, kind: str, bw_bits: int, alloc: list[str]) -> dict:
    # bandwidth_min = 8 bits: ZigZag counts accesses as ceil(bits / bw_min) * bw_min / bw_max words
    # of bw_max bits (cost_model.py `_calc_memory_access`), so an 8-bit minimum makes the energy
    # byte-granular; bw_min is used for nothing else (latency uses bw_max).
    return {"name": name, "type": kind, "bandwidth_min": min(8, bw_bits), "bandwidth_max": bw_bits,
            "allocation": alloc}


def hardware_dict(arch: dict) -> dict:
    """ZigZag accelerator description (zigzag/parser/accelerator_validator.py schema)."""
    ob = int(arch["operand_bits"])
    buf, en = arch["buffer"], arch["energy"]
    pe = int(arch.get("macs_per_pe", 1))
    # D1 = array rows, D2 = array columns; with several multipliers per PE, D3 = the multipliers
    # of one PE (they split the reduction dimension, as nmsim's K "PE units" do).
    dims = ["D1", "D2"] + (["D3"] if pe > 1 else [])

    # (1) One weight register per MAC (served_dimensions: [] = one instance per PE): the
    # stationary weight of a weight-stationary cell. Its energy is the job's per-byte PE
    # register energy (0 for nmsim, which charges nothing inside the PE).
    reg_pj = en.get("pe_register_pj_per_byte", 0.0) * ob / 8
    reg_w = {
        "size": ob, "r_cost": reg_pj, "w_cost": reg_pj, "area": 0.0, "latency": 1,
        "operands": ["I2"],
        "ports": [_port("r_port_1", "read", ob, ["I2, tl"]), _port("w_port_1", "write", ob, ["I2, fh"])],
        "served_dimensions": [],
    }

    # (2) The global buffer holds all three operands and serves the whole array (inputs are
    # broadcast/forwarded along a row, partial sums reduced down a column for free, as in nmsim).
    rd_bits = int(round(buf["read_bytes_per_cycle"] * 8))
    wr_bits = int(round(buf["write_bytes_per_cycle"] * 8))
    all_alloc = ["I1, tl", "I1, fh", "I2, tl", "I2, fh", "O, tl", "O, fl", "O, fh", "O, th"]
    if arch.get("buffer_ports", "shared") == "per_operand":
        # Sensitivity variant, NOT like nmsim: one read_write port of the full width per operand,
        # i.e. three times nmsim's aggregate buffer bandwidth.
        if rd_bits != wr_bits:
            raise ValueError("buffer_ports=per_operand needs equal read and write widths")
        gbuf_ports = [_port("rw_port_1", "read_write", rd_bits, ["I1, tl", "I1, fh"]),
                      _port("rw_port_2", "read_write", rd_bits, ["I2, tl", "I2, fh"]),
                      _port("rw_port_3", "read_write", rd_bits, ["O, tl", "O, fl", "O, fh", "O, th"])]
        word = rd_bits
    elif rd_bits == wr_bits:
        # nmsim charges buffer port time as reads/read_bw + writes/write_bw (serialized), which is
        # exactly one read_write port of that width in ZigZag.
        gbuf_ports = [_port("rw_port_1", "read_write", rd_bits, all_alloc)]
        word = rd_bits
    else:
        gbuf_ports = [_port("r_port_1", "read", rd_bits, ["I1, tl", "I2, tl", "O, tl", "O, th"]),
                      _port("w_port_1", "write", wr_bits, ["I1, fh", "I2, fh", "O, fl", "O, fh"])]
        word = None
    gbuf = {
        "size": int(buf["size_bytes"]) * 8,
        # r_cost / w_cost are pJ per access of bandwidth_max bits.
        "r_cost": en["buffer_pj_per_byte"] * (word or rd_bits) / 8,
        "w_cost": en["buffer_pj_per_byte"] * (word or wr_bits) / 8,
        "area": 0.0,
        "latency": int(buf.get("latency_cycles", 1)),
        "operands": ["I1", "I2", "O"],
        "ports": gbuf_ports,
        "served_dimensions": dims,
        # nmsim doubles each tile's footprint in a double-buffered level; ZigZag's LOMA allocator
        # does the same with force_double_buffering (memory_allocator.calc_size_slices).
        "force_double_buffering": bool(buf.get("double_buffered", True)),
    }

    # (3) DRAM: one read_write port (nmsim's DRAM bandwidth is shared by reads and writes).
    dram_bits = max(8, int(round(arch["dram_bytes_per_cycle"] * 8)))
    dram = {
        "size": 10**12, "r_cost": en["dram_pj_per_byte"] * dram_bits / 8,
        "w_cost": en["dram_pj_per_byte"] * dram_bits / 8, "area": 0.0,
        "latency": max(1, int(round(arch.get("dram_latency_cycles", 1)))),
        "operands": ["I1", "I2", "O"],
        "ports": [_port("rw_port_1", "read_write", dram_bits, all_alloc)],
        "served_dimensions": dims,
    }

    return {
        "name": arch.get("name", "nmsim-arch"),
        "memories": {"pe_weight_reg": reg_w, buf.get("name", "gbuf"): gbuf, "dram": dram},
        "operational_array": {
            "input_precision": [ob, ob],
            "unit_energy": float(en["mac_pj"]),
            "unit_area": 1.0,
            "dimensions": dims,
            "sizes": [int(arch["rows"]), int(arch["cols"])] + ([pe] if pe > 1 else []),
            # Operands move one PE per cycle along both array dimensions (inputs across a row,
            # partial sums down a column): ZigZag then adds the drain of the last results.
            "systolic_dimensions": ["D1", "D2"],
        },
    }


def mapping_list(arch: dict, layer: dict, spatial: str) -> list[dict]:
    """ZigZag mapping input (zigzag/parser/mapping_validator.py schema) for one layer."""
    entry: dict = {"name": "default", "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}
    if spatial != "search":
        rows_dim, cols_dim = DATAFLOW_SPATIAL[spatial]
        pe = int(arch.get("macs_per_pe", 1))
        rows = int(arch["rows"])
        sm = {}
        if pe > 1:
            # The P multipliers of a PE take P consecutive elements of K (nmsim's PE unit); for
            # OS, K is the time dimension and each PE steps through P of it per cycle.
            sm["D3"] = [f"C, {min(int(layer['K']), pe)}"]
        k_left = -(-int(layer["K"]) // pe)  # K extent left for the rows, in PE units
        rows_extent = min(k_left if rows_dim == "K" else int(layer[rows_dim]), rows)
        # Unroll min(dim, extent): a dimension smaller than the array leaves PEs idle, as in nmsim.
        sm["D1"] = [f"{ZZ_DIM[rows_dim]}, {rows_extent}"]
        sm["D2"] = [f"{ZZ_DIM[cols_dim]}, {min(int(layer[cols_dim]), int(arch['cols']))}"]
        entry["spatial_mapping"] = {d: sm[d] for d in sorted(sm)}
    # Same entry under the operator name, so ZigZag does not warn that it fell back to "default".
    return [entry, {**entry, "name": "Gemm"}]


def workload_list(arch: dict, layer: dict) -> list[dict]:
    """ZigZag workload input (zigzag/parser/workload_validator.py schema): one dense GEMM."""
    ob, ab = int(arch["operand_bits"]), int(arch["accumulator_bits"])
    return [{
        "id": 0,
        "name": layer["name"],
        "operator_type": "Gemm",
        "equation": EQUATION,
        "dimension_relations": [],
        "loop_dims": ["D", "K", "C"],
        "loop_sizes": [int(layer["M"]), int(layer["N"]), int(layer["K"])],
        # O = partial-sum precision, O_final = the stored result (nmsim writes results at operand width).
        "operand_precision": {"I": ob, "W": ob, "O": ab, "O_final": ob},
        # Source == own id marks both inputs constant: both start in DRAM (no producer layer).
        "operand_source": {"I": 0, "W": 0},
    }]


def _write_yaml(path: str, data) -> str:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path


def run_layer(job: dict, layer: dict, objective: str, workdir: str, hw_path: str) -> dict:
    tag = f"{layer['name']}-{objective}".replace("/", "_").replace(" ", "_")
    spatial = job.get("spatial", "ws")
    map_path = _write_yaml(os.path.join(workdir, f"{tag}-mapping.yaml"), mapping_list(job["arch"], layer, spatial))
    wl_path = _write_yaml(os.path.join(workdir, f"{tag}-workload.yaml"), workload_list(job["arch"], layer))
    dump = os.path.join(workdir, f"{tag}-out")
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # keep our stdout pure JSON
        energy, latency, cmes = get_hardware_performance_zigzag(
            wl_path, hw_path, map_path,
            opt=objective,
            dump_folder=dump,
            lpf_limit=int(job.get("lpf_limit", 6)),
            nb_spatial_mappings_generated=int(job.get("nb_spatial_mappings", 3)),
            loma_show_progress_bar=False,
        )
    seconds = time.perf_counter() - t0
    # cmes[0] = (summed CME over the workload's layers, [(layer CME, extra info), ...])
    cme = cmes[0][1][0][0]
    loop_text = ""
    lo = os.path.join(dump, "loop_ordering.txt")
    if os.path.exists(lo):
        with open(lo, encoding="utf-8") as f:
            loop_text = f.read()
    clock = float(job["arch"]["clock_hz"])
    return {
        "layer": layer["name"], "M": layer["M"], "N": layer["N"], "K": layer["K"],
        "objective": objective,
        "latency_cycles": float(latency),
        "latency_s": float(latency) / clock,
        "energy_pj": float(energy),
        "search_s": seconds,
        "mac_energy_pj": float(cme.mac_energy),
        "memory_energy_pj": float(cme.mem_energy),
        "memory_energy_pj_by_operand_level": {str(op): [float(x) for x in v]
                                              for op, v in cme.mem_energy_breakdown.items()},
        "cycles_breakdown": {
            "ideal_cycle": float(cme.ideal_cycle),
            "ideal_temporal_cycle": float(cme.ideal_temporal_cycle),
            "stall_slack": float(cme.stall_slack_comb),
            "data_onloading": float(cme.data_onloading_cycle),
            "data_offloading": float(cme.data_offloading_cycle),
            "systolic_drain": float(getattr(cme, "systolic_drain_cycle", 0.0)),
        },
        "mac_utilization": float(cme.mac_utilization2),
        "spatial_mapping": str(cme.layer.spatial_mapping),
        "temporal_mapping": str(cme.temporal_mapping),
        "loop_ordering": loop_text,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("job", help="job JSON file")
    ap.add_argument("--out", help="also write the result JSON here")
    ap.add_argument("--keep", help="write the generated YAML and ZigZag's dumps here instead of a temp dir")
    args = ap.parse_args(argv)
    with open(args.job, encoding="utf-8") as f:
        job = json.load(f)
    objectives = job.get("objectives", ["latency", "energy"])
    for o in objectives:
        if o not in ("latency", "energy", "EDP"):
            raise SystemExit(f"objective '{o}': ZigZag's api accepts latency, energy or EDP")
    if job.get("spatial", "ws") not in (*DATAFLOW_SPATIAL, "search"):
        raise SystemExit(f"spatial '{job.get('spatial')}': use ws, os, is or search")

    ctx = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(prefix="zigzag-")
    with ctx as workdir:
        os.makedirs(workdir, exist_ok=True)
        hw = hardware_dict(job["arch"])
        hw_path = _write_yaml(os.path.join(workdir, "hardware.yaml"), hw)
        results = []
        for layer in job["layers"]:
            for objective in objectives:
                t0 = time.perf_counter()
                try:
                    r = run_layer(job, layer, objective, workdir, hw_path)
                except Exception as exc:  # report ZigZag's own error for this layer, go on with the rest
                    r = {"layer": layer["name"], "M": layer["M"], "N": layer["N"], "K": layer["K"],
                         "objective": objective, "search_s": time.perf_counter() - t0,
                         "error": f"{type(exc).__name__}: {exc}"}
                    print(f"zigzag: {r['layer']} opt={objective}: FAILED {r['error']}", file=sys.stderr)
                else:
                    print(f"zigzag: {r['layer']} opt={objective}: {r['latency_cycles']:.0f} cycles, "
                          f"{r['energy_pj']:.4g} pJ, {r['search_s']:.2f} s", file=sys.stderr)
                results.append(r)
    out = {"zigzag_version": version("zigzag-dse"), "python": sys.version.split()[0], "job": job,
           "hardware_yaml": hw, "effective": {
               "dram_bits_per_cycle": hw["memories"]["dram"]["ports"][0]["bandwidth_max"],
               "dram_bytes_per_cycle_requested": job["arch"]["dram_bytes_per_cycle"]},
           "results": results}
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
