"""Ops: every costed operation is a GEMM `out[M,N] = A[M,K] . B[K,N]`, possibly batched.

* `gemm` (Linear layers): A = activations, B = weights.
* `conv2d`: lowered by im2col (M = batch*H_out*W_out, K = C_in/groups*kh*kw, N = C_out/groups,
  one GEMM per group).
* `attn_score` (Q.K^T) and `attn_context` (P.V): both operands are activations, so weight
  sparsity patterns do not apply to them.
Ops that are noted but not costed (embeddings, norms, softmax, elementwise) are not Ops.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from nmsim.problem import DIM_WHY, MACS_WHY, MAX_DIM, MAX_MACS
from nmsim.specfile import SpecError, check_number, parse_float, parse_int

from .sparsity import DENSE, Sparsity

OP_KINDS = ("gemm", "conv2d", "attn_score", "attn_context")


@dataclass(frozen=True)
class ConvShape:
    """The conv2d a `conv2d` op was lowered from (for reports; the GEMM dims are authoritative)."""

    batch: int
    in_h: int
    in_w: int
    in_ch: int
    out_ch: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output height and width (pixels)."""
        h = (self.in_h + 2 * self.padding - self.kernel) // self.stride + 1
        w = (self.in_w + 2 * self.padding - self.kernel) // self.stride + 1
        return h, w


