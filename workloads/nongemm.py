"""Non-GEMM operators: the work of a model that is not a matrix multiply (docs/MODEL.md 11).

A `NonGemmOp` is one pass over an output tensor laid out as `batch x rows x cols` elements: its
last two dimensions are rows and columns, all leading dimensions multiply into `batch` (a 2-D
tensor has batch 1, a 1-D one rows 1). Layer norm and RMSNorm normalize each row of `cols`
elements, softmax runs along each row, activations and residual adds touch every element, an
embedding gathers `batch x rows` table rows of `cols` elements, and a 2-D pool reduces a
`window` of input pixels per output pixel of each plane (batch = images x channels, rows x cols
= the output plane, `in_elements` = the input plane's pixels). What the op reads and writes is counted in *elements*, so bytes follow
from the datatype of the hardware that runs it; its arithmetic is counted in operations of two
classes, `alu` (add, subtract, multiply, max/compare) and `special` (exp, erf, rsqrt,
reciprocal, divide), because vector units and GPUs run the second class at a lower rate.

Per-element and per-row operation counts, written out from each operator's definition:

| kind | definition | alu / element | special / element | per row | reads (elements) |
|---|---|---|---|---|---|
| layernorm | y = (x - mean) * rstd * g + b (Ba et al. 2016) | 7: sum for the mean, x - mean, its square, sum for the variance, * rstd, * g, + b | 0 | 3 alu (mean and variance * 1/cols, + eps), 1 special (rsqrt) | x, g and b (2 cols) |
| rmsnorm | y = x * rsqrt(mean(x^2) + eps) * g (Zhang and Sennrich 2019) | 4: square, sum, * rstd, * g | 0 | 2 alu (* 1/cols, + eps), 1 special (rsqrt) | x, g (cols) |
| softmax | y = exp(x - max) / sum (the max-subtracted form PyTorch computes) | 4: max, x - max, sum, * (1/sum) | 1: exp | 1 special (1/sum) | x |
| gelu | y = x/2 * (1 + erf(x / sqrt 2)) (Hendrycks and Gimpel 2016; torch's default) | 4: * (1/sqrt 2), + 1, * x, * 1/2 | 1: erf | - | x |
| silu | y = x / (1 + exp(-x)) (Elfwing et al. 2018) | 2: negate, + 1 | 2: exp, divide | - | x |
| relu | y = max(x, 0) | 1 | 0 | - | x |
| relu6 | y = min(max(x, 0), 6) | 2 | 0 | - | x |
| add | y = a + b (residual) | 1 | 0 | - | a and b (2 per element) |
| mul | y = a * b (gating) | 1 | 0 | - | a and b (2 per element) |
| embedding | y = table[ids] (a gather) | 0 | 0 | - | the gathered rows (1 per element) |
| maxpool | y = max over a k x k window | window - 1 per output | 0 | - | the input plane (in_elements per batch entry) |
| avgpool | y = sum over the window / window | window per output (window - 1 adds, 1 scale) | 0 | - | the input plane (in_elements per batch entry) |

A broadcast operand of an add (a position embedding, a bias) is counted as read in full: the
output shape alone fixes the counts, so a traced op and a zoo op of the same shape agree.
Scaling by a constant (1/cols, 1/sqrt(d)) is one multiply. Batch norm is not an op: at inference
it is folded into the preceding convolution's weights and bias (as TensorRT and every inference
compiler do), so it costs nothing.

`fused` marks an activation that runs in the epilogue of the GEMM just before it (its input is
that GEMM's output): it moves no bytes of its own (docs/MODEL.md 11.1 says what each backend
charges). The zoo and the tracer set it; a fused op must follow a GEMM (or a fused op).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from nmsim.problem import MAX_MACS, OP_CLASSES
from nmsim.specfile import SpecError

from .ops import check_positive_ints


class _Counts(NamedTuple):
    """Operation counts of a kind (the table of the module docstring)."""

    alu_elem: int          # alu operations per output element
    special_elem: int      # special-function operations per output element
    alu_row: int           # alu operations per row
    special_row: int       # special-function operations per row
    operands: int          # activation tensors read per output element (2 for add, mul)
    param_cols: int        # parameter vectors of `cols` elements read once (norm scale, shift)
    pool: bool = False     # reduces a window: counts per output + window, input of in_elements


KIND_COUNTS: dict[str, _Counts] = {
    "layernorm": _Counts(7, 0, 3, 1, 1, 2),
    "rmsnorm": _Counts(4, 0, 2, 1, 1, 1),
    "softmax": _Counts(4, 1, 0, 1, 1, 0),
    "gelu": _Counts(4, 1, 0, 0, 1, 0),
    "silu": _Counts(2, 2, 0, 0, 1, 0),
    "relu": _Counts(1, 0, 0, 0, 1, 0),
    "relu6": _Counts(2, 0, 0, 0, 1, 0),
    "add": _Counts(1, 0, 0, 0, 2, 0),
    "mul": _Counts(1, 0, 0, 0, 2, 0),
    "embedding": _Counts(0, 0, 0, 0, 1, 0),
    "maxpool": _Counts(-1, 0, 0, 0, 1, 0, pool=True),   # window - 1 compares per output
    "avgpool": _Counts(0, 0, 0, 0, 1, 0, pool=True),    # window adds/scale per output
}
NONGEMM_KINDS: tuple[str, ...] = tuple(KIND_COUNTS)
ACTIVATIONS: tuple[str, ...] = ("gelu", "silu", "relu", "relu6")   # the kinds that may be `fused`


@dataclass(frozen=True)
class NonGemmOp:
    """One non-GEMM operator over `batch x rows x cols` output elements (module docstring).

    `window` (pools only): input elements reduced per output; `in_elements` (pools only): input
    elements per batch entry (the input plane), default rows x cols; `fused`: an activation run in
    the epilogue of the GEMM before it."""

    name: str
    kind: str
    rows: int
    cols: int
    batch: int = 1
    window: int = 1
    in_elements: int | None = None
    fused: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KIND_COUNTS:
            raise SpecError(f"op '{self.name}': kind '{self.kind}' is not one of {', '.join(NONGEMM_KINDS)}")
        check_positive_ints(self, ("rows", "cols", "batch", "window"), optional=("in_elements",))
        if self.elements_read > MAX_MACS:
            raise SpecError(f"op '{self.name}': {self.elements_read:.3g} elements read; at most 2^53 "
                            "(every count the model makes stays inside 64-bit integers)")
        pool = KIND_COUNTS[self.kind].pool
        if not pool and (self.window != 1 or self.in_elements is not None):
            raise SpecError(f"op '{self.name}': window and in_elements apply to pooling (maxpool, avgpool), "
                            f"not {self.kind}")
        if self.fused and self.kind not in ACTIVATIONS:
            raise SpecError(f"op '{self.name}': only activations ({', '.join(ACTIVATIONS)}) run fused "
                            f"in a GEMM's epilogue, not {self.kind}")

    # --- what every op of a workload answers (GEMM consumers skip these ops) ----------------
    has_weights = False   # nothing to prune: N:M patterns never apply
    macs = 0              # no multiply-accumulates on the MAC array

    def with_sparsity(self, sparsity) -> "NonGemmOp":
        """Unchanged: a non-GEMM op has no weights to prune."""
        return self

    # --- counts -------------------------------------------------------------------------
    @property
    def elements(self) -> int:
        """Output elements (elements)."""
        return self.batch * self.rows * self.cols

    @property
    def elements_read(self) -> int:
        """Elements read: activation operands (pools: the input) plus parameters (norm scale
        and shift, read once)."""
        c = KIND_COUNTS[self.kind]
        act = self.batch * (self.in_elements or self.rows * self.cols) if c.pool else c.operands * self.elements
        return act + c.param_cols * self.cols

    @property
    def param_elements(self) -> int:
        """Of `elements_read`, those read from parameters (elements): an embedding's gathered
        table rows, a norm's scale and shift."""
        c = KIND_COUNTS[self.kind]
        return self.elements if self.kind == "embedding" else c.param_cols * self.cols

    @property
    def elements_written(self) -> int:
        """Elements written (elements): the output."""
        return self.elements

    @property
    def alu_ops(self) -> int:
        """Add/multiply/compare operations (operations; the module docstring's table)."""
        c = KIND_COUNTS[self.kind]
        per_out = c.alu_elem + (self.window if c.pool else 0)
        return per_out * self.elements + c.alu_row * self.batch * self.rows

    @property
    def special_ops(self) -> int:
        """exp/erf/rsqrt/reciprocal/divide operations (operations)."""
        c = KIND_COUNTS[self.kind]
        return c.special_elem * self.elements + c.special_row * self.batch * self.rows

    @property
    def flops(self) -> int:
        """All arithmetic operations, alu + special (operations)."""
        return self.alu_ops + self.special_ops

    def ops_by_class(self) -> dict[str, int]:
        """Operations per class of problem.OP_CLASSES, {"alu": ..., "special": ...} (operations)."""
        counts = {"alu": self.alu_ops, "special": self.special_ops}
        return {c: counts[c] for c in OP_CLASSES}

    def to_dict(self) -> dict:
        """The workload-file entry: name, kind, rows, cols, and batch/window/in_elements/fused
        when not the default."""
        d: dict = {"name": self.name, "kind": self.kind, "rows": self.rows, "cols": self.cols}
        for key, default in (("batch", 1), ("window", 1), ("in_elements", None), ("fused", False)):
            if getattr(self, key) != default:
                d[key] = getattr(self, key)
        return d


def tensor_layout(shape) -> tuple[int, int, int]:
    """(batch, rows, cols) of a tensor shape: the last two dimensions are rows and columns,
    the leading ones multiply into batch (the zoo and the tracer lay ops out the same way)."""
    dims = [int(d) for d in shape] or [1]
    cols = dims[-1]
    rows = dims[-2] if len(dims) > 1 else 1
    batch = 1
    for d in dims[:-2]:
        batch *= d
    return batch, rows, cols


def nongemm_summary(ops) -> str:
    """'layernorm x25, softmax x12, ...' for the non-GEMM ops in `ops` (descriptions, tables)."""
    counts: dict[str, int] = {}
    for op in ops:
        if isinstance(op, NonGemmOp):
            counts[op.kind] = counts.get(op.kind, 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in counts.items())
