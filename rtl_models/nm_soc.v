// nm_soc: one GEMM layer from DRAM to DRAM on the N:M array (docs/RTL.md, "Memory path").
//
// out[M, N] = A[M, K] . W[N, K]^T with W compressed to the executed n:m. The host (rtl_models/
// soc_driver.py) writes the cfg_* inputs from a mapping, holds them, and pulses `start`; `done`
// rises when the last output word has been taken by the DRAM controller. The DRAM port is a
// LiteDRAM native port (dram_sim), instantiated outside.
//
// Inside: three buffers (A, B, C; two halves each), a DMA engine, the activation and weight
// feeders, the WS array (nm_systolic_array) and the OS array (nm_os_array; cfg_os picks one),
// the output writer, and the tile sequencer: loader, execute and store walkers that step through
// the same tile sequence at their own pace, synchronised by counters of loaded, released and
// stored buffer halves (two versions of each operand in flight).
module nm_soc #(
    parameter R = 8,
    parameter C = 8,
    parameter NP = 2,        // multipliers per PE
    parameter LANES = 16,    // activation lanes per PE
    parameter ACC = 32,
    parameter AW = 26,       // DRAM word-address bits
    parameter BAW = 9,       // rows per buffer half: 2^BAW
    parameter IDXW = (LANES > 1) ? $clog2(LANES) : 1
) (
    input               clk,
    input               rst,
    input               start,
    output reg          busy,
    output              done,
    output              err,
    // configuration (held during a run)
    input               cfg_os,
    input  [4:0]        cfg_g,
    input               cfg_sparse,
    input  [NP*5-1:0]   cfg_lane_base,
    input  [5:0]        cfg_order,
    input  [15:0]       cfg_tiles_m, cfg_tiles_n, cfg_tiles_k,
    input  [15:0]       cfg_tm_full, cfg_tm_last, cfg_tn_full, cfg_tn_last, cfg_tk_full, cfg_tk_last,
    input  [15:0]       cfg_u_full, cfg_u_last, cfg_knnz_full, cfg_knnz_last,
    input  [BAW-1:0]    cfg_a_pitch, cfg_b_pitch, cfg_c_pitch,
    input  [AW-1:0]     cfg_base_a, cfg_base_b, cfg_base_o, cfg_base_p,
    input  [15:0]       cfg_pitch_a, cfg_pitch_b, cfg_pitch_o, cfg_pitch_p,
    input  [AW-1:0]     cfg_a_mstep, cfg_b_nstep, cfg_o_mstep, cfg_p_mstep,
    input  [15:0]       cfg_a_kstep, cfg_b_kstep, cfg_o_nstep, cfg_p_nstep,
    input  [11:0]       cfg_a_words_full, cfg_a_words_last, cfg_b_words_full, cfg_b_words_last,
    input  [11:0]       cfg_o_words_full, cfg_o_words_last, cfg_p_words_full, cfg_p_words_last,
    // DRAM native port
    output              cmd_valid,
    input               cmd_ready,
    output              cmd_we,
    output [AW-1:0]     cmd_addr,
    input               wdata_ready,
    output [127:0]      wdata_data,
    output [15:0]       wdata_we,
    input               rdata_valid,
    input  [127:0]      rdata_data,
    // counters (valid after done)
    output reg [31:0]   n_cycles,
    output reg [31:0]   n_busy,
    output [31:0]       n_rd,
    output [31:0]       n_wr,
    output [31:0]       n_turn
);
    // ------------------------------------------------------------------ tile walkers
    wire [15:0] lm, ln, lk, em, en_, ek, sm, sn, sk;
    wire        l_valid, l_anew, l_bnew, l_cfirst;
    wire        e_valid, e_anew, e_bnew, e_cfirst, e_clast, e_alast, e_blast;
    wire        s_valid, s_clast;
    // Walker outputs a walker's user does not need.
    wire        unused_l_clast, unused_l_alast, unused_l_blast, unused_s_anew, unused_s_bnew, unused_s_cfirst,
                unused_s_alast, unused_s_blast;
    reg         l_step, e_step, s_step;
    soc_walker u_lw (.clk(clk), .rst(rst), .restart(start), .step(l_step), .trips_m(cfg_tiles_m),
        .trips_n(cfg_tiles_n), .trips_k(cfg_tiles_k), .order(cfg_order), .valid(l_valid), .idx_m(lm),
        .idx_n(ln), .idx_k(lk), .a_new(l_anew), .b_new(l_bnew), .c_first(l_cfirst), .c_last(unused_l_clast),
        .a_last(unused_l_alast), .b_last(unused_l_blast));
    soc_walker u_ew (.clk(clk), .rst(rst), .restart(start), .step(e_step), .trips_m(cfg_tiles_m),
        .trips_n(cfg_tiles_n), .trips_k(cfg_tiles_k), .order(cfg_order), .valid(e_valid), .idx_m(em),
        .idx_n(en_), .idx_k(ek), .a_new(e_anew), .b_new(e_bnew), .c_first(e_cfirst), .c_last(e_clast),
        .a_last(e_alast), .b_last(e_blast));
    soc_walker u_sw (.clk(clk), .rst(rst), .restart(start), .step(s_step), .trips_m(cfg_tiles_m),
        .trips_n(cfg_tiles_n), .trips_k(cfg_tiles_k), .order(cfg_order), .valid(s_valid), .idx_m(sm),
        .idx_n(sn), .idx_k(sk), .a_new(unused_s_anew), .b_new(unused_s_bnew), .c_first(unused_s_cfirst),
        .c_last(s_clast), .a_last(unused_s_alast), .b_last(unused_s_blast));

    // Per-tile sizes: full tiles, or the edge tile at the last index.
    function [15:0] pick16(input [15:0] idx, input [15:0] trips, input [15:0] full, input [15:0] last);
        pick16 = (idx + 16'd1 == trips) ? last : full;
    endfunction
    function [11:0] pick12(input [15:0] idx, input [15:0] trips, input [11:0] full, input [11:0] last);
        pick12 = (idx + 16'd1 == trips) ? last : full;
    endfunction

    // ------------------------------------------------------------------ synchronisation counters
    reg [15:0] a_issue, b_issue, a_loaded, b_loaded, rb_loaded, a_rel, b_rel, runs_done, stores_done;
    wire [2:0] rd_done;
    wire       rel_a, rel_b, run_done, wr_issued;
    always @(posedge clk) begin
        if (rst || start) begin
            a_loaded <= 16'd0;
            b_loaded <= 16'd0;
            rb_loaded <= 16'd0;
            a_rel <= 16'd0;
            b_rel <= 16'd0;
            runs_done <= 16'd0;
            stores_done <= 16'd0;
        end else begin
            a_loaded <= a_loaded + {15'd0, rd_done[0]};
            b_loaded <= b_loaded + {15'd0, rd_done[1]};
            rb_loaded <= rb_loaded + {15'd0, rd_done[2]};
            a_rel <= a_rel + {15'd0, rel_a};
            b_rel <= b_rel + {15'd0, rel_b};
            runs_done <= runs_done + {15'd0, run_done};
            stores_done <= stores_done + {15'd0, wr_issued};
        end
    end

    // ------------------------------------------------------------------ loader
    localparam L_TILE = 2'd0, L_A = 2'd1, L_B = 2'd2, L_C = 2'd3;
    reg  [1:0]  l_state;
    reg  [15:0] l_runs;          // output runs started so far (incl. the current one)
    reg         rdq_push;
    reg  [AW-1:0] rdq_addr;
    reg  [15:0] rdq_rows, rdq_pitch;
    reg  [11:0] rdq_words;
    reg  [1:0]  rdq_buf;
    reg         rdq_half;
    reg  [BAW-1:0] rdq_bpitch;
    wire        rdq_full;
    wire [15:0] l_tm = pick16(lm, cfg_tiles_m, cfg_tm_full, cfg_tm_last);
    wire [15:0] l_tn = pick16(ln, cfg_tiles_n, cfg_tn_full, cfg_tn_last);
    always @* begin
        rdq_push = 1'b0;
        l_step = 1'b0;
        rdq_addr = {AW{1'b0}};
        rdq_rows = 16'd0;
        rdq_words = 12'd0;
        rdq_pitch = 16'd0;
        rdq_buf = 2'd0;
        rdq_half = 1'b0;
        rdq_bpitch = {BAW{1'b0}};
        case (l_state)
            L_A: begin
                rdq_addr = cfg_base_a + lm * cfg_a_mstep + lk * cfg_a_kstep;
                rdq_rows = l_tm;
                rdq_words = pick12(lk, cfg_tiles_k, cfg_a_words_full, cfg_a_words_last);
                rdq_pitch = cfg_pitch_a;
                rdq_buf = 2'd0;
                rdq_half = a_issue[0];
                rdq_bpitch = cfg_a_pitch;
                rdq_push = l_anew && !rdq_full && (a_issue - a_rel < 16'd2);
                l_step = 1'b0;
            end
            L_B: begin
                rdq_addr = cfg_base_b + ln * cfg_b_nstep + lk * cfg_b_kstep;
                rdq_rows = l_tn;
                rdq_words = pick12(lk, cfg_tiles_k, cfg_b_words_full, cfg_b_words_last);
                rdq_pitch = cfg_pitch_b;
                rdq_buf = 2'd1;
                rdq_half = b_issue[0];
                rdq_bpitch = cfg_b_pitch;
                rdq_push = l_bnew && !rdq_full && (b_issue - b_rel < 16'd2);
                // The walker steps after B unless a read-back follows (then after it).
                l_step = (!l_bnew || rdq_push) && !(l_cfirst && lk != 16'd0);
            end
            L_C: begin
                rdq_addr = cfg_base_p + lm * cfg_p_mstep + ln * cfg_p_nstep;
                rdq_rows = l_tm;
                rdq_words = pick12(ln, cfg_tiles_n, cfg_p_words_full, cfg_p_words_last);
                rdq_pitch = cfg_pitch_p;
                rdq_buf = 2'd2;
                rdq_half = l_runs[0] ^ 1'b1;  // run l_runs - 1
                rdq_bpitch = cfg_c_pitch;
                // The half's previous run (two runs back) has left for DRAM: its commands are
                // all issued, and the port keeps order, so the read-back sees them.
                rdq_push = !rdq_full && (stores_done + 16'd2 >= l_runs);
                l_step = rdq_push;
            end
            default: ;
        endcase
    end
    always @(posedge clk) begin
        if (rst || start) begin
            l_state <= L_TILE;
            a_issue <= 16'd0;
            b_issue <= 16'd0;
            l_runs <= 16'd0;
        end else begin
            case (l_state)
                L_TILE: if (l_valid && busy) begin
                    l_state <= L_A;
                    if (l_cfirst) l_runs <= l_runs + 16'd1;
                end
                L_A: if (!l_anew) l_state <= L_B;
                     else if (rdq_push) begin
                         a_issue <= a_issue + 16'd1;
                         l_state <= L_B;
                     end
                L_B: if (!l_bnew || rdq_push) begin
                         if (l_bnew) b_issue <= b_issue + 16'd1;
                         l_state <= (l_cfirst && lk != 16'd0) ? L_C : L_TILE;
                     end
                default: if (rdq_push) l_state <= L_TILE;
            endcase
        end
    end

    // ------------------------------------------------------------------ execute
    localparam E_TILE = 2'd0, E_WAIT = 2'd1, E_FOLDS = 2'd2;
    reg  [1:0]  e_state;
    reg  [15:0] e_a, e_b;        // A and B versions of the current tile
    reg  [15:0] e_anext, e_bnext;
    reg  [15:0] e_run, e_rnext, e_rb, e_rbnext;
    reg         e_runrb;         // the current run reads spilled sums back
    reg  [15:0] fr, fc;
    wire [15:0] e_tm = pick16(em, cfg_tiles_m, cfg_tm_full, cfg_tm_last);
    wire [15:0] e_tn = pick16(en_, cfg_tiles_n, cfg_tn_full, cfg_tn_last);
    wire [15:0] e_tk = pick16(ek, cfg_tiles_k, cfg_tk_full, cfg_tk_last);
    wire [15:0] e_u = pick16(ek, cfg_tiles_k, cfg_u_full, cfg_u_last);
    wire [15:0] e_knnz = pick16(ek, cfg_tiles_k, cfg_knnz_full, cfg_knnz_last);
    localparam [15:0] R16 = R[15:0], C16 = C[15:0];
    wire [15:0] n_fr = cfg_os ? (e_tm + R16 - 16'd1) / R16 : (e_u + R16 - 16'd1) / R16;
    wire [15:0] n_fc = (e_tn + C16 - 16'd1) / C16;
    wire        fold_last_r = (fr + 16'd1 == n_fr);
    wire        fold_last_c = (fc + 16'd1 == n_fc);
    wire        tile_last_fold = fold_last_r && fold_last_c;
    wire [15:0] u_left = e_u - fr * R16;
    wire [15:0] m_left = e_tm - fr * R16;
    wire [15:0] n_left = e_tn - fc * C16;
    wire [3:0]  f_units = (u_left > R16) ? R16[3:0] : u_left[3:0];
    wire [3:0]  f_rows = (m_left > R16) ? R16[3:0] : m_left[3:0];
    wire [3:0]  f_cols = (n_left > C16) ? C16[3:0] : n_left[3:0];
    wire        f_acc = !(e_cfirst && !e_runrb && (cfg_os || fr == 16'd0));
    wire        ready_ab = (a_loaded > e_a) && (b_loaded > e_b);
    wire        ready_c = !e_cfirst || ((stores_done + 16'd2 > e_run) && (!e_runrb || rb_loaded > e_rb));
    // Fold fields, one set for every consumer: {half a, b, c, fr, fc, T, tk, tm, knnz, units,
    // rows, cols, acc, release a, release b, run end}
    localparam FW = 3 + 16 * 6 + 4 * 3 + 4;
    wire [FW-1:0] fold = {e_a[0], e_b[0], e_run[0], fr, fc, cfg_os ? e_u : e_tm, e_tk, e_tm, e_knnz, f_units,
                          f_rows, f_cols, f_acc, e_alast && tile_last_fold, e_blast && tile_last_fold,
                          e_clast && tile_last_fold};
    wire [3:0]  fq_full;
    wire        fq_go = (e_state == E_FOLDS) && (fq_full == 4'b0000);
    always @* e_step = fq_go && tile_last_fold;
    always @(posedge clk) begin
        if (rst || start) begin
            e_state <= E_TILE;
            e_anext <= 16'd0;
            e_bnext <= 16'd0;
            e_rnext <= 16'd0;
            e_rbnext <= 16'd0;
            fr <= 16'd0;
            fc <= 16'd0;
        end else begin
            case (e_state)
                E_TILE: if (e_valid && busy) begin
                    if (e_anew) begin e_a <= e_anext; e_anext <= e_anext + 16'd1; end
                    if (e_bnew) begin e_b <= e_bnext; e_bnext <= e_bnext + 16'd1; end
                    if (e_cfirst) begin
                        e_run <= e_rnext;
                        e_rnext <= e_rnext + 16'd1;
                        e_runrb <= (ek != 16'd0);
                        e_rb <= e_rbnext;
                        if (ek != 16'd0) e_rbnext <= e_rbnext + 16'd1;
                    end
                    e_state <= E_WAIT;
                end
                E_WAIT: if (ready_ab && ready_c) begin
                    e_state <= E_FOLDS;
                    fr <= 16'd0;
                    fc <= 16'd0;
                end
                E_FOLDS: if (fq_go) begin
                    if (tile_last_fold) e_state <= E_TILE;
                    else if (fold_last_c) begin fc <= 16'd0; fr <= fr + 16'd1; end
                    else fc <= fc + 16'd1;
                end
                default: e_state <= E_TILE;
            endcase
        end
    end

    // One fold queue per consumer: A feeder, B feeder, array control, output writer.
    wire [FW-1:0] fq_a, fq_b, fq_x, fq_o;
    wire [3:0]    fq_empty, fq_err;
    wire [2:0]    unused_fq_count [0:3];
    wire          pop_a, pop_b, pop_x, pop_o;
    soc_fifo #(.WIDTH(FW), .DEPTH(4)) u_fqa (.clk(clk), .rst(rst), .push(fq_go), .din(fold), .pop(pop_a),
        .head(fq_a), .count(unused_fq_count[0]), .full(fq_full[0]), .empty(fq_empty[0]), .err(fq_err[0]));
    soc_fifo #(.WIDTH(FW), .DEPTH(4)) u_fqb (.clk(clk), .rst(rst), .push(fq_go), .din(fold), .pop(pop_b),
        .head(fq_b), .count(unused_fq_count[1]), .full(fq_full[1]), .empty(fq_empty[1]), .err(fq_err[1]));
    soc_fifo #(.WIDTH(FW), .DEPTH(4)) u_fqx (.clk(clk), .rst(rst), .push(fq_go), .din(fold), .pop(pop_x),
        .head(fq_x), .count(unused_fq_count[2]), .full(fq_full[2]), .empty(fq_empty[2]), .err(fq_err[2]));
    soc_fifo #(.WIDTH(FW), .DEPTH(4)) u_fqo (.clk(clk), .rst(rst), .push(fq_go), .din(fold), .pop(pop_o),
        .head(fq_o), .count(unused_fq_count[3]), .full(fq_full[3]), .empty(fq_empty[3]), .err(fq_err[3]));
    // Each consumer reads the fields it needs; the array control only the beat count.
    wire unused_ok = &{1'b0, fq_x};

    // Field slices (same layout in every queue).
    `define F_HA(q)    q[FW-1]
    `define F_HB(q)    q[FW-2]
    `define F_HC(q)    q[FW-3]
    `define F_FR(q)    q[FW-4 -: 16]
    `define F_FC(q)    q[FW-20 -: 16]
    `define F_T(q)     q[FW-36 -: 16]
    `define F_TK(q)    q[FW-52 -: 16]
    `define F_TM(q)    q[FW-68 -: 16]
    `define F_KNNZ(q)  q[FW-84 -: 16]
    `define F_UNITS(q) q[FW-100 -: 4]
    `define F_ROWS(q)  q[FW-104 -: 4]
    `define F_COLS(q)  q[FW-108 -: 4]
    `define F_ACC(q)   q[3]
    `define F_RELA(q)  q[2]
    `define F_RELB(q)  q[1]
    `define F_END(q)   q[0]

    // ------------------------------------------------------------------ buffers
    wire         a_xrd, a_xrd_half, b_xrd, b_xrd_half, c_xrd, c_xrd_half;
    wire [BAW-1:0] a_xrd_addr, b_xrd_addr, c_xrd_addr;
    wire [255:0] a_xrd_data, b_xrd_data, c_xrd_data;
    wire [1:0]   c_xwr;
    wire         c_xwr_half;
    wire [BAW-1:0] c_xwr_addr;
    wire [255:0] c_xwr_data;
    wire [2:0]   bw_en;
    wire         bw_half, bw_bank;
    wire [BAW-1:0] bw_addr;
    wire [127:0] bw_data;
    wire         c_drd, c_drd_half;
    wire [BAW-1:0] c_drd_addr;
    wire [255:0] c_drd_data, unused_a, unused_b;
    wire [2:0]   conflict;
    soc_buf #(.DEPTH(1 << BAW)) u_abuf (.clk(clk), .rst(rst), .x_rd(a_xrd), .x_rd_half(a_xrd_half),
        .x_rd_addr(a_xrd_addr), .x_rd_data(a_xrd_data), .x_wr(2'b00), .x_wr_half(1'b0), .x_wr_addr({BAW{1'b0}}),
        .x_wr_data(256'd0), .d_wr(bw_en[0]), .d_wr_half(bw_half), .d_wr_addr(bw_addr), .d_wr_bank(bw_bank),
        .d_wr_data(bw_data), .d_rd(1'b0), .d_rd_half(1'b0), .d_rd_addr({BAW{1'b0}}), .d_rd_data(unused_a),
        .conflict(conflict[0]));
    soc_buf #(.DEPTH(1 << BAW)) u_bbuf (.clk(clk), .rst(rst), .x_rd(b_xrd), .x_rd_half(b_xrd_half),
        .x_rd_addr(b_xrd_addr), .x_rd_data(b_xrd_data), .x_wr(2'b00), .x_wr_half(1'b0), .x_wr_addr({BAW{1'b0}}),
        .x_wr_data(256'd0), .d_wr(bw_en[1]), .d_wr_half(bw_half), .d_wr_addr(bw_addr), .d_wr_bank(bw_bank),
        .d_wr_data(bw_data), .d_rd(1'b0), .d_rd_half(1'b0), .d_rd_addr({BAW{1'b0}}), .d_rd_data(unused_b),
        .conflict(conflict[1]));
    soc_buf #(.DEPTH(1 << BAW)) u_cbuf (.clk(clk), .rst(rst), .x_rd(c_xrd), .x_rd_half(c_xrd_half),
        .x_rd_addr(c_xrd_addr), .x_rd_data(c_xrd_data), .x_wr(c_xwr), .x_wr_half(c_xwr_half), .x_wr_addr(c_xwr_addr),
        .x_wr_data(c_xwr_data), .d_wr(bw_en[2]), .d_wr_half(bw_half), .d_wr_addr(bw_addr), .d_wr_bank(bw_bank),
        .d_wr_data(bw_data), .d_rd(c_drd), .d_rd_half(c_drd_half), .d_rd_addr(c_drd_addr), .d_rd_data(c_drd_data),
        .conflict(conflict[2]));

    // ------------------------------------------------------------------ feeders and arrays
    wire                   a_valid, a_ready, w_valid, w_ready;
    wire [R*LANES*8-1:0]   a_data;
    wire [C*NP*8-1:0]      w_data;
    wire [C*NP*IDXW-1:0]   w_idx;
    wire [1:0]             feed_err;
    soc_feed_a #(.R(R), .LANES(LANES), .BAW(BAW)) u_fa (.clk(clk), .rst(rst), .os(cfg_os), .g(cfg_g),
        .a_pitch(cfg_a_pitch), .f_valid(!fq_empty[0]), .f_pop(pop_a), .f_half(`F_HA(fq_a)), .f_fr(`F_FR(fq_a)),
        .f_t(`F_T(fq_a)), .f_tk(`F_TK(fq_a)), .f_units(`F_UNITS(fq_a)), .f_rows(`F_ROWS(fq_a)), .f_rel(`F_RELA(fq_a)),
        .rd(a_xrd), .rd_half(a_xrd_half), .rd_addr(a_xrd_addr), .rd_data(a_xrd_data), .a_valid(a_valid),
        .a_ready(a_ready), .a_data(a_data), .rel(rel_a), .err(feed_err[0]));
    soc_feed_b #(.R(R), .C(C), .NP(NP), .IDXW(IDXW), .BAW(BAW)) u_fb (.clk(clk), .rst(rst), .os(cfg_os),
        .sparse(cfg_sparse), .lane_base(cfg_lane_base), .b_pitch(cfg_b_pitch), .f_valid(!fq_empty[1]), .f_pop(pop_b),
        .f_half(`F_HB(fq_b)), .f_fr(`F_FR(fq_b)), .f_fc(`F_FC(fq_b)), .f_t(`F_T(fq_b)), .f_knnz(`F_KNNZ(fq_b)),
        .f_cols(`F_COLS(fq_b)), .f_rel(`F_RELB(fq_b)), .rd(b_xrd), .rd_half(b_xrd_half), .rd_addr(b_xrd_addr),
        .rd_data(b_xrd_data), .w_valid(w_valid), .w_ready(w_ready), .w_data(w_data), .w_idx(w_idx), .rel(rel_b),
        .err(feed_err[1]));

    wire            ws_take, ws_busy, ws_aready, ws_wready, ws_ovalid, unused_ws_done;
    wire            os_take, os_busy, os_aready, os_wready, os_ovalid;
    wire [C*ACC-1:0] ws_odata, os_odata;
    wire            x_start = !fq_empty[2];
    nm_systolic_array #(.R(R), .C(C), .N(NP), .M(LANES), .W(8), .ACC(ACC), .TW(16)) u_ws (
        .clk(clk), .rst(rst), .start(x_start && !cfg_os), .t_len(`F_T(fq_x)), .take(ws_take), .busy(ws_busy),
        .w_valid(w_valid && !cfg_os), .w_ready(ws_wready), .w_data(w_data), .w_idx(w_idx),
        .a_valid(a_valid && !cfg_os), .a_ready(ws_aready), .a_data(a_data), .o_valid(ws_ovalid), .o_data(ws_odata),
        .done(unused_ws_done));
    nm_os_array #(.R(R), .C(C), .N(NP), .M(LANES), .W(8), .ACC(ACC), .TW(16)) u_os (
        .clk(clk), .rst(rst), .start(x_start && cfg_os), .t_len(`F_T(fq_x)), .take(os_take), .busy(os_busy),
        .a_valid(a_valid && cfg_os), .a_ready(os_aready), .a_data(a_data), .w_valid(w_valid && cfg_os),
        .w_ready(os_wready), .w_data(w_data), .w_idx(w_idx), .o_valid(os_ovalid), .o_data(os_odata));
    assign pop_x = cfg_os ? os_take : ws_take;
    assign a_ready = cfg_os ? os_aready : ws_aready;
    assign w_ready = cfg_os ? os_wready : ws_wready;
    wire            o_valid = cfg_os ? os_ovalid : ws_ovalid;
    wire [C*ACC-1:0] o_data = cfg_os ? os_odata : ws_odata;

    wire outwr_err;
    soc_outwr #(.R(R), .C(C), .ACC(ACC), .BAW(BAW)) u_ow (.clk(clk), .rst(rst), .os(cfg_os), .c_pitch(cfg_c_pitch),
        .f_valid(!fq_empty[3]), .f_pop(pop_o), .f_half(`F_HC(fq_o)), .f_fr(`F_FR(fq_o)), .f_fc(`F_FC(fq_o)),
        .f_t(`F_T(fq_o)), .f_tm(`F_TM(fq_o)), .f_acc(`F_ACC(fq_o)), .f_end(`F_END(fq_o)), .o_valid(o_valid),
        .o_data(o_data), .x_rd(c_xrd), .x_rd_half(c_xrd_half), .x_rd_addr(c_xrd_addr), .x_rd_data(c_xrd_data),
        .x_wr(c_xwr), .x_wr_half(c_xwr_half), .x_wr_addr(c_xwr_addr), .x_wr_data(c_xwr_data), .run_done(run_done),
        .err(outwr_err));

    // ------------------------------------------------------------------ store
    reg  [15:0] s_runs;          // output runs stored (descriptors pushed)
    reg         wrq_push;
    wire        wrq_full;
    wire        s_final = (sk + 16'd1 == cfg_tiles_k);
    wire [15:0] s_tn = pick16(sn, cfg_tiles_n, cfg_tn_full, cfg_tn_last);
    always @* begin
        wrq_push = s_valid && busy && s_clast && !wrq_full && (runs_done > s_runs);
        s_step = s_valid && busy && (!s_clast || wrq_push);
    end
    always @(posedge clk) begin
        if (rst || start) s_runs <= 16'd0;
        else if (wrq_push) s_runs <= s_runs + 16'd1;
    end
    wire dma_idle, dma_err;
    soc_dma #(.AW(AW), .BAW(BAW)) u_dma (.clk(clk), .rst(rst),
        .rdq_push(rdq_push), .rdq_addr(rdq_addr), .rdq_rows(rdq_rows), .rdq_words(rdq_words), .rdq_pitch(rdq_pitch),
        .rdq_buf(rdq_buf), .rdq_half(rdq_half), .rdq_bpitch(rdq_bpitch), .rdq_full(rdq_full), .rd_done(rd_done),
        .wrq_push(wrq_push),
        .wrq_addr(s_final ? cfg_base_o + sm * cfg_o_mstep + sn * cfg_o_nstep
                          : cfg_base_p + sm * cfg_p_mstep + sn * cfg_p_nstep),
        .wrq_rows(pick16(sm, cfg_tiles_m, cfg_tm_full, cfg_tm_last)),
        .wrq_words(s_final ? pick12(sn, cfg_tiles_n, cfg_o_words_full, cfg_o_words_last)
                           : pick12(sn, cfg_tiles_n, cfg_p_words_full, cfg_p_words_last)),
        .wrq_pitch(s_final ? cfg_pitch_o : cfg_pitch_p), .wrq_half(s_runs[0]), .wrq_cpitch(cfg_c_pitch),
        .wrq_final(s_final), .wrq_bytes(s_final ? s_tn : {s_tn[13:0], 2'b00}), .wrq_full(wrq_full),
        .wr_issued(wr_issued), .bw_en(bw_en), .bw_half(bw_half), .bw_addr(bw_addr), .bw_bank(bw_bank),
        .bw_data(bw_data), .c_rd(c_drd), .c_rd_half(c_drd_half), .c_rd_addr(c_drd_addr), .c_rd_data(c_drd_data),
        .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_we(cmd_we), .cmd_addr(cmd_addr), .wdata_ready(wdata_ready),
        .wdata_data(wdata_data), .wdata_we(wdata_we), .rdata_valid(rdata_valid), .rdata_data(rdata_data),
        .n_rd(n_rd), .n_wr(n_wr), .n_turn(n_turn), .idle(dma_idle), .err(dma_err));

    // ------------------------------------------------------------------ run control and counters
    wire finished = busy && !s_valid && (stores_done == s_runs) && dma_idle;
    assign done = !busy;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            n_cycles <= 32'd0;
            n_busy <= 32'd0;
        end else if (start) begin
            busy <= 1'b1;
            n_cycles <= 32'd0;
            n_busy <= 32'd0;
        end else if (busy) begin
            n_cycles <= n_cycles + 32'd1;
            n_busy <= n_busy + {31'd0, cfg_os ? os_busy : ws_busy};
            if (finished) busy <= 1'b0;
        end
    end
    assign err = (|fq_err) | (|conflict) | (|feed_err) | outwr_err | dma_err;
endmodule
