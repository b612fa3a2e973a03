"""ONNX graphs -> Workload, through the `onnx` package (docs/INTEROP.md 1.3).

Shapes come from the graph: input dimensions that are symbolic (`batch`, `sequence`) take
`-p SYMBOL=N`, and `-p INPUT=AxBxC` sets a whole graph input; then ONNX shape inference (with
data propagation) gives every tensor's shape. Nodes, in graph order:

* `Conv` (2-D): `conv2d`, M = N*H_out*W_out, N = C_out/group, K = C_in/group*kh*kw, batch = group.
* `Gemm`: `gemm` with A [M, K] and B [K, N] (after transA/transB).
* `MatMul` with a constant (initializer) operand: `gemm`, M = product of the activation's
  leading dims; between two activations: `attn_context` when one operand comes from a Softmax
  (through shape-only nodes), else `attn_score`, batch = the broadcast leading dims.
* Non-GEMM operators become `NonGemmOp`s as the tracer records them (workloads/nongemm.py,
  shapes from the node's output): LayerNormalization -> layernorm, SimplifiedLayerNormalization /
  RMSNormalization -> rmsnorm, Softmax -> softmax (along its axis), Gelu (or the erf form opsets
  before 20 write: x/2 * (1 + erf(x / sqrt 2))), Relu, Clip (relu6),
  Add/Sub and Mul of two tensors of more than one element -> add / mul, Gather from a constant
  table -> embedding, MaxPool / AveragePool / GlobalMaxPool / GlobalAveragePool -> maxpool /
  avgpool (window and input plane). An activation whose input is the GEMM output recorded just
  before it is `fused`. An Add of a constant vector (a bias the exporter split from its GEMM) is
  part of that GEMM. Other elementwise operators, batch norm (folded at inference), dropout and
  the remaining noted kinds are counted in the description; shape-only operators are free; any
  other operator is unsupported and the error lists every one of them.

Op names come from the weight initializer (`layer1.0.conv1.weight` -> `layer1.0.conv1`, as the
torch tracer names them), else from the node name.
"""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from nmsim.specfile import SpecError

from .nongemm import ACTIVATIONS, NonGemmOp, tensor_layout
from .ops import ConvShape, Op
from .workload import Workload

__all__ = ["load_onnx", "NOTED_OPS", "SHAPE_OPS", "GEMM_OPS"]

