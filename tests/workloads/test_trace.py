"""torch tracing (workloads/ml/trace.py): traced op lists agree with the zoo's hand-written ones."""
from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nmsim.specfile import SpecError  # noqa: E402
from nmsim.workloads import NonGemmOp, Workload, zoo  # noqa: E402
from nmsim.workloads.workload import of_type  # noqa: E402
from nmsim.workloads.ml.trace import trace_module  # noqa: E402


def shapes(ops):
    return [(o.kind, o.M, o.N, o.K, o.batch) for o in ops]


def nongemm_of(traced):
    return of_type(traced.layers, NonGemmOp)


def nongemm_shape(o):
    return (o.kind, o.batch, o.rows, o.cols, o.fused)


@pytest.mark.parametrize("name", zoo.ZOO_NAMES)
def test_every_zoo_model_traces_to_its_zoo_ops_quickly(name):
    from nmsim.workloads.ml import torch_zoo

    t0 = time.perf_counter()
    traced = trace_module(torch_zoo.build_module(name, "meta"), torch_zoo.example_inputs(name, "meta"))
    seconds = time.perf_counter() - t0
    want = zoo.build(name)
    assert traced.ops == want.ops                              # names, kinds, M, N, K, batch
    assert [o.conv for o in traced.ops] == [o.conv for o in want.ops]
    # non-GEMM ops too, in model order: kind, rows, cols, batch, window, input plane, fused
    assert traced.layers == want.layers
    assert seconds < 5.0, f"tracing {name} took {seconds:.2f} s (goal < 5 s)"
    kinds = {o.kind for o in nongemm_of(traced)}
    assert kinds & {"layernorm", "rmsnorm"} or name in ("vgg16", "resnet18", "resnet50", "mobilenetv2", "alexnet")
    assert "softmax" in kinds or "maxpool" in kinds or "avgpool" in kinds


def test_zoo_params_reach_the_traced_shapes():
    from nmsim.workloads.ml import torch_zoo

    traced = trace_module(torch_zoo.build_module("gpt2", "meta"),
                          torch_zoo.example_inputs("gpt2", "meta", batch=2, seq_len=64))
    assert traced.ops == zoo.build("gpt2", batch=2, seq_len=64).ops


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_huggingface_bert_matches_the_zoo_encoder(impl):
    """An independent BERT implementation (transformers' BertModel, random weights) traces to
    the GEMM shapes of the zoo's BERT definition for the same hyper-parameters, whether its
    attention runs through SDPA or through explicit matmul + softmax."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.BertConfig(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, intermediate_size=256,
                                  vocab_size=100, attn_implementation=impl)
    model = transformers.BertModel(cfg, add_pooling_layer=False).eval()
    ids = torch.randint(0, 100, (2, 16))
    traced = trace_module(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
    want = Workload("bert", zoo._encoder(dict(layers=2, hidden=64, heads=4, ffn=256), 2, 16))
    assert shapes(traced.ops) == shapes(want.ops)
    assert traced.ops[0].name == "encoder.layer.0.attention.self.query"
    assert traced.ops[3].name == "encoder.layer.0.attention.self.score"
    # non-GEMM ops of an independent implementation: the zoo's kinds, shapes and fusion, in order;
    # eager attention may add the attention mask to the scores (an add the zoo does not count;
    # transformers drops an all-ones mask in some versions)
    got = [nongemm_shape(o) for o in nongemm_of(traced)]
    mask_adds = [g for g in got if g[0] == "add" and g[1:4] == (2 * 4, 16, 16)]
    assert len(mask_adds) in ((0, 2) if impl == "eager" else (0,))
    got = [g for g in got if g not in mask_adds]
    assert got == [nongemm_shape(o) for o in want.nongemm]
    assert sorted({o.kind for o in nongemm_of(traced)}) == ["add", "embedding", "gelu", "layernorm", "softmax"]
    assert [o.name for o in nongemm_of(traced)][:3] == ["embeddings.word_embeddings", "embeddings.token_type_embeddings",
                                                    "embeddings.add"]


def test_multihead_attention_module():
    layer = nn.TransformerEncoderLayer(64, 4, 256, batch_first=True).eval()
    traced = trace_module(layer, torch.randn(2, 16, 64))
    assert [(o.name, o.kind) for o in traced.ops] == [
        ("self_attn.in_proj_q", "gemm"), ("self_attn.in_proj_k", "gemm"), ("self_attn.in_proj_v", "gemm"),
        ("self_attn.score", "attn_score"), ("self_attn.context", "attn_context"), ("self_attn.out_proj", "gemm"),
        ("linear1", "gemm"), ("linear2", "gemm")]
    assert shapes(traced.ops[3:5]) == [("attn_score", 16, 16, 16, 8), ("attn_context", 16, 16, 16, 8)]


class _Odd(nn.Module):
    """Non-square conv, reused Linear, a weight matmul and a grouped conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, (3, 5), stride=(1, 2), padding=(1, 2))
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = nn.Linear(8, 8)
        self.proj = nn.Parameter(torch.randn(8, 4))

    def forward(self, x):
        y = self.dw(self.conv(x)).mean((2, 3))
        return self.fc(self.fc(y)) @ self.proj


def test_conv_variants_reuse_and_weight_matmul():
    traced = trace_module(_Odd(), torch.randn(2, 3, 10, 12))
    ops = {o.name: o for o in traced.ops}
    conv = ops["conv"]                      # out 10 x 6; K = 3*3*5
    assert (conv.kind, conv.M, conv.N, conv.K, conv.batch, conv.conv) == ("conv2d", 2 * 10 * 6, 8, 45, 1, None)
    dw = ops["dw"]
    assert (dw.M, dw.N, dw.K, dw.batch) == (2 * 10 * 6, 1, 9, 8) and dw.conv is not None
    assert "fc" in ops and "fc.call1" in ops            # a module run twice: unique op names
    assert traced.weight_of["fc"] == traced.weight_of["fc.call1"] == "fc"
    assert (ops["proj"].kind, ops["proj"].M, ops["proj"].N, ops["proj"].K) == ("gemm", 2, 4, 8)


def test_workload_gets_masks_in_op_layout():
    model = _Odd()
    traced = trace_module(model, torch.randn(1, 3, 10, 12))
    masks = {"conv": torch.rand(8, 3, 3, 5) > 0.5, "dw": torch.rand(8, 1, 3, 3) > 0.5, "fc": torch.rand(8, 8) > 0.5}
    wl = traced.workload("odd", module_masks=masks)
    assert wl.masks["conv"].shape == (8, 45)
    assert np.array_equal(wl.masks["conv"], masks["conv"].reshape(8, 45).numpy())
    assert wl.masks["dw"].shape == (8, 1, 9)                  # [groups, N, K]
    assert np.array_equal(wl.masks["fc.call1"], wl.masks["fc"])
    assert "traced from torch" in wl.description


def test_forward_failure_is_one_line_spec_error():
    with pytest.raises(SpecError, match=r"forward failed on the given inputs: RuntimeError"):
        trace_module(nn.Linear(4, 4), torch.randn(2, 5))
    with pytest.raises(SpecError, match="no Linear, Conv2d or matmul"):
        trace_module(nn.ReLU(), torch.randn(2, 5))
