"""rtl_models: Verilog of the N:M sparse datapath (nm_pe, nm_systolic_array, topn_selector,
nm_decoder), cached Icarus/Verilator builds and cocotb runs, RTL-vs-simulator cycle validation
(`validate.run_cases`, `nmsim rtl validate`) and Yosys PE area (`nmsim rtl area`).
Depends on `sim` (golden functional model, predictions), `accel`, `mapping`, `workloads`.
See docs/RTL.md."""
