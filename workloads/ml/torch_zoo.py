"""torch modules for the zoo models, built from the same hyper-parameters as `workloads.zoo`.

Module names are chosen so that tracing a module (`workloads.ml.trace`) yields exactly the op
names and shapes of `zoo.build(name, ...)`: `layer3.attn.q`, `layer1.0.downsample`,
`features.4.dw`, ... (tests/workloads/test_trace.py checks every zoo entry). Weights are random (seeded
by the caller): these modules exist to be traced, and pruned for hardware studies; their
quality numbers mean nothing, and the prune command reports them as "n/a (random weights)".

Build on `device="meta"` to trace without allocating weights (how `nmsim` traces the 7B+
LLMs in well under a second).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nmsim.specfile import SpecError

from .. import zoo

__all__ = ["build_module", "example_inputs", "module_params"]


class _Add(nn.Module):
    """A residual add as a module of its own, so the traced op carries the zoo's name."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, kv_heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.hd, self.causal = heads, kv_heads, hidden // heads, causal
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, kv_heads * self.hd)
        self.v = nn.Linear(hidden, kv_heads * self.hd)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, S, _ = x.shape
        q = self.q(x).view(B, S, self.heads, self.hd).transpose(1, 2)
        k = self.k(x).view(B, S, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v(x).view(B, S, self.kv_heads, self.hd).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                             enable_gqa=self.kv_heads != self.heads)
        return self.out(ctx.transpose(1, 2).reshape(B, S, -1))


_ACTS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu}


