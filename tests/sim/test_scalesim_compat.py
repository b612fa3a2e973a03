"""SCALE-Sim compatibility: its .cfg and topology files read unchanged, and the peer check.

Fast tests read small cfg/CSV texts and check the parsers, the errors and the closed forms.
The peer test runs PyPI `scalesim` 3.0.0 (in its own virtualenv, .peers/scalesim-venv) on small
dense and N:M GEMM and conv layers across the three dataflows and several array shapes, and
requires our cycles within 1% of its COMPUTE_REPORT.csv "Total Cycles". It skips only when the
package cannot be installed, with pip's error as the reason. SCALE-Sim results are cached by input
(benchmarks/peers/scalesim.py), so a rerun costs seconds.
"""
from __future__ import annotations

import json

import pytest

from nmsim.accel.scalesim import ScaleSimConfig, parse_scalesim_cfg, read_scalesim_cfg, scalesim_arch
from nmsim.sim.scalesim_compat import COMPAT_NOTE, scalesim_executed_k, scalesim_total_cycles
from nmsim.sim.simulate import simulate_scalesim
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity
from nmsim.workloads.scalesim import parse_scalesim_topology, read_scalesim_topology

from benchmarks.peers.scalesim import cfg_text

from ..conftest import run_cli, scalesim_or_skip


def make_cfg(df: str = "ws", rows: int = 4, cols: int = 4, sparse: bool = False, optimized: bool = False,
             block: int = 4, mode: str = "CALC", bw: int = 10, kb: int = 256) -> str:
    """A complete SCALE-Sim 3.0.0 config (every section it reads), as its own examples write them."""
    return cfg_text(df, rows, cols, (kb, kb, kb), mode=mode, bw=(bw, bw, bw), sparse=sparse, optimized=optimized,
                    block=block)


