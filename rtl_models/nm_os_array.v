// nm_os_array: an R x C output-stationary systolic array of nm_os_pe (docs/RTL.md, "The array").
// Parameters R, C (PE rows, columns), N, M (N weights of a group of M per PE; N = M dense), W
// (operand bits), ACC (partial-sum bits), TW (bits of t_len, at most 31). IDXW is derived.
//
// What one fold computes: out[r, c] = sum_t sum_j w(t, c, j) * a(t, r, idx(t, c, j)) mod 2^ACC
// for PE row r (an output row) and column c (an output column): beat t brings, for every row,
// the M activations of K unit t, and, for every column, that unit's N weights and lane indices.
//
// Handshakes (rising edge of clk; rst synchronous, active high):
//   start, t_len  sampled when idle, or in the last busy cycle of a fold (back-to-back folds);
//                 T = t_len beats (0 acts as 1). take is high in the cycle start is sampled.
//   busy          high in every cycle of a fold, up to the cycle of the last multiply-accumulate.
//   a_valid/a_ready, a_data (R*M*W): row r's lane i at a_data[(r*M+i)*W +: W];
//   w_valid/w_ready, w_data (C*N*W), w_idx (C*N*IDXW): column c's weight j at (c*N+j).
//                 A beat moves when both valids are high in a streaming cycle (each ready is
//                 high when the other operand is there): the two streams advance together.
//   o_valid, o_data (C*ACC): output row r of the fold, r = 0..R-1 in order, column c at
//                 o_data[c*ACC +: ACC]. No back-pressure.
// A streaming cycle without both beats freezes the whole array (one clock enable).
//
// Schedule without stalls (cycle 0 = the first busy cycle = beat 0 enters):
//   PE (r, c) multiplies beat t in cycle t + r + c (row r skewed by r, column c by c);
//   cycle T + R + C - 3     the last multiply-accumulate, in PE (R-1, C-1): a fold is busy for
//                           T + R + C - 2 cycles (MODEL.md 3.2's OS fill R + C - 2 plus T);
//   cycle T + r + C - 1     output row r: PE (r, c)'s result leaves on column c's bus in cycle
//                           T + r + c and passes C - 1 - c de-skew registers. The rows drain
//                           while the next fold (started in the last busy cycle) streams.
module nm_os_array #(
    parameter R = 4,
    parameter C = 4,
    parameter N = 2,
    parameter M = 4,
    parameter W = 8,
    parameter ACC = 32,
    parameter TW = 16,
    parameter IDXW = (M > 1) ? $clog2(M) : 1
) (
    input                 clk,
    input                 rst,
    input                 start,
    input  [TW-1:0]       t_len,
    output                take,
    output                busy,
    input                 a_valid,
    output                a_ready,
    input  [R*M*W-1:0]    a_data,
    input                 w_valid,
    output                w_ready,
    input  [C*N*W-1:0]    w_data,
    input  [C*N*IDXW-1:0] w_idx,
    output                o_valid,
    output [C*ACC-1:0]    o_data
);
    localparam CW = 32;

    reg           streaming;
    reg  [CW-1:0] cnt;
    reg  [TW-1:0] t_q;

    wire [TW-1:0] t_new = (t_len == {TW{1'b0}}) ? {{(TW-1){1'b0}}, 1'b1} : t_len;
    wire [CW-1:0] t_ext = {{(CW-TW){1'b0}}, t_q};
    wire in_window  = streaming && (cnt < t_ext);
    wire last_cycle = streaming && (cnt == t_ext + (R + C - 3));
    wire en = in_window ? (a_valid && w_valid) : 1'b1;

    assign busy    = streaming;
    assign a_ready = in_window && w_valid;
    assign w_ready = in_window && a_valid;
    assign take    = start && (!streaming || (last_cycle && en));

    always @(posedge clk) begin
        if (rst) begin
            streaming <= 1'b0;
            cnt <= {CW{1'b0}};
            t_q <= {{(TW-1){1'b0}}, 1'b1};
        end else if (!streaming) begin
            if (start) begin
                streaming <= 1'b1;
                cnt <= {CW{1'b0}};
                t_q <= t_new;
            end
        end else if (en) begin
            if (last_cycle) begin
                cnt <= {CW{1'b0}};
                streaming <= start;
                if (start) t_q <= t_new;
            end else begin
                cnt <= cnt + 1'b1;
            end
        end
    end

    // Zeros outside the window keep idle lanes quiet; tokens mark a fold's first and last beat.
    wire [R*M*W-1:0]    a_src = in_window ? a_data : {R*M*W{1'b0}};
    wire [C*N*W-1:0]    w_src = in_window ? w_data : {C*N*W{1'b0}};
    wire [C*N*IDXW-1:0] i_src = in_window ? w_idx : {C*N*IDXW{1'b0}};
    wire first_tok = in_window && (cnt == {CW{1'b0}});
    wire last_tok  = in_window && (cnt == t_ext - 1'b1);

    // a_h[r*(C+1)+c] (with tokens f_h, l_h) enters PE (r, c) from the left; w_v[r*C+c], i_v
    // enter it from above.
    wire [M*W-1:0]    a_h [0:R*(C+1)-1];
    wire              f_h [0:R*(C+1)-1];
    wire              l_h [0:R*(C+1)-1];
    wire [N*W-1:0]    w_v [0:(R+1)*C-1];
    wire [N*IDXW-1:0] i_v [0:(R+1)*C-1];
    wire [R*C*ACC-1:0] res;   // PE (r, c)'s result at [(r*C+c)*ACC +: ACC]
    wire [R*C-1:0]     rv;    // and its valid bit at [r*C+c]

    genvar r, c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_top
            nm_pipe #(.WIDTH(N*W + N*IDXW), .DEPTH(c)) u_wskew (
                .clk(clk), .rst(rst), .en(en),
                .d({i_src[c*N*IDXW +: N*IDXW], w_src[c*N*W +: N*W]}), .q({i_v[c], w_v[c]})
            );
        end
        for (r = 0; r < R; r = r + 1) begin : g_row
            nm_pipe #(.WIDTH(M*W + 2), .DEPTH(r)) u_askew (
                .clk(clk), .rst(rst), .en(en),
                .d({last_tok, first_tok, a_src[r*M*W +: M*W]}),
                .q({l_h[r*(C+1)], f_h[r*(C+1)], a_h[r*(C+1)]})
            );
            for (c = 0; c < C; c = c + 1) begin : g_col
                nm_os_pe #(.N(N), .M(M), .W(W), .ACC(ACC)) u_pe (
                    .clk(clk), .rst(rst), .en(en),
                    .a_in(a_h[r*(C+1)+c]), .first_in(f_h[r*(C+1)+c]), .last_in(l_h[r*(C+1)+c]),
                    .w_in(w_v[r*C+c]), .idx_in(i_v[r*C+c]),
                    .a_out(a_h[r*(C+1)+c+1]), .first_out(f_h[r*(C+1)+c+1]), .last_out(l_h[r*(C+1)+c+1]),
                    .w_out(w_v[(r+1)*C+c]), .idx_out(i_v[(r+1)*C+c]),
                    .res(res[(r*C+c)*ACC +: ACC]), .res_valid(rv[r*C+c])
                );
            end
        end
        // Column bus: the PEs of a column finish one cycle apart, so at most one drives it.
        for (c = 0; c < C; c = c + 1) begin : g_bus
            reg [ACC-1:0] bus_d;
            reg           bus_v;
            integer k;
            always @* begin
                bus_d = {ACC{1'b0}};
                bus_v = 1'b0;
                for (k = 0; k < R; k = k + 1) begin
                    bus_d = bus_d | (rv[k*C+c] ? res[(k*C+c)*ACC +: ACC] : {ACC{1'b0}});
                    bus_v = bus_v | rv[k*C+c];
                end
            end
            wire [ACC:0] deskewed;
            nm_pipe #(.WIDTH(ACC + 1), .DEPTH(C-1-c)) u_deskew (
                .clk(clk), .rst(rst), .en(en), .d({bus_v, bus_d}), .q(deskewed)
            );
            assign o_data[c*ACC +: ACC] = deskewed[ACC-1:0];
            if (c != 0) begin : g_unused
                wire unused_ok = &{1'b0, deskewed[ACC]};  // column 0's copy of the valid bit is the one used
            end
            if (c == 0) begin : g_valid
                // A row is presented once, in the cycle after the edge that moved it into place.
                reg adv_q;
                always @(posedge clk) adv_q <= rst ? 1'b0 : en;
                assign o_valid = deskewed[ACC] & adv_q;
            end
        end
    endgenerate
endmodule
