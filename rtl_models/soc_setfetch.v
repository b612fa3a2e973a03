// soc_setfetch: reads "sets" of up to 8 buffer rows (32 B each) for a feeder, running ahead of
// the array by up to 4 sets (docs/RTL.md, "The activation and weight feeders").
//
// A set request gives the first row, the row pitch, the number of rows (1..8), the buffer half
// and metadata for the feeder; rows are read one per cycle (the buffer's array-side port, data
// one cycle later). A set becomes visible at the head (h_valid, h_data: row i at
// h_data[i*256 +: 256], h_meta) once all its rows have arrived; h_pop drops it.
module soc_setfetch #(
    parameter MW = 8,
    parameter BAW = 9
) (
    input               clk,
    input               rst,
    input               s_valid,
    output              s_ready,
    input  [BAW-1:0]    s_base,
    input  [BAW-1:0]    s_pitch,
    input  [3:0]        s_n,
    input               s_half,
    input  [MW-1:0]     s_meta,
    output              rd,
    output              rd_half,
    output [BAW-1:0]    rd_addr,
    input  [255:0]      rd_data,
    output              h_valid,
    output [2047:0]     h_data,
    output [MW-1:0]     h_meta,
    input               h_pop,
    output              err
);
    reg           act, half_q;
    reg [3:0]     i, n_q;
    reg [BAW-1:0] addr_q, pitch_q;
    reg [1:0]     wslot, rslot;
    reg [2:0]     alloc;
    reg [MW-1:0]  meta_q;

    assign s_ready = !act && (alloc != 3'd4);
    wire accept = s_valid && s_ready;
    assign rd      = accept || act;
    assign rd_half = act ? half_q : s_half;
    assign rd_addr = act ? addr_q : s_base;
    wire [2:0] row  = act ? i[2:0] : 3'd0;
    wire       last = act ? (i + 4'd1 == n_q) : (s_n == 4'd1);
    wire [MW-1:0] meta = act ? meta_q : s_meta;

    reg          cap_v, cap_last;
    reg [1:0]    cap_slot;
    reg [2:0]    cap_row;
    reg [MW-1:0] cap_meta;
    reg [255:0]  rows [0:31];

    wire [2:0] unused_mcount;
    wire       unused_mfull, mempty;
    soc_fifo #(.WIDTH(MW), .DEPTH(4)) u_meta (
        .clk(clk), .rst(rst), .push(cap_v && cap_last), .din(cap_meta), .pop(h_pop),
        .head(h_meta), .count(unused_mcount), .full(unused_mfull), .empty(mempty), .err(err));
    assign h_valid = !mempty;
    genvar g;
    generate
        for (g = 0; g < 8; g = g + 1) begin : g_head
            assign h_data[g*256 +: 256] = rows[{rslot, g[2:0]}];
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            act <= 1'b0;
            wslot <= 2'd0;
            rslot <= 2'd0;
            alloc <= 3'd0;
            cap_v <= 1'b0;
        end else begin
            alloc <= alloc + (accept ? 3'd1 : 3'd0) - (h_pop ? 3'd1 : 3'd0);
            if (h_pop) rslot <= rslot + 2'd1;
            cap_v <= rd;
            cap_last <= last;
            cap_row <= row;
            cap_slot <= act ? wslot - 2'd1 : wslot;
            cap_meta <= meta;
            if (accept) begin
                wslot <= wslot + 2'd1;
                meta_q <= s_meta;
                half_q <= s_half;
                pitch_q <= s_pitch;
                n_q <= s_n;
                addr_q <= s_base + s_pitch;
                i <= 4'd1;
                act <= (s_n != 4'd1);
            end else if (act) begin
                addr_q <= addr_q + pitch_q;
                i <= i + 4'd1;
                if (last) act <= 1'b0;
            end
            if (cap_v) rows[{cap_slot, cap_row}] <= rd_data;
        end
    end
endmodule