class _FFN(nn.Module):
    def __init__(self, hidden: int, ffn: int, gated: bool, act: str) -> None:
        super().__init__()
        if gated:
            self.gate = nn.Linear(hidden, ffn, bias=False)
        self.up = nn.Linear(hidden, ffn, bias=not gated)
        self.down = nn.Linear(ffn, hidden, bias=not gated)
        self.gated, self.act = gated, _ACTS[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            return self.down(self.act(self.gate(x)) * self.up(x))
        return self.down(self.act(self.up(x)))


class _Block(nn.Module):
    """A transformer block: pre-norm (GPT-2, Llama, OPT, ViT) or post-norm (BERT), as zoo._block."""

    def __init__(self, hidden: int, heads: int, ffn: int, kv_heads: int | None = None, causal: bool = False,
                 arch: zoo._Arch = zoo._Arch()) -> None:
        super().__init__()
        norm = nn.RMSNorm if arch.norm == "rmsnorm" else nn.LayerNorm
        self.norm1, self.norm2 = norm(hidden), norm(hidden)
        self.attn = _Attention(hidden, heads, kv_heads or heads, causal)
        self.ffn = _FFN(hidden, ffn, arch.gated, arch.act)
        self.res1, self.res2 = _Add(), _Add()
        self.pre_norm = arch.pre_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = self.res1(x, self.attn(self.norm1(x)))
            return self.res2(x, self.ffn(self.norm2(x)))
        x = self.norm1(self.res1(self.attn(x), x))
        return self.norm2(self.res2(self.ffn(x), x))


class _Transformer(nn.Module):
    """Embeddings (token, segment, position as the model has them) + blocks `layer0..` + final
    norm (pre-norm models) + `lm_head` (decoders), as zoo._transformer."""

    def __init__(self, cfg: dict, vocab: int, decoder: bool) -> None:
        super().__init__()
        a, hidden = cfg.get("arch", zoo._Arch()), cfg["hidden"]
        norm = nn.RMSNorm if a.norm == "rmsnorm" else nn.LayerNorm
        self.embed = nn.Embedding(vocab, hidden)
        if a.token_types:
            self.type_embed, self.type_add = nn.Embedding(2, hidden), _Add()
        if a.positions:
            self.pos_embed, self.pos_add = nn.Embedding(_MAX_POSITIONS, hidden), _Add()
        if not a.pre_norm:
            self.embed_norm = norm(hidden)
        self.n_layers = cfg["layers"]
        block_cfg = {k: v for k, v in cfg.items() if k not in ("layers", "arch")}
        for i in range(self.n_layers):
            self.add_module(f"layer{i}", _Block(causal=decoder, arch=a, **block_cfg))
        if a.final_norm:
            self.norm = norm(hidden)
        if decoder:
            self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.arch, self.decoder = a, decoder

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        if self.arch.token_types:
            x = self.type_add(x, self.type_embed(torch.zeros_like(ids)))
        if self.arch.positions:
            x = self.pos_add(x, self.pos_embed(torch.arange(ids.shape[-1], device=ids.device)))
        if not self.arch.pre_norm:
            x = self.embed_norm(x)
        for i in range(self.n_layers):
            x = getattr(self, f"layer{i}")(x)
        if self.arch.final_norm:
            x = self.norm(x)
        return self.lm_head(x) if self.decoder else x


class _ConvBN(nn.Conv2d):
    """Conv2d followed by batch norm and an optional activation, in one module so that the conv
    op carries the module's own name (torchvision's `features.0` is a conv-bn-act block)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU) -> None:
        super().__init__(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(super().forward(x)))


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = _ConvBN(cin, width, 1)
        self.conv2 = _ConvBN(width, width, 3, stride, 1)
        self.conv3 = _ConvBN(width, width * 4, 1, act=None)
        self.downsample = _ConvBN(cin, width * 4, 1, stride, act=None) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, downsample: bool) -> None:
        super().__init__()
        self.conv1 = _ConvBN(cin, width, 3, stride, 1)
        self.conv2 = _ConvBN(width, width, 3, 1, 1, act=None)
        self.downsample = _ConvBN(cin, width, 1, stride, act=None) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class _ResNet(nn.Module):
    """torchvision ResNet-18 (basic blocks) or ResNet-50 (bottlenecks), as `zoo._resnet`."""

    def __init__(self, blocks: tuple[int, ...], bottleneck: bool) -> None:
        super().__init__()
        self.conv1 = _ConvBN(3, 64, 7, 2, 3)
        cin, expansion = 64, 4 if bottleneck else 1
        block = _Bottleneck if bottleneck else _BasicBlock
        for stage, (width, n, stride) in enumerate(zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)), 1):
            layers = []
            for b in range(n):
                s = stride if b == 0 else 1
                layers.append(block(cin, width, s, s != 1 or cin != width * expansion))
                cin = width * expansion
            self.add_module(f"layer{stage}", nn.Sequential(*layers))
        self.fc = nn.Linear(cin, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.conv1(x), 3, 2, 1)
        for s in range(1, 5):
            x = getattr(self, f"layer{s}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class _VGG16(nn.Module):
    """torchvision vgg16: `features` (conv, ReLU, max pool at torchvision's indices), 7x7 pool, classifier."""

    def __init__(self) -> None:
        super().__init__()
        feats: list[nn.Module] = []
        cin = 3
        for c in zoo._VGG16:
            if c == "M":
                feats.append(nn.MaxPool2d(2, 2))
            else:
                feats += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU()]
                cin = c
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(),
                                        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 7)
        return self.classifier(torch.flatten(x, 1))


