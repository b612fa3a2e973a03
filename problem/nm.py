"""N:M patterns as text ('2:4') and the index metadata they need.

An N:M group keeps N of every M consecutive weights along the reduction dimension; each kept
weight stores its position inside the group, ceil(log2 M) bits (docs/MODEL.md 2).
"""
from __future__ import annotations


# The largest group size accepted: 32x the group of the sparsest N:M hardware (S4's 1:32); index
# bits and group padding stay small, and a mistyped 2:40000000 is refused rather than padded.
MAX_GROUP = 1 << 10


def parse_nm(text: str) -> tuple[int, int]:
    """'N:M' -> (N, M). Raises ValueError saying what is wrong and how to write it (N > M, zero,
    M above MAX_GROUP, not two ASCII integers); callers prefix the file or field."""
    parts = str(text).strip().split(":")
    # isdigit() alone accepts '²', which int() then refuses: only ASCII digits are numbers here.
    if len(parts) != 2 or not all(p.strip().isascii() and p.strip().isdigit() and len(p.strip()) < 12
                                  for p in parts):
        raise ValueError(f"'{text}' is not an N:M pattern (write it like '2:4')")
    n, m = (int(p) for p in parts)
    if n < 1 or m < 1:
        raise ValueError(f"'{text}': N and M must be at least 1 (write it like '2:4')")
    if m > MAX_GROUP:
        raise ValueError(f"'{text}': M is at most {MAX_GROUP:,} (32x the 1:32 of the sparsest N:M hardware)")
    if n > m:
        raise ValueError(f"'{text}': N ({n}) cannot exceed M ({m}); at most M of every M values can be nonzero")
    return n, m


def index_bits(m: int) -> int:
    """Bits that locate one kept weight inside a group of `m` (bits): ceil(log2 m), 0 when m == 1
    (dense: nothing to locate). 2:4 -> 2, 1:8 -> 3, 1:32 -> 5; for m = 6 -> 3."""
    m = int(m)
    if m < 1:
        raise ValueError(f"group size must be positive (got {m})")
    return (m - 1).bit_length()
