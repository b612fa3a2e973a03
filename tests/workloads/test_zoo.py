"""Model zoo: parameter and MAC counts checked against published figures, shapes, files, errors."""
from __future__ import annotations

import pytest

from nmsim.specfile import SpecError
from nmsim.workloads import Workload
from nmsim.workloads.zoo import ZOO_NAMES, build, describe, zoo_names, zoo_params


def weights(w: Workload) -> int:
    """Weight elements of all ops that have a weight operand (gemm, conv2d)."""
    return sum(op.weight_elements for op in w.ops if op.has_weights)


def bn_params(w: Workload) -> int:
    """BatchNorm gamma+beta of a torchvision CNN: one BN after every conv, 2 per output channel."""
    return sum(2 * op.conv.out_ch for op in w.ops if op.conv is not None)


def test_catalogue():
    assert ZOO_NAMES == ("bert-base", "bert-large", "gpt2", "llama2-7b", "llama3-8b", "opt-13b",
                         "vit-b16", "resnet50", "mobilenetv2", "resnet18", "alexnet", "vgg16")
    assert zoo_names() == list(ZOO_NAMES)
    assert zoo_params("bert-base") == {"batch": 8, "seq_len": 128}
    assert zoo_params("gpt2") == {"batch": 1, "seq_len": 1024}
    assert zoo_params("llama3-8b") == {"batch": 1, "seq_len": 2048}
    assert zoo_params("resnet50") == {"batch": 1, "image_size": 224}
    for name in ZOO_NAMES:
        assert describe(name) and "\n" not in describe(name)


# Linear/conv weights excluding embeddings, norms and biases (within 2%), from first principles.
@pytest.mark.parametrize("name, expected", [
    ("bert-base", 12 * (4 * 768**2 + 2 * 768 * 3072)),                              # 84.9M
    ("bert-large", 24 * (4 * 1024**2 + 2 * 1024 * 4096)),                           # 302M
    ("gpt2", 12 * (4 * 768**2 + 2 * 768 * 3072) + 768 * 50257),                     # 123.5M
    ("llama2-7b", 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 4096 * 32000),            # 6.61B
    ("llama3-8b", 32 * (2 * 4096**2 + 2 * 4096 * 1024 + 3 * 4096 * 14336) + 4096 * 128256),  # 6.98B + 0.525B
    ("opt-13b", 12.58e9 + 5120 * 50272),                                            # 12.6B + lm_head
    ("vit-b16", 86e6),
    ("resnet50", 25.50e6),
    ("mobilenetv2", 3.47e6),
    ("resnet18", 11.68e6),
    ("vgg16", 138.3e6),
])
def test_weight_counts(name, expected):
    assert weights(build(name)) == pytest.approx(expected, rel=0.02)


# Exact published totals: zoo weights + the parameters the zoo does not model as ops.
def test_exact_totals_cnn():
    # torchvision: resnet50 25,557,032 and mobilenet_v2 3,504,872 params (BN gamma/beta + fc bias)
    r = build("resnet50")
    assert weights(r) + bn_params(r) + 1000 == 25_557_032
    m = build("mobilenetv2")
    assert weights(m) + bn_params(m) + 1000 == 3_504_872
    # torchvision resnet18 11,689,512; vgg16 138,357,544 (no batch norm: conv and fc biases instead)
    r18 = build("resnet18")
    assert weights(r18) + bn_params(r18) + 1000 == 11_689_512
    v = build("vgg16")
    assert weights(v) + sum(op.N * op.batch for op in v.ops) == 138_357_544
    # the grouped (two-GPU) AlexNet: 60,965,224 params with biases, 724,406,816 MACs per 227 x 227 image
    # (the figures every AlexNet-with-groups count gives, e.g. Caffe's bvlc_alexnet); its five convs
    # are 665,784,864 MACs, the Eyeriss paper's 2.66 G for a batch of 4 (JSSC 2017, Table V)
    a = build("alexnet")
    assert weights(a) + sum(op.N * op.batch for op in a.ops) == 60_965_224
    assert sum(op.macs for op in a.ops) == 724_406_816
    assert sum(op.macs for op in a.ops if op.kind == "conv2d") == 665_784_864


def test_exact_totals_transformers():
    # HF bert-base-uncased 109,482,240: + biases, LayerNorms, word/pos/type embeddings, pooler
    b = weights(build("bert-base")) + 12 * (4 * 768 + 3072 + 768) + 12 * 2 * 2 * 768 + 2 * 768 \
        + (30522 + 512 + 2) * 768 + 768 * 768 + 768
    assert b == 109_482_240
    # HF gpt2 124,439,808: lm_head tied to wte (counted once, as lm_head) + wpe, biases, LayerNorms
    g = weights(build("gpt2")) + 1024 * 768 + 12 * (4 * 768 + 3072 + 768) + (12 * 2 + 1) * 2 * 768
    assert g == 124_439_808
    # HF Llama-2-7b-hf 6,738,415,616 and Meta-Llama-3-8B 8,030,261,248: + untied embedding, RMSNorms
    assert weights(build("llama2-7b")) + 32000 * 4096 + 65 * 4096 == 6_738_415_616
    assert weights(build("llama3-8b")) + 128256 * 4096 + 65 * 4096 == 8_030_261_248
    # timm vit_base_patch16_224 86,567,656: + biases (patch, 12 blocks, head), LayerNorms, CLS, pos-embed
    v = weights(build("vit-b16")) + 768 + 12 * (4 * 768 + 3072 + 768) + 1000 + 25 * 2 * 768 + 768 + 197 * 768
    assert v == 86_567_656


