"""Models from anywhere (workloads/sources.py, workloads/ml/torch_source.py, workloads/onnx_model.py):
one network as a torchvision-style file, a Hugging Face config folder and an ONNX export gives one
op list; each is costed by one command; bad sources fail in one line."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from nmsim.specfile import SpecError
from nmsim.workloads import Op, zoo
from nmsim.workloads.sources import classify_source, load_workload, parse_value
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "examples" / "models"
PY = f"{MODELS / 'resnet18.py'}:resnet18"
HF = str(MODELS / "resnet18-hf")


def shapes(wl):
    """The GEMM ops' kinds and dims, in order."""
    return [(o.kind, o.M, o.N, o.K, o.batch) for o in wl.ops]


def layers(wl):
    """Every layer in model order, GEMM and non-GEMM, by kind and shape (names differ by source)."""
    return [(o.kind, o.M, o.N, o.K, o.batch) if isinstance(o, Op) else
            (o.kind, o.batch, o.rows, o.cols, o.window, o.in_elements, o.fused) for o in wl.layers]


@pytest.fixture(scope="module")
def exported_onnx(tmp_path_factory) -> Path:
    """resnet18.py exported afresh by the shipped script (weights dropped after export)."""
    pytest.importorskip("onnx")
    sys.path.insert(0, str(MODELS))
    try:
        from export_onnx import export
    finally:
        sys.path.remove(str(MODELS))
    return export(tmp_path_factory.mktemp("onnx") / "resnet18.onnx")


def test_classify_every_kind(tmp_path):
    (tmp_path / "m.py").write_text("")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text("{}")
    assert classify_source("bert-base").kind == "zoo"
    assert classify_source("hf:facebook/opt-125m").target == "facebook/opt-125m"
    assert classify_source(f"{tmp_path}/m.py:build").attr == "build"
    assert classify_source("torch.nn:Linear").kind == "python"
    assert classify_source(str(tmp_path / "hf")).kind == "hf"
    assert classify_source(str(tmp_path / "hf" / "config.json")).attr == "config"
    assert classify_source("some/workload.yaml").kind == "workload"
    assert parse_value("1x3x224x224") == (1, 3, 224, 224) and parse_value("8") == 8 and parse_value("0.5") == 0.5
    # Python's int() and float() read '1_0' as 10 and '٣' as 3; a value like that stays text (the
    # input policy's numbers are ASCII digits), so the factory names it instead of running batch 10
    assert parse_value("1_0") == "1_0" and parse_value("1_0.5") == "1_0.5" and parse_value("٣") == "٣"


def test_same_network_three_sources_one_op_list(exported_onnx):
    py, _ = load_workload(PY)
    hf, _ = load_workload(HF)
    ox, _ = load_workload(str(exported_onnx), {"batch": 1})
    assert len(py.ops) == 21 and len(py.layers) == 48
    assert shapes(py) == shapes(hf) == shapes(ox) == shapes(zoo.build("resnet18", batch=1))
    # non-GEMM operators too: the same relus (fused after the convs), residual adds and pools
    assert layers(py) == layers(hf) == layers(ox)
    kinds = [o.kind for o in ox.layers]
    assert (kinds.count("relu"), kinds.count("add"), kinds.count("maxpool"), kinds.count("avgpool")) == (17, 8, 1, 1)
    # the ONNX names come back as the torch module paths
    assert [o.name for o in ox.ops] == [o.name for o in py.ops]
    # the exporter folds eval-mode batch norms into the convolutions; the tracer says it treats them so
    assert "batch norm (folded into the conv) x20" in py.description


def test_shipped_onnx_is_the_export_of_the_shipped_file():
    shipped, _ = load_workload(str(MODELS / "resnet18.onnx"), {"batch": 4})
    assert shapes(shipped) == shapes(zoo.build("resnet18", batch=4))


def test_each_source_costed_in_one_command(exported_onnx, tmp_path, capsys):
    totals = []
    for i, text in enumerate((PY, HF, str(exported_onnx))):
        out = tmp_path / f"r{i}.json"
        code, _, err = run_cli(["simulate", "-a", "sat", "-w", text, "-p", "batch=2", "-s", "2:8", "--json", out,
                                "-q"], capsys)
        assert code in (0, None), err
        doc = json.loads(out.read_text())
        assert len(doc["layers"]) == 48 and doc["total"]["macs_dense"] == 2 * 1_814_073_344
        assert doc["total"]["nongemm_layers"] == 27
        totals.append((doc["total"]["cycles"], doc["total"]["energy_pj"]))
    assert totals[0] == totals[1] == totals[2]


