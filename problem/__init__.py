"""problem: what is computed, before any hardware. The executed GEMM (`Gemm`: dims, batch, the N:M
the hardware runs, index bits, densities), its tile bytes, the dataflow table (which GEMM
dimension an array's rows, columns and time carry), N:M pattern text and index bits, `cdiv`.

The lowest layer of nmsim above `specfile`: accel, workloads, mapping and sim all read these
definitions, so each rule has one home (docs/ARCHITECTURE.md).
"""
from .dataflow import (COLS, DATAFLOW_CODES, DATAFLOWS, DATAFLOWS_BY_CODE, IS, OPERAND_DIMS, OS, ROWS, SPATIAL, STREAMS,
                       TIME, WS, PerDataflow, stream_of)
from .gemm import DIM_WHY, MACS_WHY, MAX_DIM, MAX_MACS, Gemm, cdiv, resident_bytes, tile_bytes, whole_accesses
from .nm import MAX_GROUP, index_bits, parse_nm
from .opclass import OP_CLASSES

__all__ = ["Gemm", "cdiv", "tile_bytes", "resident_bytes", "whole_accesses", "DATAFLOWS", "DATAFLOW_CODES",
           "DATAFLOWS_BY_CODE", "SPATIAL", "WS", "OS", "IS", "ROWS", "COLS", "TIME", "PerDataflow", "OPERAND_DIMS",
           "STREAMS", "stream_of", "parse_nm", "index_bits", "OP_CLASSES", "MAX_DIM", "MAX_MACS", "DIM_WHY",
           "MACS_WHY", "MAX_GROUP"]