@dataclass(frozen=True)
class Op:
    """One (batched) GEMM. `batch` counts independent GEMMs of this shape (heads, groups)."""

    name: str
    kind: str
    M: int
    N: int
    K: int
    batch: int = 1
    weight_sparsity: Sparsity = DENSE
    act_density: float = 1.0
    conv: ConvShape | None = field(default=None, compare=False)
    # fraction of nonzero output values (after the activation function, as the next op reads them):
    # what a zero-compressing DRAM coding saves on the way out (docs/MODEL.md 3.11)
    out_density: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in OP_KINDS:
            raise SpecError(f"op '{self.name}': kind '{self.kind}' is not one of {OP_KINDS}")
        check_positive_ints(self, ("M", "N", "K", "batch"))
        if self.macs > MAX_MACS:
            raise SpecError(f"op '{self.name}': {self.macs:.3g} MACs (batch x M x N x K); at most 2^53 = "
                            f"{MAX_MACS:.3g} ({MACS_WHY})")
        for name in ("act_density", "out_density"):
            check_number(getattr(self, name), f"op '{self.name}': {name}", 0.0, 1.0, lo_open=True)
        if not self.has_weights and not self.weight_sparsity.is_dense:
            raise SpecError(f"op '{self.name}': {self.kind} has no weight operand to prune")

    @property
    def has_weights(self) -> bool:
        """True when B is a weight tensor (gemm, conv2d), False for attention matmuls."""
        return self.kind in ("gemm", "conv2d")

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates of the op (MACs)."""
        return self.M * self.N * self.K * self.batch

    @property
    def input_pixel_fraction(self) -> float:
        """Distinct input values over the elements of the lowered A operand (0..1]: for a conv2d the
        ifmap pixels its windows read (one group, all images) over its im2col matrix M x K, else 1.
        What a buffer that stores feature maps instead of im2col rows holds and moves (docs/MODEL.md 3.11)."""
        c = self.conv
        if c is None:
            return 1.0
        oh, ow = c.out_hw
        rows = min(c.in_h, (oh - 1) * c.stride + c.kernel)
        cols = min(c.in_w, (ow - 1) * c.stride + c.kernel)
        return min(1.0, c.batch * (c.in_ch // c.groups) * rows * cols / (self.M * self.K))

    @property
    def weight_elements(self) -> int:
        """Elements of the B operand across the batch."""
        return self.K * self.N * self.batch

    def with_act_density(self, density: float) -> "Op":
        """A copy whose activations are `density` nonzero (0..1], e.g. from
        workloads.sparsity.activation_density of a sampled input."""
        return replace(self, act_density=float(density))

    def with_out_density(self, density: float) -> "Op":
        """A copy whose outputs are `density` nonzero (0..1], as the next op sees them."""
        return replace(self, out_density=float(density))

    def with_sparsity(self, sparsity: Sparsity) -> "Op":
        """A copy with `sparsity` on the weights; ops without weights are returned unchanged."""
        if not self.has_weights:
            return self
        return replace(self, weight_sparsity=sparsity)


def check_positive_ints(op, fields: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """SpecError naming `op` and the field unless each of `fields` is a positive int (not a bool) up
    to MAX_DIM (docs/RELIABILITY.md); the `optional` ones may also be None."""
    for dim in fields + optional:
        v = getattr(op, dim)
        if v is None and dim in optional:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise SpecError(f"op '{op.name}': {dim} must be a positive integer (got {v!r})")
        check_number(v, f"op '{op.name}': {dim}", 1, MAX_DIM, DIM_WHY, integer=True)


def conv2d(name: str, batch: int, in_hw: int | tuple[int, int], in_ch: int, out_ch: int, kernel: int,
           stride: int = 1, padding: int | None = None, groups: int = 1) -> Op:
    """Lower a conv2d to its im2col GEMM. `padding` defaults to 'same' (kernel // 2)."""
    h, w = (in_hw, in_hw) if isinstance(in_hw, int) else in_hw
    pad = kernel // 2 if padding is None else padding
    if in_ch % groups or out_ch % groups:
        raise SpecError(f"op '{name}': groups={groups} must divide in_ch={in_ch} and out_ch={out_ch}")
    shape = ConvShape(batch, h, w, in_ch, out_ch, kernel, stride, pad, groups)
    oh, ow = shape.out_hw
    if oh <= 0 or ow <= 0:
        raise SpecError(f"op '{name}': kernel {kernel} with stride {stride} leaves no output on {h}x{w}")
    return Op(name=name, kind="conv2d", M=batch * oh * ow, N=out_ch // groups,
              K=(in_ch // groups) * kernel * kernel, batch=groups, conv=shape)


LAYER_FORM = "KIND:M=<int>,N=<int>,K=<int>[,batch=<int>][,sparsity=2:8][,act_density=<0..1>]  (KIND: gemm, conv2d, attn_score, attn_context)"


def parse_layer(text: str, name: str = "layer") -> Op:
    """Parse a one-layer string such as 'gemm:M=512,N=768,K=768,sparsity=2:8' into an Op.

    Dims are in elements; raises SpecError showing the expected form on any problem.
    """
    from .sparsity import Sparsity

    kind, sep, rest = text.partition(":")
    if not sep or kind.strip() not in OP_KINDS:
        raise SpecError(f"layer '{text}': expected {LAYER_FORM}")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or not key or not val.strip():
            raise SpecError(f"layer '{text}': '{part}' is not KEY=VALUE; expected {LAYER_FORM}")
        if key not in ("M", "N", "K", "batch", "sparsity", "act_density"):
            raise SpecError(f"layer '{text}': unknown key '{key}'; expected {LAYER_FORM}")
        fields[key] = val.strip()
    missing = [d for d in ("M", "N", "K") if d not in fields]
    if missing:
        raise SpecError(f"layer '{text}': missing {', '.join(missing)}; expected {LAYER_FORM}")
    try:
        ints = {k: parse_int(fields[k], k, 1, MAX_DIM, DIM_WHY) for k in ("M", "N", "K", "batch") if k in fields}
        act = parse_float(fields.get("act_density", "1"), "act_density", 0.0, 1.0, lo_open=True)
    except SpecError as exc:
        raise SpecError(f"layer '{text}': {exc}; expected {LAYER_FORM}") from None
    sp = Sparsity.parse(fields["sparsity"]) if "sparsity" in fields else DENSE
    try:
        return Op(name=name, kind=kind.strip(), weight_sparsity=sp, act_density=act, **ints)
    except SpecError as exc:
        raise SpecError(f"layer '{text}': {exc}") from None
