"""Bit-level glue between numpy integers and the RTL's flat ports, and random stimulus.

The Verilog blocks pack lane i of a bus into bits [i*W, (i+1)*W): `pack` and `unpack` convert
between that layout and signed integers; `random_signed` draws operands with a share of
overflow edges (the most negative and positive values, -1, 0, 1).
"""
from __future__ import annotations

import numpy as np

from nmsim.sim.functional import signed_range


def pack(values, bits: int) -> int:
    """One unsigned bus value holding `values` (lane 0 lowest), each as `bits`-bit two's complement."""
    mask = (1 << bits) - 1
    out = 0
    for i, v in enumerate(np.asarray(values).reshape(-1).tolist()):
        out |= (int(v) & mask) << (i * bits)
    return out


def unpack(bus: int, lanes: int, bits: int, signed: bool = True) -> list[int]:
    """The `lanes` fields of `bits` bits of an unsigned bus value (lane 0 lowest)."""
    mask = (1 << bits) - 1
    out = []
    for i in range(lanes):
        v = (bus >> (i * bits)) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        out.append(v)
    return out


def random_signed(rng: np.random.Generator, shape, bits: int, edge_fraction: float = 0.2) -> np.ndarray:
    """Uniform signed `bits`-bit integers (int64), `edge_fraction` of them overflow edges."""
    lo, hi = signed_range(bits)
    x = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    edges = np.array(sorted({e for e in (lo, hi, -1, 0, 1) if lo <= e <= hi}), dtype=np.int64)
    pick = rng.random(size=shape) < edge_fraction
    return np.where(pick, rng.choice(edges, size=shape), x)
