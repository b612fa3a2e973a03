"""Model zoo: workloads built from published architecture hyper-parameters (no weights).

Every entry lowers a model's forward pass to ops in model order (see `workloads.ops` and
`workloads.nongemm`): Linear layers are `gemm` (M = tokens, N = out_features, K = in_features),
convolutions go through `conv2d` (im2col), attention is `attn_score` (Q.K^T) and `attn_context`
(P.V) with batch = batch*heads; embeddings, norms, softmax, activations, residual adds and
pooling are non-GEMM ops with their element and operation counts. Batch norm is folded into the
convolution before it (inference), dropout is the identity; attention-mask adds, the 1/sqrt(d)
score scale and Llama's rotary position embeddings are not counted (docs/MODEL.md 11). An
activation that consumes a GEMM's output is `fused` into that GEMM's epilogue. LLMs are
modelled as one prefill pass over `seq_len` tokens with full (unmasked) attention matmuls.
The torch modules of workloads/ml/torch_zoo.py trace to exactly these ops (names included).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from nmsim.problem import DIM_WHY, MAX_DIM
from nmsim.specfile import SpecError, check_number, closest, did_you_mean, parse_int

from .nongemm import NonGemmOp
from .ops import Op, conv2d
from .workload import AnyOp, Workload

_NOT_OPS = ("attention-mask adds, the score scale and rotary embeddings are not counted; dropout is the identity "
            "(docs/MODEL.md 11)")


def _gemm(name: str, M: int, N: int, K: int) -> Op:
    """A Linear layer: M tokens (rows), N out_features, K in_features."""
    return Op(name=name, kind="gemm", M=M, N=N, K=K)


def _ng(name: str, kind: str, batch: int, rows: int, cols: int, **kw) -> NonGemmOp:
    """A non-GEMM op over a `batch x rows x cols` output (workloads.nongemm.tensor_layout)."""
    return NonGemmOp(name=name, kind=kind, rows=rows, cols=cols, batch=batch, **kw)


@dataclass(frozen=True)
class _Arch:
    """What differs between the zoo's transformers besides their widths: norm kind and placement,
    FFN activation and gating, embedding tables, final norm."""

    norm: str = "layernorm"
    pre_norm: bool = True
    act: str = "gelu"
    gated: bool = False
    positions: bool = True       # a learned position-embedding table (BERT, GPT-2, OPT)
    token_types: bool = False    # BERT's segment embedding
    final_norm: bool = True      # pre-norm models normalize the last block's output


def _block(p: str, B: int, S: int, hidden: int, heads: int, ffn: int, kv: int, a: _Arch) -> list[AnyOp]:
    """One transformer block over B x S tokens, in the order torch_zoo's `_Block` runs it."""
    hd, T = hidden // heads, B * S
    attn: list[AnyOp] = [
        _gemm(p + "attn.q", T, hidden, hidden), _gemm(p + "attn.k", T, kv, hidden), _gemm(p + "attn.v", T, kv, hidden),
        Op(p + "attn.score", "attn_score", M=S, N=S, K=hd, batch=B * heads),
        _ng(p + "attn.softmax", "softmax", B * heads, S, S),
        Op(p + "attn.context", "attn_context", M=S, N=hd, K=S, batch=B * heads),
        _gemm(p + "attn.out", T, hidden, hidden)]
    if a.gated:
        mlp = [_gemm(p + "ffn.gate", T, ffn, hidden), _ng(p + f"ffn.{a.act}", a.act, B, S, ffn, fused=True),
               _gemm(p + "ffn.up", T, ffn, hidden), _ng(p + "ffn.mul", "mul", B, S, ffn)]
    else:
        mlp = [_gemm(p + "ffn.up", T, ffn, hidden), _ng(p + f"ffn.{a.act}", a.act, B, S, ffn, fused=True)]
    mlp.append(_gemm(p + "ffn.down", T, hidden, ffn))
    norm1, norm2 = _ng(p + "norm1", a.norm, B, S, hidden), _ng(p + "norm2", a.norm, B, S, hidden)
    add1, add2 = _ng(p + "res1", "add", B, S, hidden), _ng(p + "res2", "add", B, S, hidden)
    if a.pre_norm:
        return [norm1, *attn, add1, norm2, *mlp, add2]
    return [*attn, add1, norm1, *mlp, add2, norm2]


