"""rtl_models: Verilog of the N:M sparse datapath (nm_pe, nm_systolic_array, topn_selector,
nm_decoder), cocotb testbenches and RTL-vs-simulator cycle validation. Filled by the RTL issue."""