def test_mac_counts():
    # torchvision model cards: resnet50 4.09 GFLOPS, mobilenet_v2 0.30 GFLOPS, vit_b_16 17.56 GFLOPS
    # (their "FLOPS" are multiply-accumulates)
    assert 4.0e9 <= build("resnet50").macs <= 4.2e9
    assert 290e6 <= build("mobilenetv2").macs <= 320e6
    assert 16.8e9 <= build("vit-b16").macs <= 18.0e9
    # torchvision: resnet18 1.81 GFLOPS, vgg16 15.47 GFLOPS (multiply-accumulates)
    assert 1.78e9 <= build("resnet18").macs <= 1.84e9
    assert 15.3e9 <= build("vgg16").macs <= 15.6e9
    # an LLM prefill is ~ params * tokens MACs plus attention: 2 * layers * seq^2 * hidden
    w = build("llama2-7b", seq_len=512)
    assert w.macs == weights(w) * 512 + 2 * 32 * 512**2 * 4096


def test_bert_shapes():
    w = build("bert-base", batch=8, seq_len=128)
    assert w.name == "bert-base(batch=8,seq_len=128)"
    ops = {op.name: op for op in w.ops}
    assert any(op.M == 1024 for op in w.ops)
    up = ops["layer0.ffn.up"]
    assert (up.kind, up.M, up.N, up.K) == ("gemm", 1024, 3072, 768)
    assert (ops["layer0.ffn.down"].N, ops["layer0.ffn.down"].K) == (768, 3072)
    s, c = ops["layer11.attn.score"], ops["layer11.attn.context"]
    assert (s.kind, s.M, s.N, s.K, s.batch) == ("attn_score", 128, 128, 64, 8 * 12)
    assert (c.kind, c.M, c.N, c.K, c.batch) == ("attn_context", 128, 64, 128, 8 * 12)
    assert "layer12.attn.q" not in ops and "lm_head" not in ops


def test_gqa_swiglu_and_heads():
    ops = {op.name: op for op in build("llama3-8b", seq_len=16).ops}
    assert ops["layer0.attn.q"].N == 4096 and ops["layer0.attn.k"].N == ops["layer0.attn.v"].N == 8 * 128
    assert ops["layer0.attn.score"].batch == 32 and ops["layer0.attn.score"].K == 128
    assert ops["layer0.ffn.gate"].N == ops["layer0.ffn.up"].N == 14336
    assert (ops["lm_head"].M, ops["lm_head"].N, ops["lm_head"].K) == (16, 128256, 4096)
    assert "layer0.ffn.gate" not in {op.name for op in build("opt-13b", seq_len=8).ops}


def test_vision_shapes():
    ops = {op.name: op for op in build("vit-b16", batch=2).ops}
    assert (ops["patch_embed"].M, ops["patch_embed"].N, ops["patch_embed"].K) == (2 * 196, 768, 3 * 16 * 16)
    assert ops["layer0.attn.q"].M == 2 * 197 and ops["layer0.attn.score"].M == 197
    assert (ops["head"].M, ops["head"].N) == (2, 1000)
    assert {o.name: o for o in build("vit-b16", image_size=384).ops}["layer0.attn.score"].M == 24 * 24 + 1
    r = {op.name: op for op in build("resnet50", batch=4).ops}
    assert r["conv1"].conv.out_hw == (112, 112)
    assert r["layer1.0.conv1"].conv.in_h == 56                 # after the 3x3/2 max pool
    assert r["layer2.0.conv2"].conv.out_hw == (28, 28)         # v1.5: stride on the 3x3 conv
    assert r["layer2.0.conv1"].conv.stride == 1 and r["layer2.0.downsample"].conv.stride == 2
    assert r["layer4.2.conv3"].conv.out_hw == (7, 7)
    assert (r["fc"].kind, r["fc"].M, r["fc"].N, r["fc"].K) == ("gemm", 4, 1000, 2048)
    m = {op.name: op for op in build("mobilenetv2").ops}
    dw = m["features.2.dw"]                                    # 16 -> 96 channels, stride 2
    assert (dw.batch, dw.N, dw.K, dw.conv.out_hw) == (96, 1, 9, (56, 56))
    assert m["features.18"].conv.out_hw == (7, 7) and m["features.18"].N == 1280
    assert "features.1.expand" not in m                        # t = 1 block has no expansion


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_builds_and_round_trips(name, tmp_path):
    w = build(name)
    assert w.name == f"{name}({','.join(f'{k}={v}' for k, v in zoo_params(name).items())})"
    assert w.description and w.ops
    back = Workload.load(w.save(tmp_path / f"{name}.yaml"))
    assert back.name == w.name and back.description == w.description
    assert back.ops == w.ops
    assert [o.conv for o in back.ops] == [o.conv for o in w.ops]


def test_batch_scales_linearly():
    assert build("bert-base", batch=2).macs == 2 * build("bert-base", batch=1).macs
    assert build("resnet50", batch=3).macs == 3 * build("resnet50").macs


def test_errors():
    with pytest.raises(SpecError, match="unknown zoo model 'bert-bas'.*'bert-base'.*nmsim workloads"):
        build("bert-bas")
    with pytest.raises(SpecError, match="bert-base.*'seqlen'.*seq_len"):
        build("bert-base", seqlen=64)
    with pytest.raises(SpecError, match="resnet50.*'seq_len'.*batch, image_size"):
        build("resnet50", seq_len=64)
    with pytest.raises(SpecError, match="'batch'.*positive integer"):
        build("bert-base", batch=0)
    with pytest.raises(SpecError, match="'seq_len'"):
        build("gpt2", seq_len=12.5)
    with pytest.raises(SpecError, match="image_size.*16"):
        build("vit-b16", image_size=200)
    with pytest.raises(SpecError, match="unknown zoo model"):
        zoo_params("resnet")
