"""The mapping space of one GEMM on one systolic arch, held as numpy arrays.

A candidate is (dataflow, tile_m, tile_n, tile_k, loop_order). The spatial unrolling follows
from the dataflow (the table `problem.SPATIAL`: WS puts K on the rows and N on the columns, OS
puts M and N, IS puts K and M); on an N:M array the K rows carry whole N:M groups, so K tiles are multiples of
the executed group size M. Tiles need not divide the layer (partial edge tiles are costed).

The *pruned* space (what the exhaustive mapper enumerates) keeps, per dimension of extent D and
quantum q (the array extent the dimension is spread over, or the N:M group for K), the tile
sizes u*q for
* every u up to 64 when D/q <= 64 units (small dims are enumerated completely), else
* u = ceil(U / s) for s = 1..32 (every way to cut the dim into at most 32 near-equal tiles)
  plus every power of two (the fine tiles), and for K on the rows whole array folds,
clipped to D. Tiles below the quantum would leave array rows or columns idle on every fold,
so they are dropped; random sampling still draws from the whole unpruned range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmsim.accel import Arch, require_systolic
from nmsim.problem import DATAFLOW_CODES, DATAFLOWS_BY_CODE, SPATIAL, cdiv, tile_bytes
from nmsim.specfile import SpecError
from nmsim.workloads import Op

from .constraints import Constraints
from .mapping import LOOP_ORDERS, Mapping
from .sparse_plan import SparsePlan, executed_gemm, plan_sparsity

DIMS = ("m", "n", "k")
FULL_UNITS = 64
MAX_SPLITS = 32
COARSE_PER_DIM = 10
PAIR_WINDOW = 4
TRIPLE_WINDOW = 2


@dataclass(frozen=True)
class Candidates:
    """A batch of candidate mappings as parallel int arrays (codes index DATAFLOWS / LOOP_ORDERS)."""

    dataflow: np.ndarray
    tile_m: np.ndarray
    tile_n: np.ndarray
    tile_k: np.ndarray
    loop_order: np.ndarray

    def __len__(self) -> int:
        return int(self.tile_m.shape[0])

    def take(self, idx) -> "Candidates":
        """The candidates at integer or boolean index `idx`."""
        return Candidates(*(a[idx] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(dataflow, tile_m, tile_n, tile_k, loop_order)."""
        return self.dataflow, self.tile_m, self.tile_n, self.tile_k, self.loop_order

    def mapping(self, i: int) -> Mapping:
        """Candidate `i` as a Mapping object."""
        return Mapping(dataflow=DATAFLOWS_BY_CODE[int(self.dataflow[i])], tile_m=int(self.tile_m[i]),
                       tile_n=int(self.tile_n[i]), tile_k=int(self.tile_k[i]),
                       loop_order=LOOP_ORDERS[int(self.loop_order[i])])

    def stacked(self) -> np.ndarray:
        """[candidates, 5] int64 rows (dataflow, tile_m, tile_n, tile_k, loop_order), for dedup."""
        return np.stack(self.arrays(), axis=1).astype(np.int64)

    @staticmethod
    def from_mappings(mappings: list[Mapping]) -> "Candidates":
        """Pack Mapping objects into arrays."""
        return Candidates(np.array([DATAFLOW_CODES[m.dataflow] for m in mappings], dtype=np.int64),
                          np.array([m.tile_m for m in mappings], dtype=np.int64),
                          np.array([m.tile_n for m in mappings], dtype=np.int64),
                          np.array([m.tile_k for m in mappings], dtype=np.int64),
                          np.array([LOOP_ORDERS.index(m.loop_order) for m in mappings], dtype=np.int64))

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        """One batch from several."""
        return Candidates(*(np.concatenate(xs) for xs in zip(*(p.arrays() for p in parts))))


def tile_choices(extent: int, quantum: int, fold: int | None = None) -> np.ndarray:
    """Pruned tile sizes (elements) for a dim of `extent` laid out in units of `quantum`.

    `fold`, in units, adds whole multiples of an array fold (K on the rows). See module doc.
    """
    units = cdiv(extent, quantum)
    if units <= FULL_UNITS:
        u = np.arange(1, units + 1)
    else:
        pow2 = 1 << np.arange(int(np.log2(units)) + 1)
        u = np.concatenate([pow2, cdiv(units, np.arange(1, MAX_SPLITS + 1))])
        if fold and fold > 1:
            folds_total = cdiv(units, fold)
            u = np.concatenate([u, fold * np.concatenate([1 << np.arange(int(np.log2(folds_total)) + 1),
                                                          cdiv(folds_total, np.arange(1, MAX_SPLITS + 1))])])
    return np.unique(np.minimum(u * quantum, extent)).astype(np.int64)


