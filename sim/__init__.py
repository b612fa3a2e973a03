"""sim: the cost model. The fast analytic systolic model (`analytic.gemm_cost`, vectorized over
candidate mappings), the detailed SimPy engine (`engine.py`, `simulate_op(..., engine="detailed")`)
on the same tile schedule (`schedule.py`), the tile-level GPU GEMM model (`gpu/`), result records, and workload-level simulation.
Depends on `accel`, `workloads`, `mapping`."""
from .analytic import DATAFLOW_CODES, gemm_cost
from .hw import HwParams
from .results import LayerResult, RunResult
from .simulate import map_op, simulate_op, simulate_workload

__all__ = ["gemm_cost", "DATAFLOW_CODES", "HwParams", "LayerResult", "RunResult", "simulate_op", "simulate_workload", "map_op"]
