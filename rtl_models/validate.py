"""RTL-vs-simulator cycle validation: GEMM tiles run on nm_systolic_array, predicted by sim.

What is compared (docs/RTL.md, "What is counted"): the array's busy cycles for one buffer tile
out[M, N] = A[M, K] . W[N, K]^T. The testbench runs the tile's folds back to back (R weight
beats, then M activation beats, per fold) and counts the cycles in which `busy` is high. The
prediction is `compute_cycles` of `sim.simulate_op` on the `rtl-array` preset (or a variant of it
with other rows, columns and PE shape) under the mapping "one buffer tile = the whole GEMM" in
WS: F_rows * F_cols * (2R + C - 2 + M) (MODEL.md 3.2).

The RTL's build parameters come from the preset (`ArrayParams.from_arch`), and the tile's
weights are compressed to the pattern the simulator's sparsity plan executes
(`mapping.plan_sparsity`), so the Verilog runs exactly what sim costs. Outputs are checked
against `sim.functional.nm_gemm` in the testbench (rtl_models/tb_array.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nmsim.accel import Arch, load_arch
from nmsim.mapping import Mapping, plan_sparsity
from nmsim.sim import simulate_op
from nmsim.sim.functional import nm_decompress, nm_prune, pad_groups, topn_select
from nmsim.specfile import SpecError
from nmsim.workloads import Op, Sparsity

from .bits import pack, random_signed
from .wrapper import idx_bits

PRESET = "rtl-array"
CYCLE_TOLERANCE = 0.02  # the bound on |sim - rtl| / rtl per case (`nmsim rtl validate` fails above it)
# Other builds of the same Verilog, as overrides of the preset: a dense-mode array (N = M)
# and a 1:8 array, both with narrow accumulators so that sums wrap. The cases spread over the
# preset and these, so the fill formula is checked at three (R, C) pairs, R > C and R < C.
VARIANTS = (
    {"rows": 3, "cols": 5, "macs_per_pe": 4, "accumulator_bits": 20, "patterns": None},
    {"rows": 5, "cols": 3, "macs_per_pe": 1, "accumulator_bits": 16, "patterns": ["1:8"]},
)
_PATTERNS = ("dense", "2:4", "1:4", "2:8", "1:8", "4:8", "1:16")


@dataclass(frozen=True)
class ArrayParams:
    """Verilog parameters of one nm_systolic_array build (PEs, lanes, bits)."""

    R: int
    C: int
    N: int
    M: int
    W: int
    ACC: int

    @staticmethod
    def from_arch(arch: Arch) -> "ArrayParams":
        """The build an arch describes: N = macs_per_pe multipliers per PE, M = the activation
        lanes its widest pattern needs (N*m/n for each supported n:m; N for a dense array)."""
        c = arch.compute
        lanes = {c.macs_per_pe}
        for n, m in (arch.sparsity.nm.pairs() if arch.sparsity.nm else []):
            if (c.macs_per_pe * m) % n:
                raise SpecError(f"{arch.name}: {n}:{m} does not tile {c.macs_per_pe} multipliers per PE")
            lanes.add(c.macs_per_pe * m // n)
        return ArrayParams(R=c.rows, C=c.cols, N=c.macs_per_pe, M=max(lanes), W=c.operand_bits,
                           ACC=c.accumulator_bits)

    def verilog(self) -> dict:
        """Parameter overrides for nm_systolic_array."""
        return asdict(self)

    @property
    def label(self) -> str:
        """E.g. '4x6 2:4 w8 acc32' (dense mode: '3x5 dense4 ...')."""
        pe = f"dense{self.N}" if self.N == self.M else f"{self.N}:{self.M}"
        return f"{self.R}x{self.C} {pe} w{self.W} acc{self.ACC}"


def variant(arch: Arch, rows: int, cols: int, macs_per_pe: int, accumulator_bits: int,
            patterns: list[str] | None) -> Arch:
    """`arch` with another array shape, PE and N:M support (a validated Arch)."""
    spec = arch.model_dump()
    spec["name"] = f"{arch.name}[{rows}x{cols}x{macs_per_pe}]"
    spec["compute"].update(rows=rows, cols=cols, macs_per_pe=macs_per_pe, accumulator_bits=accumulator_bits)
    spec["sparsity"]["nm"] = {"patterns": patterns} if patterns else None
    return Arch.model_validate(spec)


def validation_arches() -> list[Arch]:
    """The preset and its variants, in a fixed order (the index is a case's `array`)."""
    base = load_arch(PRESET)
    return [base] + [variant(base, **v) for v in VARIANTS]


@dataclass(frozen=True)
class ArrayCase:
    """One GEMM tile: out[M, N] = A[M, K] . W[N, K]^T with W pruned to `sparsity`."""

    id: int
    array: int      # index into validation_arches()
    M: int
    N: int
    K: int
    sparsity: str   # the workload's pattern; the executed one comes from plan_sparsity
    seed: int

    def op(self) -> Op:
        """The op sim costs."""
        return Op(name=f"tile{self.id}", kind="gemm", M=self.M, N=self.N, K=self.K,
                  weight_sparsity=Sparsity.parse(self.sparsity))


def make_cases(count: int, seed: int, arches: list[Arch] | None = None) -> list[ArrayCase]:
    """`count` random tiles spread round-robin over `arches` (default `validation_arches()`)
    and the patterns (dense included).

    Shapes run from one element to several folds in both directions: M in 1..40, N up to
    three column folds, K up to three row folds of the densest layout.
    """
    if count < 1:
        raise SpecError(f"`count` must be at least 1 (got {count})")
    rng = np.random.default_rng(seed)
    arches = arches or validation_arches()
    cases = []
    for i in range(count):
        a = i % len(arches)
        p = ArrayParams.from_arch(arches[a])
        cases.append(ArrayCase(id=i, array=a, M=int(rng.integers(1, 41)), N=int(rng.integers(1, 3 * p.C + 1)),
                          K=int(rng.integers(1, 3 * p.R * p.M + 1)), sparsity=_PATTERNS[(i // len(arches)) % len(_PATTERNS)],
                          seed=int(rng.integers(0, 2**31))))
    return cases


def predict_compute_cycles(arch: Arch, case: ArrayCase) -> int:
    """sim's compute cycles of `case` on `arch`: WS, the whole GEMM as one buffer tile."""
    mapping = Mapping("ws", tile_m=case.M, tile_n=case.N, tile_k=case.K, loop_order="nmk")
    return int(simulate_op(arch, case.op(), mapping).cycle_breakdown["compute_cycles"])


@dataclass
class ArrayTile:
    """A case's operands and the beats that run it on the array, fold by fold."""

    a: np.ndarray            # [M, K_pad] activations (K zero-padded to whole groups)
    values: np.ndarray       # [N, groups, n] compressed weights (executed pattern)
    indices: np.ndarray      # [N, groups, n]
    m: int                   # executed group size
    folds: list[dict]        # {"cols": (c0, c1), "weights": [(w_bus, idx_bus)] * R, "acts": [a_bus] * M}


def build_tile(arch: Arch, case: ArrayCase) -> ArrayTile:
    """Draw the case's operands and lay the executed pattern onto the array's rows and lanes.

    A PE row takes g = macs_per_pe / n consecutive groups of the executed n:m (dense: n = m = 1):
    group q of the row uses lanes q*m .. q*m + m - 1 and multipliers q*n .. q*n + n - 1. Rows
    past K and columns past N hold zero weights. Folds go row fold outer, column fold inner.
    """
    p = ArrayParams.from_arch(arch)
    plan = plan_sparsity(arch, case.op())
    n, m = plan.n, plan.m
    if p.N % n or (p.N // n) * m > p.M:
        raise SpecError(f"{arch.name}: executed pattern {plan.label} does not fit {p.N} multipliers x {p.M} lanes")
    g = p.N // n
    rng = np.random.default_rng(case.seed)
    a = random_signed(rng, (case.M, case.K), p.W)
    w = random_signed(rng, (case.N, case.K), p.W)
    sp = Sparsity.parse(case.sparsity)
    if sp.kind == "nm":
        # The workload's own pattern: pad to whole groups, prune, crop back to K.
        w = nm_prune(pad_groups(w, sp.m), sp.n, sp.m)[:, : case.K]
    values, indices = topn_select(pad_groups(w, m), n, m)
    if not np.array_equal(nm_decompress(values, indices, m)[:, : case.K], w):
        raise RuntimeError(f"case {case.id}: {case.sparsity} weights do not fit the executed {plan.label}")
    units = -(-values.shape[1] // g)          # PE rows of work per output column
    groups = units * g
    pad = groups - values.shape[1]
    values = np.pad(values, ((0, 0), (0, pad), (0, 0)))
    indices = np.pad(indices, ((0, 0), (0, pad), (0, 0)))
    a_pad = pad_groups(a, m)
    a_pad = np.pad(a_pad, ((0, 0), (0, groups * m - a_pad.shape[1])))
    # Per unit: its g groups' weights side by side, lanes offset by the group's place in the row.
    lane_offset = (np.arange(g) * m)[None, None, :, None]
    u_vals = values.reshape(case.N, units, g * n)
    u_idx = (indices.reshape(case.N, units, g, n) + lane_offset).reshape(case.N, units, g * n)
    u_acts = a_pad.reshape(case.M, units, g * m)
    folds = []
    for r0 in range(0, units, p.R):
        for c0 in range(0, case.N, p.C):
            c1 = min(c0 + p.C, case.N)
            weights = []
            for row in reversed(range(p.R)):  # bottom row first: beats shift down the columns
                u = r0 + row
                vals = np.zeros((p.C, p.N), dtype=np.int64)
                idx = np.zeros((p.C, p.N), dtype=np.int64)
                if u < units:
                    vals[: c1 - c0, : g * n] = u_vals[c0:c1, u]
                    idx[: c1 - c0, : g * n] = u_idx[c0:c1, u]
                weights.append((pack(vals, p.W), pack(idx, idx_bits(p.M))))
            lanes = np.zeros((case.M, p.R, p.M), dtype=np.int64)
            rows_here = min(p.R, units - r0)
            lanes[:, :rows_here, : g * m] = u_acts[:, r0:r0 + rows_here]
            folds.append({"cols": (c0, c1), "weights": weights, "acts": [pack(row, p.W) for row in lanes]})
    return ArrayTile(a=a_pad, values=values, indices=indices, m=m, folds=folds)



def run_cases(cases: list[ArrayCase], simulator: str, stall: float = 0.0, seed: int = 0,
              arches: list[Arch] | None = None, on_record=None) -> list[dict]:
    """Run `cases` on the RTL and predict each with sim; one row per case, in case order.

    Each row: id, array (label), M, N, K, sparsity, executed (pattern the plan runs), folds,
    rtl_cycles (busy cycles), stall_cycles, sim_cycles (predicted compute cycles) and error
    = (sim - rtl) / rtl. `arches` defaults to `validation_arches()`; `stall` withholds beats at
    random (then rtl_cycles include the stalls, which sim does not model). `on_record` gets each
    testbench record as it arrives.
    """
    from .runner import run_testbench

    arches = arches or validation_arches()
    params = [ArrayParams.from_arch(a) for a in arches]
    config = {"arches": [a.model_dump() for a in arches], "cases": [asdict(c) for c in cases],
              "stall": stall, "seed": seed}
    records = run_testbench("nm_systolic_array", [p.verilog() for p in params], simulator,
                            "nmsim.rtl_models.tb_array", config, on_record)
    by_id = {r["case"]: r for r in records}
    rows = []
    for c in cases:
        rec = by_id[c.id]
        sim_cycles = predict_compute_cycles(arches[c.array], c)
        rows.append({"id": c.id, "array": params[c.array].label, "M": c.M, "N": c.N, "K": c.K,
                     "sparsity": c.sparsity, "executed": plan_sparsity(arches[c.array], c.op()).label,
                     "folds": rec["folds"], "rtl_cycles": rec["rtl_cycles"], "stall_cycles": rec["stall_cycles"],
                     "sim_cycles": sim_cycles, "error": (sim_cycles - rec["rtl_cycles"]) / rec["rtl_cycles"]})
    return rows
