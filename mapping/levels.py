"""Tiles of the inner tiers of on-chip levels (Arch.tiers()[1:]) by the fit rule, vectorized over
candidates.

The mapping space searches the outermost tier's tile, the loop order over it, the dataflow and
the spatial split; each inner tier's tile follows from its parent's by this rule (docs/MAPPING.md,
"Inner levels"):

* a tier whose levels hold their operands with the parent's tile keeps that tile (it splits nothing);
* otherwise the dimensions its operands depend on are cut, one at a time, to the largest multiple
  of their array quantum with which every level of the tier fits: first the columns' dimension,
  then the rows', the time dimension last (cutting a spatial dimension at whole folds changes no
  array traffic, cutting time re-loads the stationary operand once more per cut); a dimension no
  kept operand depends on is never cut (it would shrink nothing the tier holds).

For a tier that keeps one operand this is the best tile for every cost term (the argument is in
docs/MAPPING.md); with several operands it is one choice among trade-offs. The loop order at an
inner boundary is fixed (`inner_orders`).
"""
from __future__ import annotations

import numpy as np

from nmsim.accel import SystolicArch
from nmsim.problem import COLS, ROWS, TIME, Gemm, PerDataflow, cdiv, tile_bytes
from nmsim.problem.spatial import dim_extents


OPERAND_DIMS = {"inputs": "mk", "weights": "kn", "outputs": "mn"}
_IRRELEVANT = {"inputs": "n", "weights": "m", "outputs": "k"}


def inner_orders(arch: SystolicArch) -> list[str]:
    """Loop order at each inner boundary (tiers 1.. of `arch.tiers()`): the loops there re-fill every
    level at or below it, so they favour what those levels keep. With outputs among them, k goes
    innermost (partial sums stay put, "nmk"); with one other operand, its irrelevant dimension goes
    innermost; otherwise "nmk"."""
    orders = []
    tiers = arch.tiers()
    for j in range(1, len(tiers)):
        below = {o for tier in tiers[j:] for i in tier for o in arch.memory[i].holds}
        if "outputs" in below or len(below) != 1:
            orders.append("nmk")
        else:
            (only,) = below
            irr = _IRRELEVANT[only]
            orders.append("".join(d for d in "nmk" if d != irr) + irr)
    return orders


def quanta(arch: SystolicArch, gemm: Gemm, sel: PerDataflow, split) -> dict[str, np.ndarray]:
    """Per candidate, the tile quantum of each dimension in elements: its spatial extent (MODEL.md 3.7);
    for K the dense elements its extent's units hold (E_K x P nonzeros, in whole N:M groups)."""
    c = arch.compute
    ext = dim_extents(c.rows, c.cols, sel, split)
    n, m = np.asarray(gemm.n, dtype=np.int64), np.asarray(gemm.m, dtype=np.int64)
    # E_K units of P nonzeros each, in whole groups of m dense elements
    q_k = cdiv(np.asarray(ext["K"], dtype=np.int64) * c.macs_per_pe, n) * m
    return {"m": np.asarray(ext["M"], dtype=np.int64), "n": np.asarray(ext["N"], dtype=np.int64), "k": q_k}


def _fits(gemm: Gemm, levels, tiles: dict, op_b: float, acc_b: float):
    """Per candidate: every level of a tier holds its operands' tiles (doubled where double-buffered)."""
    a, b, out = tile_bytes(gemm, tiles["m"], tiles["n"], tiles["k"], op_b, acc_b)
    parts = {"inputs": a * gemm.a_unique, "weights": b, "outputs": out}
    ok = True
    for lv in levels:
        need = sum(parts[o] for o in lv.holds) * (2 if lv.double_buffered else 1)
        ok = ok & (need <= lv.capacity_bytes)
    return ok


def _shrink(gemm, levels, tiles, d, q, *, op_b, acc_b) -> None:
    """Cut tiles[d] (in place, per candidate) to the largest t = min(current, u·q) with which the
    tier's levels fit, u >= 1 (binary search on u: footprints grow with every tile size)."""
    cur = tiles[d]
    lo = np.ones_like(cur)
    hi = np.maximum(cdiv(cur, q), 1)
    for _ in range(int(np.max(hi)).bit_length() + 1):
        mid = (lo + hi + 1) // 2
        ok = _fits(gemm, levels, {**tiles, d: np.minimum(cur, mid * q)}, op_b, acc_b)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid - 1)
        hi = np.maximum(hi, lo)
    tiles[d] = np.minimum(cur, lo * q)


def inner_tiles(arch: SystolicArch, gemm: Gemm, dataflow, split, outer: tuple) -> list[tuple]:
    """Tiles (tm, tn, tk) of every inner tier by the fit rule (module doc), per candidate: arrays
    like `outer` = the outermost tier's (tm, tn, tk), already clipped to `gemm` (one GEMM)."""
    tiers = arch.tiers()
    if len(tiers) == 1:
        return []
    sel = PerDataflow(dataflow)
    q = quanta(arch, gemm, sel, split)
    c = arch.compute
    op_b, acc_b = c.operand_bits / 8, c.accumulator_bits / 8
    # cut order by role: columns' dimension, rows', then time
    role_dim = [sel.dim(role, lambda d: "mnk".index(d.lower())) for role in (COLS, ROWS, TIME)]
    parent = {d: np.asarray(t, dtype=np.int64) for d, t in zip("mnk", outer)}
    out = []
    for tier in tiers[1:]:
        levels = [arch.memory[i] for i in tier]
        tiles = dict(parent)
        fits = _fits(gemm, levels, tiles, op_b, acc_b)
        if not np.all(fits):
            relevant = set("".join(OPERAND_DIMS[o] for lv in levels for o in lv.holds))
            for codes in role_dim:
                for i, d in enumerate("mnk"):
                    if d not in relevant:
                        continue
                    mine = np.flatnonzero(np.broadcast_to(codes == i, tiles[d].shape) & ~fits)
                    if not len(mine):
                        continue
                    # only the candidates that still overflow, with their own quanta (`gemm` is one
                    # GEMM: its fields are scalars)
                    cut = {e: np.broadcast_to(t, fits.shape)[mine] for e, t in tiles.items()}
                    _shrink(gemm, levels, cut, d, np.broadcast_to(q[d], fits.shape)[mine], op_b=op_b, acc_b=acc_b)
                    tiles[d] = np.array(np.broadcast_to(tiles[d], fits.shape))
                    tiles[d][mine] = cut[d]
                fits = _fits(gemm, levels, tiles, op_b, acc_b)
        out.append((tiles["m"], tiles["n"], tiles["k"]))
        parent = tiles
    return out
