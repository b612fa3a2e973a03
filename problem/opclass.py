"""Operation classes of non-GEMM work (docs/MODEL.md 11): `alu` = add, subtract, multiply,
max/compare; `special` = exp, erf, rsqrt, reciprocal, divide. Workloads count operations by class
(workloads/nongemm.py) and vector units rate them by class (accel/vector.py), because hardware
runs the second class at a lower rate (iterative or table-based function units)."""
from __future__ import annotations

OP_CLASSES: tuple[str, ...] = ("alu", "special")
