// nm_pe: one processing element of the N:M weight-stationary systolic array.
//
// It holds N signed W-bit weights and, for each, the IDXW-bit index of the activation lane it
// belongs to (IDXW = clog2(M), at least 1). Every enabled cycle it selects those N of the M
// activations on a_in, multiplies each by its weight, adds the N products to the partial sum
// arriving from the PE above and registers the sum (p_out), together with a copy of the
// activations for the PE on its right (a_out). N == M is the dense mode: lane j meets
// weight j, the indices are ignored and no multiplexers are built.
//
// Arithmetic: two's complement. Products are exact (2W bits) and are then sign-extended or
// truncated to ACC bits; the sum wraps modulo 2^ACC, exactly as sim.functional.nm_gemm.
//
// Interface (rising edge of clk; every output is a register):
//   rst      synchronous, active high: clears weights, indices, p_out and a_out.
//   en       clock enable of every register (the array's global stall); low: nothing changes.
//   load     with en: weights/indices <= w_in/idx_in. w_out/idx_out are the weight registers
//            themselves, so chaining w_out -> w_in down a column makes the weight shift chain.
//   w_in     N weights, weight j at w_in[j*W +: W];  idx_in: index j at idx_in[j*IDXW +: IDXW].
//   a_in     M activations, lane i at a_in[i*W +: W];  a_out <= a_in.
//   p_in     partial sum from above (ACC bits).
//   p_out <= p_in + sum_j w_j * a_in[idx_j]   (mod 2^ACC)
// Latency: one cycle from (a_in, p_in) to (a_out, p_out). Load and MAC may share a cycle; the
// MAC then uses the weights held before the load.
module nm_pe #(
    parameter N = 2,                         // multipliers = nonzero weights held
    parameter M = 4,                         // activation lanes (group size)
    parameter W = 8,                         // operand bits (weights and activations)
    parameter ACC = 32,                      // partial-sum bits
    parameter IDXW = (M > 1) ? $clog2(M) : 1 // derived: index bits; do not override
) (
    input                   clk,
    input                   rst,
    input                   en,
    input                   load,
    input  [N*W-1:0]        w_in,
    input  [N*IDXW-1:0]     idx_in,
    input  [M*W-1:0]        a_in,
    input  [ACC-1:0]        p_in,
    output reg [N*W-1:0]    w_out,
    output reg [N*IDXW-1:0] idx_out,
    output reg [M*W-1:0]    a_out,
    output reg [ACC-1:0]    p_out
);
    // Wide enough for an exact W x W product and for the ACC-bit sum.
    localparam PW = (ACC > 2 * W) ? ACC : 2 * W;

    wire [N*W-1:0] lane;  // the activation each multiplier uses

    genvar g;
    generate
        for (g = 0; g < N; g = g + 1) begin : g_sel
            if (N == M) begin : g_dense
                assign lane[g*W +: W] = a_in[g*W +: W];
            end else begin : g_mux
                assign lane[g*W +: W] = a_in[idx_out[g*IDXW +: IDXW]*W +: W];
            end
        end
    endgenerate

    reg signed [W-1:0]  wj, aj;
    // With ACC < 2W the top product bits are dropped on purpose: the sum wraps mod 2^ACC.
    /* verilator lint_off UNUSEDSIGNAL */
    reg signed [PW-1:0] prod;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [ACC-1:0]       sum;
    integer j;
    always @* begin
        sum = p_in;
        for (j = 0; j < N; j = j + 1) begin
            wj = w_out[j*W +: W];
            aj = lane[j*W +: W];
            prod = aj * wj;  // signed operands widen to PW before multiplying: exact product
            sum = sum + prod[ACC-1:0];
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            w_out <= {N*W{1'b0}};
            idx_out <= {N*IDXW{1'b0}};
            a_out <= {M*W{1'b0}};
            p_out <= {ACC{1'b0}};
        end else if (en) begin
            if (load) begin
                w_out <= w_in;
                idx_out <= idx_in;
            end
            a_out <= a_in;
            p_out <= sum;
        end
    end
endmodule
