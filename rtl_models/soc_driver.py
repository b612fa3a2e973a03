"""The host side of the SoC (docs/RTL.md, "Memory path"): what a driver computes before `start`.

From one GEMM layer (M, N, K, the executed n:m) and a mapping it lays the tensors out in DRAM
(row pitches padded to 16-byte words, regions at 4 KiB boundaries), computes the configuration
registers of `nm_soc.v` (loop trips and order, full and edge tile sizes, units, buffer pitches,
DRAM addresses and strides), and refuses, with one line naming the rule, a mapping the tile
sequencer cannot run. It also builds the DRAM image of the operands and the expected output.

These are counts and addresses, the job of a driver; no timing is computed here (the cycles
come from the RTL, and the model's predictions from sim, independently).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nmsim.accel import SystolicArch
from nmsim.mapping import Mapping
from nmsim.problem import cdiv
from nmsim.sim.functional import nm_decompress, nm_prune, pad_groups, topn_select, wrap_signed
from nmsim.specfile import SpecError

WORD = 16          # bytes per DRAM word (LiteDRAM native port, one BL8 burst of a x16 DDR4)
ROW = 32           # bytes per buffer row (two DRAM words)
PAGE_WORDS = 256   # 4 KiB: region alignment
DRAM_BYTES = 32 << 20  # the PHY model's storage without aliasing (2048 rows x 8 banks x 2 KiB)
LOOP_DIM = {"m": 0, "n": 1, "k": 2}


@dataclass(frozen=True)
class SocParams:
    """What the SoC RTL is built with (the rtl-soc preset's array and buffers)."""

    R: int
    C: int
    NP: int      # multipliers per PE
    LANES: int   # activation lanes per PE
    ACC: int
    half_rows: int  # 32-B rows per buffer half

    @staticmethod
    def from_arch(arch: SystolicArch) -> "SocParams":
        """The SoC an arch describes; SpecError when it is not one the RTL can be built as."""
        c = arch.compute
        lanes = max([c.macs_per_pe] + [c.macs_per_pe * m // n for n, m in
                                        (arch.sparsity.nm.pairs() if arch.sparsity.nm else [])])
        levels = {op: arch.level_for(op) for op in ("inputs", "weights", "outputs")}
        sizes = {lv.size_bytes for lv in levels.values()}
        problems = []
        if c.operand_bits != 8:
            problems.append("operand_bits must be 8")
        if c.cols * c.accumulator_bits != ROW * 8:
            problems.append(f"cols x accumulator_bits must be {ROW * 8} (one C entry = one {ROW}-B row)")
        if c.rows > 8 or c.rows * lanes > 8 * ROW - ROW:
            problems.append("rows must be at most 8 and rows x lanes at most 224 B (a feeder set holds 8 buffer rows)")
        if 2 * c.rows * c.macs_per_pe > ROW:
            problems.append(f"rows x 2 x macs_per_pe must be at most {ROW} (a WS fold's weights of a column in one row)")
        if len({lv.name for lv in levels.values()}) != 3 or len(sizes) != 1:
            problems.append("inputs, weights and outputs need one buffer level each, all of one size")
        if not all(lv.double_buffered for lv in levels.values()):
            problems.append("every buffer level must be double_buffered (two halves)")
        if problems:
            raise SpecError(f"{arch.name}: not a SoC the RTL can be built as: {'; '.join(problems)}")
        half_rows = sizes.pop() // 2 // ROW
        if half_rows & (half_rows - 1):
            raise SpecError(f"{arch.name}: a buffer half must hold a power of two of {ROW}-B rows (got {half_rows})")
        return SocParams(R=c.rows, C=c.cols, NP=c.macs_per_pe, LANES=lanes, ACC=c.accumulator_bits,
                         half_rows=half_rows)

    def verilog(self) -> dict:
        """Parameter overrides of nm_soc."""
        return {"R": self.R, "C": self.C, "NP": self.NP, "LANES": self.LANES, "ACC": self.ACC,
                "BAW": int(np.log2(self.half_rows))}


@dataclass(frozen=True)
class SocLayer:
    """One GEMM layer as the SoC runs it: out[M,N] = A[M,K] . W[N,K]^T, W executed n:m (n = m = 1: dense)."""

    M: int
    N: int
    K: int
    n: int
    m: int
    mapping: Mapping

    @property
    def sparse(self) -> bool:
        """Whether weights are stored with indices."""
        return self.n < self.m

    def knnz(self, k: int) -> int:
        """Kept weights per column along k dense K elements (whole groups)."""
        return cdiv(k, self.m) * self.n


@dataclass
class SocPlan:
    """Configuration registers and DRAM layout of one layer (word addresses, 16-B words)."""

    layer: SocLayer
    cfg: dict[str, int]
    base: dict[str, int]      # word address of each region: a, b, o, p
    pitch: dict[str, int]     # row pitch of each region in words
    dram_words: int           # words up to the end of the last region
    image_words: int = 0      # words of the operand image (A and B regions)
    notes: list[str] = field(default_factory=list)


def _tiles(D: int, t: int) -> tuple[int, int, int]:
    """(tile count, full tile size, edge tile size) of a dimension D tiled by t."""
    t = min(t, D)
    count = cdiv(D, t)
    return count, t, D - t * (count - 1)


def _align(words: int) -> int:
    return cdiv(words, PAGE_WORDS) * PAGE_WORDS


def _aligned_k(layer: SocLayer, tk: int) -> bool:
    """A K tile whose A row and weight run are whole DRAM words (and whole groups of m)."""
    return tk % layer.m == 0 and tk % WORD == 0 and layer.knnz(tk) * (2 if layer.sparse else 1) % WORD == 0


def check_runnable(p: SocParams, layer: SocLayer) -> None:
    """SpecError (one line naming the rule and the fix) when the tile sequencer cannot run the layer."""
    mp, n, m = layer.mapping, layer.n, layer.m
    where = f"mapping {mp.dataflow} {mp.tile_m}x{mp.tile_n}x{mp.tile_k} {mp.loop_order}"
    if mp.dataflow not in ("ws", "os"):
        raise SpecError(f"{where}: the RTL sequencer runs the ws and os dataflows, not {mp.dataflow}; "
                        f"give the mapping dataflow ws or os")
    g = p.NP * m // n if p.NP % n == 0 else 0
    if not g or g > p.LANES or (p.R * g) % WORD:
        raise SpecError(f"{where}: the executed {n}:{m} does not fit {p.NP} multipliers x {p.LANES} lanes of the SoC")
    if max(layer.M, layer.N, layer.K) >= 1 << 16:
        raise SpecError(f"{where}: M, N and K must be below 65536 (16-bit tile counters)")
    _, tm, _ = _tiles(layer.M, mp.tile_m)
    tk_count, tk, _ = _tiles(layer.K, mp.tile_k)
    tn_count, tn, _ = _tiles(layer.N, mp.tile_n)
    wb = 2 if layer.sparse else 1
    if tk_count > 1 and not _aligned_k(layer, tk):
        good = [k for k in range(m, 64 * m * WORD + 1, m) if _aligned_k(layer, k)]
        raise SpecError(f"{where}: a split K needs whole 16-B DRAM words per tile row: tile_k {tk} gives A rows of "
                        f"{tk} B and weight runs of {layer.knnz(tk) * wb} B; use a multiple of {good[0]} for tile_k")
    if tn_count > 1 and tn % WORD:
        raise SpecError(f"{where}: a split N needs tile_n a multiple of {WORD} (whole DRAM words of int8 outputs); "
                        f"got {tn}")
    need = {"A": tm * cdiv(tk, ROW), "B": tn * cdiv(layer.knnz(tk) * wb, ROW), "C": tm * cdiv(tn, p.C)}
    for buf, rows in need.items():
        if rows > p.half_rows:
            raise SpecError(f"{where}: the {buf} tile needs {rows} rows of {ROW} B, a buffer half has {p.half_rows}; "
                            f"use smaller tiles")


def plan_layer(p: SocParams, layer: SocLayer) -> SocPlan:
    """Layout and configuration registers of `layer` (after check_runnable)."""
    check_runnable(p, layer)
    mp = layer.mapping
    M, N, K = layer.M, layer.N, layer.K
    wb = 2 if layer.sparse else 1
    (tiles_m, tm, tm_l), (tiles_n, tn, tn_l), (tiles_k, tk, tk_l) = (_tiles(M, mp.tile_m), _tiles(N, mp.tile_n),
                                                                     _tiles(K, mp.tile_k))
    pitch = {"a": cdiv(K, WORD), "b": cdiv(layer.knnz(K) * wb, WORD), "o": cdiv(N, WORD), "p": cdiv(4 * N, WORD)}
    base, at = {}, 0
    for region, rows in (("a", M), ("b", N), ("o", M), ("p", M)):
        base[region] = at
        at = _align(at + rows * pitch[region])
    if at * WORD > DRAM_BYTES:
        raise SpecError(f"layer {M}x{N}x{K}: its tensors need {at * WORD} B of DRAM, the DRAM model holds "
                        f"{DRAM_BYTES} B; use a smaller layer")
    units = lambda k: cdiv(layer.knnz(k), p.NP)  # noqa: E731 - one-line helper
    order = [LOOP_DIM[d] for d in mp.loop_order]
    cfg = {
        "cfg_os": int(mp.dataflow == "os"), "cfg_g": p.NP * layer.m // layer.n, "cfg_sparse": int(layer.sparse),
        "cfg_lane_base": sum(((j // layer.n) * layer.m) << (5 * j) for j in range(p.NP)),
        "cfg_order": (order[0] << 4) | (order[1] << 2) | order[2],
        "cfg_tiles_m": tiles_m, "cfg_tiles_n": tiles_n, "cfg_tiles_k": tiles_k,
        "cfg_tm_full": tm, "cfg_tm_last": tm_l, "cfg_tn_full": tn, "cfg_tn_last": tn_l,
        "cfg_tk_full": tk, "cfg_tk_last": tk_l, "cfg_u_full": units(tk), "cfg_u_last": units(tk_l),
        "cfg_knnz_full": layer.knnz(tk), "cfg_knnz_last": layer.knnz(tk_l),
        "cfg_a_pitch": cdiv(tk, ROW), "cfg_b_pitch": cdiv(layer.knnz(tk) * wb, ROW), "cfg_c_pitch": cdiv(tn, p.C),
        "cfg_base_a": base["a"], "cfg_base_b": base["b"], "cfg_base_o": base["o"], "cfg_base_p": base["p"],
        "cfg_pitch_a": pitch["a"], "cfg_pitch_b": pitch["b"], "cfg_pitch_o": pitch["o"], "cfg_pitch_p": pitch["p"],
        "cfg_a_mstep": tm * pitch["a"], "cfg_a_kstep": tk // WORD if tiles_k > 1 else 0,
        "cfg_b_nstep": tn * pitch["b"], "cfg_b_kstep": layer.knnz(tk) * wb // WORD if tiles_k > 1 else 0,
        "cfg_o_mstep": tm * pitch["o"], "cfg_o_nstep": tn // WORD if tiles_n > 1 else 0,
        "cfg_p_mstep": tm * pitch["p"], "cfg_p_nstep": 4 * tn // WORD if tiles_n > 1 else 0,
        "cfg_a_words_full": cdiv(tk, WORD), "cfg_a_words_last": cdiv(tk_l, WORD),
        "cfg_b_words_full": cdiv(layer.knnz(tk) * wb, WORD), "cfg_b_words_last": cdiv(layer.knnz(tk_l) * wb, WORD),
        "cfg_o_words_full": cdiv(tn, WORD), "cfg_o_words_last": cdiv(tn_l, WORD),
        "cfg_p_words_full": cdiv(4 * tn, WORD), "cfg_p_words_last": cdiv(4 * tn_l, WORD),
    }
    return SocPlan(layer=layer, cfg=cfg, base=base, pitch=pitch, dram_words=at,
                   image_words=base["b"] + N * pitch["b"])


@dataclass
class SocOperands:
    """A layer's operands: activations A [M, K] and the executed compressed weights per column."""

    a: np.ndarray        # [M, K] int8 values (int64)
    values: np.ndarray   # [N, groups, n] kept weights
    indices: np.ndarray  # [N, groups, n] in-group indices


def dram_image(plan: SocPlan, ops: SocOperands) -> np.ndarray:
    """The A and B regions as bytes (uint8, `plan.image_words` x 16): A row-major, each column's
    weight run as values (dense) or (value, index) byte pairs (sparse), rows padded with zeros."""
    layer = plan.layer
    img = np.zeros(plan.image_words * WORD, dtype=np.uint8)
    a = np.zeros((layer.M, plan.pitch["a"] * WORD), dtype=np.uint8)
    a[:, : layer.K] = ops.a.astype(np.int64) & 0xFF
    img[plan.base["a"] * WORD: plan.base["a"] * WORD + a.size] = a.reshape(-1)
    vals = ops.values.reshape(layer.N, -1).astype(np.int64) & 0xFF
    if layer.sparse:
        run = np.stack([vals, ops.indices.reshape(layer.N, -1).astype(np.int64)], axis=-1).reshape(layer.N, -1)
    else:
        run = vals
    b = np.zeros((layer.N, plan.pitch["b"] * WORD), dtype=np.uint8)
    b[:, : run.shape[1]] = run
    img[plan.base["b"] * WORD: plan.base["b"] * WORD + b.size] = b.reshape(-1)
    return img


def hex_words(img: np.ndarray) -> str:
    """`$readmemh` text of a byte image: one 16-B word per line, byte 0 least significant."""
    words = img.reshape(-1, WORD)[:, ::-1]
    return "\n".join(w.tobytes().hex() for w in words) + "\n"


def words_to_bytes(text: str) -> np.ndarray:
    """Bytes (uint8) of a `$writememh` dump of 16-B words (the inverse of hex_words)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("//")]
    return np.frombuffer(b"".join(bytes.fromhex(ln.zfill(2 * WORD))[::-1] for ln in lines), dtype=np.uint8)


def random_operands(layer: SocLayer, rng: np.random.Generator, w_nm: tuple[int, int] | None) -> SocOperands:
    """Random int8 operands; the weights pruned to the workload's pattern `w_nm` (None: dense), then
    compressed to the executed n:m (lossless: the caller chose an executed pattern they satisfy)."""
    from .bits import random_signed

    a = random_signed(rng, (layer.M, layer.K), 8)
    w = random_signed(rng, (layer.N, layer.K), 8)
    if w_nm is not None:
        w = nm_prune(pad_groups(w, w_nm[1]), *w_nm)[:, : layer.K]
    values, indices = topn_select(pad_groups(w, layer.m), layer.n, layer.m)
    if not np.array_equal(nm_decompress(values, indices, layer.m)[:, : layer.K], w):
        raise RuntimeError(f"weights of pattern {w_nm} do not fit the executed {layer.n}:{layer.m}")
    return SocOperands(a=a, values=values, indices=indices)


def expected_output(layer: SocLayer, ops: SocOperands, acc_bits: int) -> np.ndarray:
    """The int8 outputs [M, N]: A . W^T of the decompressed executed weights wrapped to acc_bits
    (what sim.functional.nm_gemm computes; exact in int64 for int8 operands and K < 2^16, and
    without nm_gemm's M x N x K gather), saturated to int8."""
    w = nm_decompress(ops.values, ops.indices, layer.m)[:, : layer.K]
    acc = wrap_signed(ops.a.astype(np.int64) @ w.T.astype(np.int64), acc_bits)
    return np.clip(acc, -128, 127).astype(np.int8)
