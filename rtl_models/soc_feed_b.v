// soc_feed_b: the weight feeder: B buffer rows -> array weight beats (docs/RTL.md, "The activation
// and weight feeders", "Weight format"). A column's run holds one record per K unit: NP values
// (dense, 1 B each) or NP (value, in-group index) byte pairs (sparse). b_pitch = 32-B rows per
// column run in the buffer; lane_base[j] = (j div n) x m turns multiplier j's index into a lane.
//
// WS: a fold (row fold fr, column fold fc) reads one set of one row per column (the 8 units of
// the fold: 16 B dense, 32 B sparse) and gives R beats, bottom PE row first. OS: a set holds one
// 32-B line of each column and serves 32/(NP x record bytes) beats (K units). Weights of units,
// slots or columns outside the tile are zero. `rel` pulses after a fold marked f_rel.
module soc_feed_b #(
    parameter R = 8,
    parameter C = 8,
    parameter NP = 2,
    parameter IDXW = 4,
    parameter BAW = 9
) (
    input              clk,
    input              rst,
    input              os,
    input              sparse,      // records are (value, index) pairs
    input  [NP*5-1:0]  lane_base,
    input  [BAW-1:0]   b_pitch,
    input              f_valid,
    output             f_pop,
    input              f_half,
    input  [15:0]      f_fr,
    input  [15:0]      f_fc,
    input  [15:0]      f_t,         // OS: beats (K units) of the fold
    input  [15:0]      f_knnz,      // kept weights per column in the tile
    input  [3:0]       f_cols,      // columns of the fold inside the tile (1..C)
    input              f_rel,
    output             rd,
    output             rd_half,
    output [BAW-1:0]   rd_addr,
    input  [255:0]     rd_data,
    output             w_valid,
    input              w_ready,
    output reg [C*NP*8-1:0]    w_data,
    output reg [C*NP*IDXW-1:0] w_idx,
    output reg         rel,
    output             err
);
    localparam integer REC_D = NP, REC_S = 2 * NP;           // bytes per record, dense / sparse
    localparam integer PL_D = 32 / NP, PL_S = 32 / (2 * NP);  // OS records per 32-B line
    wire [4:0]  rec = sparse ? REC_S[4:0] : REC_D[4:0];
    wire [4:0]  per_line = sparse ? PL_S[4:0] : PL_D[4:0];
    reg  [15:0] s_idx;                                      // OS: line L
    wire [15:0] n_sets = os ? (f_t + {11'd0, per_line} - 16'd1) / {11'd0, per_line} : 16'd1;
    wire [15:0] left = f_t - s_idx * {11'd0, per_line};
    wire [4:0]  os_beats = (left < {11'd0, per_line}) ? left[4:0] : per_line;
    wire        s_last = (s_idx + 16'd1 == n_sets);
    // WS: the fold's records start at byte fr * R * rec of each column run.
    localparam [15:0] R16 = R[15:0], C16 = C[15:0];
    // WS: the fold's R records of a column start at byte fr R rec of its run (within one 32-B row).
    /* verilator lint_off UNUSEDSIGNAL */  // buffer addresses: only their low bits
    wire [15:0]    ws_byte = f_fr * R16 * {11'd0, rec};
    wire [15:0]    first_col = f_fc * C16;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [BAW-1:0] base = first_col[BAW-1:0] * b_pitch + (os ? s_idx[BAW-1:0] : ws_byte[BAW+4:5]);
    // meta: {byte offset in the row, first unit, knnz, beats, rel}
    localparam MW = 5 + 16 + 16 + 5 + 1;
    wire [15:0] unit0 = os ? s_idx * {11'd0, per_line} : f_fr * R16;
    wire [MW-1:0] s_meta = {os ? 5'd0 : ws_byte[4:0], unit0, f_knnz, os ? os_beats : R16[4:0], f_rel && s_last};
    wire        s_ready;
    wire        s_fire = f_valid && s_ready;
    assign f_pop = s_fire && s_last;
    always @(posedge clk) begin
        if (rst) s_idx <= 16'd0;
        else if (s_fire) s_idx <= s_last ? 16'd0 : s_idx + 16'd1;
    end

    wire [2047:0] h_data;
    wire          s_err;
    wire [MW-1:0] h_meta;
    wire          h_valid;
    reg           h_pop;
    soc_setfetch #(.MW(MW), .BAW(BAW)) u_sets (
        .clk(clk), .rst(rst), .s_valid(f_valid), .s_ready(s_ready), .s_base(base), .s_pitch(b_pitch),
        .s_n(f_cols), .s_half(f_half), .s_meta(s_meta), .rd(rd), .rd_half(rd_half), .rd_addr(rd_addr),
        .rd_data(rd_data), .h_valid(h_valid), .h_data(h_data), .h_meta(h_meta), .h_pop(h_pop), .err(s_err));
    // Columns beyond the tile are not read: remember how many a set has.
    wire [3:0] c_count;
    wire [2:0] unused_cq_count;
    wire       unused_cq_full, unused_cq_empty, cq_err;
    soc_fifo #(.WIDTH(4), .DEPTH(4)) u_cols (
        .clk(clk), .rst(rst), .push(s_fire), .din(f_cols), .pop(h_pop), .head(c_count), .count(unused_cq_count),
        .full(unused_cq_full), .empty(unused_cq_empty), .err(cq_err));

    wire [4:0]  h_boff  = h_meta[MW-1 -: 5];
    wire [15:0] h_unit0 = h_meta[MW-6 -: 16];
    wire [15:0] h_knnz  = h_meta[MW-22 -: 16];
    wire [4:0]  h_beats = h_meta[5:1];
    wire        h_rel   = h_meta[0];
    reg  [4:0]  tb;
    assign w_valid = h_valid;
    wire fire = w_valid && w_ready;
    wire set_done = (tb + 5'd1 == h_beats);

    // Byte addresses and counts in 32-bit integers; only their low bits index the set.
    /* verilator lint_off UNUSEDSIGNAL */
    integer c, j, unit, slot, at, row;
    reg [4:0] lane;
    /* verilator lint_on UNUSEDSIGNAL */
    reg        keep;
    always @* begin
        // WS beats go bottom PE row first: beat tb carries unit fr * R + (R - 1 - tb).
        row = os ? {27'd0, tb} : R - 1 - {27'd0, tb};
        unit = {16'd0, h_unit0} + (os ? {27'd0, tb} : row);
        for (c = 0; c < C; c = c + 1) begin
            for (j = 0; j < NP; j = j + 1) begin
                at = c * 32 + {27'd0, h_boff} + row * {27'd0, rec} + (sparse ? 2 * j : j);
                slot = unit * NP + j;
                keep = (c < {28'd0, c_count}) && (slot < {16'd0, h_knnz});
                lane = lane_base[j*5 +: 5] + (sparse ? h_data[(at[7:0] + 8'd1)*8 +: 5] : 5'd0);
                w_data[(c*NP+j)*8 +: 8] = keep ? h_data[at[7:0]*8 +: 8] : 8'd0;
                w_idx[(c*NP+j)*IDXW +: IDXW] = keep ? lane[IDXW-1:0] : {IDXW{1'b0}};
            end
        end
    end

    always @* h_pop = fire && set_done;
    always @(posedge clk) begin
        if (rst) begin
            tb <= 5'd0;
            rel <= 1'b0;
        end else begin
            rel <= fire && set_done && h_rel;
            if (fire) tb <= set_done ? 5'd0 : tb + 5'd1;
        end
    end
    assign err = s_err | cq_err;
endmodule
