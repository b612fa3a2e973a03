"""workloads.ml: the torch side of workloads (the `ml` extra). Tracing torch modules to ops
(`trace.py`), torch modules of the zoo (`torch_zoo.py`), pruning methods (`pruning/`), the real
models (`minilm.py`, `digits_cnn.py`) and prune-measure-trace runs (`prune_run.py`).

Everything above this folder (`workloads.ops`, `.sparsity`, `.workload`, `.zoo`, `.scalesim`)
imports no torch; nothing outside this folder imports it at module level.
"""
