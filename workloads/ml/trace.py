"""Trace a `torch.nn.Module` into the simulator's op list.

`trace_module(model, example_inputs)` runs one forward pass under a `TorchFunctionMode` that
sees every torch function call, plus forward pre/post hooks on every submodule that keep the
name of the innermost running module. What becomes an `Op` (see `workloads.ops`):

* `F.linear` (every `nn.Linear`): `gemm`, M = rows of the input (all leading dims), N =
  out_features, K = in_features, named after the module.
* `F.conv2d` (every `nn.Conv2d`): `conv2d` lowered by im2col (M = batch*H_out*W_out,
  K = C_in/groups*kh*kw, N = C_out/groups, batch = groups), named after the module.
* `F.scaled_dot_product_attention`: `attn_score` (Q.K^T) and `attn_context` (P.V) with batch =
  batch*query heads, named `<module>.score` / `<module>.context`.
* `matmul`/`bmm`/`@`/`baddbmm` of two activations: `attn_score`, or `attn_context` when a
  softmax ran in the same module since the previous one (the eager attention idiom).
  A matmul with an `nn.Parameter` operand is a `gemm` with that parameter as weights.
* `F.multi_head_attention_forward` (`nn.MultiheadAttention`): its q/k/v and output projections
  and both attention matmuls.

What becomes a `NonGemmOp` (see `workloads.nongemm`; shapes from the call's output, laid out by
`tensor_layout`): `layer_norm`, `rms_norm`, `softmax` (and the softmax inside SDPA and
`nn.MultiheadAttention`, between the two matmuls), `gelu`, `silu`, `relu`, `relu6`/`hardtanh`,
`embedding`, `max_pool2d`, `avg_pool2d`, the adaptive pools, and `add`/`sub`/`mul` of two
tensors of more than one element (residual adds, gating). A non-GEMM op is named after the
running module when that module is a leaf (an `nn.LayerNorm`, `nn.ReLU`, ...), else
`<module>.<kind>`. An activation whose input is the output of the GEMM recorded just before it
(batch norm in between counts as folded into the conv) is `fused`.

Counted in `Traced.uncosted` and not costed: batch norm (folded into the conv at inference),
dropout (identity at inference), elementwise arithmetic with a scalar operand (mask
preparation, scaling) and other elementwise functions (exp, tanh, div, ...). torch is imported
lazily by the callers of this module only (the simulator itself never needs torch).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from nmsim.specfile import SpecError

from ..nongemm import ACTIVATIONS, NonGemmOp, tensor_layout
from ..ops import ConvShape, Op
from ..workload import AnyOp, Workload, of_type

__all__ = ["Traced", "trace_module", "uncosted_category", "nongemm_kind"]

# name fragments -> category of an op that is noted but not costed
_CATEGORIES = (
    ("batch norm (folded into the conv)", ("batch_norm",)),
    ("embedding", ("embedding",)),
    ("norm", ("norm",)),
    ("softmax", ("softmax",)),
    ("pooling", ("pool",)),
    ("dropout", ("dropout",)),
    ("activation", ("relu", "gelu", "silu", "tanh", "sigmoid", "hardswish", "hardtanh", "mish", "elu")),
    ("elementwise", ("add", "sub", "mul", "div", "pow", "sqrt", "rsqrt", "exp", "neg", "masked_fill",
                     "where", "clamp", "mean", "sum")),
)
# torch function names (underscores stripped) -> NonGemmOp kind
_NONGEMM = {"layer_norm": "layernorm", "rms_norm": "rmsnorm", "softmax": "softmax", "gelu": "gelu", "silu": "silu",
            "relu": "relu", "relu6": "relu6", "hardtanh": "relu6", "embedding": "embedding",
            "max_pool2d": "maxpool", "max_pool2d_with_indices": "maxpool", "adaptive_max_pool2d": "maxpool",
            "avg_pool2d": "avgpool", "adaptive_avg_pool2d": "avgpool",
            **dict.fromkeys(("add", "radd", "iadd", "sub", "rsub", "isub"), "add"),
            **dict.fromkeys(("mul", "rmul", "imul"), "mul")}


def nongemm_kind(func_name: str) -> str | None:
    """The NonGemmOp kind a torch function records as (module docstring), or None."""
    return _NONGEMM.get(func_name.strip("_").lower())


def uncosted_category(func_name: str) -> str | None:
    """Category of a torch function the simulator notes but does not cost, or None to ignore it
    (views, reshapes, attribute reads and other free operations)."""
    name = func_name.strip("_").lower()
    for cat, frags in _CATEGORIES:
        if any(f in name for f in frags):
            return cat
    return None


@dataclass
class Traced:
    """Result of `trace_module`.

    `layers`: every recorded op, GEMM or not, in execution order; `ops`: the GEMMs among them.
    `weight_of`: op name -> qualified name of the module whose `weight` is the op's B operand
    (how masks keyed by module find their ops). `uncosted`: category -> number of calls noted
    but not costed.
    """

    layers: list[AnyOp]
    weight_of: dict[str, str] = field(default_factory=dict)
    uncosted: Counter = field(default_factory=Counter)

    @property
    def ops(self) -> list[Op]:
        """The GEMM ops, in execution order (`of_type(layers, NonGemmOp)` gives the others)."""
        return of_type(self.layers, Op)

    def workload(self, name: str, description: str = "", module_masks: dict[str, Any] | None = None) -> Workload:
        """A Workload of the traced ops; `module_masks` (module name -> bool mask shaped like the
        module's weight or its [out, K] matrix) become per-op [N, K] / [groups, N, K] masks."""
        masks = {}
        for op in self.ops:
            mod = self.weight_of.get(op.name)
            if module_masks and mod in module_masks:
                mk = module_masks[mod]
                mk = mk.detach().cpu().numpy() if hasattr(mk, "detach") else mk
                shape = (op.N, op.K) if op.batch == 1 else (op.batch, op.N, op.K)
                masks[op.name] = mk.reshape(shape).astype(bool)
        notes = ", ".join(f"{k} x{v}" for k, v in sorted(self.uncosted.items()))
        desc = description + ("; " if description else "") + f"traced from torch; not costed: {notes or 'nothing'}"
        return Workload(name=name, ops=list(self.layers), description=desc, masks=masks)


def _is_param(t: Any) -> bool:
    return isinstance(t, nn.Parameter)


class _Recorder(TorchFunctionMode):
    """Sees every torch function call of the forward pass; turns the GEMM-like ones into Ops."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, nn.Module]] = [("", None)]
        self.ops: list[AnyOp] = []
        self.weight_of: dict[str, str] = {}
        self.uncosted: Counter = Counter()
        self.softmax_seen: set[str] = set()
        self.names: set[str] = set()
        self.param_names: dict[int, str] = {}
        self.leaves: set[int] = set()        # id() of modules without children
        self.tail: Any = None                # output of the last GEMM (or of its fused ops / batch norm)

    # -- naming ------------------------------------------------------------------------
    def _where(self) -> tuple[str, nn.Module | None]:
        return self.stack[-1]

    def _unique(self, name: str) -> str:
        """Op names must be unique: a module run twice gets `.call1`, `.call2`, ..."""
        if name not in self.names:
            self.names.add(name)
            return name
        i = 1
        while f"{name}.call{i}" in self.names:
            i += 1
        self.names.add(f"{name}.call{i}")
        return f"{name}.call{i}"

    def _child(self, suffix: str) -> str:
        mod = self._where()[0]
        return f"{mod}.{suffix}" if mod else suffix

    def _weight_op_name(self, weight: torch.Tensor, fallback: str) -> tuple[str, str | None]:
        """(op name, weight-owning module) for a weight tensor: the running module if it owns the
        weight as `.weight`, else the parameter's qualified name."""
        mod_name, mod = self._where()
        if mod is not None and getattr(mod, "weight", None) is weight:
            return self._unique(mod_name or fallback), mod_name
        pname = self.param_names.get(id(weight))
        if pname is not None:
            owner = pname.rsplit(".", 1)[0] if pname.endswith(".weight") else None
            return self._unique(pname.removesuffix(".weight") or fallback), owner
        return self._unique(self._child(fallback)), None

    # -- op builders -------------------------------------------------------------------
    def _add(self, op: AnyOp, owner: str | None = None) -> None:
        self.ops.append(op)
        if owner is not None:
            self.weight_of[op.name] = owner

    def _linear(self, x: torch.Tensor, w: torch.Tensor) -> None:
        name, owner = self._weight_op_name(w, "linear")
        rows = x.numel() // x.shape[-1]
        self._add(Op(name=name, kind="gemm", M=rows, N=w.shape[0], K=w.shape[1]), owner)

    def _conv2d(self, x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, stride, padding, dilation,
                groups: int) -> None:
        name, owner = self._weight_op_name(w, "conv2d")
        batch = x.shape[0] if x.dim() == 4 else 1
        oh, ow = out.shape[-2:]
        out_ch, cin_g, kh, kw = w.shape
        conv = None
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        st, dl = pair(stride), pair(dilation)
        pd = pair(padding) if not isinstance(padding, str) else None
        if kh == kw and st[0] == st[1] and pd is not None and pd[0] == pd[1] and dl == (1, 1):
            conv = ConvShape(batch, x.shape[-2], x.shape[-1], cin_g * groups, out_ch, kh, st[0], pd[0], groups)
        self._add(Op(name=name, kind="conv2d", M=batch * oh * ow, N=out_ch // groups, K=cin_g * kh * kw,
                     batch=groups, conv=conv), owner)

    def _attention(self, q_shape, k_shape, v_shape) -> None:
        """Score and context matmuls of SDPA: q [..., L, E], k [..., S, E], v [..., S, Ev]."""
        bh = math.prod(q_shape[:-2])
        L, E, S, Ev = q_shape[-2], q_shape[-1], k_shape[-2], v_shape[-1]
        self._add(Op(name=self._unique(self._child("score")), kind="attn_score", M=L, N=S, K=E, batch=bh))
        self._add(NonGemmOp(name=self._unique(self._child("softmax")), kind="softmax", rows=L, cols=S, batch=bh))
        self._add(Op(name=self._unique(self._child("context")), kind="attn_context", M=L, N=Ev, K=S, batch=bh))

    def _matmul(self, a: torch.Tensor, b: torch.Tensor) -> None:
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.dim() < 2 or b.dim() < 2:
            self.uncosted["matmul (vector)"] += 1
            return
        if _is_param(b) or _is_param(a):
            # x @ W (W [K, N]) or W @ x: a weight GEMM; the weight is the B side by convention
            w, x, transposed = (b, a, False) if _is_param(b) else (a, b, True)
            name, owner = self._weight_op_name(w, "matmul")
            K, N = (w.shape[-2], w.shape[-1]) if not transposed else (w.shape[-1], w.shape[-2])
            M = x.numel() // K
            self._add(Op(name=name, kind="gemm", M=M, N=N, K=K), None)
            return
        M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
        batch = math.prod(torch.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        mod = self._where()[0]
        if mod in self.softmax_seen:
            self.softmax_seen.discard(mod)
            self._add(Op(name=self._unique(self._child("context")), kind="attn_context", M=M, N=N, K=K, batch=batch))
        else:
            self._add(Op(name=self._unique(self._child("score")), kind="attn_score", M=M, N=N, K=K, batch=batch))

    def _mha(self, args: tuple, kwargs: dict) -> None:
        """nn.MultiheadAttention's functional core: (query, key, value, embed_dim, num_heads,
        in_proj_weight, ..., out_proj_weight, ...); inputs are [L, B, E] here."""
        names = ("query", "key", "value", "embed_dim_to_check", "num_heads", "in_proj_weight", "in_proj_bias",
                 "bias_k", "bias_v", "add_zero_attn", "dropout_p", "out_proj_weight")
        a = dict(zip(names, args))
        a.update({k: v for k, v in kwargs.items() if k in names})
        q, k, v, heads = a["query"], a["key"], a["value"], a["num_heads"]
        E, L, S = q.shape[-1], q.shape[0], k.shape[0]
        B = q.shape[1] if q.dim() == 3 else 1
        kdim = k.shape[-1]
        vdim = v.shape[-1]
        mod = self._where()[0]
        for part, src, K in (("q", q, E), ("k", k, kdim), ("v", v, vdim)):
            self._add(Op(name=self._unique(self._child(f"in_proj_{part}")), kind="gemm",
                         M=src.numel() // src.shape[-1], N=E, K=K))
        hd = E // heads
        self._attention((B * heads, L, hd), (B * heads, S, hd), (B * heads, S, hd))
        ow = a.get("out_proj_weight")
        out_owner = f"{mod}.out_proj" if mod else "out_proj"
        self._add(Op(name=self._unique(out_owner), kind="gemm", M=L * B, N=ow.shape[0] if ow is not None else E,
                     K=E), out_owner)

    # -- non-GEMM ops ---------------------------------------------------------------------
    def _nongemm_name(self, kind: str) -> str:
        """The running module's name when it is a leaf module, else `<module>.<kind>` (unique)."""
        mod_name, mod = self._where()
        if mod_name and mod is not None and id(mod) in self.leaves:
            return self._unique(mod_name)
        return self._unique(self._child(kind))

    def _nongemm(self, kind: str, args: tuple, kwargs: dict, out: Any, adaptive: bool = False) -> bool:
        """Record the non-GEMM op `kind` of a call (module docstring); False when the call is not
        one (an elementwise op with a scalar operand)."""
        x = args[0] if args else next(iter(kwargs.values()), None)
        if not isinstance(out, torch.Tensor):
            return False
        shape = list(out.shape)
        extra: dict = {}
        if kind in ("add", "mul"):
            other = args[1] if len(args) > 1 else kwargs.get("other")
            if not (isinstance(x, torch.Tensor) and isinstance(other, torch.Tensor)) or min(x.numel(), other.numel()) <= 1:
                return False
        elif kind in ("layernorm", "rmsnorm"):
            ns = args[1] if len(args) > 1 else kwargs.get("normalized_shape", shape[-1:])
            ns = [ns] if isinstance(ns, int) else list(ns)
            shape = shape[:len(shape) - len(ns)] + [math.prod(ns)]
        elif kind == "softmax":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
            dim = dim % len(shape) if shape and isinstance(dim, int) else len(shape) - 1
            shape = shape[:dim] + shape[dim + 1:] + shape[dim:dim + 1]
        elif kind in ("maxpool", "avgpool"):
            kernel = kwargs.get("kernel_size", args[1] if len(args) > 1 else None)
            extra = self._pool_extra(x, out, None if adaptive else kernel)
        batch, rows, cols = tensor_layout(shape)
        fused = kind in ACTIVATIONS and x is not None and x is self.tail
        self._add(NonGemmOp(name=self._nongemm_name(kind), kind=kind, rows=rows, cols=cols, batch=batch,
                            fused=fused, **extra))
        return True

    @staticmethod
    def _pool_extra(x: torch.Tensor, out: torch.Tensor, kernel) -> dict:
        """window (inputs per output) and in_elements (input plane) of a 2-D pool call: the
        kernel of a fixed pool, ceil(in / out) per side for an adaptive one (kernel None)."""
        h, w, oh, ow = x.shape[-2], x.shape[-1], out.shape[-2], out.shape[-1]
        if isinstance(kernel, int):
            window = kernel * kernel
        elif isinstance(kernel, (tuple, list)) and kernel:
            window = kernel[0] * kernel[-1]
        else:
            window = -(-h // oh) * -(-w // ow)
        return {"window": int(window), "in_elements": int(h * w)}

    # -- dispatch ----------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        before = len(self.ops)
        name = getattr(func, "__name__", "")
        if func is F.linear:
            self._linear(args[0], args[1] if len(args) > 1 else kwargs["weight"])
        elif func is F.conv2d:
            get = lambda i, k, d: args[i] if len(args) > i else kwargs.get(k, d)  # noqa: E731
            self._conv2d(args[0], get(1, "weight", None), out, get(3, "stride", 1), get(4, "padding", 0),
                         get(5, "dilation", 1), get(6, "groups", 1))
        elif func is F.scaled_dot_product_attention:
            q, k, v = (list(args) + [kwargs.get(n) for n in ("query", "key", "value")[len(args):]])[:3]
            self._attention(q.shape, k.shape, v.shape)
        elif func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.Tensor.bmm,
                      torch.mm, torch.Tensor.mm):
            self._matmul(args[0], args[1])
        elif func is torch.Tensor.__rmatmul__:
            self._matmul(args[1], args[0])
        elif func in (torch.baddbmm, torch.Tensor.baddbmm, torch.addmm):
            self._matmul(args[1], args[2])
        elif func is F.multi_head_attention_forward:
            self._mha(args, kwargs)
        elif func in (F.conv1d, F.conv3d, F.conv_transpose2d, torch.einsum):
            self.uncosted[f"{getattr(func, '__name__', func)} (not lowered)"] += 1
        elif nongemm_kind(name) is None or not self._nongemm(nongemm_kind(name), args, kwargs, out,
                                                             adaptive="adaptive" in name):
            self._uncosted(name, args, out)
        self._follow(before, out)
        return out

    def _uncosted(self, name: str, args: tuple, out: Any) -> None:
        """Count a call that becomes no op; batch norm passes the GEMM chain on (it is folded)."""
        cat = uncosted_category(name)
        if cat is None:
            return
        self.uncosted[cat] += 1
        if cat == "softmax":
            self.softmax_seen.add(self._where()[0])
        if cat.startswith("batch norm") and args and args[0] is self.tail:
            self.tail = out

    def _follow(self, before: int, out: Any) -> None:
        """Track the output a fused activation may consume: a new GEMM's, a fused op's; any other
        recorded op ends the chain."""
        if len(self.ops) == before:
            return
        last = self.ops[-1]
        if isinstance(last, NonGemmOp) and last.kind == "softmax":
            self.softmax_seen.add(self._where()[0])
        self.tail = out if isinstance(last, Op) or last.fused else None


def _as_call(example_inputs: Any) -> tuple[tuple, dict]:
    """example_inputs: a tensor, a tuple of positional inputs, or a dict of keyword inputs."""
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    return (example_inputs,), {}


def trace_module(model: nn.Module, example_inputs: Any) -> Traced:
    """Run `model` once on `example_inputs` (a tensor, a tuple, or a dict of keyword inputs;
    meta-device tensors work and cost no memory) and return its ops in execution order.

    Raises SpecError with one line when the forward pass fails on the inputs.
    """
    if not isinstance(model, nn.Module):
        raise SpecError(f"trace: expected a torch.nn.Module, got {type(model).__name__}")
    rec = _Recorder()
    rec.param_names = {id(p): n for n, p in model.named_parameters()}
    handles = []
    for name, mod in model.named_modules():
        if next(mod.children(), None) is None:
            rec.leaves.add(id(mod))

        def pre(m, inputs, _name=name):
            rec.stack.append((_name, m))

        def post(m, inputs, output):
            rec.stack.pop()
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post, always_call=True))
    args, kwargs = _as_call(example_inputs)
    try:
        with torch.no_grad(), rec:
            model(*args, **kwargs)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure of user code is one line for the CLI
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SpecError(f"model {type(model).__name__}: forward failed on the given inputs: "
                        f"{type(exc).__name__}: {first}"[:400]) from None
    finally:
        for h in handles:
            h.remove()
    if not any(isinstance(op, Op) for op in rec.ops):
        raise SpecError(f"model {type(model).__name__}: the forward pass ran no Linear, Conv2d or matmul "
                        "(nothing to cost)")
    return Traced(layers=rec.ops, weight_of=rec.weight_of, uncosted=rec.uncosted)
