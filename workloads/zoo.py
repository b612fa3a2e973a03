"""Model zoo: workloads built from published architecture hyper-parameters (no weights).

Every entry lowers a model's forward pass to GEMM ops (see `workloads.ops`): Linear layers are
`gemm` (M = tokens, N = out_features, K = in_features), convolutions go through `conv2d`
(im2col), attention is `attn_score` (Q.K^T) and `attn_context` (P.V) with batch = batch*heads.
Embedding lookups, norms, softmax, activations, pooling and residual adds are not ops. LLMs are
modelled as one prefill pass over `seq_len` tokens with full (unmasked) attention matmuls.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, check_number, closest, did_you_mean, parse_int

from .ops import Op, conv2d
from .workload import Workload

_NOT_OPS = "embeddings, norms, softmax, activations and residual adds are not costed"


def _gemm(name: str, M: int, N: int, K: int) -> Op:
    """A Linear layer: M tokens (rows), N out_features, K in_features."""
    return Op(name=name, kind="gemm", M=M, N=N, K=K)


def _transformer(batch: int, seq: int, layers: int, hidden: int, heads: int, ffn: int,
                 kv_heads: int | None = None, gated: bool = False) -> list[Op]:
    """`layers` transformer blocks (attention + FFN linears and matmuls) over batch x seq tokens.

    hidden, ffn: widths (elements); kv_heads < heads is grouped-query attention (k/v projections
    have N = kv_heads * head_dim); gated adds the SwiGLU gate projection.
    """
    hd, T, bh = hidden // heads, batch * seq, batch * heads
    kv = (kv_heads or heads) * hd
    ops: list[Op] = []
    for i in range(layers):
        p = f"layer{i}."
        ops += [_gemm(p + "attn.q", T, hidden, hidden), _gemm(p + "attn.k", T, kv, hidden),
                _gemm(p + "attn.v", T, kv, hidden),
                Op(p + "attn.score", "attn_score", M=seq, N=seq, K=hd, batch=bh),
                Op(p + "attn.context", "attn_context", M=seq, N=hd, K=seq, batch=bh),
                _gemm(p + "attn.out", T, hidden, hidden)]
        ops += [_gemm(p + "ffn.gate", T, ffn, hidden)] if gated else []
        ops += [_gemm(p + "ffn.up", T, ffn, hidden), _gemm(p + "ffn.down", T, hidden, ffn)]
    return ops


def _encoder(cfg: dict, batch: int, seq_len: int) -> list[Op]:
    """BERT-style encoder: transformer blocks only (pooler/task head excluded)."""
    return _transformer(batch, seq_len, **cfg)


def _decoder(cfg: dict, vocab: int, batch: int, seq_len: int) -> list[Op]:
    """Decoder LLM prefill: transformer blocks plus the LM head over every token."""
    return _transformer(batch, seq_len, **cfg) + [_gemm("lm_head", batch * seq_len, vocab, cfg["hidden"])]


def _vit_b16(batch: int, image_size: int) -> list[Op]:
    """ViT-B/16: 16x16/16 patch-embedding conv, 12 blocks over patches + CLS, 1000-class head."""
    if image_size % 16:
        raise SpecError(f"zoo model 'vit-b16': image_size must be a multiple of the 16-pixel patch "
                        f"(got {image_size}; e.g. 224)")
    tokens = (image_size // 16) ** 2 + 1
    return ([conv2d("patch_embed", batch, image_size, 3, 768, 16, stride=16, padding=0)]
            + _transformer(batch, tokens, layers=12, hidden=768, heads=12, ffn=3072)
            + [_gemm("head", batch, 1000, 768)])


def _resnet(batch: int, image_size: int, blocks: tuple[int, ...], bottleneck: bool) -> list[Op]:
    """torchvision ResNet, names as torchvision: bottleneck blocks (1x1, 3x3, 1x1 x4; v1.5, stride
    on the 3x3) or basic blocks (3x3, 3x3); a 1x1 downsample where the shape changes."""
    ops = [conv2d("conv1", batch, image_size, 3, 64, 7, stride=2, padding=3)]
    hw = (ops[0].conv.out_hw[0] + 2 * 1 - 3) // 2 + 1            # maxpool 3x3 stride 2 pad 1
    cin = 64
    for stage, (width, n, stride) in enumerate(zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)), 1):
        for b in range(n):
            p, s, cout = f"layer{stage}.{b}.", stride if b == 0 else 1, width * (4 if bottleneck else 1)
            if bottleneck:
                c2 = conv2d(p + "conv2", batch, hw, width, width, 3, stride=s, padding=1)
                ops += [conv2d(p + "conv1", batch, hw, cin, width, 1, padding=0), c2,
                        conv2d(p + "conv3", batch, c2.conv.out_hw, width, cout, 1, padding=0)]
            else:
                c2 = conv2d(p + "conv1", batch, hw, cin, width, 3, stride=s, padding=1)
                ops += [c2, conv2d(p + "conv2", batch, c2.conv.out_hw, width, width, 3, padding=1)]
            if s != 1 or cin != cout:
                ops.append(conv2d(p + "downsample", batch, hw, cin, cout, 1, stride=s, padding=0))
            cin, hw = cout, c2.conv.out_hw[0]
    return ops + [_gemm("fc", batch, 1000, cin)]


# VGG-16 (configuration D), Simonyan and Zisserman 2015, Table 1: conv widths, "M" = 2x2 max pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16(batch: int, image_size: int) -> list[Op]:
    """torchvision vgg16 (no batch norm): 13 3x3 convs named by their `features.i` index, the
    7x7 adaptive average pool, then classifier.0/3/6 (25088 -> 4096 -> 4096 -> 1000)."""
    ops, hw, cin, idx = [], image_size, 3, 0
    for c in _VGG16:
        if c == "M":
            hw, idx = hw // 2, idx + 1
            continue
        ops.append(conv2d(f"features.{idx}", batch, hw, cin, c, 3, padding=1))
        cin, idx = c, idx + 2                                   # conv + ReLU
    return ops + [_gemm("classifier.0", batch, 4096, 512 * 7 * 7), _gemm("classifier.3", batch, 4096, 4096),
                  _gemm("classifier.6", batch, 1000, 4096)]


# MobileNetV2 inverted-residual settings (expansion t, out channels c, repeats n, stride s),
# Sandler et al. 2018, Table 2; identical to torchvision's mobilenet_v2 at width 1.0.
_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _mobilenetv2(batch: int, image_size: int) -> list[Op]:
    """torchvision MobileNetV2 width 1.0: depthwise 3x3 convs use groups = channels."""
    ops = [conv2d("features.0", batch, image_size, 3, 32, 3, stride=2, padding=1)]
    hw, cin, idx = ops[0].conv.out_hw[0], 32, 1
    for t, c, n, s in _MBV2:
        for i in range(n):
            p, hidden = f"features.{idx}.", cin * t
            if t != 1:
                ops.append(conv2d(p + "expand", batch, hw, cin, hidden, 1, padding=0))
            dw = conv2d(p + "dw", batch, hw, hidden, hidden, 3, stride=s if i == 0 else 1, padding=1, groups=hidden)
            hw = dw.conv.out_hw[0]
            ops += [dw, conv2d(p + "project", batch, hw, hidden, c, 1, padding=0)]
            cin, idx = c, idx + 1
    return ops + [conv2d(f"features.{idx}", batch, hw, cin, 1280, 1, padding=0),
                  _gemm("classifier", batch, 1000, 1280)]


@dataclass(frozen=True)
class _Entry:
    params: dict[str, int]
    about: str                        # what it is + source (one line)
    notes: str                        # what is and is not modelled
    ops: Callable[..., list[Op]]


_LM_NOTE = ("prefill of seq_len tokens incl. lm_head; attention matmuls are full seq x seq (causal "
            "mask not exploited); " + _NOT_OPS)
_CNN_NOTE = ("convs lowered by im2col, fc with M = batch; "
             "batch norm, activations, pooling and residual adds are not costed")

_ZOO: dict[str, _Entry] = {
    # Devlin et al. 2018, "BERT: Pre-training of Deep Bidirectional Transformers", Sec. 3
    # (BERT_BASE L=12, H=768, A=12, FFN 4H)
    "bert-base": _Entry({"batch": 8, "seq_len": 128}, "BERT-base encoder, 110M params (Devlin et al. 2018)",
                        "12 encoder blocks; pooler and task heads excluded; " + _NOT_OPS,
                        partial(_encoder, dict(layers=12, hidden=768, heads=12, ffn=3072))),
    # Devlin et al. 2018, Sec. 3 (BERT_LARGE L=24, H=1024, A=16, FFN 4H)
    "bert-large": _Entry({"batch": 8, "seq_len": 128}, "BERT-large encoder, 340M params (Devlin et al. 2018)",
                         "24 encoder blocks; pooler and task heads excluded; " + _NOT_OPS,
                         partial(_encoder, dict(layers=24, hidden=1024, heads=16, ffn=4096))),
    # Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"; HF config `gpt2`
    # (n_layer 12, n_embd 768, n_head 12, vocab 50257, n_ctx 1024); lm_head is tied to the token embedding
    "gpt2": _Entry({"batch": 1, "seq_len": 1024}, "GPT-2 small, 124M params (Radford et al. 2019, HF gpt2)",
                   _LM_NOTE, partial(_decoder, dict(layers=12, hidden=768, heads=12, ffn=3072), 50257)),
    # Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models"; HF meta-llama/Llama-2-7b-hf
    # config (32 layers, hidden 4096, 32 heads, SwiGLU intermediate 11008, vocab 32000)
    "llama2-7b": _Entry({"batch": 1, "seq_len": 2048}, "Llama-2-7B, SwiGLU (Touvron et al. 2023, HF Llama-2-7b-hf)",
                        _LM_NOTE, partial(_decoder, dict(layers=32, hidden=4096, heads=32, ffn=11008, gated=True),
                                          32000)),
    # Meta Llama 3 model card / Dubey et al. 2024, "The Llama 3 Herd of Models", Table 3; HF Meta-Llama-3-8B config
    # (32 layers, 4096, 32 query heads, 8 KV heads (GQA), SwiGLU 14336, vocab 128256)
    "llama3-8b": _Entry({"batch": 1, "seq_len": 2048}, "Llama-3-8B, GQA 32q/8kv heads, SwiGLU (Meta model card 2024)",
                        _LM_NOTE, partial(_decoder, dict(layers=32, hidden=4096, heads=32, ffn=14336, kv_heads=8,
                                                         gated=True), 128256)),
    # Zhang et al. 2022, "OPT: Open Pre-trained Transformer Language Models", Table 1 (13B: 40 layers, 40 heads,
    # d_model 5120); HF facebook/opt-13b config (ffn_dim 20480, vocab 50272)
    "opt-13b": _Entry({"batch": 1, "seq_len": 2048}, "OPT-13B (Zhang et al. 2022, HF facebook/opt-13b)",
                      _LM_NOTE, partial(_decoder, dict(layers=40, hidden=5120, heads=40, ffn=20480), 50272)),
    # Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", Table 1 (ViT-Base: 12 layers, 768, MLP 3072, 12 heads)
    "vit-b16": _Entry({"batch": 1, "image_size": 224},
                      "ViT-B/16 image classifier, 86M params (Dosovitskiy et al. 2021)",
                      "patch embedding as a 16x16 stride-16 conv, (image_size/16)^2 + CLS tokens, 1000-class head; "
                      + _NOT_OPS, _vit_b16),
    # He et al. 2016, "Deep Residual Learning for Image Recognition", Table 1; v1.5 as in torchvision resnet50
    "resnet50": _Entry({"batch": 1, "image_size": 224}, "ResNet-50 v1.5, 25.6M params (He et al. 2016, torchvision)",
                       _CNN_NOTE, partial(_resnet, blocks=(3, 4, 6, 3), bottleneck=True)),
    # Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", Table 2; torchvision mobilenet_v2
    "mobilenetv2": _Entry({"batch": 1, "image_size": 224}, "MobileNetV2 width 1.0, 3.5M params (Sandler et al. 2018, "
                          "torchvision)", _CNN_NOTE, _mobilenetv2),
    # He et al. 2016, Table 1 (18-layer: basic blocks [2, 2, 2, 2]); torchvision resnet18
    "resnet18": _Entry({"batch": 1, "image_size": 224}, "ResNet-18, 11.7M params (He et al. 2016, torchvision)",
                       _CNN_NOTE, partial(_resnet, blocks=(2, 2, 2, 2), bottleneck=False)),
    # Simonyan and Zisserman 2015, "Very Deep Convolutional Networks", Table 1 configuration D; torchvision vgg16
    "vgg16": _Entry({"batch": 1, "image_size": 224}, "VGG-16, 138M params (Simonyan and Zisserman 2015, torchvision)",
                    _CNN_NOTE + "; the classifier sees the 7x7 adaptive pool at any image_size", _vgg16),
}

ZOO_NAMES: tuple[str, ...] = tuple(_ZOO)


def _entry(name: str) -> _Entry:
    if name not in _ZOO:
        raise SpecError(f"unknown zoo model '{name}'" + did_you_mean(name, ZOO_NAMES)
                        + "; `nmsim workloads` lists them")
    return _ZOO[name]


def zoo_names() -> list[str]:
    """Names of the zoo models, in catalogue order."""
    return list(ZOO_NAMES)


def zoo_params(name: str) -> dict[str, int]:
    """Parameter names of model `name` and their defaults (batch in samples, seq_len in tokens,
    image_size in pixels per side)."""
    return dict(_entry(name).params)


def describe(name: str) -> str:
    """One line: what model `name` is and where its hyper-parameters come from."""
    return _entry(name).about


def _int(model: str, key: str, value: object) -> int:
    """`value` as a positive int up to 2^31 (ops' dims bound it further); ASCII digit strings (from
    a command line) are accepted."""
    what = f"zoo model '{model}': parameter '{key}'"
    if isinstance(value, str):
        return parse_int(value, what, 1, MAX_DIM, DIM_WHY)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SpecError(f"{what} must be a positive integer (got {value!r})")
    return check_number(value, what, 1, MAX_DIM, DIM_WHY, integer=True)


def build(name: str, **params: object) -> Workload:
    """Build model `name` as a Workload; `params` override zoo_params(name) (all positive ints:
    batch in samples, seq_len in tokens, image_size in pixels per side)."""
    entry = _entry(name)
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        hit = closest(unknown[0], entry.params)
        raise SpecError(f"zoo model '{name}': unknown parameter '{unknown[0]}'"
                        + (f" (did you mean '{hit}'?)" if hit else "") + f"; allowed: {', '.join(entry.params)}")
    values = {k: _int(name, k, params.get(k, d)) for k, d in entry.params.items()}
    label = f"{name}({','.join(f'{k}={v}' for k, v in values.items())})"
    return Workload(name=label, ops=entry.ops(**values), description=f"{entry.about}; {entry.notes}")