GEMM_OPS = ("Conv", "Gemm", "MatMul")
# operators counted but not costed, by the tracer's categories (workloads/ml/trace.py)
NOTED_OPS = {
    "elementwise": ("Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Exp", "Log", "Erf", "Neg", "Abs",
                    "Where", "Clip", "Min", "Max", "Sum", "Mean", "ReduceMean", "ReduceSum", "ReduceMax",
                    "ReduceMin", "ReduceProd", "ReduceL2", "Equal", "Less", "Greater", "LessOrEqual",
                    "GreaterOrEqual", "Not", "And", "Or", "Xor", "Floor", "Ceil", "Round", "Sign", "Mod",
                    "CumSum", "Trilu", "IsNaN", "IsInf", "ArgMax", "ArgMin", "TopK", "Cos", "Sin"),
    "activation": ("Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "FastGelu", "Sigmoid",
                   "HardSigmoid", "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "ThresholdedRelu"),
    "norm": ("BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
             "SimplifiedLayerNormalization", "RMSNormalization", "LpNormalization"),
    "softmax": ("Softmax", "LogSoftmax"),
    "pooling": ("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool"),
    "dropout": ("Dropout",),
    "embedding": ("Gather", "GatherElements", "GatherND"),
}
SHAPE_OPS = ("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Slice", "Split", "Shape",
             "Size", "Constant", "ConstantOfShape", "Identity", "Cast", "CastLike", "Expand", "Range", "Pad",
             "Tile", "NonZero", "ScatterND", "ScatterElements", "Resize", "DepthToSpace", "SpaceToDepth")
_PASS_THROUGH = ("Cast", "Dropout", "Identity", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Expand", "Where")
_CATEGORY = {op: cat for cat, ops in NOTED_OPS.items() for op in ops}
# ONNX operator -> NonGemmOp kind (Add/Sub/Mul and Gather are decided per node: _nongemm_kind)
_NONGEMM = {"LayerNormalization": "layernorm", "SimplifiedLayerNormalization": "rmsnorm",
            "RMSNormalization": "rmsnorm", "Softmax": "softmax", "Gelu": "gelu", "Relu": "relu", "Clip": "relu6",
            "MaxPool": "maxpool", "GlobalMaxPool": "maxpool", "AveragePool": "avgpool", "GlobalAveragePool": "avgpool",
            "Add": "add", "Sub": "add", "Mul": "mul", "Gather": "embedding"}


def _load(path: str | Path):
    try:
        import onnx
    except ImportError:
        raise SpecError(f"{path}: reading ONNX needs the `onnx` package (pip install 'nmsim[ml]')") from None
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 -- protobuf decode errors vary
        raise SpecError(f"{path}: not a readable ONNX model ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None


def _fix_inputs(model, params: dict, path) -> list[str]:
    """Give every graph input concrete dims from -p; returns the list of -p keys used."""
    inits = {i.name for i in model.graph.initializer}
    used, missing = set(), []
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        if inp.name in params:
            shape = params[inp.name]
            shape = (shape,) if isinstance(shape, int) else shape
            if not isinstance(shape, tuple) or len(shape) != len(dims):
                raise SpecError(f"{path}: -p {inp.name}=...: input '{inp.name}' has {len(dims)} dims; give "
                                f"them as {'x'.join(['N'] * len(dims))}")
            used.add(inp.name)
            for d, v in zip(dims, shape):
                d.ClearField("dim_param")
                d.dim_value = v
            continue
        for i, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            sym = d.dim_param
            if sym and isinstance(params.get(sym), int):
                used.add(sym)
                d.dim_value = params[sym]
            else:
                missing.append(f"'{inp.name}' dim {i}" + (f" ('{sym}')" if sym else ""))
    if missing:
        raise SpecError(f"{path}: input sizes unknown: {', '.join(missing)}; give them with -p SYMBOL=N or "
                        "-p INPUT=AxBxC")
    return sorted(used)


def _shapes(model, path) -> dict[str, tuple[int, ...]]:
    """Every tensor's static shape after ONNX shape inference (unknown dims left out)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as exc:  # noqa: BLE001
        raise SpecError(f"{path}: ONNX shape inference failed: {str(exc).strip().splitlines()[0]}") from None
    out: dict[str, tuple[int, ...]] = {}
    g = inferred.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[vi.name] = tuple(d.dim_value for d in t.shape.dim)
    for init in g.initializer:
        out[init.name] = tuple(init.dims)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = tuple(a.t.dims)
    return out


def _scope_name(name: str, op_type: str) -> str:
    """A module path from an exporter's node name: '/layer1/layer1.0/conv1/Conv' -> 'layer1.0.conv1',
    '/layer2/layer2.0/downsample/downsample.0/Conv' -> 'layer2.0.downsample.0' (torch's exporter
    writes one scope per module, which may repeat its parent's own name as a prefix)."""
    parts = [p for p in name.strip("/").split("/") if p]
    if parts and parts[-1].split("_")[0] == op_type:
        parts = parts[:-1]
    out = last = ""
    for p in parts:
        out = out + p[len(last):] if last and p.startswith(last + ".") else (f"{out}.{p}" if out else p)
        last = p
    return out


class _Builder:
    """Walks the nodes, collecting ops, noted operator counts and unsupported operators."""

    def __init__(self, model, shapes: dict, path):
        self.path, self.shapes = path, shapes
        self.consts = {i.name for i in model.graph.initializer} | {
            n.output[0] for n in model.graph.node if n.op_type == "Constant"}
        self.from_softmax: set[str] = set()
        self.producer: dict[str, object] = {}     # tensor -> node that wrote it
        self.erf_of: dict[str, str] = {}          # tensor on an erf-GELU chain -> the GELU's input x
        self.ops: list = []
        self.tail = ""                 # output of the last GEMM (or of an op fused into it)
        self.names: set[str] = set()
        self.noted: Counter = Counter()
        self.unsupported: dict[str, list[str]] = {}

    def shape(self, node, name: str) -> tuple[int, ...]:
        if name not in self.shapes:
            raise SpecError(f"{self.path}: node '{node.name or node.op_type}' ({node.op_type}): the shape of "
                            f"'{name}' is unknown after shape inference; fix the graph inputs' sizes with -p")
        return self.shapes[name]

    def unique(self, name: str) -> str:
        base, i = name, 1
        while name in self.names:
            name, i = f"{base}.call{i}", i + 1
        self.names.add(name)
        return name

    def op_name(self, node, weight: str | None) -> str:
        if weight and not weight.startswith("onnx::"):
            return self.unique(weight.removesuffix(".weight"))
        return self.unique(_scope_name(node.name, node.op_type) or f"{node.op_type.lower()}{len(self.ops)}")

    def conv(self, node) -> None:
        x, w = self.shape(node, node.input[0]), self.shape(node, node.input[1])
        y = self.shape(node, node.output[0])
        if len(w) != 4:
            self.unsupported.setdefault(f"Conv ({len(w) - 2}-D)", []).append(node.name or node.output[0])
            return
        attrs = {a.name: a for a in node.attribute}
        group = attrs["group"].i if "group" in attrs else 1
        kh, kw = w[2], w[3]
        strides = list(attrs["strides"].ints) if "strides" in attrs else [1, 1]
        pads = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        dil = list(attrs["dilations"].ints) if "dilations" in attrs else [1, 1]
        conv = None
        if kh == kw and strides[0] == strides[1] and len(set(pads)) == 1 and dil == [1, 1]:
            conv = ConvShape(x[0], x[2], x[3], x[1], w[0], kh, strides[0], pads[0], group)
        self.ops.append(Op(name=self.op_name(node, node.input[1]), kind="conv2d", M=y[0] * y[2] * y[3],
                           N=w[0] // group, K=w[1] * kh * kw, batch=group, conv=conv))

    def gemm(self, node) -> None:
        attrs = {a.name: a.i for a in node.attribute if a.name in ("transA", "transB")}
        a, b = self.shape(node, node.input[0]), self.shape(node, node.input[1])
        M, K = (a[1], a[0]) if attrs.get("transA") else (a[0], a[1])
        N = b[0] if attrs.get("transB") else b[1]
        weight = node.input[1] if node.input[1] in self.consts else None
        self.ops.append(Op(name=self.op_name(node, weight), kind="gemm", M=M, N=N, K=K))

    def matmul(self, node) -> None:
        a_name, b_name = node.input[0], node.input[1]
        a, b = self.shape(node, a_name), self.shape(node, b_name)
        if len(a) < 2 or len(b) < 2:
            self.noted["matmul (vector)"] += 1
            return
        if b_name in self.consts or a_name in self.consts:
            w, x = (b, a) if b_name in self.consts else (a, b)
            weight = b_name if b_name in self.consts else a_name
            K, N = (w[-2], w[-1]) if b_name in self.consts else (w[-1], w[-2])
            batch = math.prod(w[:-2]) if len(w) > 2 else 1
            self.ops.append(Op(name=self.op_name(node, weight), kind="gemm", M=math.prod(x) // K // batch,
                               N=N, K=K, batch=batch))
            return
        lead_a, lead_b = a[:-2], b[:-2]
        n = max(len(lead_a), len(lead_b))
        lead = [max(x, y) for x, y in zip((1,) * (n - len(lead_a)) + lead_a, (1,) * (n - len(lead_b)) + lead_b)]
        kind = "attn_context" if a_name in self.from_softmax or b_name in self.from_softmax else "attn_score"
        self.ops.append(Op(name=self.op_name(node, None), kind=kind, M=a[-2], N=b[-1], K=a[-1],
                           batch=math.prod(lead)))

    def visit(self, node) -> None:
        kind = node.op_type
        for out in node.output:
            self.producer[out] = node
        if self._erf_gelu(node):
            return
        if node.domain not in ("", "ai.onnx", "com.microsoft"):
            self.unsupported.setdefault(f"{node.domain}.{kind}", []).append(node.name or node.output[0])
        elif kind in ("Conv", "Gemm", "MatMul"):
            {"Conv": self.conv, "Gemm": self.gemm, "MatMul": self.matmul}[kind](node)
            self.tail = node.output[0]
        elif self._bias(node):
            self.tail = node.output[0] if node.input[0] == self.tail or node.input[1] == self.tail else self.tail
        elif kind in _NONGEMM and self._nongemm(node, _NONGEMM[kind]):
            pass
        elif kind in _CATEGORY:
            self.noted[_CATEGORY[kind]] += 1
        elif kind not in SHAPE_OPS:
            self.unsupported.setdefault(kind, []).append(node.name or node.output[0])
        if kind in NOTED_OPS["softmax"] or (kind in _PASS_THROUGH and any(i in self.from_softmax for i in node.input)):
            self.from_softmax.update(node.output)

    def _bias(self, node) -> bool:
        """An Add of a constant vector to a GEMM's output: the GEMM's bias, not an op."""
        if node.op_type != "Add" or len(node.input) != 2:
            return False
        return any(i in self.consts and len(self.shapes.get(i, ())) <= 1 for i in node.input)

    def _nongemm(self, node, kind: str) -> bool:
        """Record the NonGemmOp of `node` (module docstring); False when it is not one."""
        out = self.shapes.get(node.output[0])
        if out is None:
            return False
        shape, extra = list(out), {}
        attrs = {a.name: a for a in node.attribute}
        if kind in ("add", "mul"):
            if any(math.prod(self.shapes.get(i, (1,))) <= 1 for i in node.input):
                return False
        elif kind == "embedding":
            if node.input[0] not in self.consts or len(self.shapes.get(node.input[0], ())) != 2:
                return False
        elif kind in ("layernorm", "rmsnorm"):
            axis = attrs["axis"].i if "axis" in attrs else -1
            axis %= len(shape)
            shape = shape[:axis] + [math.prod(shape[axis:])]
        elif kind == "softmax":
            axis = (attrs["axis"].i if "axis" in attrs else -1) % len(shape)
            shape = shape[:axis] + shape[axis + 1:] + shape[axis:axis + 1]
        elif kind in ("maxpool", "avgpool"):
            x = self.shapes.get(node.input[0])
            k = list(attrs["kernel_shape"].ints) if "kernel_shape" in attrs else list(x[-2:])
            extra = {"window": int(math.prod(k)), "in_elements": int(x[-2] * x[-1])}
        self._nongemm_from(node, kind, node.input[0], shape, extra)
        return True

    def _nongemm_from(self, node, kind: str, x: str, shape=None, extra=None) -> None:
        """Append the NonGemmOp of `node` with input `x` (fused when `x` is the last GEMM's output)."""
        batch, rows, cols = tensor_layout(shape if shape is not None else self.shapes[node.output[0]])
        fused = kind in ACTIVATIONS and x == self.tail
        self.ops.append(NonGemmOp(name=self.op_name(node, None), kind=kind, rows=rows, cols=cols, batch=batch,
                                  fused=fused, **(extra or {})))
        if fused:
            self.tail = node.output[0]


    def _erf_gelu(self, node) -> bool:
        """Opsets before 20 have no Gelu; exporters write x * 0.5 * (1 + erf(x / sqrt 2)). The Erf, the
        Add of 1 and the Mul by x are recognised as one gelu (the Div and the Mul by 0.5 are scalar
        arithmetic, noted); True when `node` was consumed here."""
        kind = node.op_type
        if kind == "Erf":
            src = self.producer.get(node.input[0])
            if src is not None and src.op_type in ("Div", "Mul") and any(i in self.consts for i in src.input):
                self.erf_of[node.output[0]] = next(i for i in src.input if i not in self.consts)
                self.noted["elementwise"] += 1
                return True
        if kind == "Add" and any(i in self.erf_of for i in node.input) and any(i in self.consts for i in node.input):
            self.erf_of[node.output[0]] = next(self.erf_of[i] for i in node.input if i in self.erf_of)
            self.noted["elementwise"] += 1
            return True
        if kind == "Mul" and len(node.input) == 2:
            a, b = node.input
            x = self.erf_of.get(a) if self.erf_of.get(a) == b else self.erf_of.get(b) if self.erf_of.get(b) == a else None
            if x is not None:
                self._nongemm_from(node, "gelu", x)
                return True
        return False


def load_onnx(path: str | Path, params: dict | None = None) -> Workload:
    """The Workload of ONNX graph `path` (see the module docstring); `params`: `-p` values, a
    symbolic dim's size or a graph input's whole shape. SpecError lists unsupported operators."""
    params = dict(params or {})
    model = _load(path)
    used = _fix_inputs(model, params, path)
    unused = sorted(set(params) - set(used))
    if unused:
        names = [i.name for i in model.graph.input]
        raise SpecError(f"{path}: -p {unused[0]}: not a graph input or symbolic dim (inputs: {', '.join(names)})")
    b = _Builder(model, _shapes(model, path), path)
    for node in model.graph.node:
        if node.op_type in ("If", "Loop", "Scan"):
            b.unsupported.setdefault(node.op_type, []).append(node.name or node.output[0])
            continue
        b.visit(node)
    if b.unsupported:
        listed = "; ".join(f"{k} x{len(v)} (e.g. {v[0]})" for k, v in sorted(b.unsupported.items()))
        raise SpecError(f"{path}: unsupported ONNX operators: {listed}; nmsim costs Conv/Gemm/MatMul and notes "
                        f"elementwise, activation, norm, softmax, pooling and shape operators")
    if not any(isinstance(op, Op) for op in b.ops):
        raise SpecError(f"{path}: the graph has no Conv, Gemm or MatMul (nothing to cost)")
    notes = ", ".join(f"{k} x{v}" for k, v in sorted(b.noted.items()))
    return Workload(name=Path(path).name, ops=b.ops,
                    description=f"ONNX graph {Path(path).name} (opset {model.opset_import[0].version if model.opset_import else '?'}); "
                                f"not costed: {notes or 'nothing'}")
