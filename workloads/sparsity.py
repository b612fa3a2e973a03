"""Sparsity patterns of an operand: dense, N:M, unstructured, block.

Text forms (the CLI's `--sparsity`): `dense`, `N:M` (for example `2:4`, `1:32`), `N:M@AXIS`
to group along another axis (K by default, the reduction dimension), `unstructured:D` with D
the fraction of ZEROS (0.9 = 90% sparse), and `block:RxC:D` (blocks of R x C, D fraction of
zero blocks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmsim.problem import parse_nm
from nmsim.specfile import SpecError, parse_float, parse_int

KINDS = ("dense", "nm", "unstructured", "block")
GROUP_AXES = ("K", "N")
FORMS = "dense, N:M (e.g. 2:4), N:M@N, unstructured:D (D = fraction of zeros), block:RxC:D"


def _nm(text: str) -> tuple[int, int]:
    try:
        return parse_nm(text)
    except ValueError as exc:
        raise SpecError(f"sparsity {exc}; expected one of {FORMS}") from None


def _fraction(text: str, whole: str) -> float:
    d = parse_float(text, f"sparsity '{whole}'")  # finite, ASCII
    if not 0.0 <= d < 1.0:
        raise SpecError(f"sparsity '{whole}': fraction of zeros must be in [0, 1) (got {d})")
    return d


@dataclass(frozen=True)
class Sparsity:
    """A sparsity pattern. `density` is the fraction of NONZERO elements (1.0 = dense)."""

    kind: str = "dense"
    n: int = 1
    m: int = 1
    axis: str = "K"
    density: float = 1.0
    block: tuple[int, int] = (1, 1)

    @staticmethod
    def parse(text: str) -> "Sparsity":
        """Parse the text form (see module docstring); SpecError with the expected forms if malformed."""
        t = str(text).strip()
        if t in ("dense", "", "1:1"):
            return DENSE
        if t.startswith("unstructured:"):
            zeros = _fraction(t.split(":", 1)[1], t)
            return Sparsity(kind="unstructured", density=1.0 - zeros)
        if t.startswith("block:"):
            parts = t.split(":")
            if len(parts) != 3 or "x" not in parts[1]:
                raise SpecError(f"sparsity '{t}': expected block:RxC:D, e.g. block:4x4:0.5")
            r, c = (parse_int(v, f"sparsity '{t}': block side", 1, 1 << 16, "65,536") for v in parts[1].split("x", 1))
            return Sparsity(kind="block", block=(r, c), density=1.0 - _fraction(parts[2], t))
        axis = "K"
        if "@" in t:
            t, axis = t.split("@", 1)
            if axis not in GROUP_AXES:
                raise SpecError(f"sparsity '{text}': axis must be one of {GROUP_AXES} (got '{axis}')")
        n, m = _nm(t)
        if n == m:
            return DENSE
        return Sparsity(kind="nm", n=n, m=m, axis=axis, density=n / m)

    def __str__(self) -> str:
        if self.kind == "dense":
            return "dense"
        if self.kind == "nm":
            return f"{self.n}:{self.m}" + ("" if self.axis == "K" else f"@{self.axis}")
        zeros = round(1.0 - self.density, 6)
        if self.kind == "unstructured":
            return f"unstructured:{zeros:g}"
        return f"block:{self.block[0]}x{self.block[1]}:{zeros:g}"

    @property
    def is_dense(self) -> bool:
        """True for the dense pattern."""
        return self.kind == "dense"

    def satisfies(self, n2: int, m2: int) -> bool:
        """True when every tensor with this N:M pattern also meets the n2:m2 constraint.

        An N:M tensor meets N':M' if M' divides M and min(N, M') <= N' (one M'-slice of a group
        can hold all N nonzeros), or if M divides M' and (M'/M)*N <= N'.
        """
        if self.kind == "dense":
            return n2 == m2
        if self.kind != "nm":
            return False
        if self.m % m2 == 0:
            return min(self.n, m2) <= n2
        if m2 % self.m == 0:
            return (m2 // self.m) * self.n <= n2
        return False


DENSE = Sparsity()


def activation_density(x, threshold: float = 0.0) -> float:
    """Fraction of elements of a sampled activation tensor with |x| > threshold (0..1).

    `x` is anything numpy can read (a numpy array, a CPU torch tensor). The result is what an
    Op's `act_density` holds; the zero-skipping model it feeds is docs/MODEL.md 2.2. An all-zero
    sample gives 0, which an Op refuses (give a larger sample).
    """
    a = np.abs(np.asarray(x, dtype=np.float64))
    if a.size == 0:
        raise SpecError("activation_density: the activation sample is empty")
    return float(np.count_nonzero(a > threshold) / a.size)
