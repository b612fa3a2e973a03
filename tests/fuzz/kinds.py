"""The input kinds the fuzzer mutates, one generator each, in one registry.

A kind is a function `(rng, folder) -> Case`: it writes the (mutated) files of one case into
`folder` and returns the `nmsim` command line that reads them, with the outputs it asks for.
Add a kind for every new loader or command with `@kind("name")`; tests/fuzz/test_fuzz.py and the
long run (`make fuzz`, tests/fuzz/run.py) pick it up from KINDS.

Seeds are small valid documents (the conftest's tiny arch, a three-op workload, ...) so that a
case that survives validation costs milliseconds; what the mutations reach is the loaders, the
schemas and the cost model at the edges of their bounds.
"""
from __future__ import annotations

import copy
import io
import random
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from ..conftest import TINY
from .harness import Case
from .mutate import (INTERESTING_INTS, INTERESTING_STRINGS, hostile_yaml, interesting, mutate_bytes,
                     mutate_text_lines, mutate_tree, scale_numbers)

KINDS: dict[str, Callable[[random.Random, Path], Case]] = {}


def kind(name: str):
    """Register a case generator under `name`."""
    def register(fn):
        KINDS[name] = fn
        return fn
    return register


WORKLOAD = {"name": "w", "ops": [
    {"name": "fc", "kind": "gemm", "M": 64, "N": 48, "K": 32, "sparsity": "2:4"},
    {"name": "conv", "kind": "conv2d", "M": 64, "N": 8, "K": 36, "conv": {
        "batch": 1, "in_h": 8, "in_w": 8, "in_ch": 4, "out_ch": 8, "kernel": 3, "stride": 1, "padding": 1}},
    {"name": "att", "kind": "attn_score", "M": 16, "N": 16, "K": 8, "batch": 2, "act_density": 0.5}]}
MAPPING_SINGLE = {"dataflow": "ws", "tile_m": 16, "tile_n": 16, "tile_k": 16, "loop_order": "nmk"}
MAPPING_LAYERS = {"default": {"dataflow": "os", "tile_m": 8, "tile_n": 8, "tile_k": 8},
                  "layers": {"fc": {"dataflow": "ws", "tile_m": 32, "tile_n": 16, "tile_k": 16, "loop_order": "kmn"}}}
CONSTRAINTS = {"dataflow": ["ws", "os"], "loop_order": ["nmk", "mnk"], "tile_m": 16,
               "tile_n": {"min": 4, "max": 64, "multiple_of": 4}, "tile_k": [8, 16, 32]}
SWEEP = {"name": "s", "base": "arch.yaml", "axes": {"rows": [2, 4], "clock_hz": {"min": 1.0e8, "max": 1.0e9, "steps": 2},
                                                    "nm_patterns": ["dense", ["2:4"]]},
         "workloads": ["w.yaml"], "patterns": ["as-given", "dense"], "objectives": ["latency", "energy", "area"],
         "sampling": {"method": "grid"}}
CFG = """[general]
run_name = fuzz
[architecture_presets]
ArrayHeight: 4
ArrayWidth: 4
IfmapSramSzkB: 16
FilterSramSzkB: 16
OfmapSramSzkB: 16
Dataflow: ws
Bandwidth: 10
[layout]
IfmapSRAMBankBandwidth: 10
FilterSRAMBankBandwidth: 10
[sparsity]
SparsitySupport: true
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 4
[run_presets]
InterfaceBandwidth: CALC
"""
TOPOLOGIES = ["Layer, M, N, K, Sparsity,\nfc1, 16, 8, 32, 2:4,\nfc2, 8, 8, 8, 1:1,\n",
              "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
              "conv1, 8, 8, 3, 3, 4, 8, 1,\nconvDP, 6, 6, 3, 3, 4, 1, 2,\n"]
LAYERS = ["gemm:M=64,N=32,K=16", "gemm:M=8,N=8,K=8,sparsity=2:4,batch=2", "conv2d:M=16,N=8,K=9,act_density=0.5",
          "attn_score:M=16,N=16,K=8,batch=4"]
PATTERNS = ["dense", "2:4", "1:8", "2:8@N", "unstructured:0.75", "block:2x2:0.5", "1:1"]


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: the pure-Python loader cost more than many cases