class _AlexNet(nn.Module):
    """The grouped two-GPU AlexNet of the zoo (Krizhevsky et al. 2012): conv2/4/5 with groups=2,
    ReLU after every conv and fc, local response normalisation after conv1 and conv2 (size 5,
    section 3.3), 3x3 stride-2 max pools after conv1, conv2, conv5 (modules named as the zoo's ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.relu1, self.norm1, self.pool1 = nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.relu2, self.norm2, self.pool2 = nn.ReLU(), nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2)
        self.conv3, self.relu3 = nn.Conv2d(256, 384, 3, padding=1), nn.ReLU()
        self.conv4, self.relu4 = nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU()
        self.conv5, self.relu5, self.pool5 = nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2)
        self.fc6, self.relu6 = nn.Linear(256 * 6 * 6, 4096), nn.ReLU()
        self.fc7, self.relu7 = nn.Linear(4096, 4096), nn.ReLU()
        self.fc8 = nn.Linear(4096, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.norm1(self.relu1(self.conv1(x))))
        x = self.pool2(self.norm2(self.relu2(self.conv2(x))))
        x = self.relu4(self.conv4(self.relu3(self.conv3(x))))
        x = self.pool5(self.relu5(self.conv5(x)))
        x = self.relu7(self.fc7(self.relu6(self.fc6(torch.flatten(x, 1)))))
        return self.fc8(x)


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hidden = cin * t
        self.expand = _ConvBN(cin, hidden, 1, act=nn.ReLU6) if t != 1 else None
        self.dw = _ConvBN(hidden, hidden, 3, stride, 1, groups=hidden, act=nn.ReLU6)
        self.project = _ConvBN(hidden, cout, 1, act=None)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dw(self.expand(x) if self.expand is not None else x))
        return x + y if self.residual else y


class _MobileNetV2(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        feats: list[nn.Module] = [_ConvBN(3, 32, 3, 2, 1, act=nn.ReLU6)]
        cin = 32
        for t, c, n, s in zoo._MBV2:
            for i in range(n):
                feats.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        feats.append(_ConvBN(cin, 1280, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(F.dropout(torch.flatten(x, 1), 0.2, self.training))


class _ViTB16(nn.Module):
    def __init__(self, image_size: int) -> None:
        super().__init__()
        tokens = (image_size // 16) ** 2 + 1
        self.patch_embed = nn.Conv2d(3, 768, 16, 16)
        self.cls = nn.Parameter(torch.zeros(1, 1, 768))
        self.pos = nn.Parameter(torch.zeros(1, tokens, 768))
        self.pos_add = _Add()
        for i in range(12):
            self.add_module(f"layer{i}", _Block(768, 12, 3072))
        self.norm = nn.LayerNorm(768)
        self.head = nn.Linear(768, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = self.pos_add(torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1), self.pos)
        for i in range(12):
            x = getattr(self, f"layer{i}")(x)
        return self.head(self.norm(x)[:, 0])


# zoo name -> (module factory taking the zoo params, kind of input)
_MAX_POSITIONS = 4096   # learned position tables: long enough for the zoo's sequence lengths
_VOCAB = {"bert-base": 30522, "bert-large": 30522}


def _factory(name: str, params: dict[str, int]) -> nn.Module:
    entry = zoo._entry(name)
    fn = entry.ops
    if name in ("resnet18", "resnet50"):
        return _ResNet(fn.keywords["blocks"], fn.keywords["bottleneck"])
    if name == "vgg16":
        return _VGG16()
    if name == "alexnet":
        return _AlexNet()
    if name == "mobilenetv2":
        return _MobileNetV2()
    if name == "vit-b16":
        if params["image_size"] % 16:
            raise SpecError(f"zoo model 'vit-b16': image_size must be a multiple of 16 (got {params['image_size']})")
        return _ViTB16(params["image_size"])
    cfg = dict(fn.args[0])          # the hyper-parameters the zoo itself uses (functools.partial)
    if fn.func is zoo._decoder:
        return _Transformer(cfg, fn.args[1], decoder=True)
    return _Transformer(cfg, _VOCAB[name], decoder=False)


def _params(name: str, params: dict[str, object]) -> dict[str, int]:
    defaults = zoo.zoo_params(name)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise SpecError(f"zoo model '{name}': unknown parameter '{unknown[0]}'; allowed: {', '.join(defaults)}")
    return {k: zoo._int(name, k, params.get(k, d)) for k, d in defaults.items()}


def build_module(name: str, device: str = "cpu", **params: object) -> nn.Module:
    """The torch module of zoo model `name` (random weights; `device="meta"` allocates nothing).
    `params` are the zoo's (batch, seq_len, image_size); only image_size changes the module."""
    values = _params(name, params)
    with torch.device(device):
        model = _factory(name, values)
    return model.eval()


def example_inputs(name: str, device: str = "cpu", generator: torch.Generator | None = None,
                   **params: object) -> torch.Tensor:
    """Inputs of shape the zoo assumes: token ids [batch, seq_len] or images [batch, 3, S, S]
    (random, from `generator`, unless on the meta device)."""
    v = _params(name, params)
    if "image_size" in v:
        shape = (v["batch"], 3, v["image_size"], v["image_size"])
        if device == "meta":
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=generator)
    vocab = _VOCAB.get(name) or zoo._entry(name).ops.args[1]
    if device == "meta":
        return torch.zeros((v["batch"], v["seq_len"]), dtype=torch.long, device="meta")
    return torch.randint(0, vocab, (v["batch"], v["seq_len"]), generator=generator)


def module_params(name: str, **params: object) -> int:
    """Parameter count of the torch module of `name` (counted on the meta device)."""
    return sum(p.numel() for p in build_module(name, "meta", **params).parameters())
