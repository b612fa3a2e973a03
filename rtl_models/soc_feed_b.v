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
    wire [4:0]  rec = sparse ? NP * 2 : NP;                 // bytes per record
    wire [4:0]  per_line = sparse ? 32 / (NP * 2) : 32 / NP;  // OS records per 32-B line
    reg  [15:0] s_idx;                                      // OS: line L
    wire [15:0] n_sets = os ? (f_t + {11'd0, per_line} - 16'd1) / {11'd0, per_line} : 16'd1;
    wire [15:0] left = f_t - s_idx * {11'd0, per_line};
    wire [4:0]  os_beats = (left < {11'd0, per_line}) ? left[4:0] : per_line;
    wire        s_last = (s_idx + 16'd1 == n_sets);
    // WS: the fold's records start at byte fr * R * rec of each column run.
    wire [BAW-1:0] ws_off = sparse ? f_fr[BAW-1:0] : f_fr[BAW:1];
    wire [BAW-1:0] base = f_fc[BAW-4:0] * C * b_pitch + (os ? s_idx[BAW-1:0] : ws_off);
    // meta: {win16, first unit, knnz, beats, rel}
    localparam MW = 1 + 16 + 16 + 5 + 1;
    wire [15:0] unit0 = os ? s_idx * {11'd0, per_line} : f_fr * R;
    wire [MW-1:0] s_meta = {(!os && !sparse) ? f_fr[0] : 1'b0, unit0, f_knnz, os ? os_beats : R[4:0],
                            f_rel && s_last};
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
    wire       cq_full, cq_empty, cq_err;
    soc_fifo #(.WIDTH(4), .DEPTH(4)) u_cols (
        .clk(clk), .rst(rst), .push(s_fire), .din(f_cols), .pop(h_pop), .head(c_count), .count(),
        .full(cq_full), .empty(cq_empty), .err(cq_err));

    wire        h_win16 = h_meta[MW-1];
    wire [15:0] h_unit0 = h_meta[MW-2 -: 16];
    wire [15:0] h_knnz  = h_meta[MW-18 -: 16];
    wire [4:0]  h_beats = h_meta[5:1];
    wire        h_rel   = h_meta[0];
    reg  [4:0]  tb;
    assign w_valid = h_valid;
    wire fire = w_valid && w_ready;
    wire set_done = (tb + 5'd1 == h_beats);

    wire [7:0] hb [0:255];
    genvar q;
    generate
        for (q = 0; q < 256; q = q + 1) begin : g_bytes
            assign hb[q] = h_data[q*8 +: 8];
        end
    endgenerate
    integer c, j;
    reg [15:0] unit, slot, at;
    reg [7:0]  v, ix;
    reg        keep;
    always @* begin
        // WS beats go bottom PE row first: beat tb carries unit fr * R + (R - 1 - tb).
        unit = os ? h_unit0 + tb : h_unit0 + (R - 1) - tb;
        for (c = 0; c < C; c = c + 1) begin
            for (j = 0; j < NP; j = j + 1) begin
                at = c * 32 + (h_win16 ? 16 : 0) + (os ? tb : (R - 1) - tb) * rec + (sparse ? 2 * j : j);
                slot = unit * NP + j;
                keep = (c < c_count) && (slot < h_knnz);
                v = hb[at[7:0]];
                ix = sparse ? hb[at[7:0] + 8'd1] : 8'd0;
                w_data[(c*NP+j)*8 +: 8] = keep ? v : 8'd0;
                w_idx[(c*NP+j)*IDXW +: IDXW] = keep ? (lane_base[j*5 +: 5] + ix[4:0]) : {IDXW{1'b0}};
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
