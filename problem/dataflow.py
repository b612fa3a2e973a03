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


# Per role and per operand, the answer for each dataflow code (static, so selection is a lookup).
_ROLE_DIM = [[SPATIAL[d][role] for d in DATAFLOWS] for role in (ROWS, COLS, TIME)]
_STREAM = {operand: [stream_of(d, operand) for d in DATAFLOWS] for operand in OPERAND_DIMS}


class PerDataflow:
    """Per-candidate selection of a value that depends on the candidate's dataflow, read from the
    table above. `dataflow` is a code or an array of codes. A batch whose candidates share one
    dataflow (one mapping, the default mapping's splits) takes a scalar path; a mixed batch (the
    mappers, millions of candidates) selects with masks computed once."""

    def __init__(self, dataflow):
        codes = np.asarray(dataflow)
        flat = codes.reshape(-1)
        self.single = int(flat[0]) if flat.size and (flat == flat[0]).all() else (0 if not flat.size else None)
        self.masks = None if self.single is not None else [codes == c for c in range(len(DATAFLOWS))]

    def _select(self, keys, value):
        if self.single is not None:
            return value(keys[self.single])
        cache = {k: value(k) for k in dict.fromkeys(keys)}
        out = cache[keys[-1]]
        for code in range(len(keys) - 2, -1, -1):
            out = np.where(self.masks[code], cache[keys[code]], out)
        return out

    def dim(self, role: int, value):
        """value(d) of the GEMM dimension d ("M", "N", "K") that `role` (ROWS, COLS, TIME) carries."""
        return self._select(_ROLE_DIM[role], value)

    def stream(self, operand: str, streams: dict):
        """`streams[s]` for the stream s ("stationary", "row", "col") that `operand` takes."""
        return self._select(_STREAM[operand], streams.__getitem__)

    def value(self, by_dataflow):
        """by_dataflow(dataflow name), per candidate."""
        return self._select(list(DATAFLOWS), by_dataflow)

    def flag(self, predicate):
        """predicate(dataflow name) -> bool, per candidate."""
        return self._select([bool(predicate(d)) for d in DATAFLOWS], lambda b: b)
