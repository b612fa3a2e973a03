// nm_os_pe: one processing element of the N:M output-stationary systolic array.
//
// Every enabled cycle it receives M activations from the left (a_in) and N weights with their
// lane indices from above (w_in, idx_in), multiplies weight j by the activation its index
// selects, and adds the N products to its own int accumulator. Activations pass right (a_out),
// weights down (w_out, idx_out), both registered. N == M is the dense mode: lane j meets
// weight j, indices are ignored and no multiplexers are built.
//
// Tokens ride with the activations: first_in restarts the accumulator with this beat's
// products; last_in marks the fold's last beat: the final sum is copied to `res` and res_valid
// is high for the next enabled cycle (the array's column bus reads it).
//
// Arithmetic: two's complement; exact products sign-extended or truncated to ACC bits; the sum
// wraps modulo 2^ACC, exactly as sim.functional.nm_gemm and nm_pe.
// rst is synchronous and active high and clears every register; en is the clock enable of all.
module nm_os_pe #(
    parameter N = 2,
    parameter M = 4,
    parameter W = 8,
    parameter ACC = 32,
    parameter IDXW = (M > 1) ? $clog2(M) : 1 // derived: index bits; do not override
) (
    input                   clk,
    input                   rst,
    input                   en,
    input  [M*W-1:0]        a_in,
    input                   first_in,
    input                   last_in,
    input  [N*W-1:0]        w_in,
    input  [N*IDXW-1:0]     idx_in,
    output reg [M*W-1:0]    a_out,
    output reg              first_out,
    output reg              last_out,
    output reg [N*W-1:0]    w_out,
    output reg [N*IDXW-1:0] idx_out,
    output reg [ACC-1:0]    res,
    output reg              res_valid
);
    localparam PW = (ACC > 2 * W) ? ACC : 2 * W;

    wire [N*W-1:0] lane;
    genvar g;
    generate
        for (g = 0; g < N; g = g + 1) begin : g_sel
            if (N == M) begin : g_dense
                assign lane[g*W +: W] = a_in[g*W +: W];
            end else begin : g_mux
                assign lane[g*W +: W] = a_in[idx_in[g*IDXW +: IDXW]*W +: W];
            end
        end
    endgenerate

    reg [ACC-1:0] acc;
    reg signed [W-1:0] wj, aj;
    /* verilator lint_off UNUSEDSIGNAL */
    reg signed [PW-1:0] prod;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [ACC-1:0] sum;
    integer j;
    always @* begin
        sum = first_in ? {ACC{1'b0}} : acc;
        for (j = 0; j < N; j = j + 1) begin
            wj = w_in[j*W +: W];
            aj = lane[j*W +: W];
            prod = aj * wj;
            sum = sum + prod[ACC-1:0];
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            a_out <= {M*W{1'b0}};
            first_out <= 1'b0;
            last_out <= 1'b0;
            w_out <= {N*W{1'b0}};
            idx_out <= {N*IDXW{1'b0}};
            acc <= {ACC{1'b0}};
            res <= {ACC{1'b0}};
            res_valid <= 1'b0;
        end else if (en) begin
            a_out <= a_in;
            first_out <= first_in;
            last_out <= last_in;
            w_out <= w_in;
            idx_out <= idx_in;
            acc <= sum;
            res_valid <= last_in;
            if (last_in) res <= sum;
        end
    end
endmodule
