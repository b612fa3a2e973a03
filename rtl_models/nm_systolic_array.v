// nm_systolic_array: an R x C weight-stationary systolic array of nm_pe, with input skew and
// output de-skew. Parameters R, C (PE rows, columns), N, M (each PE holds N nonzero weights of
// a group of M; N = M is the dense mode), W (operand bits), ACC (partial-sum bits), TW (bits of
// t_len, at most 31). IDXW is derived; do not override it.
//
// What one fold computes: out[t, c] = sum_r sum_j w(r, c, j) * a(t, r, idx(r, c, j)) mod 2^ACC
// for t < T and c < C. Array row r holds, for every column, one compressed group (N weights
// and their lane indices out of M consecutive K positions); column c produces output column c;
// activation beat t brings the M activations of every row's group for GEMM row t.
//
// Handshakes (rising edge of clk; rst is synchronous and active high):
//   start, t_len  sampled when idle, or in the last busy cycle of a fold so that folds run back
//                 to back. t_len = T activation beats of the fold (T >= 1; 0 is taken as 1).
//   take          high in the cycle start is sampled (an observation for a controller that
//                 queues folds; it changes nothing in the array).
//   busy          high in every cycle of a fold, from the cycle after start is taken to the
//                 cycle of the last multiply-accumulate.
//   w_valid/w_ready, w_data, w_idx: R weight beats, one array row per beat, BOTTOM row first
//                 (beats shift down the columns). Column c's weight j at w_data[(c*N+j)*W +: W]
//                 and its index at w_idx[(c*N+j)*IDXW +: IDXW].
//   a_valid/a_ready, a_data: T activation beats; row r's lane i at a_data[(r*M+i)*W +: W].
//   o_valid, o_data: one output row per o_valid cycle, in beat order; column c at
//                 o_data[c*ACC +: ACC]. No back-pressure: the consumer takes every row.
//   done          high with o_valid of the fold's last output row.
// A cycle in which the array waits for a weight or activation beat (ready high, valid low)
// stalls the whole array (one clock enable), so the schedule below only shifts.
//
// Schedule without stalls (cycle 0 = first busy cycle; docs/RTL.md derives it):
//   cycles 0 .. R-1        weight beats shift in;
//   cycles R .. R+T-1      activation beats; beat t reaches row r after r skew registers and
//                          PE (r, c) multiplies it in cycle R + t + r + c;
//   cycle 2R + C + T - 3   the last multiply-accumulate, in PE (R-1, C-1): a fold is busy for
//                          2R + C - 2 + T cycles (sim's WS fill 2R + C - 2 plus T, MODEL.md 3.2).
//   The last output row and done appear one cycle later, from the output registers; with start
//   held that cycle is already cycle 0 (a weight beat) of the next fold.
module nm_systolic_array #(
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
    input                 w_valid,
    output                w_ready,
    input  [C*N*W-1:0]    w_data,
    input  [C*N*IDXW-1:0] w_idx,
    input                 a_valid,
    output                a_ready,
    input  [R*M*W-1:0]    a_data,
    output                o_valid,
    output [C*ACC-1:0]    o_data,
    output                done
);
    // Phase counter as wide as Verilog's integers, so it compares with R - 1 and T + R + C - 3
    // without width casts (TW <= 31 keeps T + R + C in range); synthesis trims the unused bits.
    localparam CW = 32;
    localparam [1:0] S_IDLE = 2'd0, S_LOAD = 2'd1, S_STREAM = 2'd2;

    reg  [1:0]    state;
    reg  [CW-1:0] cnt;   // cycle within the current phase (advances with en)
    reg  [TW-1:0] t_q;

    wire [TW-1:0] t_new = (t_len == {TW{1'b0}}) ? {{(TW-1){1'b0}}, 1'b1} : t_len;
    wire [CW-1:0] t_ext = {{(CW-TW){1'b0}}, t_q};
    wire loading    = (state == S_LOAD);
    wire in_window  = (state == S_STREAM) && (cnt < t_ext);
    wire last_cycle = (state == S_STREAM) && (cnt == t_ext + (R + C - 3));
    // One clock enable for every data register: a missing beat freezes the whole schedule.
    wire en = loading ? w_valid : (in_window ? a_valid : 1'b1);

    assign busy    = (state != S_IDLE);
    assign take    = start && ((state == S_IDLE) || (last_cycle && en));
    assign w_ready = loading;
    assign a_ready = in_window;

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
            cnt <= {CW{1'b0}};
            t_q <= {{(TW-1){1'b0}}, 1'b1};
        end else begin
            case (state)
                S_IDLE: if (start) begin
                    state <= S_LOAD;
                    cnt <= {CW{1'b0}};
                    t_q <= t_new;
                end
                S_LOAD: if (w_valid) begin
                    if (cnt == R - 1) begin
                        state <= S_STREAM;
                        cnt <= {CW{1'b0}};
                    end else begin
                        cnt <= cnt + 1'b1;
                    end
                end
                default: if (en) begin
                    if (last_cycle) begin
                        cnt <= {CW{1'b0}};
                        if (start) begin
                            state <= S_LOAD;
                            t_q <= t_new;
                        end else begin
                            state <= S_IDLE;
                        end
                    end else begin
                        cnt <= cnt + 1'b1;
                    end
                end
            endcase
        end
    end

    // Zeros outside the activation window keep idle lanes quiet (and X-free in simulation).
    wire [R*M*W-1:0] a_src = in_window ? a_data : {R*M*W{1'b0}};

    // Grid wiring, flattened: a_h[r*(C+1)+c] enters PE (r, c) from the left; p_v[r*C+c],
    // w_v[r*C+c], i_v[r*C+c] enter PE (r, c) from above (row R is the array's bottom edge).
    wire [M*W-1:0]    a_h [0:R*(C+1)-1];
    wire [ACC-1:0]    p_v [0:(R+1)*C-1];
    wire [N*W-1:0]    w_v [0:(R+1)*C-1];
    wire [N*IDXW-1:0] i_v [0:(R+1)*C-1];

    genvar r, c;
    generate
        for (c = 0; c < C; c = c + 1) begin : g_top
            assign p_v[c] = {ACC{1'b0}};
            assign w_v[c] = w_data[c*N*W +: N*W];
            assign i_v[c] = w_idx[c*N*IDXW +: N*IDXW];
        end
        for (r = 0; r < R; r = r + 1) begin : g_row
            nm_pipe #(.WIDTH(M*W), .DEPTH(r)) u_skew (
                .clk(clk), .rst(rst), .en(en),
                .d(a_src[r*M*W +: M*W]), .q(a_h[r*(C+1)])
            );
            for (c = 0; c < C; c = c + 1) begin : g_col
                nm_pe #(.N(N), .M(M), .W(W), .ACC(ACC)) u_pe (
                    .clk(clk), .rst(rst), .en(en), .load(loading),
                    .w_in(w_v[r*C+c]), .idx_in(i_v[r*C+c]),
                    .a_in(a_h[r*(C+1)+c]), .p_in(p_v[r*C+c]),
                    .w_out(w_v[(r+1)*C+c]), .idx_out(i_v[(r+1)*C+c]),
                    .a_out(a_h[r*(C+1)+c+1]), .p_out(p_v[(r+1)*C+c])
                );
            end
        end
        for (c = 0; c < C; c = c + 1) begin : g_deskew
            nm_pipe #(.WIDTH(ACC), .DEPTH(C-1-c)) u_deskew (
                .clk(clk), .rst(rst), .en(en),
                .d(p_v[R*C+c]), .q(o_data[c*ACC +: ACC])
            );
        end
    endgenerate

    // Output-valid tokens ride a line as long as the path from beat to de-skewed output row.
    wire       a_fire = in_window && a_valid;
    wire       a_last = a_fire && (cnt == t_ext - 1'b1);
    wire [1:0] tok;
    nm_pipe #(.WIDTH(2), .DEPTH(R+C-1)) u_tokens (
        .clk(clk), .rst(rst), .en(en), .d({a_last, a_fire}), .q(tok)
    );
    // A row is presented for exactly the one cycle after the edge that moved it into place;
    // while a stall holds the line, the same row is not presented twice.
    reg adv_q;
    always @(posedge clk) adv_q <= rst ? 1'b0 : en;
    assign o_valid = tok[0] & adv_q;
    assign done    = o_valid & tok[1];
endmodule
