// nm_pipe: a DEPTH-stage shift register of WIDTH bits with a clock enable.
//
// The systolic array uses it for the input skew (row r waits r cycles), the output de-skew
// (column c waits C-1-c cycles) and the output-valid token line. DEPTH = 0 is a plain wire.
//
// Interface (rising edge of clk):
//   rst  synchronous, active high: every stage <= 0.
//   en   with en high each stage takes the previous one (stage 0 takes d); low: hold.
//   q    the last stage (d itself when DEPTH = 0).
module nm_pipe #(
    parameter WIDTH = 1,
    parameter DEPTH = 1
) (
    input              clk,
    input              rst,
    input              en,
    input  [WIDTH-1:0] d,
    output [WIDTH-1:0] q
);
    generate
        if (DEPTH == 0) begin : g_wire
            assign q = d;
            wire unused_ok = &{1'b0, clk, rst, en};  // a wire has no clock
        end else begin : g_regs
            reg [WIDTH-1:0] stage [0:DEPTH-1];
            integer i;
            always @(posedge clk) begin
                if (rst) begin
                    for (i = 0; i < DEPTH; i = i + 1) stage[i] <= {WIDTH{1'b0}};
                end else if (en) begin
                    stage[0] <= d;
                    for (i = 1; i < DEPTH; i = i + 1) stage[i] <= stage[i-1];
                end
            end
            assign q = stage[DEPTH-1];
        end
    endgenerate
endmodule
