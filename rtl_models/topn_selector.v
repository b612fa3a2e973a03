// topn_selector: SAT-style pre-generation of N:M weights. For every group of M signed W-bit
// weights it keeps the N of largest magnitude and emits their values and lane indices,
// one group per cycle, in a two-stage pipeline.
//
// Selection rule (the same as sim.functional.topn_select): element i is kept when fewer than N
// elements beat it, where j beats i if |w_j| > |w_i|, or |w_j| = |w_i| and j < i (ties go to
// the lower index). |-2^(W-1)| = 2^(W-1) is the largest magnitude. Kept elements are emitted
// in ascending index order: slot s holds the s-th kept lane.
//
// Interface (rising edge of clk; rst synchronous, active high, empties the pipeline):
//   in_valid/in_ready, in_data   one group per transfer; lane i at in_data[i*W +: W].
//   out_valid/out_ready          one result per transfer: value of slot s at
//                                out_val[s*W +: W], its lane at out_idx[s*IDXW +: IDXW].
//   Latency: a group taken at clock edge e is presented right after edge e+1 (two register
//   stages: magnitude ranking, then compaction). in_ready = !out_valid || out_ready, so the
//   whole pipeline advances together; throughput is one group per cycle while out_ready is high.
module topn_selector #(
    parameter N = 2,
    parameter M = 4,
    parameter W = 8,
    parameter IDXW = (M > 1) ? $clog2(M) : 1
) (
    input                 clk,
    input                 rst,
    input                 in_valid,
    output                in_ready,
    input  [M*W-1:0]      in_data,
    output reg            out_valid,
    input                 out_ready,
    output reg [N*W-1:0]  out_val,
    output reg [N*IDXW-1:0] out_idx
);

    wire en = !out_valid || out_ready;
    assign in_ready = en;

    // --- stage 1: magnitudes, ranks, keep-mask ------------------------------------------
    reg  [M*W-1:0] mag;
    reg  [M-1:0] keep;
    integer beaten;  // elements that beat lane i (synthesis keeps only the bits it needs)
    integer i, j;
    always @* begin
        for (i = 0; i < M; i = i + 1)
            // |x| fits W unsigned bits, including |-2^(W-1)|.
            mag[i*W +: W] = in_data[i*W + W - 1] ? (~in_data[i*W +: W] + 1'b1) : in_data[i*W +: W];
        for (i = 0; i < M; i = i + 1) begin
            beaten = 0;
            for (j = 0; j < M; j = j + 1)
                if (j != i && (mag[j*W +: W] > mag[i*W +: W] ||
                               (mag[j*W +: W] == mag[i*W +: W] && j < i)))
                    beaten = beaten + 1;
            keep[i] = (beaten < N);
        end
    end

    reg         s1_valid;
    reg [M-1:0] s1_keep;
    reg [M*W-1:0] s1_data;
    always @(posedge clk) begin
        if (rst) begin
            s1_valid <= 1'b0;
            s1_keep <= {M{1'b0}};
            s1_data <= {M*W{1'b0}};
        end else if (en) begin
            s1_valid <= in_valid;
            s1_keep <= keep;
            s1_data <= in_data;
        end
    end

    // --- stage 2: compaction, kept lane with k kept lanes below it goes to slot k --------
    integer          below;  // kept lanes under lane i
    reg [N*W-1:0]    val_c;
    reg [N*IDXW-1:0] idx_c;
    reg [IDXW-1:0]   lane;
    integer s;
    always @* begin
        val_c = {N*W{1'b0}};
        idx_c = {N*IDXW{1'b0}};
        below = 0;
        for (i = 0; i < M; i = i + 1) begin
            lane = i[IDXW-1:0];
            for (s = 0; s < N; s = s + 1)
                if (s1_keep[i] && below == s) begin
                    val_c[s*W +: W] = s1_data[i*W +: W];
                    idx_c[s*IDXW +: IDXW] = lane;
                end
            if (s1_keep[i]) below = below + 1;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            out_valid <= 1'b0;
            out_val <= {N*W{1'b0}};
            out_idx <= {N*IDXW{1'b0}};
        end else if (en) begin
            out_valid <= s1_valid;
            out_val <= val_c;
            out_idx <= idx_c;
        end
    end
endmodule
