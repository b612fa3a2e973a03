// soc_outwr: the output writer: array output rows -> C buffer, read-modify-write (docs/RTL.md,
// "On-chip buffers": one entry read and one written per cycle on the two-port accumulator).
//
// An entry (m, f) holds the C int32 sums of output row m, columns 8f..8f+7, at entry address
// m x c_pitch + f of the run's half. Folds arrive in order: WS folds give T rows (tile rows
// 0..T-1, column fold fc); OS folds give R rows (tile rows 8 fr + r, column fold fc), of which
// rows at or beyond the tile's t_m are dropped. f_acc = 0 overwrites (the first contribution
// to the run), 1 adds. `run_done` pulses once the last row of a fold marked f_end is written.
module soc_outwr #(
    parameter R = 8,
    parameter C = 8,
    parameter ACC = 32,
    parameter BAW = 9
) (
    input                 clk,
    input                 rst,
    input                 os,
    input  [BAW-1:0]      c_pitch,
    input                 f_valid,
    output                f_pop,
    input                 f_half,
    input  [15:0]         f_fr,
    input  [15:0]         f_fc,
    input  [15:0]         f_t,
    input  [15:0]         f_tm,
    input                 f_acc,
    input                 f_end,
    input                 o_valid,
    input  [C*ACC-1:0]    o_data,
    output                x_rd,
    output                x_rd_half,
    output [BAW-1:0]      x_rd_addr,
    input  [255:0]        x_rd_data,
    output reg [1:0]      x_wr,
    output reg            x_wr_half,
    output reg [BAW-1:0]  x_wr_addr,
    output reg [255:0]    x_wr_data,
    output reg            run_done,
    output reg            err
);
    reg  [15:0] row;                           // output row of the current fold
    localparam [15:0] R16 = R[15:0];
    wire [15:0] n_rows = os ? R16 : f_t;
    wire        fold_last = (row + 16'd1 == n_rows);
    wire [15:0] m = os ? f_fr * R16 + row : row;
    wire        keep = o_valid && f_valid && (m < f_tm);
    assign f_pop = o_valid && f_valid && fold_last;
    assign x_rd = keep;
    assign x_rd_half = f_half;
    assign x_rd_addr = m[BAW-1:0] * c_pitch + f_fc[BAW-1:0];

    reg             s_v, s_acc, s_half;
    wire            unused_ok = &{1'b0, f_fc};  // only the low bits address the buffer
    reg [BAW-1:0]   s_addr;
    reg [C*ACC-1:0] s_data;
    integer c;
    always @* begin
        for (c = 0; c < C; c = c + 1)
            x_wr_data[c*ACC +: ACC] = s_data[c*ACC +: ACC] + (s_acc ? x_rd_data[c*ACC +: ACC] : {ACC{1'b0}});
        x_wr = s_v ? 2'b11 : 2'b00;
        x_wr_half = s_half;
        x_wr_addr = s_addr;
    end

    always @(posedge clk) begin
        if (rst) begin
            row <= 16'd0;
            s_v <= 1'b0;
            run_done <= 1'b0;
            err <= 1'b0;
        end else begin
            if (o_valid && !f_valid) err <= 1'b1;  // an output row nobody announced
            if (o_valid && f_valid) row <= fold_last ? 16'd0 : row + 16'd1;
            s_v <= keep;
            s_acc <= f_acc;
            s_half <= f_half;
            s_addr <= x_rd_addr;
            s_data <= o_data;
            run_done <= o_valid && f_valid && fold_last && f_end;
        end
    end
endmodule
