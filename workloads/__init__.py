"""workloads: the op model (GEMM, im2col conv, attention matmuls, non-GEMM operators), sparsity
patterns, workload files and the model zoo. Depends on nothing of nmsim except `specfile`."""
from .nongemm import ACTIVATIONS, NONGEMM_KINDS, NonGemmOp
from .ops import LAYER_FORM, OP_KINDS, ConvShape, Op, conv2d, parse_layer
from .sparsity import DENSE, Sparsity, activation_density
from .workload import Workload

__all__ = ["Op", "ConvShape", "conv2d", "OP_KINDS", "parse_layer", "LAYER_FORM", "NonGemmOp", "NONGEMM_KINDS",
           "ACTIVATIONS", "Sparsity", "DENSE", "Workload", "activation_density"]