def _load(text: str):
    """A YAML document the fuzzer itself reads (the base files it mutates)."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 -- a SafeLoader


def _write_yaml(path: Path, doc) -> Path:
    path.write_text(yaml.dump(doc, Dumper=_DUMPER, sort_keys=False, allow_unicode=True))
    return path


def _mutated_yaml(rng: random.Random, path: Path, doc) -> Path:
    """`doc` written to `path` after a tree mutation, or as hostile YAML, or byte-damaged."""
    r = rng.random()
    if r < 0.35:
        return _write_yaml(path, scale_numbers(rng, doc))
    if r < 0.75:
        return _write_yaml(path, mutate_tree(rng, doc))
    if r < 0.85:
        path.write_text(hostile_yaml(rng))
        return path
    path.write_bytes(mutate_bytes(rng, yaml.dump(doc, Dumper=_DUMPER).encode()))
    return path


def _base_files(folder: Path) -> tuple[Path, Path]:
    """The valid tiny arch (with unstructured support) and workload the other kinds lean on."""
    a = copy.deepcopy(TINY)
    a["sparsity"]["unstructured"] = {"window": 4}
    return _write_yaml(folder / "arch.yaml", a), _write_yaml(folder / "w.yaml", WORKLOAD)


def _sim_flags(rng: random.Random) -> list[str]:
    """Some valid-looking simulate flags (the outputs are the case's own)."""
    flags = []
    if rng.random() < 0.3:
        flags += ["--per-layer"]
    if rng.random() < 0.2:
        flags += ["--dataflow", rng.choice(["ws", "os", "is", "xx"])]
    if rng.random() < 0.15:
        flags += ["--mapper", rng.choice(["heuristic", "random"])]
    if rng.random() < 0.1:
        flags += ["--engine", "detailed"]
    if rng.random() < 0.1:
        flags += ["--training"]
    return flags


def _simulate(folder: Path, arch: Path | str, wl: Path | str, *more: str) -> Case:
    out = folder / "out"
    out.mkdir(exist_ok=True)
    res = out / "r.json"
    return Case("", ["simulate", "-q", "-a", arch, "-w", wl, "--json", res, "--csv", out / "r.csv", *more],
                folder, [res, out / "r.csv"])


@kind("arch")
def arch_case(rng: random.Random, folder: Path) -> Case:
    a, w = _base_files(folder)
    doc = _load(a.read_text()) if rng.random() < 0.8 else \
        _load((Path(__file__).parents[2] / "accel" / "presets" / f"{rng.choice(['sat', 's4', 'a100'])}.yaml")
                       .read_text())
    _mutated_yaml(rng, a, doc)
    return _simulate(folder, a, w, *_sim_flags(rng))


@kind("workload")
def workload_case(rng: random.Random, folder: Path) -> Case:
    a, w = _base_files(folder)
    _mutated_yaml(rng, w, WORKLOAD)
    return _simulate(folder, a, w, *_sim_flags(rng))


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy(arr: np.ndarray, shape_text: str | None = None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    data = buf.getvalue()
    if shape_text is not None:
        old = repr(arr.shape).encode()
        data = data.replace(old, shape_text.encode()[: len(old)].ljust(len(old)), 1)
    return data


@kind("masks")
def masks_case(rng: random.Random, folder: Path) -> Case:
    a, _ = _base_files(folder)
    doc = copy.deepcopy(WORKLOAD)
    doc["ops"][0]["sparsity"] = "unstructured:0.5"
    doc["masks"] = "w.masks.npz"
    good = {"fc": np.random.default_rng(rng.randrange(1 << 30)).random((48, 32)) < 0.5}
    npz = folder / "w.masks.npz"
    r = rng.random()
    if r < 0.3:
        npz.write_bytes(mutate_bytes(rng, _npz(good)))
    elif r < 0.6:
        arr = rng.choice([np.ones((48, 32), dtype=bool), np.ones((32, 48), dtype=bool), np.zeros((48, 32), dtype=np.int64),
                          np.array([None] * 4, dtype=object), np.array(["x"] * 4), np.ones((2, 48, 32), dtype=bool),
                          np.ones((48, 32), dtype=np.float32), np.ones(0, dtype=bool)])
        shape = rng.choice([None, None, "(4000000, 8000000)", "(-1, 32)", "(48, 32, 1)"])
        name = rng.choice(["fc", "fc", "conv", "att", "nope", "../fc"])
        with zipfile.ZipFile(npz, "w") as zf:
            zf.writestr(f"{name}.npy", _npy(arr, shape))
            if rng.random() < 0.2:
                zf.writestr("extra.txt", "hello")
    else:
        npz.write_bytes(_npz(good))
        doc["masks"] = rng.choice(["w.masks.npz", "../w.masks.npz", str(npz.resolve()), "/nonexistent/m.npz",
                                   "sub/../w.masks.npz", "", ".", "w.yaml", 7])
    _write_yaml(folder / "w.yaml", doc)
    return _simulate(folder, a, folder / "w.yaml", *rng.choice([[], ["-s", "unstructured:0.5"]]))


@kind("mapping")
def mapping_case(rng: random.Random, folder: Path) -> Case:
    a, w = _base_files(folder)
    m = _mutated_yaml(rng, folder / "m.yaml", rng.choice([MAPPING_SINGLE, MAPPING_LAYERS]))
    return _simulate(folder, a, w, "--mapping", m)


@kind("constraints")
def constraints_case(rng: random.Random, folder: Path) -> Case:
    a, _ = _base_files(folder)
    c = _mutated_yaml(rng, folder / "c.yaml", CONSTRAINTS)
    out = folder / "out"
    out.mkdir()
    mapper = rng.choice([["--mapper", "heuristic"], ["--mapper", "random", "--samples", "300"]])
    return Case("", ["map", "-a", a, "-l", rng.choice(LAYERS), "-c", c, *mapper, "--json", out / "r.json",
                     "--out", out / "best.yaml"], folder, [out / "r.json", out / "best.yaml"])


def _keep_sweep_small(path: Path) -> None:
    """Cut a valid but large sweep (a count scaled x1000 stays within the 10^6-point bound) to a
    few points: such a sweep is legitimate work of seconds to hours, not what the fuzzer is for.
    Counts beyond the bound, zero, negative or of the wrong type are kept."""
    try:
        doc = _load(path.read_text())
    except Exception:
        return
    if not isinstance(doc, dict):
        return
    for section, key in (("sampling", "n"), ("sampling", "population")):
        sec = doc.get(section)
        if isinstance(sec, dict) and type(sec.get(key)) is int and 8 < sec[key] <= 1_000_000:
            sec[key] = 8
    axes = doc.get("axes")
    if isinstance(axes, dict):
        for name, ax in axes.items():
            if isinstance(ax, dict) and type(ax.get("steps")) is int and 4 < ax["steps"] <= 1_000_000:
                ax["steps"] = 4
            elif isinstance(ax, list) and len(ax) > 4:
                axes[name] = ax[:4]
    _write_yaml(path, doc)


@kind("sweep")
def sweep_case(rng: random.Random, folder: Path) -> Case:
    _base_files(folder)
    doc = copy.deepcopy(SWEEP)
    if rng.random() < 0.3:
        doc["sampling"] = {"method": rng.choice(["random", "lhs"]), "n": rng.choice([1, 3, 5]),
                           "seed": rng.choice([0, 7])}
    s = _mutated_yaml(rng, folder / "s.yaml", doc)
    _keep_sweep_small(s)
    out = folder / "out"
    out.mkdir()
    return Case("", ["dse", "run", s, "--out", out / "r.sqlite", "--json", out / "run.json", "--no-progress",
                     "--workers", "1"], folder, [out / "run.json"])


@kind("scalesim")
def scalesim_case(rng: random.Random, folder: Path) -> Case:
    cfg, topo = folder / "c.cfg", folder / "t.csv"
    base_topo = rng.choice(TOPOLOGIES)
    r = rng.random()
    cfg_text = mutate_text_lines(rng, CFG) if r < 0.45 else CFG
    topo_text = mutate_text_lines(rng, base_topo) if r >= 0.35 else base_topo
    if rng.random() < 0.15:
        cfg.write_bytes(mutate_bytes(rng, cfg_text.encode()))
    else:
        cfg.write_text(cfg_text)
    if rng.random() < 0.15:
        topo.write_bytes(mutate_bytes(rng, topo_text.encode()))
    else:
        topo.write_text(topo_text)
    out = folder / "out"
    out.mkdir()
    return Case("", ["simulate", "-q", "--scalesim-cfg", cfg, "--scalesim-topology", topo, "--json", out / "r.json"],
                folder, [out / "r.json"])


_MEASUREMENTS: dict[str, str] = {}


def measurement_text() -> str:
    """A small synthetic measurement CSV (tests/sim/test_gpu_model.synthesize; not a measurement)."""
    if "text" not in _MEASUREMENTS:
        import tempfile

        from ..sim.test_gpu_model import synthesize
        with tempfile.TemporaryDirectory() as d:
            p = synthesize(Path(d) / "m.csv", models=("bert-base",), tokens=(16, 256))
            _MEASUREMENTS["text"] = p.read_text()
    return _MEASUREMENTS["text"]


@kind("measurements")
def measurements_case(rng: random.Random, folder: Path) -> Case:
    m = folder / "m.csv"
    text = measurement_text()
    if rng.random() < 0.8:
        m.write_text(mutate_text_lines(rng, text))
    else:
        m.write_bytes(mutate_bytes(rng, text.encode()))
    out = folder / "out"
    out.mkdir()
    return Case("", ["gpu", "validate", m, "--json", out / "v.json"], folder, [out / "v.json"])


# Timeloop/Sparseloop/Accelergy files (interop/): the shipped exercise fixtures, mutated
_TIMELOOP = Path(__file__).resolve().parent.parent / "interop" / "fixtures" / "timeloop"
_TIMELOOP_FILES = {  # flag of `nmsim timeloop read` -> fixture files it reads
    "--problem": ["simple_weight_stationary/inputs/problem.yaml", "sparse_tensor_core_like_2to4_v3/inputs/prob/prob.yaml"],
    "--arch": ["simple_weight_stationary/inputs/arch.yaml", "sparse_tensor_core_like_2to4_v3/inputs/arch/arch.yaml"],
    "--mapping": ["simple_weight_stationary/ref_outputs/timeloop-mapper.map.yaml"],
    "--sparse-opt": ["sparse_tensor_core_like_2to4_v3/inputs/sparse-opt/sparse-opt.yaml"],
    "--stats": ["simple_weight_stationary/ref_outputs/timeloop-mapper.stats.txt"],
    "ert": ["simple_weight_stationary/ref_outputs/timeloop-mapper.ERT.yaml"],
}


@kind("timeloop")
def timeloop_case(rng: random.Random, folder: Path) -> Case:
    flag = rng.choice(sorted(_TIMELOOP_FILES))
    src = _TIMELOOP / rng.choice(_TIMELOOP_FILES[flag])
    f = folder / src.name
    r = rng.random()
    if src.suffix == ".yaml" and r < 0.5:
        from nmsim.interop.timeloop import load_timeloop_yaml  # tags kept as plain `_tag` keys

        _mutated_yaml(rng, f, load_timeloop_yaml(src))
    elif r < 0.85:
        f.write_text(mutate_text_lines(rng, src.read_text()))
    else:
        f.write_bytes(mutate_bytes(rng, src.read_bytes()))
    if flag != "ert":
        return Case("", ["timeloop", "read", flag, f], folder, [])
    out = folder / "out"
    out.mkdir()
    arch = _TIMELOOP / "simple_weight_stationary/inputs/arch.yaml"
    return Case("", ["timeloop", "ert", f, "--timeloop-arch", arch, "--arch", "dense-systolic", "--level", "dram=DRAM",
                     "--mac", "mac", "--out", out / "a.yaml"], folder, [out / "a.yaml"])


def _mutated_string(rng: random.Random, base: str) -> str:
    """`base` with a character or field edit (structure kept where possible)."""
    r = rng.random()
    if r < 0.3:
        return base
    if r < 0.6:
        parts = base.replace("=", ",").split(",")
        i = rng.randrange(len(parts))
        like = int(parts[i]) if parts[i].isdigit() else parts[i]
        return base.replace(parts[i], str(interesting(rng, like)), 1)
    chars = list(base)
    i = rng.randrange(len(chars) + 1)
    chars.insert(i, rng.choice([":", ",", "=", "x", "²", "٣", " ", "@", "9" * 25, "-", "."]))
    return "".join(chars)


@kind("pattern")
def pattern_case(rng: random.Random, folder: Path) -> Case:
    a, w = _base_files(folder)
    s = _mutated_string(rng, rng.choice(PATTERNS + INTERESTING_STRINGS[:12]))
    return _simulate(folder, a, w, "-s", s)


@kind("layer")
def layer_case(rng: random.Random, folder: Path) -> Case:
    a, _ = _base_files(folder)
    out = folder / "out"
    out.mkdir()
    mapper = rng.choice([["--mapper", "heuristic"], ["--mapper", "exhaustive"], ["--mapper", "random", "--samples", "200"]])
    return Case("", ["map", "-a", rng.choice([a, "sat", "s4"]), "-l", _mutated_string(rng, rng.choice(LAYERS)),
                     *mapper, "--json", out / "r.json"], folder, [out / "r.json"])


# --- every command's flags ---------------------------------------------------------------------------------

def _out(rng: random.Random, folder: Path, name: str) -> str:
    """An output path: usually fine, sometimes in a missing folder, a folder, or the wrong suffix."""
    return rng.choice([str(folder / "out" / name)] * 6 + [str(folder / "missing" / name), str(folder / "out"),
                                                          str(folder / "out" / (name + ".txt")), ""])


def _int_text(rng: random.Random) -> str:
    return str(rng.choice(INTERESTING_INTS + [1, 2, 4])) if rng.random() < 0.8 else rng.choice(["x", "1.5", "²", "1_0"])


def _flag_argv(rng: random.Random, folder: Path, a: Path, w: Path) -> list[str]:
    """A command line of a random command with random flags (valid and not)."""
    o = lambda name: _out(rng, folder, name)  # noqa: E731
    cmd = rng.choice(["presets", "workloads", "simulate", "map", "prune", "rtl", "gpu", "dse", "reproduce", "demo",
                      "bogus"])
    if cmd == "presets":
        return ["presets", *rng.choice([[], ["list"], ["show"], ["show", "sat"], ["show", "stt"], ["show", "a100"]])]
    if cmd == "workloads":
        argv = ["workloads", rng.choice(["list", "show", "shw"]), rng.choice(["bert-base", "resnet18", str(w), "bertt"])]
        if rng.random() < 0.5:
            argv += ["-p", rng.choice(["batch", "seq_len", "image_size", "x"]) + "=" + _int_text(rng)]
        if rng.random() < 0.4:
            argv += ["--save", o("w2.yaml")]
        return argv
    if cmd == "simulate":
        argv = ["simulate", "-q", "-a", rng.choice([str(a), "sat", "s4", "a100", "t4", "nope"]),
                "-w", rng.choice([str(w), "bert-base", "gpt2"])]
        argv += rng.choice([[], ["-p", "batch=" + _int_text(rng)], ["-p", "seq_len=" + _int_text(rng)]])
        for flag, vals in (("--sparsity", PATTERNS), ("--dataflow", ["ws", "os", "is"]), ("--mapper", ["heuristic"]),
                           ("--objective", ["latency", "energy", "edp"]), ("--engine", ["fast", "detailed"])):
            if rng.random() < 0.2:
                argv += [flag, rng.choice(vals)]
        for flag, name in (("--json", "r.json"), ("--csv", "r.csv"), ("--save-mappings", "m.yaml"),
                           ("--trace", rng.choice(["t.json", "t.csv"]))):
            if rng.random() < 0.3:
                argv += [flag, o(name)]
        argv += rng.choice([[], ["--training"], ["--no-bdwp"], ["--per-layer"], ["--mapping", str(w)]])
        return argv
    if cmd == "map":
        argv = ["map", "-a", rng.choice([str(a), "sat", "h100"]), "-l", rng.choice(LAYERS)]
        for flag in ("--top", "--samples", "--seed"):
            if rng.random() < 0.3:
                argv += [flag, _int_text(rng)]
        argv += rng.choice([[], ["--mapper", "random"], ["--mapper", "exhaustive"], ["--objective", "edp"]])
        if "--samples" not in argv and "random" in argv:
            argv += ["--samples", "200"]
        if rng.random() < 0.3:
            argv += ["--out", o("m.yaml")]
        if rng.random() < 0.3:
            argv += ["--json", o("r.json")]
        return argv
    if cmd == "prune":
        argv = ["prune", "--model", rng.choice(["minilm", "digits-cnn", "bert-base", "nope"]),
                "--pattern", rng.choice(PATTERNS), "--method", rng.choice(["magnitude", "wanda", "x"])]
        for flag in ("--calibration", "--epochs", "--seed", "--threads", "--eval-sentences"):
            if rng.random() < 0.2:
                argv += [flag, _int_text(rng)]
        argv += rng.choice([["--out", o("dir")], ["--out", o("dir"), "--force"], ["--report"], []])
        if rng.random() < 0.3:
            argv += ["--json", o("p.json")]
        return argv
    if cmd == "rtl":
        if rng.random() < 0.5:
            return ["rtl", "validate", "--cases", _int_text(rng), "--seed", _int_text(rng),
                    *rng.choice([[], ["--json", o("r.json")], ["--simulator", "verilator"]])]
        return ["rtl", "area", *rng.choice([[], ["--json", o("a.json")]])]
    if cmd == "gpu":
        if rng.random() < 0.5:
            return ["gpu", "bench", "--out", o("g.csv"), "--models", "bert-base", "--tokens", _int_text(rng),
                    *rng.choice([[], ["--repeats", _int_text(rng)], ["--json", o("b.json")]])]
        return ["gpu", "validate", str(w), *rng.choice([[], ["--plot", o("v.png")], ["--split", "model"]])]
    if cmd == "dse":
        sub = rng.choice(["run", "report", "export", "plot"])
        store = rng.choice([str(folder / "out" / "none.sqlite"), str(w), str(folder / "out")])
        if sub == "run":
            return ["dse", "run", str(w), "--out", o("r.sqlite"), *rng.choice([[], ["--workers", _int_text(rng)],
                                                                            ["--chunk", _int_text(rng)]])]
        if sub == "report":
            return ["dse", "report", store, "--pareto", rng.choice(["latency,energy", "x", "latency", ""]),
                    "--top", _int_text(rng), *rng.choice([[], ["--plot", o("p.png")], ["--json", o("r.json")]])]
        if sub == "export":
            return ["dse", "export", store, *rng.choice([[], ["--csv", o("e.csv")], ["--parquet", o("e.parquet")]])]
        return ["dse", "plot", store, rng.choice(["pareto", "heatmap", "roofline", "bad"]), "--out", o("p.png")]
    if cmd == "reproduce":
        return ["reproduce", rng.choice(["sat", "s4", "x"]), *rng.choice([[], ["--quick"], ["--no-algorithm"]]),
                *rng.choice([[], ["--threads", _int_text(rng)]]),
                *rng.choice([[], ["--json", o("r.json")], ["--markdown", o("r.md")]])]
    if cmd == "demo":
        return ["demo", *rng.choice([[], ["--out", o("d.png")], ["--out", o("d.svg")]]),
                *rng.choice([[], ["--json", o("d.json")]])]
    return [rng.choice(["bogus", "--help-me", "", "simulate --x"])]


@kind("flags")
def flags_case(rng: random.Random, folder: Path) -> Case:
    a, w = _base_files(folder)
    (folder / "out").mkdir()
    argv = _flag_argv(rng, folder, a, w)
    if argv[0] == "demo" and "--out" not in argv:
        argv += ["--out", str(folder / "out" / "demo.png")]   # never the default name in the current folder
    outputs = [Path(x) for x in argv if isinstance(x, str) and x.startswith(str(folder / "out" / ""))
               and Path(x).suffix == ".json"]
    return Case("", argv, folder, outputs)


def make_case(name: str, rng: random.Random, folder: Path) -> Case:
    """A case of kind `name` in `folder` (created empty by the caller)."""
    case = KINDS[name](rng, folder)
    case.kind = name
    return case


def describe() -> str:
    """The registered kinds, for reports."""
    return ", ".join(KINDS)

