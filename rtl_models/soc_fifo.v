// soc_fifo: synchronous first-word-fall-through FIFO of DEPTH (a power of two) WIDTH-bit entries.
//
// `head` is the oldest entry while `count` > 0; `pop` removes it, `push` appends `din` (both in
// one cycle allowed). Pushing when full or popping when empty is a design error of the caller;
// `err` goes high and stays high (the SoC testbench checks it is never set).
// rst is synchronous and active high.
module soc_fifo #(
    parameter WIDTH = 8,
    parameter DEPTH = 4,
    parameter AW = (DEPTH > 1) ? $clog2(DEPTH) : 1  // derived; do not override
) (
    input              clk,
    input              rst,
    input              push,
    input  [WIDTH-1:0] din,
    input              pop,
    output [WIDTH-1:0] head,
    output reg [AW:0]  count,
    output             full,
    output             empty,
    output reg         err
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] rd, wr;
    assign head  = mem[rd];
    assign full  = (count == DEPTH);
    assign empty = (count == 0);
    always @(posedge clk) begin
        if (rst) begin
            rd <= {AW{1'b0}};
            wr <= {AW{1'b0}};
            count <= {(AW+1){1'b0}};
            err <= 1'b0;
        end else begin
            if ((push && full && !pop) || (pop && empty)) err <= 1'b1;
            if (push) begin
                mem[wr] <= din;
                wr <= wr + 1'b1;
            end
            if (pop) rd <= rd + 1'b1;
            count <= count + {{AW{1'b0}}, push} - {{AW{1'b0}}, pop};
        end
    end
endmodule