def _transformer(batch: int, seq: int, layers: int, hidden: int, heads: int, ffn: int,
                 kv_heads: int | None = None, arch: _Arch = _Arch()) -> list[AnyOp]:
    """Embeddings and `layers` transformer blocks over batch x seq tokens (+ the final norm).

    hidden, ffn: widths (elements); kv_heads < heads is grouped-query attention (k/v projections
    have N = kv_heads * head_dim); `arch` the norm, activation and embedding choices.
    """
    kv = (kv_heads or heads) * (hidden // heads)
    ops: list[AnyOp] = [_ng("embed", "embedding", batch, seq, hidden)]
    if arch.token_types:
        ops += [_ng("type_embed", "embedding", batch, seq, hidden), _ng("type_add", "add", batch, seq, hidden)]
    if arch.positions:
        ops += [_ng("pos_embed", "embedding", 1, seq, hidden), _ng("pos_add", "add", batch, seq, hidden)]
    if not arch.pre_norm:
        ops.append(_ng("embed_norm", arch.norm, batch, seq, hidden))
    for i in range(layers):
        ops += _block(f"layer{i}.", batch, seq, hidden, heads, ffn, kv, arch)
    return ops + ([_ng("norm", arch.norm, batch, seq, hidden)] if arch.final_norm else [])


_BERT = _Arch(pre_norm=False, token_types=True, final_norm=False)
_GPT2 = _Arch()
_OPT = _Arch(act="relu")
_LLAMA = _Arch(norm="rmsnorm", act="silu", gated=True, positions=False)


def _encoder(cfg: dict, batch: int, seq_len: int) -> list[AnyOp]:
    """BERT-style encoder: embeddings and post-norm blocks (pooler/task head excluded)."""
    return _transformer(batch, seq_len, **{"arch": _BERT, **cfg})


def _decoder(cfg: dict, vocab: int, batch: int, seq_len: int) -> list[AnyOp]:
    """Decoder LLM prefill: embeddings, pre-norm blocks, final norm and the LM head over every token."""
    return _transformer(batch, seq_len, **cfg) + [_gemm("lm_head", batch * seq_len, vocab, cfg["hidden"])]


def _vit_b16(batch: int, image_size: int) -> list[AnyOp]:
    """ViT-B/16: 16x16/16 patch-embedding conv, CLS token, position add, 12 pre-norm blocks over
    patches + CLS, final norm over every token, 1000-class head on the CLS token."""
    if image_size % 16:
        raise SpecError(f"zoo model 'vit-b16': image_size must be a multiple of the 16-pixel patch "
                        f"(got {image_size}; e.g. 224)")
    tokens = (image_size // 16) ** 2 + 1
    blocks = _transformer(batch, tokens, layers=12, hidden=768, heads=12, ffn=3072,
                          arch=_Arch(positions=False))[1:]          # no token-embedding gather
    return ([conv2d("patch_embed", batch, image_size, 3, 768, 16, stride=16, padding=0),
             _ng("pos_add", "add", batch, tokens, 768)] + blocks + [_gemm("head", batch, 1000, 768)])


def _conv_act(name: str, batch: int, in_hw, cin: int, cout: int, kernel: int, act: str | None = "relu",
              **kw) -> list[AnyOp]:
    """A conv (batch norm folded in) and its fused activation `<name>.act`, as torch_zoo's `_ConvBN`."""
    c = conv2d(name, batch, in_hw, cin, cout, kernel, **kw)
    if act is None:
        return [c]
    oh, ow = c.conv.out_hw
    return [c, _ng(name + ".act", act, batch * cout, oh, ow, fused=True)]


def _pool(name: str, kind: str, batch: int, ch: int, in_hw: int, out_hw: int, window: int) -> NonGemmOp:
    """A 2-D pool of `ch` planes from in_hw^2 to out_hw^2 pixels, `window` inputs per output."""
    return _ng(name, kind, batch * ch, out_hw, out_hw, window=window, in_elements=in_hw * in_hw)


def _resnet(batch: int, image_size: int, blocks: tuple[int, ...], bottleneck: bool) -> list[AnyOp]:
    """torchvision ResNet, names as torchvision: bottleneck blocks (1x1, 3x3, 1x1 x4; v1.5, stride
    on the 3x3) or basic blocks (3x3, 3x3); a 1x1 downsample where the shape changes; ReLU fused
    into each conv but the block's last, whose ReLU follows the residual add."""
    ops = _conv_act("conv1", batch, image_size, 3, 64, 7, stride=2, padding=3)
    c1 = ops[0].conv.out_hw[0]
    hw = (c1 + 2 * 1 - 3) // 2 + 1                               # maxpool 3x3 stride 2 pad 1
    ops.append(_pool("maxpool", "maxpool", batch, 64, c1, hw, 9))
    cin = 64
    for stage, (width, n, stride) in enumerate(zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)), 1):
        for b in range(n):
            p, s, cout = f"layer{stage}.{b}.", stride if b == 0 else 1, width * (4 if bottleneck else 1)
            if bottleneck:
                c2 = _conv_act(p + "conv2", batch, hw, width, width, 3, stride=s, padding=1)
                ops += [*_conv_act(p + "conv1", batch, hw, cin, width, 1, padding=0), *c2,
                        *_conv_act(p + "conv3", batch, c2[0].conv.out_hw, width, cout, 1, None, padding=0)]
            else:
                c2 = _conv_act(p + "conv1", batch, hw, cin, width, 3, stride=s, padding=1)
                ops += [*c2, *_conv_act(p + "conv2", batch, c2[0].conv.out_hw, width, width, 3, None, padding=1)]
            if s != 1 or cin != cout:
                ops.append(conv2d(p + "downsample", batch, hw, cin, cout, 1, stride=s, padding=0))
            cin, hw = cout, c2[0].conv.out_hw[0]
            ops += [_ng(p + "add", "add", batch * cout, hw, hw), _ng(p + "relu", "relu", batch * cout, hw, hw)]
    return ops + [_pool("avgpool", "avgpool", batch, cin, hw, 1, hw * hw), _gemm("fc", batch, 1000, cin)]


