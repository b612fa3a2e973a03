// soc_dma: the SoC's DMA engine on one LiteDRAM native port (docs/RTL.md, "The DMA engine").
//
// Read engine: takes 2-D descriptors (DRAM word address, rows, words per row, DRAM row pitch;
// target buffer 0 = A, 1 = B, 2 = C, half, buffer row pitch in 32-B rows) and issues one read
// command per 16-B word. A tag FIFO remembers where each word goes; read data (in command order,
// no back-pressure) are written to the buffer's DMA port as they return. `rd_done` pulses (one
// bit per buffer) when a descriptor's last word has arrived.
// Write engine: takes store descriptors (C half, output rows, words per row, DRAM address and
// pitch, entries per row, final (int8) or spill (int32), valid bytes per row), reads C entries,
// saturates final sums to int8, packs 16-B words with byte enables into a 32-word FIFO, and issues
// a write command only for a word already in the FIFO. `wr_issued` pulses when a descriptor's
// last write command has been accepted.
// Arbitration: an engine keeps the port for a batch of up to 16 commands while it has commands
// ready (reads and writes batched, as memory controllers batch them to save bus turnarounds),
// then round robin between the engines.
// Commands leave from a register, so cmd_valid and cmd_addr never depend on cmd_ready.
module soc_dma #(
    parameter AW = 26,      // DRAM word-address bits (LiteDRAM native port)
    parameter BAW = 9,      // buffer row-address bits (512 rows of 32 B per half)
    parameter DEPTH_TAG = 32
) (
    input              clk,
    input              rst,
    // read descriptors
    input              rdq_push,
    input  [AW-1:0]    rdq_addr,
    input  [15:0]      rdq_rows,
    input  [11:0]      rdq_words,
    input  [15:0]      rdq_pitch,
    input  [1:0]       rdq_buf,
    input              rdq_half,
    input  [BAW-1:0]   rdq_bpitch,
    output             rdq_full,
    output reg [2:0]   rd_done,
    // write descriptors
    input              wrq_push,
    input  [AW-1:0]    wrq_addr,
    input  [15:0]      wrq_rows,
    input  [11:0]      wrq_words,
    input  [15:0]      wrq_pitch,
    input              wrq_half,
    input  [BAW-1:0]   wrq_cpitch,
    input              wrq_final,
    input  [15:0]      wrq_bytes,
    output             wrq_full,
    output reg         wr_issued,
    // buffer DMA ports: writes of returning read data, reads of C for stores
    output reg [2:0]   bw_en,
    output reg         bw_half,
    output reg [BAW-1:0] bw_addr,
    output reg         bw_bank,
    output reg [127:0] bw_data,
    output             c_rd,
    output             c_rd_half,
    output [BAW-1:0]   c_rd_addr,
    input  [255:0]     c_rd_data,
    // the LiteDRAM native port
    output reg         cmd_valid,
    input              cmd_ready,
    output reg         cmd_we,
    output reg [AW-1:0] cmd_addr,
    input              wdata_ready,
    output [127:0]     wdata_data,
    output [15:0]      wdata_we,
    input              rdata_valid,
    input  [127:0]     rdata_data,
    // counters
    output reg [31:0]  n_rd,
    output reg [31:0]  n_wr,
    output reg [31:0]  n_turn,      // accepted commands whose direction differs from the previous one's
    output             idle,
    output             err
);
    localparam TAGW = 2 + 1 + BAW + 1 + 1;
    localparam RDW = AW + 16 + 12 + 16 + 2 + 1 + BAW;
    localparam WRW = AW + 16 + 12 + 16 + 1 + BAW + 1 + 16;
    localparam WFW = AW + 128 + 16 + 1;

    // ---------------- read engine ----------------
    wire [RDW-1:0] rdq_head;
    wire [2:0]     unused_rdq_cnt;
    wire           rdq_empty, rdq_err;
    reg            rdq_pop;
    soc_fifo #(.WIDTH(RDW), .DEPTH(4)) u_rdq (
        .clk(clk), .rst(rst), .push(rdq_push),
        .din({rdq_addr, rdq_rows, rdq_words, rdq_pitch, rdq_buf, rdq_half, rdq_bpitch}),
        .pop(rdq_pop), .head(rdq_head), .count(unused_rdq_cnt), .full(rdq_full), .empty(rdq_empty), .err(rdq_err));
    wire [AW-1:0]  r_addr0;
    wire [15:0]    r_rows, r_pitch;
    wire [11:0]    r_words;
    wire [1:0]     r_buf;
    wire           r_half;
    wire [BAW-1:0] r_bpitch;
    assign {r_addr0, r_rows, r_words, r_pitch, r_buf, r_half, r_bpitch} = rdq_head;

    reg            r_active;
    reg [15:0]     r_row;
    reg [11:0]     r_w;
    reg [AW-1:0]   r_rowaddr;
    reg [BAW-1:0]  r_brow;
    wire [AW-1:0]  r_cmd_addr = r_rowaddr + {{(AW-12){1'b0}}, r_w};
    wire           r_last_w = (r_w + 12'd1 == r_words);
    wire           r_last = r_last_w && (r_row + 16'd1 == r_rows);
    wire [BAW-1:0] r_baddr = r_brow + r_w[BAW:1];

    wire [TAGW-1:0] tag_head;
    wire [5:0]      unused_tag_cnt;
    wire            tag_full, tag_empty, tag_err;
    reg             r_take;   // a read command is loaded into the command register
    reg             w_take;   // a write command is loaded into the command register
    soc_fifo #(.WIDTH(TAGW), .DEPTH(DEPTH_TAG)) u_tag (
        .clk(clk), .rst(rst), .push(r_take), .din({r_buf, r_half, r_baddr, r_w[0], r_last}),
        .pop(rdata_valid), .head(tag_head), .count(unused_tag_cnt), .full(tag_full), .empty(tag_empty), .err(tag_err));
    wire r_ready = r_active && !tag_full;

    always @(posedge clk) begin
        if (rst) begin
            r_active <= 1'b0;
            r_row <= 16'd0;
            r_w <= 12'd0;
        end else if (!r_active) begin
            if (!rdq_empty) begin
                r_active <= 1'b1;
                r_row <= 16'd0;
                r_w <= 12'd0;
                r_rowaddr <= r_addr0;
                r_brow <= {BAW{1'b0}};
            end
        end else if (r_take) begin
            if (r_last) begin
                r_active <= 1'b0;
            end else if (r_last_w) begin
                r_w <= 12'd0;
                r_row <= r_row + 16'd1;
                r_rowaddr <= r_rowaddr + {{(AW-16){1'b0}}, r_pitch};
                r_brow <= r_brow + r_bpitch;
            end else begin
                r_w <= r_w + 12'd1;
            end
        end
    end
    always @* rdq_pop = r_active && r_take && r_last;

    // Returning read data go to the buffer named by the oldest tag.
    always @(posedge clk) begin
        if (rst) begin
            bw_en <= 3'b000;
            rd_done <= 3'b000;
        end else begin
            bw_en <= rdata_valid ? (3'b001 << tag_head[TAGW-1 -: 2]) : 3'b000;
            rd_done <= (rdata_valid && tag_head[0]) ? (3'b001 << tag_head[TAGW-1 -: 2]) : 3'b000;
        end
        {bw_half, bw_addr, bw_bank} <= tag_head[TAGW-3:1];
        bw_data <= rdata_data;
    end

    // ---------------- write engine ----------------
    wire [WRW-1:0] wrq_head;
    wire [2:0]     unused_wrq_cnt;
    wire           wrq_empty, wrq_err;
    reg            wrq_pop;
    soc_fifo #(.WIDTH(WRW), .DEPTH(4)) u_wrq (
        .clk(clk), .rst(rst), .push(wrq_push),
        .din({wrq_addr, wrq_rows, wrq_words, wrq_pitch, wrq_half, wrq_cpitch, wrq_final, wrq_bytes}),
        .pop(wrq_pop), .head(wrq_head), .count(unused_wrq_cnt), .full(wrq_full), .empty(wrq_empty), .err(wrq_err));
    wire [AW-1:0]  s_addr0;
    wire [15:0]    s_rows, s_pitch, s_bytes;
    wire [11:0]    s_words;
    wire           s_half, s_final;
    wire [BAW-1:0] s_cpitch;
    assign {s_addr0, s_rows, s_words, s_pitch, s_half, s_cpitch, s_final, s_bytes} = wrq_head;

    // Packer: one C read per cycle; a final word takes two entries (8 int8 each), a spill word
    // half an entry (4 int32). `p_part` = 1 for the second entry of a final word.
    reg            p_active, p_part;
    reg [15:0]     p_row;
    reg [11:0]     p_w;
    reg [AW-1:0]   p_rowaddr;
    reg [BAW-1:0]  p_crow;
    wire [WFW-1:0] wf_head;
    wire [5:0]     wf_cnt;
    wire           unused_wf_full, wf_empty, wf_err;
    reg            s1_v, s1_part, s1_final, s1_last, s1_bank;
    reg [AW-1:0]   s1_addr;
    reg [15:0]     s1_mask;
    reg [63:0]     lo_bytes;
    wire           p_last_w = (p_w + 12'd1 == s_words);
    wire           p_last = p_last_w && (p_row + 16'd1 == s_rows);
    wire           p_word_done = !s_final || p_part;
    wire           p_go = p_active && (wf_cnt + {5'd0, s1_v} < 6'd31);
    assign c_rd      = p_go;
    assign c_rd_half = s_half;
    assign c_rd_addr = p_crow + (s_final ? {p_w[BAW-2:0], p_part} : {1'b0, p_w[BAW-1:1]});

    // Byte enables of word w of a row: bytes below `s_bytes` valid.
    function [15:0] mask_of(input [11:0] w, input [15:0] nbytes);
        integer b;
        begin
            for (b = 0; b < 16; b = b + 1) mask_of[b] = ({16'd0, w, 4'b0000} + b < {16'd0, nbytes});
        end
    endfunction

    always @(posedge clk) begin
        if (rst) begin
            p_active <= 1'b0;
            p_part <= 1'b0;
            s1_v <= 1'b0;
        end else begin
            s1_v <= p_go && p_word_done;
            s1_part <= p_part;
            s1_final <= s_final;
            s1_bank <= p_w[0];
            s1_last <= p_last;
            s1_addr <= p_rowaddr + {{(AW-12){1'b0}}, p_w};
            s1_mask <= mask_of(p_w, s_bytes);
            if (!p_active) begin
                if (!wrq_empty) begin
                    p_active <= 1'b1;
                    p_part <= 1'b0;
                    p_row <= 16'd0;
                    p_w <= 12'd0;
                    p_rowaddr <= s_addr0;
                    p_crow <= {BAW{1'b0}};
                end
            end else if (p_go) begin
                if (!p_word_done) begin
                    p_part <= 1'b1;
                end else begin
                    p_part <= 1'b0;
                    if (p_last) begin
                        p_active <= 1'b0;
                    end else if (p_last_w) begin
                        p_w <= 12'd0;
                        p_row <= p_row + 16'd1;
                        p_rowaddr <= p_rowaddr + {{(AW-16){1'b0}}, s_pitch};
                        p_crow <= p_crow + s_cpitch;
                    end else begin
                        p_w <= p_w + 12'd1;
                    end
                end
            end
        end
    end
    always @* wrq_pop = p_active && p_go && p_word_done && p_last;

    // Saturate eight int32 lanes of a 32-B row (or four of a half) to int8.
    function [7:0] sat8(input [31:0] x);
        sat8 = ($signed(x) > 32'sd127) ? 8'h7f : (($signed(x) < -32'sd128) ? 8'h80 : x[7:0]);
    endfunction
    reg [63:0]  sat_row;
    integer q;
    always @* for (q = 0; q < 8; q = q + 1) sat_row[q*8 +: 8] = sat8(c_rd_data[q*32 +: 32]);
    always @(posedge clk) if (s1_part == 1'b0) lo_bytes <= sat_row;
    wire [127:0] s1_data = s1_final ? {sat_row, (s1_part ? lo_bytes : sat_row)}
                                    : (s1_bank ? c_rd_data[255:128] : c_rd_data[127:0]);
    // s1 sees the read issued one cycle earlier: a final word completes on its second entry.
    wire wf_push = s1_v;
    soc_fifo #(.WIDTH(WFW), .DEPTH(32)) u_wf (
        .clk(clk), .rst(rst), .push(wf_push), .din({s1_addr, s1_data, s1_mask, s1_last}),
        .pop(w_take), .head(wf_head), .count(wf_cnt), .full(unused_wf_full), .empty(wf_empty), .err(wf_err));

    // Write data of issued commands, on the bus until the controller takes them.
    wire [143:0] pend_head;
    wire [5:0]   unused_pend_cnt;
    wire         pend_full, pend_empty, pend_err;
    soc_fifo #(.WIDTH(144), .DEPTH(32)) u_pend (
        .clk(clk), .rst(rst), .push(w_take), .din(wf_head[WFW-AW-1:1]), .pop(wdata_ready),
        .head(pend_head), .count(unused_pend_cnt), .full(pend_full), .empty(pend_empty), .err(pend_err));
    assign wdata_data = pend_head[143:16];
    assign wdata_we = pend_head[15:0];
    wire [AW-1:0] w_cmd_addr = wf_head[WFW-1 -: AW];
    wire w_ready = !wf_empty && !pend_full;
    // A new write burst starts only with a burst's worth of words packed (or the packer idle).
    wire w_start_ok = w_ready && ((wf_cnt >= 6'd16) || !p_active);

    // ---------------- arbiter and command register ----------------
    reg        grant_w;      // the engine holding the current burst
    reg [4:0]  burst_cnt;
    reg        in_burst;
    reg        last_w_flag;  // the loaded write command ends its descriptor
    reg        last_we;      // direction of the last accepted command
    wire       accepted = cmd_valid && cmd_ready;
    wire       slot = !cmd_valid || accepted;
    wire       cont_ok = in_burst && (burst_cnt != 5'd16);
    wire       r_cont = cont_ok && !grant_w && r_ready;
    wire       w_cont = cont_ok && grant_w && w_ready;
    // New burst: round robin (prefer the engine that did not hold the last burst).
    wire       new_w = w_start_ok && (!grant_w || !r_ready);
    wire       new_r = r_ready && !new_w;

    always @* begin
        r_take = 1'b0;
        w_take = 1'b0;
        if (slot) begin
            if (r_cont) r_take = 1'b1;
            else if (w_cont) w_take = 1'b1;
            else if (new_w) w_take = 1'b1;
            else if (new_r) r_take = 1'b1;
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            cmd_valid <= 1'b0;
            cmd_we <= 1'b0;
            cmd_addr <= {AW{1'b0}};
            grant_w <= 1'b0;
            in_burst <= 1'b0;
            burst_cnt <= 5'd0;
            last_w_flag <= 1'b0;
            wr_issued <= 1'b0;
            n_rd <= 32'd0;
            n_wr <= 32'd0;
            n_turn <= 32'd0;
            last_we <= 1'b0;
        end else begin
            wr_issued <= accepted && cmd_we && last_w_flag;
            if (accepted) begin
                if (cmd_we) n_wr <= n_wr + 32'd1;
                else n_rd <= n_rd + 32'd1;
                if ((n_rd != 32'd0 || n_wr != 32'd0) && cmd_we != last_we) n_turn <= n_turn + 32'd1;
                last_we <= cmd_we;
            end
            if (slot) begin
                cmd_valid <= r_take || w_take;
                if (r_take) begin
                    cmd_we <= 1'b0;
                    cmd_addr <= r_cmd_addr;
                end else if (w_take) begin
                    cmd_we <= 1'b1;
                    cmd_addr <= w_cmd_addr;
                    last_w_flag <= wf_head[0];
                end
                if ((r_take && r_cont) || (w_take && w_cont)) begin
                    burst_cnt <= burst_cnt + 5'd1;
                end else if (r_take || w_take) begin
                    burst_cnt <= 5'd1;
                    grant_w <= w_take;
                end
                in_burst <= r_take || w_take;
            end
        end
    end

    assign idle = !r_active && rdq_empty && tag_empty && !p_active && wrq_empty && wf_empty && pend_empty
                  && !cmd_valid && !s1_v;
    assign err = rdq_err | tag_err | wrq_err | wf_err | pend_err;
endmodule
