// soc_feed_a: the activation feeder: A buffer rows -> array beats (docs/RTL.md, "The activation
// and weight feeders"). G = N x m/n activations per PE row per beat (2 dense, 4 at 2:4, 16 at
// 1:8 with N = 2); a_pitch = 32-B rows per tile row in the buffer.
//
// Folds arrive in order (f_valid / f_pop with their fields). WS: a fold of row fold `fr`
// streams T beats; beat t is G x R bytes of the tile's row t at byte offset 8 fr G, read as one
// set of 1..4 buffer rows. OS: PE row r carries tile row 8 fr + r; beat t is the G bytes of K unit
// t of every such row; a set holds one 32-B line of each row and serves 32/G beats.
// Bytes at K positions >= tk (beyond the tile) are zeroed. `rel` pulses after the last beat of a
// fold marked f_rel (the tile's last use of its A half).
module soc_feed_a #(
    parameter R = 8,
    parameter LANES = 16,
    parameter BAW = 9
) (
    input              clk,
    input              rst,
    input              os,          // 0 WS, 1 OS
    input  [4:0]       g,           // G: 2, 4 or 16
    input  [BAW-1:0]   a_pitch,
    input              f_valid,
    output             f_pop,
    input              f_half,
    input  [15:0]      f_fr,
    input  [15:0]      f_t,         // beats of the fold
    input  [15:0]      f_tk,        // K elements of the tile
    input  [3:0]       f_units,     // WS: K units in this fold (1..R)
    input  [3:0]       f_rows,      // OS: tile rows in this fold (1..R)
    input              f_rel,
    output             rd,
    output             rd_half,
    output [BAW-1:0]   rd_addr,
    input  [255:0]     rd_data,
    output             a_valid,
    input              a_ready,
    output reg [R*LANES*8-1:0] a_data,
    output reg         rel,
    output             err
);
    // ---- set requests: one per WS beat, one per OS line ----
    reg  [15:0]    s_idx;       // WS: beat t; OS: line L
    reg  [BAW-1:0] s_row;       // WS: t * a_pitch; OS: 8 fr a_pitch + L
    wire [15:0]    n_sets = os ? ((g == 5'd2) ? ((f_t + 16'd15) >> 4) : (g == 5'd4) ? ((f_t + 16'd7) >> 3)
                                                                       : ((f_t + 16'd1) >> 1))
                               : f_t;
    localparam [15:0] R16 = R[15:0];
    // WS: the fold's window starts at byte fr R G of the tile row: 32-B row fr R G / 32, byte
    // (fr R G) mod 32 of it, and spans the rows holding its f_units units (G bytes each).
    wire [15:0]    ws_byte = f_fr * {11'd0, g} * R16;
    wire [BAW-1:0] ws_off = ws_byte[BAW+4:5];
    /* verilator lint_off UNUSEDSIGNAL */  // rows = ceil(span / 32): only bits 8:5 (at most 8 rows)
    wire [15:0]    ws_span = {11'd0, ws_byte[4:0]} + {12'd0, f_units} * {11'd0, g} + 16'd31;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [3:0]     ws_n = ws_span[8:5];
    wire [4:0]     per_line = (g == 5'd2) ? 5'd16 : (g == 5'd4) ? 5'd8 : 5'd2;  // OS beats per line
    wire [15:0]    left = f_t - s_idx * {11'd0, per_line};
    wire [4:0]     os_beats = (left < {11'd0, per_line}) ? left[4:0] : per_line;
    wire           s_last = (s_idx + 16'd1 == n_sets);
    // meta: {byte offset in the first row, kbase, tk, beats, rel}
    localparam MW = 5 + 16 + 16 + 5 + 1;
    wire [15:0]    kbase = os ? {s_idx[10:0], 5'b00000} : ws_byte;
    wire [MW-1:0]  s_meta = {os ? 5'd0 : ws_byte[4:0], kbase, f_tk, os ? os_beats : 5'd1,
                             f_rel && s_last};
    wire           s_ready;
    wire           s_fire = f_valid && s_ready;
    assign f_pop = s_fire && s_last;
    wire [BAW-1:0] base = os ? s_row : s_row + ws_off;

    always @(posedge clk) begin
        if (rst) begin
            s_idx <= 16'd0;
            s_row <= {BAW{1'b0}};
        end else if (s_fire) begin
            if (s_last) begin
                s_idx <= 16'd0;
                s_row <= {BAW{1'b0}};
            end else begin
                s_idx <= s_idx + 16'd1;
                s_row <= s_row + (os ? {{(BAW-1){1'b0}}, 1'b1} : a_pitch);
            end
        end
    end
    // OS lines start at PE row 0's tile row: 8 fr rows down.
    /* verilator lint_off UNUSEDSIGNAL */  // a buffer row address: its low BAW bits
    wire [15:0]    os_row = f_fr * R16;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [BAW-1:0] os_first = os_row[BAW-1:0] * a_pitch;

    wire [2047:0]  h_data;
    wire [MW-1:0]  h_meta;
    wire           h_valid;
    reg            h_pop;
    soc_setfetch #(.MW(MW), .BAW(BAW)) u_sets (
        .clk(clk), .rst(rst), .s_valid(f_valid), .s_ready(s_ready), .s_base(os ? os_first + base : base),
        .s_pitch(os ? a_pitch : {{(BAW-1){1'b0}}, 1'b1}), .s_n(os ? f_rows : ws_n), .s_half(f_half), .s_meta(s_meta),
        .rd(rd), .rd_half(rd_half), .rd_addr(rd_addr), .rd_data(rd_data),
        .h_valid(h_valid), .h_data(h_data), .h_meta(h_meta), .h_pop(h_pop), .err(err));

    // ---- beats out of the head set ----
    wire [4:0]  h_boff  = h_meta[MW-1 -: 5];
    wire [15:0] h_kbase = h_meta[MW-6 -: 16];
    wire [15:0] h_tk    = h_meta[MW-22 -: 16];
    wire [4:0]  h_beats = h_meta[5:1];
    wire        h_rel   = h_meta[0];
    reg  [4:0]  tb;  // beat within the set
    assign a_valid = h_valid;
    wire fire = a_valid && a_ready;
    wire set_done = (tb + 5'd1 == h_beats);

    // Byte addresses and K positions in 32-bit integers; only the low bits index the set.
    /* verilator lint_off UNUSEDSIGNAL */
    integer r, i, src, kpos;
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        for (r = 0; r < R; r = r + 1) begin
            for (i = 0; i < LANES; i = i + 1) begin
                if (os) begin
                    src = r * 32 + {27'd0, tb} * {27'd0, g} + i;
                    kpos = {16'd0, h_kbase} + {27'd0, tb} * {27'd0, g} + i;
                end else begin
                    src = {27'd0, h_boff} + r * {27'd0, g} + i;
                    kpos = {16'd0, h_kbase} + r * {27'd0, g} + i;
                end
                a_data[(r*LANES+i)*8 +: 8] = (i < {27'd0, g} && kpos < {16'd0, h_tk}) ? h_data[src[7:0]*8 +: 8] : 8'd0;
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
endmodule