def _alexnet(batch: int, image_size: int) -> list[AnyOp]:
    """The original two-GPU AlexNet (Krizhevsky et al. 2012, Fig. 2): conv2, conv4 and conv5 see only
    their own GPU's half of the channels (groups=2), 227 x 227 input as in the Eyeriss paper's
    Table III; a ReLU after every conv and fc (fused), 3x3 stride-2 max pools after conv1, conv2 and
    conv5, fc6-fc8. The local response normalisation after conv1 and conv2 (section 3.3) is noted,
    not costed: no non-GEMM kind describes it."""
    c1 = conv2d("conv1", batch, image_size, 3, 96, 11, stride=4, padding=0)
    h1 = c1.conv.out_hw[0]
    p1 = (h1 - 3) // 2 + 1                                      # max pool 3x3 stride 2
    c2 = conv2d("conv2", batch, p1, 96, 256, 5, padding=2, groups=2)
    p2 = (p1 - 3) // 2 + 1
    p5 = (p2 - 3) // 2 + 1
    relu = lambda name, ch, hw: _ng(name, "relu", batch * ch, hw, hw, fused=True)  # noqa: E731
    return [c1, relu("relu1", 96, h1), _pool("pool1", "maxpool", batch, 96, h1, p1, 9),
            c2, relu("relu2", 256, p1), _pool("pool2", "maxpool", batch, 256, p1, p2, 9),
            conv2d("conv3", batch, p2, 256, 384, 3, padding=1), relu("relu3", 384, p2),
            conv2d("conv4", batch, p2, 384, 384, 3, padding=1, groups=2), relu("relu4", 384, p2),
            conv2d("conv5", batch, p2, 384, 256, 3, padding=1, groups=2), relu("relu5", 256, p2),
            _pool("pool5", "maxpool", batch, 256, p2, p5, 9),
            _gemm("fc6", batch, 4096, 256 * p5 * p5), _ng("relu6", "relu", 1, batch, 4096, fused=True),
            _gemm("fc7", batch, 4096, 4096), _ng("relu7", "relu", 1, batch, 4096, fused=True),
            _gemm("fc8", batch, 1000, 4096)]