# Layers chosen to exercise every rule: a partial last N:M group with fewer than N leftover rows
# (s24: K = 9, SCALE-Sim keeps 5 rows where padding gives 6), several folds (big), a rectangular
# filter with a stride that leaves a partial edge window (c2), a 1x1 conv and a depthwise layer.
GEMM_TOPOLOGY = """Layer, M, N, K, Sparsity,
d1, 16, 12, 20, 1:1,
s24, 10, 6, 9, 2:4,
s14, 12, 5, 17, 1:4,
s34, 9, 7, 13, 3:4,
s28, 24, 16, 40, 2:8,
big, 64, 48, 40,
"""
CONV_TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,
c1, 8, 8, 3, 3, 4, 8, 1, 2:4,
c2, 9, 7, 3, 2, 3, 5, 2, 1:4,
c3, 10, 10, 1, 1, 16, 12, 1,
c4DP, 6, 6, 3, 3, 2, 1, 1,
"""


# --- cfg parser ------------------------------------------------------------------------------

def test_cfg_reads_scalesim_example():
    cfg = parse_scalesim_cfg(make_cfg("os", 8, 16, kb=64), "x.cfg")
    assert (cfg.rows, cfg.cols, cfg.dataflow) == (8, 16, "os")
    assert (cfg.ifmap_sram_kb, cfg.filter_sram_kb, cfg.ofmap_sram_kb) == (64, 64, 64)
    assert not cfg.user_bandwidth and not cfg.sparsity_support and cfg.run_name == "nmsim_peer"


def test_cfg_keys_case_insensitive_either_delimiter_no_optional_sections():
    # SCALE-Sim 2 files have neither [layout] nor [sparsity]: read as no custom layout, no sparsity
    text = ("[general]\nrun_name = old\n[architecture_presets]\narrayheight = 2\nARRAYWIDTH: 3\n"
            "IfmapSramSzkB=1\nfiltersramszkb : 2\nOfmapSramSzkB: 3\nDataflow = is\n"
            "[run_presets]\nInterfaceBandwidth = CALC\n")
    cfg = parse_scalesim_cfg(text, "old.cfg")
    assert (cfg.rows, cfg.cols, cfg.dataflow, cfg.filter_sram_kb) == (2, 3, "is", 2)
    assert not cfg.sparsity_support


def test_cfg_sparsity_and_user_bandwidth():
    cfg = parse_scalesim_cfg(make_cfg("ws", 8, 4, sparse=True, optimized=True, block=4, mode="USER", bw=6), "s.cfg")
    assert cfg.sparsity_support and cfg.optimized_mapping and cfg.block_size == 4 and cfg.sparse_rep == "ellpack_block"
    assert cfg.user_bandwidth and cfg.bandwidth_words_per_cycle == (6,)
    assert cfg.sram_active_words("inputs") == 256 * 1024 // 2


def test_inline_comment_turns_sparsity_off_as_in_scalesim():
    # configparser keeps inline comments, so SCALE-Sim reads 'true  # ...' as false; we do the same and say so
    text = make_cfg(sparse=True).replace("SparsitySupport : true", "SparsitySupport : true   # on")
    cfg = parse_scalesim_cfg(text, "c.cfg")
    assert not cfg.sparsity_support
    assert any("SparsitySupport" in n and "reads it as false" in n for n in cfg.notes)


def test_arch_from_cfg():
    cfg = parse_scalesim_cfg(make_cfg("is", 8, 4, sparse=True, kb=2), "a.cfg")
    arch = scalesim_arch(cfg, ["2:4", "1:4", "2:4"])
    assert (arch.compute.rows, arch.compute.cols, arch.compute.dataflows) == (8, 4, ["is"])
    assert [(lv.name, lv.size_bytes, lv.holds) for lv in arch.memory] == [
        ("ifmap_sram", 2048, ["inputs"]), ("filter_sram", 2048, ["weights"]), ("ofmap_sram", 2048, ["outputs"])]
    assert arch.sparsity.nm.patterns == ["1:4", "2:4"]
    assert scalesim_arch(parse_scalesim_cfg(make_cfg(), "d.cfg"), ["2:4"]).sparsity.nm is None


def test_user_bandwidth_sums_the_three_interfaces():
    # single_layer_sim.py: ifmap/filter DRAM words/cycle from [layout], ofmap from Bandwidth[0]
    text = make_cfg(mode="USER", bw=4).replace("Bandwidth : 4", "Bandwidth : 7,9")
    arch = scalesim_arch(parse_scalesim_cfg(text, "u.cfg"))
    assert arch.dram.bytes_per_s == pytest.approx((4 + 4 + 7) * 1e9)


BAD_CFG = [
    # (edit of a good file, expected line, words the message must contain)
    (lambda t: t.replace("ArrayHeight:    4\n", ""), 4, "lacks ArrayHeight"),
    (lambda t: t.replace("ArrayWidth:     4", "ArrayWidth: four"), 6, "not an integer"),
    (lambda t: t.replace("ArrayWidth:     4", "ArrayWidth: 0"), 6, "at least 1"),
    (lambda t: t.replace("Dataflow : ws", "Dataflow : wss"), 14, "did you mean 'ws'"),
    (lambda t: t.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: AUTO"), 37, "CALC"),
    (lambda t: t.replace("InterfaceBandwidth: CALC", "InterfaceBandwidth: USER").replace("Bandwidth : 10", "Bandwidth : ten"),
     13, "comma-separated"),
    (lambda t: t.replace("[sparsity]", "[Sparsity]"), 29, "[sparsity]"),
    (lambda t: "Dataflow: ws\n" + t, 1, "before any [section]"),
    (lambda t: t.replace("Dataflow : ws", "Dataflow : ws\nDataflow : os"), 15, "repeats"),
    (lambda t: t.replace("MemoryBanks:   1", "MemoryBanks 1"), 15, "neither"),
    (lambda t: t.replace("IfmapCustomLayout: False", "IfmapCustomLayout: maybe"), 20, "not a boolean"),
    (lambda t: t.replace("SparsitySupport : false", "SparsitySupport : true").replace("SparseRep : ellpack_block",
                                                                                    "SparseRep : coo"), 31, "sparse representation"),
    (lambda t: t.replace("SparsitySupport : false", "SparsitySupport : true").replace("OptimizedMapping : false",
     "OptimizedMapping : true").replace("BlockSize : 4", "BlockSize : 8"), 33, "exceeds ArrayHeight"),
    (lambda t: t.replace("SparsitySupport : false", "SparsitySupport : true").replace("OptimizedMapping : false",
     "OptimizedMapping : true").replace("Dataflow : ws", "Dataflow : os"), 32, "only with Dataflow ws"),
]


@pytest.mark.parametrize("edit, line, words", BAD_CFG)
def test_bad_cfg_names_file_line_and_fix(edit, line, words):
    with pytest.raises(SpecError) as exc:
        parse_scalesim_cfg(edit(make_cfg()), "bad.cfg")
    msg = str(exc.value)
    assert msg.startswith(f"bad.cfg:{line}:"), msg
    assert words in msg and "\n" not in msg


def test_design_nmsim_cannot_cost_names_the_cfg_and_its_keys():
    """A 512 x 1024 array with 16 KiB SRAMs: one array fold of weights (512 KiB) fits no SRAM. The
    refusal names the cfg file, the level and the keys to change, on one line (fuzz case 25940)."""
    cfg = parse_scalesim_cfg(make_cfg("ws", 512, 1024, kb=16), "big.cfg")
    with pytest.raises(SpecError) as exc:
        scalesim_arch(cfg)
    msg = str(exc.value)
    assert msg.startswith("big.cfg: ") and "filter_sram" in msg and "FilterSramSzkB" in msg and "\n" not in msg


def test_missing_cfg_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        read_scalesim_cfg(tmp_path / "nope.cfg")


# --- topology parser --------------------------------------------------------------------------

def test_gemm_topology():
    t = parse_scalesim_topology(GEMM_TOPOLOGY, "g.csv")
    ops = {op.name: op for op in t.workload.ops}
    assert t.form == "gemm" and t.workload.name == "g" and len(ops) == 6
    assert (ops["s24"].M, ops["s24"].N, ops["s24"].K, str(ops["s24"].weight_sparsity)) == (10, 6, 9, "2:4")
    assert ops["d1"].weight_sparsity.is_dense and ops["big"].weight_sparsity.is_dense
    assert t.nm_patterns == ["1:4", "2:4", "2:8", "3:4"] and not t.notes


def test_conv_topology_im2col_depthwise_and_edge_windows():
    t = parse_scalesim_topology(CONV_TOPOLOGY, "c.csv")
    ops = {op.name: op for op in t.workload.ops}
    assert t.form == "conv" and list(ops) == ["c1", "c2", "c3", "c4DPChannel_0", "c4DPChannel_1"]
    assert (ops["c1"].kind, ops["c1"].M, ops["c1"].N, ops["c1"].K) == ("conv2d", 36, 8, 36)
    # 9x7 ifmap, 3x2 filter, stride 2: the conv has 4 x 3 outputs; SCALE-Sim schedules 4 x 4
    assert (ops["c2"].M, ops["c2"].K, ops["c2"].conv) == (12, 18, None)
    assert t.scalesim_m == {"c2": 16}
    assert any("partial window" in n for n in t.notes)
    assert (ops["c3"].M, ops["c3"].N, ops["c3"].K) == (100, 12, 16)
    assert (ops["c4DPChannel_1"].M, ops["c4DPChannel_1"].N, ops["c4DPChannel_1"].K) == (16, 1, 9)


def test_topology_last_field_and_repeated_names():
    # SCALE-Sim ignores what follows the last comma: the 2:4 of line 2 and the '#dw' of line 3.
    # Line 4 has no trailing comma (as SCALE-Sim's own gpt2.csv): dropping K would leave too few
    # fields (SCALE-Sim fails), so nmsim keeps it.
    text = "Layer, M, N, K, Sparsity\nfc, 4, 4, 8, 2:4\nfc, 2, 2, 2, 1:4,#dw\nq, 3, 5, 7\n"
    t = parse_scalesim_topology(text, "t.csv")
    assert [(op.name, op.K, str(op.weight_sparsity)) for op in t.workload.ops] == [
        ("fc", 8, "dense"), ("fc#2", 2, "1:4"), ("q", 7, "dense")]
    assert any("line 2 ('2:4'): the value after the last comma is ignored" in n for n in t.notes)
    assert any("no trailing comma on line 4" in n for n in t.notes)
    assert any("repeats" in n for n in t.notes)


def test_topology_header_that_looks_like_a_layer_and_extra_gemm_fields():
    t = parse_scalesim_topology("fc0, 4, 4, 8,\nfc1, 2, 3, 4, 2:4, 99, x,\n", "h.csv")
    assert [(op.name, op.K) for op in t.workload.ops] == [("fc1", 4)]  # SCALE-Sim, too, loses fc0
    assert any("h.csv:1: read as the header" in n for n in t.notes)
    assert any("fields after the fifth are ignored" in n for n in t.notes)


BAD_TOPOLOGY = [
    ("Layer, M, N, K,\nfc, 4, x, 8,\n", 2, "N 'x' is not an integer"),
    ("Layer, M, N, K,\nfc, 4, 0, 8,\n", 2, "at least 1"),
    ("Layer, M, N, K,\nfc, 4, 8,\n", 2, "4 or 5 fields"),
    ("Layer, M, N, K, Sparsity,\nfc, 4, 4, 8, 2-4,\n", 2, "not N:M"),
    ("Layer, M, N, K, Sparsity,\nfc, 4, 4, 8, 5:4,\n", 2, "1 <= N <= M"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c, 2, 8, 3, 3, 1, 1, 1,\n", 2, "larger than the ifmap"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c, 8, 8, 3, 3, 1, 1, 1, 2:4, 7,\n", 2, "8 or 9 fields"),
    ("Layer, a, b,\nx, 1, 2,\n", 1, "cannot tell"),
]


@pytest.mark.parametrize("text, line, words", BAD_TOPOLOGY)
def test_bad_topology_names_file_line_and_fix(text, line, words):
    with pytest.raises(SpecError) as exc:
        parse_scalesim_topology(text, "bad.csv")
    msg = str(exc.value)
    assert msg.startswith(f"bad.csv:{line}:"), msg
    assert words in msg


@pytest.mark.parametrize("text", ["", "Layer, M, N, K,\n\n"])
def test_topology_without_layers(text):
    with pytest.raises(SpecError, match="bad.csv"):
        parse_scalesim_topology(text, "bad.csv")


def test_missing_topology_file(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        read_scalesim_topology(tmp_path / "nope.csv")


# --- compatibility formulas (docs/MODEL.md, "SCALE-Sim compatibility mode") -------------------

def _op(K, pattern="dense"):
    return Op("g", "gemm", M=8, N=4, K=K, weight_sparsity=Sparsity.parse(pattern))


@pytest.mark.parametrize("K, pattern, sparse, optimized, k_exec", [
    (20, "2:4", True, False, 10),   # whole groups: K * N/M
    (9, "2:4", True, False, 5),     # 2 groups + 1 leftover row (< N): 4 + 1, not padded to 6
    (13, "3:4", True, False, 10),   # 3 groups * 3 + min(1, 3)
    (18, "1:4", True, False, 5),    # 4 * 1 + min(2, 1)
    (20, "2:4", False, False, 20),  # SparsitySupport false: dense
    (20, "dense", True, True, 12),  # OptimizedMapping, BlockSize 4: ceil(20 / 8) * 4, N:M ignored
])
def test_executed_k(K, pattern, sparse, optimized, k_exec):
    cfg = ScaleSimConfig("x", "x", 8, 4, 1, 1, 1, "ws", sparsity_support=sparse, optimized_mapping=optimized)
    assert scalesim_executed_k(cfg, _op(K, pattern)) == k_exec


@pytest.mark.parametrize("df, rows, cols, M, N, K, pattern, scalesim_total", [
    # SCALE-Sim 3.0.0 "Total Cycles", measured with the configs above (SparsitySupport true)
    ("ws", 4, 4, 16, 8, 20, "2:4", 155),  # 3 x 2 folds x (2R + C - 2 + T = 10 + 16) - 1
    ("ws", 4, 4, 10, 6, 9, "2:4", 79),    # K_exec 5: 2 x 2 folds x (10 + 10) - 1
    ("os", 4, 4, 10, 6, 9, "2:4", 65),    # 3 x 2 folds x (R + C - 2 + K_exec = 6 + 5) - 1; padding would give 71
    ("is", 4, 4, 9, 7, 13, "3:4", 152),   # K_exec 10: 3 x 3 folds x (10 + 7) - 1
])
def test_total_cycles_match_measured_scalesim(df, rows, cols, M, N, K, pattern, scalesim_total):
    cfg = parse_scalesim_cfg(make_cfg(df, rows, cols, sparse=True), "m.cfg")
    op = Op("g", "gemm", M=M, N=N, K=K, weight_sparsity=Sparsity.parse(pattern))
    assert scalesim_total_cycles(cfg, op) == scalesim_total


def test_simulate_keeps_own_model_and_notes():
    cfg = parse_scalesim_cfg(make_cfg("os", 4, 4, sparse=True), "m.cfg")
    res = simulate_scalesim(cfg, parse_scalesim_topology(GEMM_TOPOLOGY, "g.csv"))
    lr = {lr.name: lr for lr in res.layers}["s24"]
    assert lr.cycles == 65 and lr.executed_sparsity == "2:4"
    # our own model pads K to whole groups (6 rows) and counts cycles, not the last index
    assert lr.cycle_breakdown["nmsim_cycles"] > lr.cycles and lr.cycle_breakdown["scalesim_executed_k"] == 5
    assert lr.mapping == {"dataflow": "os", "tile_m": 10, "tile_n": 6, "tile_k": 9, "loop_order": "nmk"}
    assert res.notes[0] == COMPAT_NOTE


def test_user_mode_counts_stalls():
    # SCALE-Sim 3.0.0 measured (docs/MODEL.md 8.2): 64x32x64 on 4x4, 1 kB SRAMs, 1 word/cycle: 40732 Total
    # Cycles, 31261 of them stalls
    cfg = parse_scalesim_cfg(make_cfg("ws", 4, 4, mode="USER", bw=1, kb=1), "u.cfg")
    lr = simulate_scalesim(cfg, parse_scalesim_topology("Layer, M, N, K,\nbig, 64, 32, 64,\n", "b.csv")).layers[0]
    assert (lr.cycles, lr.cycle_breakdown["scalesim_stall_cycles"]) == (40732, 31261)


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    cfg, topo = tmp_path / "arch.cfg", tmp_path / "conv.csv"
    cfg.write_text(make_cfg("ws", 8, 4, sparse=True))
    topo.write_text(CONV_TOPOLOGY)
    return cfg, topo


def test_cli_simulate_scalesim_json(files, tmp_path, capsys):
    cfg, topo = files
    out = tmp_path / "r.json"
    code, stdout, err = run_cli(["simulate", "--scalesim-cfg", cfg, "--scalesim-topology", topo, "--json", out], capsys)
    assert code == 0, err
    r = json.loads(out.read_text())
    # measured SCALE-Sim 3.0.0 Total Cycles of these layers on this config
    assert [lr["cycles"] for lr in r["layers"]][:2] == [323, 67]
    assert r["arch"] == "scalesim-nmsim_peer" and r["total"]["cycles"] == sum(lr["cycles"] for lr in r["layers"])
    assert "partial window" in err and "Total Cycles" in stdout


@pytest.mark.parametrize("extra, words", [
    (["--arch", "sat"], "drop --arch"),
    (["--workload", "bert-base", "--sparsity", "2:4"], "drop --workload and --sparsity"),
    (["--dataflow", "os"], "drop --dataflow"),
])
def test_cli_scalesim_conflicts(files, capsys, extra, words):
    cfg, topo = files
    code, out, err = run_cli(["simulate", "--scalesim-cfg", cfg, "--scalesim-topology", topo, *extra], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, words", [
    (["--scalesim-cfg", "x.cfg"], "add --scalesim-topology"),
    (["--scalesim-topology", "t.csv"], "add --scalesim-cfg"),
    (["--arch", "sat"], "needs --arch and --workload"),
])
def test_cli_incomplete(capsys, argv, words):
    code, out, err = run_cli(["simulate", *argv], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_cli_malformed_files(files, capsys):
    cfg, topo = files
    cfg.write_text(make_cfg().replace("Dataflow : ws", "Dataflow : weight"))
    code, out, err = run_cli(["simulate", "--scalesim-cfg", cfg, "--scalesim-topology", topo], capsys)
    assert code == 2 and f"{cfg}:14: Dataflow" in err and "Traceback" not in err
    cfg.write_text(make_cfg())
    topo.write_text("Layer, M, N, K,\nfc, 4, 4,\n")
    code, out, err = run_cli(["simulate", "--scalesim-cfg", cfg, "--scalesim-topology", topo], capsys)
    assert code == 2 and f"{topo}:2:" in err and len(err.strip().splitlines()) == 1


# --- peer: SCALE-Sim itself ---------------------------------------------------------------------

def peer_jobs() -> list[dict]:
    """SCALE-Sim jobs: 3 dataflows x 3 array shapes x (GEMM, conv) with N:M on, plus dense and
    USER-bandwidth runs, and SCALE-Sim's optimized (row-wise) sparse mapping."""
    jobs = []
    for df in ("ws", "os", "is"):
        for rows, cols in ((4, 4), (8, 4), (4, 8)):
            for form, topo in (("gemm", GEMM_TOPOLOGY), ("conv", CONV_TOPOLOGY)):
                jobs.append({"id": f"{df}-{rows}x{cols}-{form}-nm", "cfg": make_cfg(df, rows, cols, sparse=True),
                             "topology": topo, "input_type": form})
    for form, topo in (("gemm", GEMM_TOPOLOGY), ("conv", CONV_TOPOLOGY)):
        jobs.append({"id": f"ws-8x8-{form}-dense-user", "cfg": make_cfg("ws", 8, 8, mode="USER", bw=16),
                     "topology": topo, "input_type": form})
    jobs.append({"id": "ws-8x4-gemm-optimized", "cfg": make_cfg("ws", 8, 4, sparse=True, optimized=True, block=4),
                 "topology": GEMM_TOPOLOGY, "input_type": "gemm"})
    return jobs