def _coarse(choices: np.ndarray) -> np.ndarray:
    """At most COARSE_PER_DIM choices spread evenly in log space, both ends kept."""
    if len(choices) <= COARSE_PER_DIM:
        return choices
    idx = np.unique(np.round(np.geomspace(1, len(choices), COARSE_PER_DIM)).astype(int) - 1)
    return choices[idx]


def _strided(choices: np.ndarray, stride: int) -> np.ndarray:
    """Every `stride`-th choice, the largest always kept."""
    if stride <= 1:
        return choices
    return np.unique(np.append(choices[::stride], choices[-1]))


class MappingSpace:
    """Valid mappings of `op` on `arch` under `constraints` (see module docstring)."""

    def __init__(self, arch: Arch, op: Op, plan: SparsePlan | None = None,
                 constraints: Constraints | None = None) -> None:
        self.arch, self.op = require_systolic(arch, "mappers"), op
        self.plan = plan or plan_sparsity(arch, op)
        self.gemm = executed_gemm(op, self.plan)
        self.constraints = constraints or Constraints()
        c = self.constraints
        allowed_df = c.dataflows()
        self.dataflows = [d for d in arch.compute.dataflows if allowed_df is None or d in allowed_df]
        if not self.dataflows:
            raise SpecError(f"constraints: {c.describe('dataflow')} leaves no dataflow: {arch.name} supports "
                            f"{', '.join(arch.compute.dataflows)}")
        self.loop_orders = c.loop_orders() or list(LOOP_ORDERS)
        extents = {"m": op.M, "n": op.N, "k": op.K}
        self.choices: dict[str, dict[str, np.ndarray]] = {}
        for df in self.dataflows:
            per = {}
            for d in DIMS:
                q, fold = self.quantum(df, d)
                base = tile_choices(extents[d], q, fold)
                per[d] = c.tile_filter(d, base, extents[d])
                if d == "k":
                    # N:M groups must not straddle tiles; the whole K is always allowed
                    per[d] = per[d][(per[d] % self.plan.m == 0) | (per[d] >= op.K)]
                if not len(per[d]):
                    rule = f"tile_{d}"
                    extra = f" (K tiles must be multiples of the {self.plan.label} group size {self.plan.m})" \
                        if d == "k" and self.plan.m > 1 else ""
                    raise SpecError(f"constraints: {c.describe(rule)} leaves no tile for {d.upper()}="
                                    f"{extents[d]}{extra}")
            self.choices[df] = per
        self.level_sizes = np.array([lv.size_bytes for lv in arch.memory], dtype=np.float64)

    def restricted(self, dataflow: str) -> "MappingSpace":
        """The same space limited to one dataflow (shares the choice arrays)."""
        sub = object.__new__(MappingSpace)
        sub.__dict__.update(self.__dict__)
        sub.dataflows = [dataflow]
        sub.choices = {dataflow: self.choices[dataflow]}
        return sub

    def quantum(self, dataflow: str, dim: str) -> tuple[int, int | None]:
        """(quantum in elements, array fold in quanta or None) of `dim` under `dataflow`."""
        rows, cols, _ = SPATIAL[dataflow]
        c = self.arch.compute
        if dim == "k":
            # a fold of K on the rows holds rows * macs_per_pe nonzeros = that many * m/n weights
            fold = cdiv(c.rows * c.macs_per_pe, self.plan.n) if rows == "K" else None
            return self.plan.m, fold
        extent = c.rows if rows == dim.upper() else c.cols if cols == dim.upper() else 1
        return extent, None

    # -- enumeration -----------------------------------------------------------------------
    def grid(self, stride: int = 1) -> Candidates:
        """The Cartesian product of the pruned choices over dataflows and orders: all of them, or
        every `stride`-th choice per dim (the largest kept)."""
        parts = []
        orders = np.array([LOOP_ORDERS.index(o) for o in self.loop_orders], dtype=np.int64)
        for df in self.dataflows:
            ch = {d: _strided(v, stride) for d, v in self.choices[df].items()}
            tm, tn, tk, lo = (a.ravel() for a in np.meshgrid(ch["m"], ch["n"], ch["k"], orders, indexing="ij"))
            parts.append(Candidates(np.full(tm.shape, DATAFLOW_CODES[df], dtype=np.int64), tm, tn, tk, lo))
        return Candidates.concat(parts)

    def boundary(self) -> Candidates:
        """Tiles that fill the buffers: for every coarse pair of two tiles, the largest third
        tile that still fits (over the third's full choices), with every loop order.

        Buffer capacity usually binds at the optimum, and a coarse grid rarely lands on it.
        """
        parts = []
        orders = np.array([LOOP_ORDERS.index(o) for o in self.loop_orders], dtype=np.int64)
        for df in self.dataflows:
            ch = self.choices[df]
            for third in DIMS:
                a, b = (d for d in DIMS if d != third)
                ga, gb, gc = np.meshgrid(_coarse(ch[a]), _coarse(ch[b]), ch[third], indexing="ij")
                cols = {a: ga.ravel(), b: gb.ravel(), third: gc.ravel()}
                z = np.zeros(ga.size, dtype=np.int64)
                ok = self.fits(Candidates(z + DATAFLOW_CODES[df], cols["m"], cols["n"], cols["k"], z)).reshape(ga.shape)
                has = ok.any(axis=2)
                # choices are ascending, so the last fitting index is the largest fitting tile
                last = ga.shape[2] - 1 - np.argmax(ok[:, :, ::-1], axis=2)
                ia, ib = np.nonzero(has)
                pick = {a: ga[ia, ib, 0], b: gb[ia, ib, 0], third: ch[third][last[ia, ib]]}
                tm, lo = np.meshgrid(pick["m"], orders, indexing="ij")
                tn, _ = np.meshgrid(pick["n"], orders, indexing="ij")
                tk, _ = np.meshgrid(pick["k"], orders, indexing="ij")
                parts.append(Candidates(np.full(tm.size, DATAFLOW_CODES[df], dtype=np.int64), tm.ravel(),
                                        tn.ravel(), tk.ravel(), lo.ravel()))
        return Candidates.concat(parts)

    def size(self, stride: int = 1) -> int:
        """Number of candidates in the pruned space (or in its `stride` subgrid)."""
        return sum(int(np.prod([len(_strided(v, stride)) for v in self.choices[df].values()])) * len(self.loop_orders)
                   for df in self.dataflows)

    def neighbors(self, seeds: Candidates, window: int = PAIR_WINDOW) -> Candidates:
        """Local moves around each seed, for the heuristic's descent.

        * one tile over all of its pruned choices (the others fixed);
        * two tiles at once, each within `window` choices of its current value: buffer
          capacity couples the tiles, so growing one often pays only if another shrinks;
        * three tiles at once within TRIPLE_WINDOW choices;
        * every loop order (the dataflow stays: the heuristic descends per dataflow).
        """
        parts = []
        orders = np.array([LOOP_ORDERS.index(o) for o in self.loop_orders], dtype=np.int64)

        def block(df, tm, tn, tk, lo):
            tm, tn, tk, lo = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64) for x in (tm, tn, tk, lo)))
            parts.append(Candidates(np.full(tm.size, df, dtype=np.int64), tm.ravel(), tn.ravel(), tk.ravel(),
                                    lo.ravel()))

        for i in range(len(seeds)):
            df, tm, tn, tk, lo = (int(a[i]) for a in seeds.arrays())
            ch = self.choices[DATAFLOWS_BY_CODE[df]]
            cur = {"m": tm, "n": tn, "k": tk}
            pos = {d: int(np.argmin(np.abs(ch[d] - cur[d]))) for d in DIMS}
            near = {d: ch[d][max(0, pos[d] - window): pos[d] + window + 1] for d in DIMS}
            block(df, ch["m"], tn, tk, lo)
            block(df, tm, ch["n"], tk, lo)
            block(df, tm, tn, ch["k"], lo)
            block(df, tm, tn, tk, orders)
            block(df, near["m"][:, None], near["n"][None, :], tk, lo)
            block(df, near["m"][:, None], tn, near["k"][None, :], lo)
            block(df, tm, near["n"][:, None], near["k"][None, :], lo)
            w3 = {d: ch[d][max(0, pos[d] - TRIPLE_WINDOW): pos[d] + TRIPLE_WINDOW + 1] for d in DIMS}
            block(df, w3["m"][:, None, None], w3["n"][None, :, None], w3["k"][None, None, :], lo)
        return Candidates.concat(parts)

    def sample(self, count: int, rng: np.random.Generator) -> Candidates:
        """`count` random candidates from the whole (unpruned) space, tile sizes log-uniform.

        Honors the constraints; tile_k is drawn in whole N:M groups.
        """
        extents = {"m": self.op.M, "n": self.op.N, "k": self.op.K}
        df_codes = np.array([DATAFLOW_CODES[d] for d in self.dataflows])
        orders = np.array([LOOP_ORDERS.index(o) for o in self.loop_orders])
        tiles = {}
        for d in DIMS:
            rule = getattr(self.constraints, f"tile_{d}")
            step = self.plan.m if d == "k" else 1
            if isinstance(rule, (int, list)):
                # exact values: sample among the (already validated) choices of the first dataflow
                tiles[d] = rng.choice(self.choices[self.dataflows[0]][d], count)
                continue
            lo, hi = 1, cdiv(extents[d], step)
            if rule is not None:
                if rule.multiple_of:
                    step = int(np.lcm(step, rule.multiple_of))
                    hi = cdiv(extents[d], step)
                if rule.min:
                    lo = max(lo, cdiv(min(rule.min, extents[d]), step))
                if rule.max:
                    hi = max(lo, min(hi, rule.max // step))
            u = np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi + 1), count))).astype(np.int64)
            tiles[d] = np.minimum(np.clip(u, lo, hi) * step, extents[d])
        return Candidates(rng.choice(df_codes, count), tiles["m"], tiles["n"], tiles["k"], rng.choice(orders, count))

    # -- validity ----------------------------------------------------------------------------
    def need_bytes(self, c: Candidates) -> np.ndarray:
        """Bytes each memory level must hold per candidate, shape [levels, candidates]
        (problem.tile_bytes, doubled where double-buffered, as mapping.footprint_bytes)."""
        a = self.arch
        tm, tn, tk = np.minimum(c.tile_m, self.op.M), np.minimum(c.tile_n, self.op.N), np.minimum(c.tile_k, self.op.K)
        ab, bb, ob = tile_bytes(self.gemm, tm, tn, tk, a.compute.operand_bits / 8, a.compute.accumulator_bits / 8)
        out = np.zeros((len(a.memory), len(c)))
        names = [lv.name for lv in a.memory]
        for operand, b in (("inputs", ab), ("weights", bb), ("outputs", ob)):
            lv = a.level_for(operand)
            out[names.index(lv.name)] += b * (2 if lv.double_buffered else 1)
        return out

    def fits(self, c: Candidates) -> np.ndarray:
        """Boolean per candidate: every level's tile footprint fits its capacity."""
        return np.all(self.need_bytes(c) <= self.level_sizes[:, None], axis=0)

    def smallest(self) -> Candidates:
        """Per dataflow the smallest allowed tile (footprints grow with every tile size)."""
        parts = []
        for df in self.dataflows:
            ch = self.choices[df]
            parts.append(Candidates(np.array([DATAFLOW_CODES[df]]), *(ch[d][:1] for d in DIMS),
                                    np.array([LOOP_ORDERS.index(self.loop_orders[0])])))
        return Candidates.concat(parts)

    def explain_empty(self) -> str:
        """Why no candidate fits: the constraint that emptied the space, with the byte overflow."""
        small = self.smallest()
        need = self.need_bytes(small)
        over = need - self.level_sizes[:, None]
        j = int(np.argmin(over.max(axis=0)))
        lv = int(np.argmax(over[:, j]))
        m = small.mapping(j)
        detail = (f"the smallest allowed tile {m.tile_m}x{m.tile_n}x{m.tile_k} (MxNxK, {m.dataflow}) needs "
                  f"{need[lv, j]:.0f} B in '{self.arch.memory[lv].name}', which holds {self.level_sizes[lv]:.0f} B")
        culprits = []
        for name in self.constraints.active():
            try:
                relaxed = MappingSpace(self.arch, self.op, self.plan, self.constraints.without(name))
            except SpecError:
                continue
            if relaxed.fits(relaxed.smallest()).any():
                culprits.append(self.constraints.describe(name))
        if len(culprits) == 1:
            return f"constraints: {culprits[0]} leaves no mapping of {self.op.name} that fits: {detail}"
        if culprits:
            return (f"constraints: {'; '.join(culprits)} leave no mapping of {self.op.name} that fits "
                    f"(relaxing any one of them would): {detail}")
        if self.constraints.active():
            return (f"constraints: {'; '.join(self.constraints.describe(n) for n in self.constraints.active())} "
                    f"together leave no mapping of {self.op.name} that fits: {detail}")
        return f"{self.arch.name}: no mapping of {self.op.name} fits the on-chip buffers: {detail}; enlarge memory size_bytes"