def test_factory_params_and_module_class(tmp_path):
    wl, src = load_workload(PY, {"num_classes": 10, "batch": 2})
    assert wl.ops[-1].N == 10 and wl.ops[-1].M == 2 and src.kind == "python"
    cnn, _ = load_workload("nmsim.workloads.ml.digits_cnn:DigitsCNN", {"input": (4, 1, 8, 8)})
    assert cnn.ops[0].kind == "conv2d" and cnn.ops[0].M == 4 * 8 * 8
    with pytest.raises(SpecError, match="unknown parameter 'num_clases'.*did you mean 'num_classes'"):
        load_workload(PY, {"num_clases": 10})


def test_factory_that_raises_is_one_line(tmp_path, capsys):
    f = tmp_path / "bad.py"
    f.write_text(textwrap.dedent("""
        def build(width=4):
            raise ValueError("width must be even")
    """))
    code, out, err = run_cli(["workloads", "show", f"{f}:build"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "build(width=4)" not in err and "bad.py:3" in err and "ValueError: width must be even" in err
    code, _, err = run_cli(["workloads", "show", f"{f}:bulid"], capsys)
    assert code == 2 and "did you mean 'build'" in err
    (tmp_path / "syntax.py").write_text("def f(:\n")
    code, _, err = run_cli(["workloads", "show", f"{tmp_path / 'syntax.py'}:f"], capsys)
    assert code == 2 and "importing it failed" in err and "SyntaxError" in err and err.count("\n") == 1


def test_hf_cache_hit_and_miss(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    code, _, err = run_cli(["workloads", "show", "hf:someone/tiny-gpt2"], capsys)
    assert code == 2 and "not in the local Hugging Face cache" in err
    assert "hf download someone/tiny-gpt2 config.json" in err and str(tmp_path) in err
    snap = tmp_path / "models--someone--tiny-gpt2" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (tmp_path / "models--someone--tiny-gpt2" / "refs").mkdir()
    (tmp_path / "models--someone--tiny-gpt2" / "refs" / "main").write_text("abc123")
    (snap / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
                                                  "n_layer": 2, "n_embd": 64, "n_head": 4, "vocab_size": 100}))
    wl, _ = load_workload("hf:someone/tiny-gpt2", {"seq_len": 16})
    kinds = [o.kind for o in wl.ops]
    assert kinds.count("attn_score") == 2 and kinds.count("attn_context") == 2
    assert wl.ops[-1].N == 100 and wl.ops[-1].M == 16         # the LM head over every token


def test_hf_config_overrides(tmp_path):
    d = tmp_path / "llama"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 50}))
    wl, _ = load_workload(str(d), {"num_hidden_layers": 1, "seq_len": 8, "batch": 2})
    assert sum(o.kind == "attn_score" for o in wl.ops) == 1
    k_proj = next(o for o in wl.ops if o.name.endswith("k_proj"))
    assert (k_proj.M, k_proj.N, k_proj.K) == (16, 32, 64)     # grouped-query: 2 kv heads x 16
    with pytest.raises(SpecError, match="unknown parameter 'hiden_size'"):
        load_workload(str(d), {"hiden_size": 8})


