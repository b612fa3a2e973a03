// soc_walker: steps through the buffer tiles of a GEMM in a mapping's loop order.
//
// The tile grid is trips_m x trips_n x trips_k; `order` lists the loops outermost first as
// 2-bit dimension codes (0 = m, 1 = n, 2 = k): {o0, o1, o2}. `restart` goes to the first tile,
// `step` to the next; `valid` is low after the last tile. For the current tile it gives the
// indices and what changes against the previous tile (docs/RTL.md, "The tile sequencer"):
//   a_new    its A tile (m, k) differs from the previous tile's (or it is the first tile)
//   b_new    its B tile (k, n) differs
//   c_first  it starts an output run: (m, n) differs
//   c_last   it ends an output run: the next tile's (m, n) differs, or it is the last tile
//   a_last, b_last   its A (B) tile is not used by the next tile (or it is the last tile)
// Three walkers (loader, execute, store) run the same sequence at their own pace.
module soc_walker (
    input             clk,
    input             rst,
    input             restart,
    input             step,
    input      [15:0] trips_m,
    input      [15:0] trips_n,
    input      [15:0] trips_k,
    input      [5:0]  order,
    output            valid,
    output     [15:0] idx_m,
    output     [15:0] idx_n,
    output     [15:0] idx_k,
    output            a_new,
    output            b_new,
    output            c_first,
    output            c_last,
    output            a_last,
    output            b_last
);
    reg [15:0] cnt [0:2];     // loop counters, position 0 outermost
    reg [15:0] pm, pn, pk;    // previous tile's indices
    reg        first, done;

    wire [1:0] od [0:2];
    assign od[0] = order[5:4];
    assign od[1] = order[3:2];
    assign od[2] = order[1:0];

    function [15:0] trip_of(input [1:0] d);
        trip_of = (d == 2'd0) ? trips_m : ((d == 2'd1) ? trips_n : trips_k);
    endfunction

    // Next counters: the innermost loop advances, carrying outwards.
    wire        w2 = (cnt[2] + 16'd1 == trip_of(od[2]));
    wire        w1 = (cnt[1] + 16'd1 == trip_of(od[1]));
    wire        w0 = (cnt[0] + 16'd1 == trip_of(od[0]));
    wire [15:0] n2 = w2 ? 16'd0 : cnt[2] + 16'd1;
    wire [15:0] n1 = w2 ? (w1 ? 16'd0 : cnt[1] + 16'd1) : cnt[1];
    wire [15:0] n0 = (w2 && w1) ? cnt[0] + 16'd1 : cnt[0];
    wire        last_tile = w2 && w1 && w0;

    function [15:0] pick(input [1:0] d, input [15:0] c0, input [15:0] c1, input [15:0] c2);
        pick = (od[0] == d) ? c0 : ((od[1] == d) ? c1 : c2);
    endfunction

    assign idx_m = pick(2'd0, cnt[0], cnt[1], cnt[2]);
    assign idx_n = pick(2'd1, cnt[0], cnt[1], cnt[2]);
    assign idx_k = pick(2'd2, cnt[0], cnt[1], cnt[2]);
    wire [15:0] nx_m = pick(2'd0, n0, n1, n2);
    wire [15:0] nx_n = pick(2'd1, n0, n1, n2);
    wire [15:0] nx_k = pick(2'd2, n0, n1, n2);

    assign valid   = !done;
    assign a_new   = first || (idx_m != pm) || (idx_k != pk);
    assign b_new   = first || (idx_k != pk) || (idx_n != pn);
    assign c_first = first || (idx_m != pm) || (idx_n != pn);
    assign c_last  = last_tile || (nx_m != idx_m) || (nx_n != idx_n);
    assign a_last  = last_tile || (nx_m != idx_m) || (nx_k != idx_k);
    assign b_last  = last_tile || (nx_k != idx_k) || (nx_n != idx_n);

    always @(posedge clk) begin
        if (rst || restart) begin
            cnt[0] <= 16'd0;
            cnt[1] <= 16'd0;
            cnt[2] <= 16'd0;
            pm <= 16'd0;
            pn <= 16'd0;
            pk <= 16'd0;
            first <= 1'b1;
            done <= rst;
        end else if (step && !done) begin
            pm <= idx_m;
            pn <= idx_n;
            pk <= idx_k;
            first <= 1'b0;
            cnt[0] <= n0;
            cnt[1] <= n1;
            cnt[2] <= n2;
            if (last_tile) done <= 1'b1;
        end
    end
endmodule
