"""What SCALE-Sim 3.0.0's array asks of its memories, per demand row, for a GEMM: in closed form.

SCALE-Sim turns a layer into three demand matrices (one row = one array cycle; ifmap and filter
reads, ofmap writes) and installs each operand in its read buffer in a fixed *prefetch order*
(docs/MODEL.md section 8.1 gives both, with file:line citations into the `scalesim` package). Every
demand row of a GEMM reads one contiguous, increasing run of its operand's prefetch order (a whole
prefetch row, or the part of one anti-diagonal inside the fold's chunk), so a row is described by
(first prefetch rank, words) and the ofmap row by the words it writes; no address matrix is built.

The rows of a fold depend only on the fold's row index `fr`, column index `fc` or on both, so each
operand is a `RowTable`: one table row per distinct pattern, `key[f]` picking fold f's, and the
fold's local demand rows `rho0 .. rho0 + width - 1` mapped onto the table's columns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmsim.problem import cdiv


@dataclass(frozen=True)
class FoldGrid:
    """Folds of a whole-layer GEMM on an R x C array: `fr_n` row folds (inner loop), `fc_n` column
    folds (outer loop), `F` demand rows per fold (cycles)."""

    fr_n: int
    fc_n: int
    F: int

    @property
    def folds(self) -> int:
        """Folds of the layer."""
        return self.fr_n * self.fc_n

    @property
    def rows(self) -> int:
        """Demand rows of the layer (cycles without stalls)."""
        return self.folds * self.F


@dataclass(frozen=True)
class RowTable:
    """Per-fold pattern of one operand: fold f uses table row key[f]; table column j is the fold's
    local demand row rho0 + j (rows outside [rho0, rho0 + width) touch nothing)."""

    first: np.ndarray   # (keys, width) first prefetch rank read (ofmap: unused, = count)
    count: np.ndarray   # (keys, width) words read or written (0: none)
    key: np.ndarray     # (folds,) table row of every fold
    rho0: int


def fold_grid(df: str, M: int, N: int, K: int, R: int, C: int) -> FoldGrid:
    """SCALE-Sim's fold grid (compute/systolic_compute_{ws,os,is}.py): rows, columns and time are
    (K, N, M) for WS, (M, N, K) for OS, (K, M, N) for IS; F = 2R + C + T - 2 (WS, IS), R + C + T - 2 (OS)."""
    rows, cols, t = {"ws": (K, N, M), "os": (M, N, K), "is": (K, M, N)}[df]
    fill = R + C - 2 if df == "os" else 2 * R + C - 2
    return FoldGrid(cdiv(rows, R), cdiv(cols, C), fill + t)


def _cells_on_diagonal(d, r0, r1, c0, c1):
    """Cells with row + col = d in rows [r0, r1) x cols [c0, c1) (vectorised over d)."""
    lo = np.maximum(r0, d - c1 + 1)
    hi = np.minimum(r1 - 1, d - c0)
    return np.maximum(hi - lo + 1, 0)


class DiagonalPrefetch:
    """A prefetch matrix of G chunks of h rows stacked vertically, W columns, only the first w_last
    columns of the last chunk valid (the rest -1 padding), read out along anti-diagonals, bottom row
    first (SCALE-Sim's roll-out of four of its six prefetch matrices)."""

    def __init__(self, G: int, h: int, W: int, w_last: int):
        self.G, self.h, self.W, self.w_last, self.H = G, h, W, w_last, G * h
        diagonals = np.arange(self.H + W, dtype=np.int64)
        self.before = np.concatenate(([0], np.cumsum(self._valid_below(diagonals, 0))))  # valid cells on diagonals < d

    def _valid_below(self, d, r0):
        """Valid cells of diagonal d in rows >= r0."""
        full = _cells_on_diagonal(d, r0, self.H, 0, self.W)
        pad = _cells_on_diagonal(d, np.maximum(r0, (self.G - 1) * self.h), self.H, self.w_last, self.W)
        return full - pad

    def read(self, d, g):
        """(first rank, count) of the valid cells of diagonal d inside chunk g (arrays): the bottom
        row comes first, so the cells of chunks below g precede them on the diagonal."""
        w = np.where(g == self.G - 1, self.w_last, self.W)
        count = _cells_on_diagonal(d, g * self.h, (g + 1) * self.h, 0, w)
        first = self.before[d] + self._valid_below(d, (g + 1) * self.h)
        return first, count

    def by_chunk(self, width: int):
        """(first rank, count) arrays (G, width): local diagonal j of every chunk, j < width."""
        g = np.arange(self.G)[:, None]
        d = g * self.h + np.arange(width)[None, :]
        return self.read(d, np.broadcast_to(g, d.shape))


def _row_major_reads(fc, fr, K: int, width, R: int, C: int):
    """WS filter / IS ifmap (row-major prefetch of K x C chunks stacked over fc): local row rho < R
    reads prefetch row fc*K + k, k = fr*R + R-1-rho (the fold's rows enter flipped)."""
    rho = np.arange(R)[None, :]
    k = fr * R + R - 1 - rho
    return fc * K * C + k * width, np.where(k < K, width, 0)   # rows past K read nothing


def _skewed_writes(used_cols, L: int, C: int):
    """Words written per local row by an L x used_cols output block skewed one row per column."""
    x = np.arange(L + C - 1)[None, :]
    n = np.maximum(np.minimum(used_cols - 1, x) - np.maximum(0, x - L + 1) + 1, 0)
    return n


def demand_tables(df: str, M: int, N: int, K: int, R: int, C: int) -> tuple[RowTable, RowTable, RowTable, FoldGrid]:
    """(ifmap reads, filter reads, ofmap writes, fold grid) of a GEMM out[M,N] = A[M,K].B[K,N] on
    an R x C array in dataflow `df` (docs/MODEL.md 8.1; K is the executed K)."""
    g = fold_grid(df, M, N, K, R, C)
    fold = np.arange(g.folds)
    fc_of, fr_of = fold // g.fr_n, fold % g.fr_n
    fc_k = np.arange(g.fc_n)[:, None]
    if df == "ws":
        pre = DiagonalPrefetch(g.fr_n, M, R, K - (g.fr_n - 1) * R)
        ifmap = RowTable(*pre.by_chunk(M + R - 1), fr_of, R)       # element (m, j) on local row R + m + j
        width = np.minimum(C, N - fc_of * C)[:, None]
        filt = RowTable(*_row_major_reads(fc_of[:, None], fr_of[:, None], K, width, R, C), fold, 0)
        n = _skewed_writes(np.minimum(C, N - fc_k * C), M, C)   # output (m, c) on local row 2R-1 + m + c
        ofmap = RowTable(n, n, fc_of, 2 * R - 1)
    elif df == "os":
        pre = DiagonalPrefetch(g.fr_n, K, R, M - (g.fr_n - 1) * R)
        ifmap = RowTable(*pre.by_chunk(K + R - 1), fr_of, 0)       # element (m = fr*R + j, k) on row k + j
        pre = DiagonalPrefetch(g.fc_n, K, C, N - (g.fc_n - 1) * C)
        filt = RowTable(*pre.by_chunk(K + C - 1), fc_of, 0)        # element (k, c) on row k + c
        # the fold's ru x cu outputs, rows flipped (padding rows first), skewed by column
        ru = np.minimum(R, M - fr_of * R)[:, None]
        cu = np.minimum(C, N - fc_of * C)[:, None]
        x = np.arange(R + C - 1)[None, :]
        n = np.maximum(np.minimum(cu - 1, x - (R - ru)) - np.maximum(0, x - (R - 1)) + 1, 0)
        ofmap = RowTable(n, n, fold, K - 1)
    else:
        width = np.minimum(C, M - fc_of * C)[:, None]
        ifmap = RowTable(*_row_major_reads(fc_of[:, None], fr_of[:, None], K, width, R, C), fold, 0)
        pre = DiagonalPrefetch(g.fr_n, N, R, K - (g.fr_n - 1) * R)
        filt = RowTable(*pre.by_chunk(N + R - 1), fr_of, R)        # element (k = fr*R + j, n) on row R + n + j
        n = _skewed_writes(np.minimum(C, M - fc_k * C), N, C)   # output (m, n) on local row 2R-1 + n + c
        ofmap = RowTable(n, n, fc_of, 2 * R - 1)
    return ifmap, filt, ofmap, g
