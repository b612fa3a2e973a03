// soc_tb: simulation top of the memory-path validation: LiteDRAM's generated `dram_sim`, the
// SoC `nm_soc`, and test-only engines that fill DRAM before a run and read results after it,
// at RTL speed (no Python per cycle). Driven by rtl_models/tb_soc.py (cocotb).
//
//   tb_load   (pulse) $readmemh("soc_image.hex") into the staging memory (run directory)
//   tb_init   (pulse) write staging words 0 .. tb_words-1 to DRAM words 0 .. tb_words-1
//   tb_dump   (pulse) read DRAM words tb_base .. tb_base+tb_words-1 into the staging memory and
//             $writememh("soc_dump.hex") them
//   tb_idle   no engine is busy
// While an engine runs it owns the DRAM port; otherwise the SoC does. The measured run starts
// with `start` after dram_rst and soc_rst, so every case sees the controller in its reset state
// (the PHY model's storage is not reset).
module soc_tb #(
    parameter R = 8,
    parameter C = 8,
    parameter NP = 2,
    parameter LANES = 16,
    parameter ACC = 32,
    parameter BAW = 9,
    parameter AW = 26,
    parameter STAGE_BITS = 18       // 4 MiB of staging memory
) (
    input            clk,
    input            dram_rst,
    input            soc_rst,
    input            tb_load,
    input            tb_init,
    input            tb_dump,
    input  [AW-1:0]  tb_base,
    input  [AW-1:0]  tb_words,
    output           tb_idle,
    input            start,
    output           busy,
    output           done,
    output           err,
    input            cfg_os,
    input  [4:0]     cfg_g,
    input            cfg_sparse,
    input  [NP*5-1:0] cfg_lane_base,
    input  [5:0]     cfg_order,
    input  [15:0]    cfg_tiles_m, cfg_tiles_n, cfg_tiles_k,
    input  [15:0]    cfg_tm_full, cfg_tm_last, cfg_tn_full, cfg_tn_last, cfg_tk_full, cfg_tk_last,
    input  [15:0]    cfg_u_full, cfg_u_last, cfg_knnz_full, cfg_knnz_last,
    input  [BAW-1:0] cfg_a_pitch, cfg_b_pitch, cfg_c_pitch,
    input  [AW-1:0]  cfg_base_a, cfg_base_b, cfg_base_o, cfg_base_p,
    input  [15:0]    cfg_pitch_a, cfg_pitch_b, cfg_pitch_o, cfg_pitch_p,
    input  [AW-1:0]  cfg_a_mstep, cfg_b_nstep, cfg_o_mstep, cfg_p_mstep,
    input  [15:0]    cfg_a_kstep, cfg_b_kstep, cfg_o_nstep, cfg_p_nstep,
    input  [11:0]    cfg_a_words_full, cfg_a_words_last, cfg_b_words_full, cfg_b_words_last,
    input  [11:0]    cfg_o_words_full, cfg_o_words_last, cfg_p_words_full, cfg_p_words_last,
    output [31:0]    n_cycles,
    output [31:0]    n_busy,
    output [31:0]    n_rd,
    output [31:0]    n_wr,
    output [31:0]    n_turn,
    output [31:0]    stat_act,
    output [31:0]    stat_pre,
    output [31:0]    stat_ref,
    output [31:0]    stat_rd,
    output [31:0]    stat_wr,
    output [31:0]    stat_ref_cycles
);
    reg [127:0] stage [0:(1 << STAGE_BITS) - 1];

    // ---- test engines ----
    reg          init_on, dump_on;
    reg [AW-1:0] e_cmd, e_dat;   // commands issued, data words moved
    wire         e_on = init_on || dump_on;
    assign tb_idle = !e_on;
    always @(posedge clk) if (tb_load) $readmemh("soc_image.hex", stage);

    wire          s_cmd_valid, s_cmd_we;
    wire [AW-1:0] s_cmd_addr;
    wire [127:0]  s_wdata;
    wire [15:0]   s_we;
    wire          d_cmd_ready, d_wdata_ready, d_rdata_valid;
    wire [127:0]  d_rdata;
    wire          e_cmd_valid = e_on && (e_cmd != tb_words);
    wire          d_cmd_valid = e_on ? e_cmd_valid : s_cmd_valid;
    wire          d_cmd_we = e_on ? init_on : s_cmd_we;
    wire [AW-1:0] d_cmd_addr = e_on ? tb_base + e_cmd : s_cmd_addr;
    wire [127:0]  d_wdata = e_on ? stage[e_dat[STAGE_BITS-1:0]] : s_wdata;
    wire [15:0]   d_we = e_on ? 16'hffff : s_we;

    always @(posedge clk) begin
        if (dram_rst) begin
            init_on <= 1'b0;
            dump_on <= 1'b0;
        end else if (!e_on) begin
            e_cmd <= {AW{1'b0}};
            e_dat <= {AW{1'b0}};
            init_on <= tb_init;
            dump_on <= tb_dump;
        end else begin
            if (e_cmd_valid && d_cmd_ready) e_cmd <= e_cmd + 1'b1;
            if ((init_on && d_wdata_ready) || (dump_on && d_rdata_valid)) e_dat <= e_dat + 1'b1;
            if (dump_on && d_rdata_valid) stage[e_dat[STAGE_BITS-1:0]] <= d_rdata;
            if (e_dat == tb_words) begin
                if (dump_on) $writememh("soc_dump.hex", stage, 0, tb_words - 1);
                init_on <= 1'b0;
                dump_on <= 1'b0;
            end
        end
    end

    dram_sim u_dram (
        .clk(clk), .rst(dram_rst),
        .cmd_valid(d_cmd_valid), .cmd_ready(d_cmd_ready), .cmd_we(d_cmd_we), .cmd_addr(d_cmd_addr),
        .wdata_ready(d_wdata_ready), .wdata_data(d_wdata), .wdata_we(d_we),
        .rdata_valid(d_rdata_valid), .rdata_data(d_rdata), .refresh_pending(),
        .stat_act(stat_act), .stat_pre(stat_pre), .stat_ref(stat_ref), .stat_rd(stat_rd), .stat_wr(stat_wr),
        .stat_ref_cycles(stat_ref_cycles)
    );

    nm_soc #(.R(R), .C(C), .NP(NP), .LANES(LANES), .ACC(ACC), .AW(AW), .BAW(BAW)) u_soc (
        .clk(clk), .rst(soc_rst), .start(start), .busy(busy), .done(done), .err(err),
        .cfg_os(cfg_os), .cfg_g(cfg_g), .cfg_sparse(cfg_sparse), .cfg_lane_base(cfg_lane_base),
        .cfg_order(cfg_order), .cfg_tiles_m(cfg_tiles_m), .cfg_tiles_n(cfg_tiles_n), .cfg_tiles_k(cfg_tiles_k),
        .cfg_tm_full(cfg_tm_full), .cfg_tm_last(cfg_tm_last), .cfg_tn_full(cfg_tn_full), .cfg_tn_last(cfg_tn_last),
        .cfg_tk_full(cfg_tk_full), .cfg_tk_last(cfg_tk_last), .cfg_u_full(cfg_u_full), .cfg_u_last(cfg_u_last),
        .cfg_knnz_full(cfg_knnz_full), .cfg_knnz_last(cfg_knnz_last), .cfg_a_pitch(cfg_a_pitch),
        .cfg_b_pitch(cfg_b_pitch), .cfg_c_pitch(cfg_c_pitch), .cfg_base_a(cfg_base_a), .cfg_base_b(cfg_base_b),
        .cfg_base_o(cfg_base_o), .cfg_base_p(cfg_base_p), .cfg_pitch_a(cfg_pitch_a), .cfg_pitch_b(cfg_pitch_b),
        .cfg_pitch_o(cfg_pitch_o), .cfg_pitch_p(cfg_pitch_p), .cfg_a_mstep(cfg_a_mstep), .cfg_b_nstep(cfg_b_nstep),
        .cfg_o_mstep(cfg_o_mstep), .cfg_p_mstep(cfg_p_mstep), .cfg_a_kstep(cfg_a_kstep), .cfg_b_kstep(cfg_b_kstep),
        .cfg_o_nstep(cfg_o_nstep), .cfg_p_nstep(cfg_p_nstep), .cfg_a_words_full(cfg_a_words_full),
        .cfg_a_words_last(cfg_a_words_last), .cfg_b_words_full(cfg_b_words_full),
        .cfg_b_words_last(cfg_b_words_last), .cfg_o_words_full(cfg_o_words_full),
        .cfg_o_words_last(cfg_o_words_last), .cfg_p_words_full(cfg_p_words_full),
        .cfg_p_words_last(cfg_p_words_last),
        .cmd_valid(s_cmd_valid), .cmd_ready(d_cmd_ready && !e_on), .cmd_we(s_cmd_we), .cmd_addr(s_cmd_addr),
        .wdata_ready(d_wdata_ready && !e_on), .wdata_data(s_wdata), .wdata_we(s_we),
        .rdata_valid(d_rdata_valid && !e_on), .rdata_data(d_rdata),
        .n_cycles(n_cycles), .n_busy(n_busy), .n_rd(n_rd), .n_wr(n_wr), .n_turn(n_turn)
    );
endmodule
