// nm_decoder: one compressed N:M group (N values and their lane indices) back to a dense
// vector of M lanes, with zeros in the lanes no index names (sim.functional.nm_decode).
//
// A well-formed group has distinct indices (topn_selector emits them ascending). Should two
// slots name the same lane, the higher slot wins, as in sim.functional.nm_decode.
//
// Interface (rising edge of clk; rst synchronous, active high, empties the register):
//   in_valid/in_ready, in_val, in_idx   slot s: value in_val[s*W +: W], lane in_idx[s*IDXW +: IDXW].
//   out_valid/out_ready, out_data       lane i at out_data[i*W +: W].
//   Latency: one register stage; a group taken at clock edge e is presented right after e.
//   in_ready = !out_valid || out_ready: one group per cycle while out_ready is high.
module nm_decoder #(
    parameter N = 2,
    parameter M = 4,
    parameter W = 8,
    parameter IDXW = (M > 1) ? $clog2(M) : 1
) (
    input                   clk,
    input                   rst,
    input                   in_valid,
    output                  in_ready,
    input  [N*W-1:0]        in_val,
    input  [N*IDXW-1:0]     in_idx,
    output reg              out_valid,
    input                   out_ready,
    output reg [M*W-1:0]    out_data
);
    wire en = !out_valid || out_ready;
    assign in_ready = en;

    reg [M*W-1:0] dense;
    integer s, i;
    always @* begin
        dense = {M*W{1'b0}};
        for (i = 0; i < M; i = i + 1)
            for (s = 0; s < N; s = s + 1)  // later slots overwrite earlier ones
                if (in_idx[s*IDXW +: IDXW] == i[IDXW-1:0])
                    dense[i*W +: W] = in_val[s*W +: W];
    end

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            out_data <= {M*W{1'b0}};
        end else if (en) begin
            out_valid <= in_valid;
            out_data <= dense;
        end
    end
endmodule
