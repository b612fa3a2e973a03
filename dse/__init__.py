"""dse: design-space exploration (sweep specs, executors, resumable result store, Pareto fronts,
plots). Filled by the DSE issue."""
