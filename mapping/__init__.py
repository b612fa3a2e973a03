"""mapping: Mapping objects, validity checks, the sparse execution plan, the mapping space,
user constraints and the mappers.

Depends on `accel` and `workloads`. The cost function is passed in by callers (sim's fast
model), so `mapping` never imports `sim`.
"""
from .constraints import Constraints, TileBound, load_constraints
from .levels import inner_orders, inner_tiles
from .mapping import (LOOP_ORDERS, LevelTile, Mapping, SpatialSplit, check_mapping, default_mapping,
                      default_mapping_candidates, footprint_bytes, with_inner_levels)
from .mapping_file import MappingFile, load_mappings, save_mappings
from .search import MAPPERS, OBJECTIVES, RankedMapping, SearchResult, objective_values, search
from .space import Candidates, MappingSpace, tile_choices
from .sparse_plan import SparsePlan, executed_gemm, plan_sparsity

__all__ = ["Mapping", "LevelTile", "SpatialSplit", "with_inner_levels", "inner_tiles", "inner_orders", "LOOP_ORDERS", "check_mapping", "default_mapping",
           "default_mapping_candidates", "footprint_bytes", "SparsePlan", "executed_gemm", "plan_sparsity",
           "Constraints", "TileBound", "load_constraints", "Candidates", "MappingSpace", "tile_choices",
           "MappingFile", "load_mappings", "save_mappings", "MAPPERS", "OBJECTIVES", "RankedMapping", "SearchResult", "objective_values", "search"]