# VGG-16 (configuration D), Simonyan and Zisserman 2015, Table 1: conv widths, "M" = 2x2 max pool.
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg16(batch: int, image_size: int) -> list[AnyOp]:
    """torchvision vgg16 (no batch norm): 13 3x3 convs named by their `features.i` index, each with
    its ReLU `features.i+1` (fused), the 2x2 max pools, the 7x7 adaptive average pool, then
    classifier.0/3/6 (25088 -> 4096 -> 4096 -> 1000) with ReLUs classifier.1/4 (dropout: identity)."""
    ops: list[AnyOp] = []
    hw, cin, idx = image_size, 3, 0
    for c in _VGG16:
        if c == "M":
            ops.append(_pool(f"features.{idx}", "maxpool", batch, cin, hw, hw // 2, 4))
            hw, idx = hw // 2, idx + 1
            continue
        ops += [conv2d(f"features.{idx}", batch, hw, cin, c, 3, padding=1),
                _ng(f"features.{idx + 1}", "relu", batch * c, hw, hw, fused=True)]
        cin, idx = c, idx + 2                                   # conv + ReLU
    window = (-(-hw // 7)) ** 2                                 # adaptive pool to 7x7: ceil(hw/7)^2 inputs
    return ops + [_pool("avgpool", "avgpool", batch, cin, hw, 7, window),
                  _gemm("classifier.0", batch, 4096, 512 * 7 * 7), _ng("classifier.1", "relu", 1, batch, 4096, fused=True),
                  _gemm("classifier.3", batch, 4096, 4096), _ng("classifier.4", "relu", 1, batch, 4096, fused=True),
                  _gemm("classifier.6", batch, 1000, 4096)]


# MobileNetV2 inverted-residual settings (expansion t, out channels c, repeats n, stride s),
# Sandler et al. 2018, Table 2; identical to torchvision's mobilenet_v2 at width 1.0.
_MBV2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _mobilenetv2(batch: int, image_size: int) -> list[AnyOp]:
    """torchvision MobileNetV2 width 1.0: depthwise 3x3 convs use groups = channels; ReLU6 fused
    into every conv but the linear bottleneck `project`; a residual add where the shape allows."""
    ops = _conv_act("features.0", batch, image_size, 3, 32, 3, "relu6", stride=2, padding=1)
    hw, cin, idx = ops[0].conv.out_hw[0], 32, 1
    for t, c, n, s in _MBV2:
        for i in range(n):
            p, hidden, st = f"features.{idx}.", cin * t, s if i == 0 else 1
            if t != 1:
                ops += _conv_act(p + "expand", batch, hw, cin, hidden, 1, "relu6", padding=0)
            dw = _conv_act(p + "dw", batch, hw, hidden, hidden, 3, "relu6", stride=st, padding=1, groups=hidden)
            hw = dw[0].conv.out_hw[0]
            ops += [*dw, conv2d(p + "project", batch, hw, hidden, c, 1, padding=0)]
            if st == 1 and cin == c:
                ops.append(_ng(p + "add", "add", batch * c, hw, hw))
            cin, idx = c, idx + 1
    return ops + [*_conv_act(f"features.{idx}", batch, hw, cin, 1280, 1, "relu6", padding=0),
                  _pool("avgpool", "avgpool", batch, 1280, hw, 1, hw * hw), _gemm("classifier", batch, 1000, 1280)]


@dataclass(frozen=True)
class _Entry:
    params: dict[str, int]
    about: str                        # what it is + source (one line)
    notes: str                        # what is and is not modelled
    ops: Callable[..., list[AnyOp]]


_LM_NOTE = ("prefill of seq_len tokens incl. lm_head; attention matmuls are full seq x seq (causal "
            "mask not exploited); " + _NOT_OPS)
_CNN_NOTE = ("convs lowered by im2col, fc with M = batch; batch norm folded into the convs (inference); "
             "ReLU fused into the conv before it; pooling and residual adds are separate non-GEMM ops")

_ZOO: dict[str, _Entry] = {
    # Devlin et al. 2018, "BERT: Pre-training of Deep Bidirectional Transformers", Sec. 3
    # (BERT_BASE L=12, H=768, A=12, FFN 4H)
    "bert-base": _Entry({"batch": 8, "seq_len": 128}, "BERT-base encoder, 110M params (Devlin et al. 2018)",
                        "12 encoder blocks; pooler and task heads excluded; " + _NOT_OPS,
                        partial(_encoder, dict(layers=12, hidden=768, heads=12, ffn=3072, arch=_BERT))),
    # Devlin et al. 2018, Sec. 3 (BERT_LARGE L=24, H=1024, A=16, FFN 4H)
    "bert-large": _Entry({"batch": 8, "seq_len": 128}, "BERT-large encoder, 340M params (Devlin et al. 2018)",
                         "24 encoder blocks; pooler and task heads excluded; " + _NOT_OPS,
                         partial(_encoder, dict(layers=24, hidden=1024, heads=16, ffn=4096, arch=_BERT))),
    # Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"; HF config `gpt2`
    # (n_layer 12, n_embd 768, n_head 12, vocab 50257, n_ctx 1024); lm_head is tied to the token embedding
    "gpt2": _Entry({"batch": 1, "seq_len": 1024}, "GPT-2 small, 124M params (Radford et al. 2019, HF gpt2)",
                   _LM_NOTE, partial(_decoder, dict(layers=12, hidden=768, heads=12, ffn=3072, arch=_GPT2), 50257)),
    # Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models"; HF meta-llama/Llama-2-7b-hf
    # config (32 layers, hidden 4096, 32 heads, SwiGLU intermediate 11008, vocab 32000)
    "llama2-7b": _Entry({"batch": 1, "seq_len": 2048}, "Llama-2-7B, SwiGLU (Touvron et al. 2023, HF Llama-2-7b-hf)",
                        _LM_NOTE, partial(_decoder, dict(layers=32, hidden=4096, heads=32, ffn=11008, arch=_LLAMA),
                                          32000)),
    # Meta Llama 3 model card / Dubey et al. 2024, "The Llama 3 Herd of Models", Table 3; HF Meta-Llama-3-8B config
    # (32 layers, 4096, 32 query heads, 8 KV heads (GQA), SwiGLU 14336, vocab 128256)
    "llama3-8b": _Entry({"batch": 1, "seq_len": 2048}, "Llama-3-8B, GQA 32q/8kv heads, SwiGLU (Meta model card 2024)",
                        _LM_NOTE, partial(_decoder, dict(layers=32, hidden=4096, heads=32, ffn=14336, kv_heads=8,
                                                         arch=_LLAMA), 128256)),
    # Zhang et al. 2022, "OPT: Open Pre-trained Transformer Language Models", Table 1 (13B: 40 layers, 40 heads,
    # d_model 5120); HF facebook/opt-13b config (ffn_dim 20480, vocab 50272)
    "opt-13b": _Entry({"batch": 1, "seq_len": 2048}, "OPT-13B (Zhang et al. 2022, HF facebook/opt-13b)",
                      _LM_NOTE, partial(_decoder, dict(layers=40, hidden=5120, heads=40, ffn=20480, arch=_OPT), 50272)),
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
    # Krizhevsky, Sutskever, Hinton 2012, "ImageNet Classification with Deep Convolutional Neural Networks", Fig. 2
    # (the two-GPU network: conv2/4/5 grouped); 227 x 227 input, the size the Eyeriss paper's Table III uses
    "alexnet": _Entry({"batch": 1, "image_size": 227}, "AlexNet, original grouped form, 61M params "
                      "(Krizhevsky et al. 2012)", _CNN_NOTE + "; conv2/4/5 have groups=2", _alexnet),
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
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return parse_int(value, what, 1, MAX_DIM, DIM_WHY)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise SpecError(f"{what} must be a positive integer (got {key}={value})")
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
