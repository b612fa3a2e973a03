// soc_buf: one on-chip buffer of the SoC: two halves (ping-pong), each DEPTH rows of 32 bytes
// made of two 16-byte banks (docs/RTL.md, "On-chip buffers").
//
// Port X (the array side): a read of one 32-B row (data one cycle later) and a write of one
// 32-B row with a per-bank enable. Port D (the DMA side): a write of one 16-B word (bank
// d_bank of row d_addr) and a read of one 32-B row (data one cycle later). Reads and writes of a
// half are separate ports (two banks, or a two-port macro for the accumulator).
// The sequencer never lets X and D use one half in the same cycle; `conflict` goes high and
// stays high if they do (checked by the testbench).
module soc_buf #(
    parameter DEPTH = 512,
    parameter AW = $clog2(DEPTH)  // derived; do not override
) (
    input            clk,
    input            rst,
    input            x_rd,
    input            x_rd_half,
    input  [AW-1:0]  x_rd_addr,
    output reg [255:0] x_rd_data,
    input  [1:0]     x_wr,        // bank enables of the 32-B write
    input            x_wr_half,
    input  [AW-1:0]  x_wr_addr,
    input  [255:0]   x_wr_data,
    input            d_wr,
    input            d_wr_half,
    input  [AW-1:0]  d_wr_addr,
    input            d_wr_bank,
    input  [127:0]   d_wr_data,
    input            d_rd,
    input            d_rd_half,
    input  [AW-1:0]  d_rd_addr,
    output reg [255:0] d_rd_data,
    output reg       conflict
);
    reg [127:0] lo [0:2*DEPTH-1];
    reg [127:0] hi [0:2*DEPTH-1];
    wire [AW:0] xr = {x_rd_half, x_rd_addr};
    wire [AW:0] xw = {x_wr_half, x_wr_addr};
    wire [AW:0] dw = {d_wr_half, d_wr_addr};
    wire [AW:0] dr = {d_rd_half, d_rd_addr};
    // Which halves each side touches this cycle.
    wire [1:0] x_use = (x_rd ? (2'b01 << x_rd_half) : 2'b00) | ((x_wr != 2'b00) ? (2'b01 << x_wr_half) : 2'b00);
    wire [1:0] d_use = (d_wr ? (2'b01 << d_wr_half) : 2'b00) | (d_rd ? (2'b01 << d_rd_half) : 2'b00);
    always @(posedge clk) begin
        if (x_rd) x_rd_data <= {hi[xr], lo[xr]};
        if (d_rd) d_rd_data <= {hi[dr], lo[dr]};
        if (x_wr[0]) lo[xw] <= x_wr_data[127:0];
        if (x_wr[1]) hi[xw] <= x_wr_data[255:128];
        if (d_wr && !d_wr_bank) lo[dw] <= d_wr_data;
        if (d_wr && d_wr_bank) hi[dw] <= d_wr_data;
        if (rst) conflict <= 1'b0;
        else if ((x_use & d_use) != 2'b00) conflict <= 1'b1;
    end
endmodule