@pytest.fixture(scope="session")
def scalesim_results():
    """SCALE-Sim's COMPUTE_REPORT rows for every peer job (installs the peer venv if needed)."""
    return scalesim_or_skip(peer_jobs())


def test_peer_scalesim_within_one_percent(scalesim_results):
    rows, bad = [], []
    for job in peer_jobs():
        got = scalesim_results[job["id"]]
        assert "error" not in got, f"{job['id']}: SCALE-Sim failed:\n{got.get('error')}"
        cfg = parse_scalesim_cfg(job["cfg"], f"{job['id']}.cfg")
        res = simulate_scalesim(cfg, parse_scalesim_topology(job["topology"], f"{job['id']}.csv"))
        assert len(res.layers) == len(got["layers"]), job["id"]
        for lr, ss in zip(res.layers, got["layers"]):
            theirs = ss["Total Cycles"]
            err = abs(lr.cycles - theirs) / theirs
            rows.append(f"{job['id']:28s} {lr.name:14s} {theirs:8.0f} {lr.cycles:8d} {err:7.2%}")
            assert ss["Stall Cycles"] == 0, f"{job['id']} {lr.name}: peer case must be stall-free"
            if err > 0.01:
                bad.append(rows[-1])
    assert len(rows) >= 8
    assert not bad, "nmsim vs SCALE-Sim 'Total Cycles' beyond 1%:\n" + "\n".join(bad)


def test_peer_cache_reuses_and_reruns_on_change(scalesim_results):
    from benchmarks.peers.scalesim import job_key, run_scalesim

    job = peer_jobs()[0]
    assert run_scalesim([job])[job["id"]]["cached"]
    changed = {**job, "id": "changed", "topology": "Layer, M, N, K,\nfc, 5, 3, 7,\n"}
    assert job_key(changed) != job_key(job)
    assert job_key({**job, "input_type": "conv"}) != job_key(job)
    cfg = parse_scalesim_cfg(changed["cfg"], "c.cfg")
    op = parse_scalesim_topology(changed["topology"], "c.csv").workload.ops[0]
    assert run_scalesim([changed])["changed"]["layers"][0]["Total Cycles"] == scalesim_total_cycles(cfg, op)
