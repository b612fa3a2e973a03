"""What each framework launches as one kernel: a workload's layers (GEMMs and non-GEMM ops in model
order) grouped into the kernels a framework runs (docs/GPU.md, "Whole-model latency", "Fusion").

Rules per framework (`FUSION`), each from the framework's own code or documentation:

* **TensorRT** (NVIDIA/TensorRT demo/BERT, builder.py at f8d83b6aa47b17f91ca09c2830c89aeab3669ac6,
  the engine the README's tables were measured on; the 2026 builder at 9973b2f4 builds the same
  graph):
  - q, k, v: one GEMM of N = 3 x hidden (`attention_layer_opt`: one fully connected layer on the
    concatenated weights, `3 * hidden_size` outputs);
  - score matmul, softmax and context matmul: one kernel (`CustomQKVToContextPluginDynamic`;
    plugin/bertQKVToContextPlugin/README.md: "computes scaled dot product attention scores
    softmax(K'Q/sqrt(HeadSize)) and returns values weighted by these attention scores");
  - the activation after a GEMM: in the GEMM's epilogue (builder.py writes GELU as pointwise layers
    on the FC1 output; TensorRT's builder fuses pointwise layers into the preceding convolution or
    fully connected layer, TensorRT Developer Guide, "Layer Fusion Catalog");
  - residual add + layer norm: one kernel (`CustomSkipLayerNormPluginDynamic`;
    plugin/skipLayerNormPlugin/README.md: "Adds a residual tensor, applies layer normalization");
  - embeddings + adds + layer norm: one kernel (`CustomEmbLayerNormPluginDynamic`;
    plugin/embLayerNormPlugin/README.md: token, segment and position lookups, addition, layer norm).
  Together: every run of non-GEMM ops between two GEMM kernels is one kernel.
* **torch.compile** (gpt-fast, torchao's generate.py; mode "reduce-overhead": Inductor with CUDA
  graphs): q, k, v one GEMM (pytorch-labs/gpt-fast model.py at 32971d3129541c5bfb4f715abc33d1c5f408d204,
  2024-09-15: `self.wqkv`, one nn.Linear on the concatenated weights; the corpus row's commit 0f925b5
  is not in the stored mirror); attention one kernel (`F.scaled_dot_product_attention`); a run of
  pointwise and reduction ops between GEMMs one generated kernel (PyTorch docs, torch.compiler
  "Getting Started": "The single most important optimization that inductor performs is fusion",
  2 reads and 2 writes become 1 read and 1 write); matmuls stay library calls (no epilogue fusion
  outside max-autotune), so an activation after a GEMM joins the next run.
* **PyTorch eager**: every op its own kernel (nothing fuses).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from nmsim.workloads import NonGemmOp, Op


class FusionRules(NamedTuple):
    """What a framework fuses: q/k/v into one GEMM, attention into one kernel, activations into
    the GEMM epilogue, runs of non-GEMM ops into one kernel."""

    merge_qkv: bool
    fused_attention: bool
    epilogue_activation: bool
    fuse_runs: bool


FUSION: dict[str, FusionRules] = {
    "tensorrt": FusionRules(merge_qkv=True, fused_attention=True, epilogue_activation=True, fuse_runs=True),
    "torch_compile": FusionRules(merge_qkv=True, fused_attention=True, epilogue_activation=False, fuse_runs=True),
    "torch_eager": FusionRules(merge_qkv=False, fused_attention=False, epilogue_activation=False, fuse_runs=False),
}
QKV = ("attn.q", "attn.k", "attn.v")


@dataclass(frozen=True)
class Kernel:
    """One kernel a framework launches. kind 'gemm': `gemms` merged into one GEMM (same M, K, batch
    and sparsity; their N add up), `ops` the activations in its epilogue; 'attention': `gemms` the
    score and context matmuls, `ops` the softmax between them; 'nongemm': `ops` run as one kernel."""

    kind: str
    gemms: tuple[Op, ...] = ()
    ops: tuple[NonGemmOp, ...] = ()

    @property
    def name(self) -> str:
        """The names of what it runs, joined by '+'."""
        return "+".join(x.name for x in (*self.gemms, *self.ops))


def _qkv_at(layers: list, i: int) -> bool:
    trio = layers[i:i + 3]
    if len(trio) < 3 or not all(isinstance(x, Op) and x.name.endswith(s) for x, s in zip(trio, QKV)):
        return False
    return len({(x.M, x.K, x.batch, x.weight_sparsity) for x in trio}) == 1


def _attention_at(layers: list, i: int) -> int:
    """Layers a fused attention kernel takes from i (score, [softmax], context), 0 if none starts there."""
    if not (isinstance(layers[i], Op) and layers[i].kind == "attn_score"):
        return 0
    j = i + 1
    if j < len(layers) and isinstance(layers[j], NonGemmOp) and layers[j].kind == "softmax":
        j += 1
    return j - i + 1 if j < len(layers) and isinstance(layers[j], Op) and layers[j].kind == "attn_context" else 0


def kernels(layers: list, framework: str) -> list[Kernel]:
    """The kernels `framework` (a FUSION key) launches for `layers` (Workload.layers), in order."""
    rules = FUSION[framework]
    out: list[Kernel] = []
    run: list[NonGemmOp] = []
    i = 0
    while i < len(layers):
        x = layers[i]
        if isinstance(x, NonGemmOp):
            if x.fused and rules.epilogue_activation and out and out[-1].kind == "gemm" and not run:
                out[-1] = Kernel("gemm", out[-1].gemms, out[-1].ops + (x,))
            elif rules.fuse_runs:
                run.append(x)
            else:
                out.append(Kernel("nongemm", ops=(x,)))
            i += 1
            continue
        if run:
            out.append(Kernel("nongemm", ops=tuple(run)))
            run = []
        n = _attention_at(layers, i) if rules.fused_attention else 0
        if n:
            group = layers[i:i + n]
            out.append(Kernel("attention", gemms=(group[0], group[-1]), ops=tuple(group[1:-1])))
        else:
            n = 3 if rules.merge_qkv and _qkv_at(layers, i) else 1
            out.append(Kernel("gemm", gemms=tuple(layers[i:i + n])))
        i += n
    if run:
        out.append(Kernel("nongemm", ops=tuple(run)))
    return out
