"""sim: the cost model. Cost backends behind one protocol (`backend.CostBackend`, chosen by
`backends.backend_for`): the fast analytic systolic model (`analytic.gemm_cost`, vectorized over
candidate mappings) and the detailed SimPy engine (`engine.py`) on the same tile schedule
(`schedule.py`), both in `systolic.py`; the tile-level GPU GEMM model (`gpu/`, through
`gpu_backend.py`); non-GEMM operators on a systolic arch's vector unit (`vector.py`) and as GPU
kernels (`gpu/nongemm.py`); SCALE-Sim compatibility (`scalesim_compat.py`). `simulate.py` runs a workload
through a backend; `training.py` composes SAT's training step. Depends on `accel`, `workloads`,
`mapping`, `problem`."""
from . import gpu
from .analytic import gemm_cost
from .backend import CostBackend
from .backends import ENGINES, backend_for
from .hw import HwParams
from .results import LayerResult, RunResult
from .simulate import map_op, op_cost, simulate_op, simulate_workload
from .vector import VectorParams, vector_cost, vector_terms

__all__ = ["gemm_cost", "HwParams", "LayerResult", "RunResult", "simulate_op", "simulate_workload", "map_op",
           "op_cost", "CostBackend", "backend_for", "ENGINES", "gpu", "VectorParams", "vector_terms", "vector_cost"]