def _onnx_graph(tmp_path, nodes, inputs, inits=()):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor(n, TensorProto.FLOAT, s, [0.0] * (s[0] * s[1])) for n, s in inits])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_unsupported_operators_listed(tmp_path, capsys):
    from onnx import helper

    path = _onnx_graph(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
                                  helper.make_node("Hardmax", ["h"], ["a"], name="hm"),
                                  helper.make_node("ReverseSequence", ["a", "x"], ["y"], name="rev")],
                       [("x", [2, 8])], [("w", [8, 4])])
    code, _, err = run_cli(["workloads", "show", path], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unsupported ONNX operators: Hardmax x1 (e.g. hm); ReverseSequence x1 (e.g. rev)" in err


def test_onnx_symbolic_dims_and_attention(tmp_path, capsys):
    from onnx import helper

    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("Transpose", ["q"], ["kt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "q"], ["y"])]
    path = _onnx_graph(tmp_path, nodes, [("x", ["batch", "seq", 16])], [("wq", [16, 16])])
    code, _, err = run_cli(["workloads", "show", path, "-p", "batch=2"], capsys)
    assert code == 2 and "'x' dim 1 ('seq')" in err
    wl, _ = load_workload(str(path), {"batch": 2, "seq": 10})
    assert shapes(wl) == [("gemm", 20, 16, 16, 1), ("attn_score", 10, 10, 16, 2), ("attn_context", 10, 16, 10, 2)]
    wl2, _ = load_workload(str(path), {"x": (3, 5, 16)})
    assert wl2.ops[1].batch == 3 and wl2.ops[1].M == 5
    with pytest.raises(SpecError, match="-p nope: not a graph input"):
        load_workload(str(path), {"x": (3, 5, 16), "nope": 1})


def test_onnx_bad_file(tmp_path, capsys):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\x00garbage")
    code, _, err = run_cli(["workloads", "show", bad], capsys)
    assert code == 2 and "not a readable ONNX model" in err
    code, _, err = run_cli(["workloads", "show", tmp_path / "missing.onnx"], capsys)
    assert code == 2 and "ONNX file not found" in err


def test_prune_a_factory_and_refuse_onnx(tmp_path, capsys):
    f = tmp_path / "mlp.py"
    f.write_text(textwrap.dedent("""
        from torch import nn

        def mlp(width=32):
            return nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 8))
    """))
    out = tmp_path / "run"
    code, _, err = run_cli(["prune", "--model", f"{f}:mlp", "-p", "width=64", "-p", "batch=4", "--pattern", "2:4",
                            "--method", "wanda", "--calibration", "2", "--out", out], capsys)
    assert code in (0, None), err
    from nmsim.workloads import Workload

    wl = Workload.load(out)
    assert [(o.M, o.N, o.K) for o in wl.ops] == [(4, 64, 16), (4, 8, 64)]
    mask = wl.masks[wl.ops[0].name]
    assert mask.shape == (64, 16) and (mask.reshape(64, 4, 4).sum(-1) == 2).all()
    code, _, err = run_cli(["prune", "--model", MODELS / "resnet18.onnx", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "pruning needs a torch module" in err


BLOCK = '''
import torch
from torch import nn


class Block(nn.Module):
    """A post-norm transformer block written out: q/k/v/out projections, eager attention, GELU MLP."""

    def __init__(self, d=64, h=4, ff=128):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.up, self.down = nn.Linear(d, ff), nn.Linear(ff, d)
        self.act = nn.GELU()

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, self.h, d // self.h).transpose(1, 2)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / (d // self.h) ** 0.5, dim=-1)
        a = (p @ v).transpose(1, 2).reshape(b, t, d)
        x = self.norm1(x + self.o(a))
        return self.norm2(x + self.down(self.act(self.up(x))))
'''


@pytest.mark.parametrize("opset", [17, 20])
def test_transformer_block_onnx_export_gives_the_traced_layers(tmp_path, opset):
    """Attention (score, softmax, context), Linear biases split off by the exporter, layer norms,
    residual adds and GELU (its erf form before opset 20, fused after its GEMM) come back from
    the ONNX export exactly as the torch tracer records them."""
    pytest.importorskip("onnx")
    import warnings

    import torch

    (tmp_path / "block.py").write_text(BLOCK)
    sys.path.insert(0, str(tmp_path))
    try:
        from block import Block
    finally:
        sys.path.remove(str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Block().eval(), (torch.zeros(2, 16, 64),), str(tmp_path / "b.onnx"), dynamo=False,
                          opset_version=opset)
    py, _ = load_workload(f"{tmp_path / 'block.py'}:Block", {"input": (2, 16, 64)})
    ox, _ = load_workload(str(tmp_path / "b.onnx"))
    assert layers(py) == layers(ox)
    kinds = [o.kind for o in ox.layers]
    assert kinds.count("gemm") == 6 and kinds.count("layernorm") == 2 and kinds.count("add") == 2
    gelu = next(o for o in ox.layers if o.kind == "gelu")
    assert gelu.fused and (gelu.batch, gelu.rows, gelu.cols) == (2, 16, 128)
