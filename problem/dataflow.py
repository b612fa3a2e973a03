"""The dataflow table: which GEMM dimension an array's rows, columns and time carry.

For out[M,N] = A[M,K] · B[K,N] on an R x C array (SCALE-Sim's Sr, Sc, T):

| dataflow | rows | cols | time | stationary in the PEs |
|---|---|---|---|---|
| ws (weight stationary) | K | N | M | B (weights) |
| os (output stationary) | M | N | K | out (partial sums) |
| is (input stationary)  | K | M | N | A (activations) |

This is the one definition: the mapping space, both cost engines and the imbalance model read it.
Vectorized code carries dataflows as integer codes (index into DATAFLOWS).
"""
from __future__ import annotations

import numpy as np

DATAFLOWS = ("ws", "os", "is")
DATAFLOW_CODES = {d: i for i, d in enumerate(DATAFLOWS)}
DATAFLOWS_BY_CODE = dict(enumerate(DATAFLOWS))
WS, OS, IS = (DATAFLOW_CODES[d] for d in DATAFLOWS)
ROWS, COLS, TIME = 0, 1, 2
SPATIAL = {"ws": ("K", "N", "M"), "os": ("M", "N", "K"), "is": ("K", "M", "N")}  # rows, cols, time


# Which GEMM dimensions index each operand; an operand's traffic through the array follows from
# the table: it is stationary when it spans rows x cols, streamed along the rows when it spans
# rows x time, along the columns when it spans cols x time (MODEL.md 3.3).
OPERAND_DIMS = {"A": ("M", "K"), "B": ("K", "N"), "out": ("M", "N")}
STREAMS = ("stationary", "row", "col")


def stream_of(dataflow: str, operand: str) -> str:
    """How `operand` ("A", "B", "out") moves through the array under `dataflow`: one of STREAMS."""
    rows, cols, time = SPATIAL[dataflow]
    spans = {frozenset((rows, cols)): "stationary", frozenset((rows, time)): "row", frozenset((cols, time)): "col"}
    return spans[frozenset(OPERAND_DIMS[operand])]


class PerDataflow:
    """Per-candidate selection of a value that depends on the candidate's dataflow, read from the
    table above. `dataflow` is a code or an array of codes; the masks are computed once per batch
    because the mappers call this on millions of candidates."""

    def __init__(self, dataflow):
        self.codes = np.asarray(dataflow)
        self.scalar = self.codes.ndim == 0
        self.masks = None if self.scalar else [self.codes == c for c in range(len(DATAFLOWS))]

    def _select(self, key_of, value):
        if self.scalar:
            return value(key_of(DATAFLOWS[int(self.codes)]))
        cache: dict = {}

        def at(code):
            key = key_of(DATAFLOWS[code])
            if key not in cache:
                cache[key] = value(key)
            return cache[key]

        out = at(len(DATAFLOWS) - 1)
        for code in range(len(DATAFLOWS) - 2, -1, -1):
            out = np.where(self.masks[code], at(code), out)
        return out

    def dim(self, role: int, value):
        """value(d) of the GEMM dimension d ("M", "N", "K") that `role` (ROWS, COLS, TIME) carries."""
        return self._select(lambda df: SPATIAL[df][role], value)

    def stream(self, operand: str, streams: dict):
        """`streams[s]` for the stream s ("stationary", "row", "col") that `operand` takes."""
        return self._select(lambda df: stream_of(df, operand), streams.__getitem__)

    def flag(self, predicate):
        """predicate(dataflow name) -> bool, per candidate."""
        return self._select(lambda df: bool(predicate(df)), lambda b: b)
