// dram_bench_tb: LiteDRAM's generated `dram_sim` alone, driven by a pattern generator in RTL, to
// measure the DRAM's own costs (refresh, page changes, read/write turnarounds) independently of
// the SoC (rtl_models/dram_bench.py; docs/MODEL.md, "DRAM efficiency").
//
// Two streams X and Y, each walking rows of `run` consecutive 16-B words `pitch` words apart from
// `base`, read or written (`we`). The generator issues `batch` commands of X, then `batch` of Y
// (when y_on), and so on, one command per cycle at most, `n` commands in all; write data are
// constant. `cycles` counts from `go` until every command's data has moved.
module dram_bench_tb #(
    parameter AW = 26
) (
    input            clk,
    input            rst,
    input            go,
    input  [31:0]    n,
    input  [7:0]     batch,
    input            y_on,
    input  [AW-1:0]  x_base, y_base,
    input  [15:0]    x_run, y_run,
    input  [15:0]    x_pitch, y_pitch,
    input            x_we, y_we,
    output reg       busy,
    output reg [31:0] cycles,
    output [31:0]    stat_act,
    output [31:0]    stat_pre,
    output [31:0]    stat_ref,
    output [31:0]    stat_rd,
    output [31:0]    stat_wr,
    output [31:0]    stat_ref_cycles
);
    reg  [31:0]   issued, rd_out, rd_back, wr_out, wr_back;
    reg           sel;          // stream of the current batch: 0 X, 1 Y
    reg  [7:0]    in_batch;
    reg  [AW-1:0] row_x, row_y;
    reg  [15:0]   col_x, col_y;
    reg           cmd_valid, cmd_we;
    reg  [AW-1:0] cmd_addr;
    wire          cmd_ready, wdata_ready, rdata_valid;
    wire          accepted = cmd_valid && cmd_ready;
    wire          slot = !cmd_valid || accepted;
    wire          more = issued != n;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            cmd_valid <= 1'b0;
        end else if (!busy) begin
            if (go) begin
                busy <= 1'b1;
                cycles <= 32'd0;
                {issued, rd_out, rd_back, wr_out, wr_back} <= 160'd0;
                sel <= 1'b0;
                in_batch <= 8'd0;
                row_x <= x_base;
                row_y <= y_base;
                col_x <= 16'd0;
                col_y <= 16'd0;
            end
        end else begin
            cycles <= cycles + 32'd1;
            if (rdata_valid) rd_back <= rd_back + 32'd1;
            if (wdata_ready) wr_back <= wr_back + 32'd1;
            if (slot) begin
                cmd_valid <= more;
                if (more) begin
                    issued <= issued + 32'd1;
                    if (!sel) begin
                        cmd_addr <= row_x + {{(AW-16){1'b0}}, col_x};
                        cmd_we <= x_we;
                        if (x_we) wr_out <= wr_out + 32'd1; else rd_out <= rd_out + 32'd1;
                        if (col_x + 16'd1 == x_run) begin
                            col_x <= 16'd0;
                            row_x <= row_x + {{(AW-16){1'b0}}, x_pitch};
                        end else col_x <= col_x + 16'd1;
                    end else begin
                        cmd_addr <= row_y + {{(AW-16){1'b0}}, col_y};
                        cmd_we <= y_we;
                        if (y_we) wr_out <= wr_out + 32'd1; else rd_out <= rd_out + 32'd1;
                        if (col_y + 16'd1 == y_run) begin
                            col_y <= 16'd0;
                            row_y <= row_y + {{(AW-16){1'b0}}, y_pitch};
                        end else col_y <= col_y + 16'd1;
                    end
                    if (in_batch + 8'd1 == batch) begin
                        in_batch <= 8'd0;
                        sel <= y_on ? !sel : 1'b0;
                    end else in_batch <= in_batch + 8'd1;
                end
            end
            if (!more && !cmd_valid && rd_back == rd_out && wr_back == wr_out) busy <= 1'b0;
        end
    end

    dram_sim u_dram (
        .clk(clk), .rst(rst), .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_we(cmd_we), .cmd_addr(cmd_addr),
        .wdata_ready(wdata_ready), .wdata_data({4{32'h5a5aa5a5}}), .wdata_we(16'hffff),
        .rdata_valid(rdata_valid), .rdata_data(), .refresh_pending(),
        .stat_act(stat_act), .stat_pre(stat_pre), .stat_ref(stat_ref), .stat_rd(stat_rd), .stat_wr(stat_wr),
        .stat_ref_cycles(stat_ref_cycles)
    );
endmodule
