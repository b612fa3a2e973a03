"""cli: the `nmsim` console script (`main.main`), on top of every other package.

One module per command, each with `add_parser(sub)` that registers the command and its handler:
`presets_cmd`, `workloads_cmd`, `simulate_cmd` (with `scalesim_cmd` for SCALE-Sim's own files),
`map_cmd`, `prune_cmd`, `rtl_cmd`, `gpu_cmd`, `dse_cmd`, `reproduce_cmd`, `demo_cmd` (the demo
itself is `demo.py`). `main.py` builds the parser from them and dispatches; `resolve.py` turns
arguments into objects, `tables.py` draws the rich tables, `errors.py` prints errors (one line,
exit code 2) and warnings. Choices offered on the command line come from the library modules
that own them; handlers import what they need when they run.
"""
