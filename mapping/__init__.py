"""mapping: Mapping objects, validity checks, the sparse execution plan and the default mapping.

Depends on `accel` and `workloads`. The cost function is passed in by callers (sim's fast
model), so `mapping` never imports `sim`.
"""
from .mapping import LOOP_ORDERS, SPATIAL, Mapping, check_mapping, default_mapping, default_mapping_search, footprint_bytes
from .sparse_plan import SparsePlan, plan_sparsity

__all__ = ["Mapping", "LOOP_ORDERS", "SPATIAL", "check_mapping", "default_mapping", "default_mapping_search", "footprint_bytes",
           "SparsePlan", "plan_sparsity"]
