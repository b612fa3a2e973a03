"""dse: design-space exploration. Sweep specs (YAML), sampling (grid, random, Latin hypercube,
adaptive multi-objective search with optuna), batched evaluation with the fast model, local-process
and Dask executors, a resumable SQLite result store, Pareto fronts, reports and plots.

Notebook use (docs/DSE.md):

    from nmsim import dse
    dse.run_sweep("dse/examples/sat_array.yaml", "sat.sqlite")
    table = dse.load_results("sat.sqlite")               # columns: table["latency_s"], table["rows"], ...
    front = dse.pareto_front(table, ["latency", "energy"])
    dse.plots.pareto_plot(table, ["latency", "energy"], "front.svg")

Depends on everything below it (accel, workloads, mapping, sim); nothing imports dse but the CLI.
"""
from . import plots
from .pareto import pareto_front, pareto_mask
from .report import report
from .spec import DSE_OBJECTIVES, Sweep, load_sweep, sweep_from_dict
from .store import ResultStore, ResultTable, export_csv, export_parquet, load_results
from .sweep import SweepSummary, run_sweep

__all__ = ["run_sweep", "SweepSummary", "load_sweep", "sweep_from_dict", "Sweep", "DSE_OBJECTIVES", "load_results",
           "ResultTable", "ResultStore", "export_csv", "export_parquet", "pareto_front", "pareto_mask", "report",
           "plots"]
