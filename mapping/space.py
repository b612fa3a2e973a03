"""The mapping space of one GEMM on one systolic arch, held as numpy arrays.

A candidate is (dataflow, tile_m, tile_n, tile_k, loop_order) of the outermost on-chip level, plus,
on a flexible array, a spatial split (row blocks and the dimension they carry, column blocks and
theirs; problem.spatial) and, on an arch with several on-chip levels, the tile and loop order of
each inner level (mapping.levels derives them by the fit rule). The spatial unrolling follows
from the dataflow (the table `problem.SPATIAL`: WS puts K on the rows and N on the columns, OS
puts M and N, IS puts K and M) and the split; on an N:M array the K rows carry whole N:M groups, so
K tiles are multiples of the executed group size M. Tiles need not divide the layer (partial edge
tiles are costed).

The *pruned* space (what the exhaustive mapper enumerates) keeps, per dataflow and spatial split
and per dimension of extent D and quantum q (the array extent the dimension is spread over, or the
N:M group for K), the outermost tile sizes u*q for
* every u up to 64 when D/q <= 64 units (small dims are enumerated completely), else
* u = ceil(U / s) for s = 1..32 (every way to cut the dim into at most 32 near-equal tiles)
  plus every power of two (the fine tiles), and for K on the rows whole array folds,
clipped to D. Tiles below the quantum would leave array rows or columns idle on every fold,
so they are dropped; random sampling still draws from the whole unpruned range.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nmsim.accel import Arch, require_systolic
from nmsim.problem import DATAFLOW_CODES, DATAFLOWS_BY_CODE, PerDataflow, cdiv
from nmsim.problem.spatial import DIM_CODES, DIMS as GEMM_DIMS, dim_extents, split_codes, valid_splits
from nmsim.specfile import SpecError
from nmsim.workloads import Op

from .constraints import Constraints
from .levels import inner_orders, inner_tiles
from .mapping import DEFAULT_LOOP_ORDER, LOOP_ORDERS, LevelTile, Mapping, SpatialSplit, default_tiles, footprint_bytes
from .sparse_plan import SparsePlan, executed_gemm, plan_sparsity

DIMS = ("m", "n", "k")
FULL_UNITS = 64
MAX_SPLITS = 32
COARSE_PER_DIM = 10
PAIR_WINDOW = 2  # 4, then 3 until stop 24 (docs/MAPPING.md, "heuristic")
TRIPLE_WINDOW = 1  # 2 until 2026-12-07


WHOLE = (1, None, 1, None)  # the unsplit array


@dataclass(frozen=True)
class Candidates:
    """A batch of candidate mappings as parallel int arrays (codes index DATAFLOWS / LOOP_ORDERS;
    split dimensions index problem.spatial.DIMS). `split` is None on a fixed array, else the arrays
    (row blocks, row dimension, column blocks, column dimension); `levels` holds, per inner on-chip
    level, the arrays (tile_m, tile_n, tile_k, loop_order)."""

    dataflow: np.ndarray
    tile_m: np.ndarray
    tile_n: np.ndarray
    tile_k: np.ndarray
    loop_order: np.ndarray
    split: tuple | None = None
    levels: tuple = ()

    def __len__(self) -> int:
        return int(self.tile_m.shape[0])

    @property
    def layout(self) -> tuple[bool, int]:
        """(has a split, number of inner levels): what `stacked` rows hold beyond the first five."""
        return self.split is not None, len(self.levels)

    def arrays(self) -> tuple[np.ndarray, ...]:
        """(dataflow, tile_m, tile_n, tile_k, loop_order[, the split's 4][, 4 per inner level])."""
        out = (self.dataflow, self.tile_m, self.tile_n, self.tile_k, self.loop_order)
        if self.split is not None:
            out += tuple(self.split)
        for lv in self.levels:
            out += tuple(lv)
        return out

    @staticmethod
    def from_arrays(flat, layout: tuple[bool, int]) -> "Candidates":
        """Rebuild from `arrays()` output and its `layout`."""
        has_split, n_levels = layout
        flat = list(flat)
        split = tuple(flat[5:9]) if has_split else None
        rest = flat[9:] if has_split else flat[5:]
        levels = tuple(tuple(rest[4 * i:4 * i + 4]) for i in range(n_levels))
        return Candidates(*flat[:5], split=split, levels=levels)

    def take(self, idx) -> "Candidates":
        """The candidates at integer or boolean index `idx`."""
        return Candidates.from_arrays((a[idx] for a in self.arrays()), self.layout)

    def mapping(self, i: int) -> Mapping:
        """Candidate `i` as a Mapping object."""
        spatial = SpatialSplit()
        if self.split is not None:
            sr, dr, sc, dc = (int(a[i]) for a in self.split)
            spatial = SpatialSplit(sr, GEMM_DIMS[dr] if sr > 1 else None, sc, GEMM_DIMS[dc] if sc > 1 else None)
        levels = tuple(LevelTile(int(tm[i]), int(tn[i]), int(tk[i]), LOOP_ORDERS[int(lo[i])])
                       for tm, tn, tk, lo in self.levels)
        return Mapping(dataflow=DATAFLOWS_BY_CODE[int(self.dataflow[i])], tile_m=int(self.tile_m[i]),
                       tile_n=int(self.tile_n[i]), tile_k=int(self.tile_k[i]),
                       loop_order=LOOP_ORDERS[int(self.loop_order[i])], levels=levels, spatial=spatial)

    def stacked(self) -> np.ndarray:
        """[candidates, fields] int64 rows (`arrays()` order), for dedup and for stacking designs."""
        return np.stack(np.broadcast_arrays(*self.arrays()), axis=1).astype(np.int64)

    @staticmethod
    def from_stacked(rows: np.ndarray, layout: tuple[bool, int]) -> "Candidates":
        """Inverse of `stacked` (rows [candidates, fields] or columns [fields, ...] transposed)."""
        return Candidates.from_arrays(list(np.asarray(rows).T), layout)

    @staticmethod
    def from_mappings(mappings: list[Mapping]) -> "Candidates":
        """Pack Mapping objects into arrays (all with the same number of level tiles)."""
        ints = lambda xs: np.array(list(xs), dtype=np.int64)  # noqa: E731
        base = (ints(DATAFLOW_CODES[m.dataflow] for m in mappings), ints(m.tile_m for m in mappings),
                ints(m.tile_n for m in mappings), ints(m.tile_k for m in mappings),
                ints(LOOP_ORDERS.index(m.loop_order) for m in mappings))
        if all(not m.levels and m.spatial.is_whole for m in mappings):
            return Candidates(*base)
        split = None
        if any(not m.spatial.is_whole for m in mappings):
            sp = [m.spatial for m in mappings]
            split = (ints(s.row_blocks for s in sp), ints(DIM_CODES.get(s.row_dim, 0) for s in sp),
                     ints(s.col_blocks for s in sp), ints(DIM_CODES.get(s.col_dim, 0) for s in sp))
        n_levels = {len(m.levels) for m in mappings}
        if len(n_levels) > 1:
            raise ValueError(f"mappings with different numbers of level tiles: {sorted(n_levels)}")
        levels = tuple((ints(m.levels[i].tile_m for m in mappings), ints(m.levels[i].tile_n for m in mappings),
                        ints(m.levels[i].tile_k for m in mappings),
                        ints(LOOP_ORDERS.index(m.levels[i].loop_order) for m in mappings))
                       for i in range(n_levels.pop() if n_levels else 0))
        return Candidates(*base, split=split, levels=levels)

    @staticmethod
    def one(mapping: Mapping) -> "Candidates":
        """One mapping with Python ints for fields rather than one-element arrays, to cost it alone:
        the cost model reads every field through operators, and on one element numpy's per-call
        overhead costs more than the arithmetic (the same numbers; `len`, `take` and `stacked`
        need arrays)."""
        c = Candidates.from_mappings([mapping])
        return Candidates.from_arrays([a.item() for a in c.arrays()], c.layout)

    @staticmethod
    def concat(parts: list["Candidates"]) -> "Candidates":
        """One batch from several (a part without a split gets the unsplit array's)."""
        if any(p.split is not None for p in parts):
            parts = [p if p.split is not None else p.with_split(WHOLE) for p in parts]
        layout = parts[0].layout
        return Candidates.from_arrays((np.concatenate(xs) for xs in zip(*(p.arrays() for p in parts))), layout)

    def with_split(self, split) -> "Candidates":
        """The same candidates with one split (s_r, d_r, s_c, d_c) for all (dimension names or None)."""
        arrs = tuple(np.full(len(self), v, dtype=np.int64) for v in split_row(split))
        return Candidates(self.dataflow, self.tile_m, self.tile_n, self.tile_k, self.loop_order, split=arrs,
                          levels=self.levels)


def split_row(split) -> tuple[int, int, int, int]:
    """A split (s_r, d_r, s_c, d_c) with dimension names or None as the four ints `Candidates.split`
    holds: block counts, dimension codes (0 where a side carries none)."""
    sr, dr, sc, dc = split
    return sr, DIM_CODES.get(dr, 0), sc, DIM_CODES.get(dc, 0)


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


def _strided_len(n: int, stride: int) -> int:
    """len(_strided(choices, stride)) for `n` distinct ascending choices, without building them (the
    heuristic sizes a subgrid per stride): every stride-th from the first, plus the last when the
    stride steps over it."""
    if stride <= 1:
        return n
    return -(-n // stride) + ((n - 1) % stride != 0)


class MappingSpace:
    """Valid mappings of `op` on `arch` under `constraints` (see module docstring). Tile choices are
    kept per key (dataflow, spatial split); `keys` lists them, `splits[df]` a dataflow's splits."""

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
        ic = arch.compute.interconnect
        self.flexible = ic.flexible
        self.splits = {df: valid_splits(df, ic.row_blocks, ic.col_blocks, ic.block_reduction)
                       for df in self.dataflows}
        self.n_inner = len(arch.tiers()) - 1
        self.inner_orders = [LOOP_ORDERS.index(o) for o in inner_orders(arch)]
        self.keys = [(df, s) for df in self.dataflows for s in self.splits[df]]
        self.choices: dict[tuple, dict[str, np.ndarray]] = {key: self._key_choices(*key) for key in self.keys}
        self.level_sizes = np.array([lv.capacity_bytes for lv in arch.memory], dtype=np.float64)
        # per dataflow, its default mapping's candidates (or None), shared with the restricted spaces
        self._defaults: dict[str, Candidates | None] = {}

    def _key_choices(self, df: str, split: tuple) -> dict[str, np.ndarray]:
        c, op = self.constraints, self.op
        extents = {"m": op.M, "n": op.N, "k": op.K}
        per = {}
        for d in DIMS:
            q, fold = self.quantum(df, d, split)
            per[d] = c.tile_filter(d, tile_choices(extents[d], q, fold), extents[d])
            if d == "k":
                # N:M groups must not straddle tiles; the whole K is always allowed
                per[d] = per[d][(per[d] % self.plan.m == 0) | (per[d] >= op.K)]
            if not len(per[d]):
                extra = f" (K tiles must be multiples of the {self.plan.label} group size {self.plan.m})" \
                    if d == "k" and self.plan.m > 1 else ""
                raise SpecError(f"constraints: {c.describe(f'tile_{d}')} leaves no tile for {d.upper()}="
                                f"{extents[d]}{extra}")
        return per

    def restricted(self, dataflow: str, keys: list | None = None) -> "MappingSpace":
        """The same space limited to one dataflow, and to `keys` of it if given (shares the choice
        arrays)."""
        sub = object.__new__(MappingSpace)
        sub.__dict__.update(self.__dict__)
        sub.dataflows = [dataflow]
        sub.keys = [k for k in self.keys if k[0] == dataflow and (keys is None or k in keys)]
        sub.choices = {k: self.choices[k] for k in sub.keys}
        return sub

    def quantum(self, dataflow: str, dim: str, split: tuple = WHOLE) -> tuple[int, int | None]:
        """(quantum in elements, array fold in quanta or None) of `dim` under `dataflow` and `split`:
        the dimension's spatial extent (problem.spatial); K in N:M groups, with the fold of a K
        spread over the array (extent x macs_per_pe nonzeros = that many x m/n weights)."""
        c = self.arch.compute
        ext = dim_extents(c.rows, c.cols, PerDataflow(DATAFLOW_CODES[dataflow]), split_codes(split))
        e = int(ext[dim.upper()])
        if dim == "k":
            fold = cdiv(e * c.macs_per_pe, self.plan.n) if e > 1 else None
            return self.plan.m, fold
        return e, None

    # -- enumeration -----------------------------------------------------------------------
    def _block(self, key, tm, tn, tk, lo) -> Candidates:
        """Candidates of one (dataflow, split) key from tile/order arrays (broadcast), without inner
        levels (`complete` adds them, once per batch)."""
        tm, tn, tk, lo = (np.asarray(a, dtype=np.int64).ravel() for a in np.broadcast_arrays(tm, tn, tk, lo))
        c = Candidates(np.full(tm.shape, DATAFLOW_CODES[key[0]], dtype=np.int64), tm, tn, tk, lo)
        return c.with_split(key[1]) if self.flexible else c

    def complete(self, c: Candidates) -> Candidates:
        """`c` with the inner levels' tiles by the fit rule (mapping.levels) and their fixed orders."""
        if not self.n_inner or len(c.levels) == self.n_inner:
            return c
        op = self.op
        outer = (np.minimum(c.tile_m, op.M), np.minimum(c.tile_n, op.N), np.minimum(c.tile_k, op.K))
        split = self._split_arrays(c)
        # the fit rule reads no loop order, and grids vary the order fastest: run it once per run
        # of equal (dataflow, split, tiles) and give every candidate its run's result
        cols = [np.broadcast_to(a, c.tile_m.shape) for a in (c.dataflow, *(split or ()), *outer)]
        new_run = np.ones(len(c), dtype=bool)
        for a in cols:
            new_run[1:] &= a[1:] == a[:-1]
        new_run[1:] = ~new_run[1:]
        first, run = np.flatnonzero(new_run), np.cumsum(new_run) - 1
        pick = (lambda a: a[first]) if len(first) < len(c) else (lambda a: a)
        tiles = inner_tiles(self.arch, self.gemm, pick(cols[0]),
                            None if split is None else tuple(pick(a) for a in cols[1:5]),
                            tuple(pick(a) for a in cols[-3:]))
        if len(first) < len(c):
            tiles = [tuple(t[run] for t in tier) for tier in tiles]
        levels = tuple((tm, tn, tk, np.full(len(c), o, dtype=np.int64))
                       for (tm, tn, tk), o in zip(tiles, self.inner_orders))
        return Candidates(c.dataflow, c.tile_m, c.tile_n, c.tile_k, c.loop_order, split=c.split, levels=levels)

    @staticmethod
    def _split_arrays(c: Candidates):
        """The split as the cost model takes it: dimension codes of absent dims set to -1."""
        if c.split is None:
            return None
        sr, dr, sc, dc = c.split
        return sr, np.where(sr > 1, dr, -1), sc, np.where(sc > 1, dc, -1)

    def cost_split(self, c: Candidates):
        """The split arrays of `c` as the cost model takes them (None on a fixed array)."""
        return self._split_arrays(c)

    def _orders(self, names: list[str] | None = None) -> np.ndarray:
        """Codes of the loop orders `names` (default: every order the constraints allow)."""
        return np.array([LOOP_ORDERS.index(o) for o in (self.loop_orders if names is None else names)], dtype=np.int64)

    def innermost_orders(self) -> list[str]:
        """One allowed loop order per innermost loop dimension, the other two in the relative order
        of DEFAULT_LOOP_ORDER where allowed (in `loop_orders`' order). With one buffer level an
        operand is re-filled once per iteration of its irrelevant loop when that loop lies outside the
        innermost iterating relevant loop (docs/MODEL.md 3.4): when the innermost loop iterates, the
        two orders that share it move the same bytes, so these cover the distinct traffic patterns
        of the common case (the heuristic's stage 1; its descent tries every order)."""
        ranked = sorted(self.loop_orders, key=lambda o: [DEFAULT_LOOP_ORDER.index(d) for d in o])
        first = {}
        for o in ranked:
            first.setdefault(o[-1], o)
        return [o for o in self.loop_orders if o in first.values()]

    def grid(self, stride: int = 1, orders: list[str] | None = None) -> Candidates:
        """The Cartesian product of the pruned choices over dataflows, splits and loop orders (`orders`,
        default all allowed): all of them, or every `stride`-th choice per dim (the largest kept)."""
        parts = []
        orders = self._orders(orders)
        for key in self.keys:
            ch = {d: _strided(v, stride) for d, v in self.choices[key].items()}
            parts.append(self._block(key, *np.meshgrid(ch["m"], ch["n"], ch["k"], orders, indexing="ij")))
        return self.complete(Candidates.concat(parts))

    def boundary(self, keys: list | None = None, orders: list[str] | None = None) -> Candidates:
        """Tiles that fill the buffers: for every coarse pair of two tiles, the largest third
        tile that still fits (over the third's full choices), with every loop order of `orders`
        (default all allowed); for `keys` (dataflow, split) or all of them.

        Buffer capacity usually binds at the optimum, and a coarse grid rarely lands on it.
        """
        orders = self._orders(orders)
        probes = []  # (key, the pair, the third, their choices as grids along axes 0, 1, 2)
        for key in keys or self.keys:
            ch = self.choices[key]
            for third in DIMS:
                a, b = (d for d in DIMS if d != third)
                probes.append((key, a, b, third, {a: _coarse(ch[a])[:, None, None], b: _coarse(ch[b])[None, :, None],
                                                  third: ch[third][None, None, :]}))
        # The outermost tier's levels are checked on each probe's grid by broadcasting (their
        # footprints need nothing but the tiles); the inner tiers' fit rule runs on the picks only,
        # and a group whose pick fails it (an inner level too small even for the rule's smallest tile)
        # is redone with the full check. Exact: a larger third that fails the outer levels fails the
        # full check too.
        picks = []
        for key, a, b, third, g in probes:
            ok = np.broadcast_to(self._fits_outer(g["m"], g["n"], g["k"]), tuple(g[d].size for d in (a, b, third)))
            picks.append(self._largest_fitting(key, a, b, third, g, ok))
        if self.n_inner:   # the inner tiers on every pick in one batch; a failing group is redone
            sizes = [len(m) for m, _, _ in picks]
            full_ok = self.fits(self.complete(Candidates.concat(
                [self._block(p[0], m, n, k, orders[0]) for p, (m, n, k) in zip(probes, picks)])))
            ends = np.cumsum(sizes)
            for j, (key, a, b, third, g) in enumerate(probes):
                if not full_ok[ends[j] - sizes[j]:ends[j]].all():
                    grids = np.broadcast_arrays(g["m"], g["n"], g["k"])
                    block = self._block(key, *grids, orders[0])
                    picks[j] = self._largest_fitting(key, a, b, third, g,
                                                     self.fits(self.complete(block)).reshape(grids[0].shape))
        parts = [self._block(p[0], m[:, None], n[:, None], k[:, None], orders[None, :])
                 for p, (m, n, k) in zip(probes, picks)]
        return self.complete(Candidates.concat(parts))

    def _largest_fitting(self, key, a, b, third, g, ok) -> tuple:
        """(tile_m, tile_n, tile_k) arrays: per (a, b) pair of the probe grid `g` (choices along
        axes 0, 1, 2) that has a fitting third (`ok`, over the grid), the largest such third."""
        # choices are ascending, so the last fitting index is the largest fitting tile
        last = ok.shape[2] - 1 - np.argmax(ok[:, :, ::-1], axis=2)
        ia, ib = np.nonzero(ok.any(axis=2))
        pick = {a: g[a].ravel()[ia], b: g[b].ravel()[ib], third: g[third].ravel()[last[ia, ib]]}
        return pick["m"], pick["n"], pick["k"]

    def _fits_outer(self, tm, tn, tk) -> np.ndarray:
        """Boolean per tile (arrays broadcast together): the outermost tier's levels hold it (inner
        tiers unchecked)."""
        op = self.op
        need = footprint_bytes(self.arch, self.gemm, [(np.minimum(tm, op.M), np.minimum(tn, op.N), np.minimum(tk, op.K))])
        ok = True
        for i, lv in enumerate(self.arch.memory):
            if lv.name in need:
                ok = ok & (np.asarray(need[lv.name], dtype=np.float64) <= self.level_sizes[i])
        return np.asarray(ok)

    def defaults(self) -> Candidates | None:
        """The default mapping's candidates (docs/MODEL.md 4) of every dataflow of this space that
        its constraints allow, or None: a mapper's safe start, which every mapper also costs, so no
        mapper returns a mapping worse than the default mapping (for its objective)."""
        parts = [p for p in (self._defaults_of(df) for df in self.dataflows) if p is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Candidates.concat(parts)

    def _defaults_of(self, dataflow: str) -> Candidates | None:
        """One dataflow's part of `defaults`, made once per space (the heuristic asks per dataflow
        after asking for all)."""
        if dataflow in self._defaults:
            return self._defaults[dataflow]
        try:
            tiles = np.array(default_tiles(self.arch, self.op, dataflow), dtype=np.int64)
        except SpecError:  # nothing fits: the search says so itself
            tiles = np.empty((0, len(DIMS)), dtype=np.int64)
        if self.constraints.active():
            tiles = tiles[self.constraints.allows_tiles(dataflow, DEFAULT_LOOP_ORDER, dict(zip(DIMS, tiles.T)),
                                                        {"m": self.op.M, "n": self.op.N, "k": self.op.K})]
        c = None
        if len(tiles):
            # default_mapping_candidates' order: split-major, its tiles in order, one loop order
            lo = LOOP_ORDERS.index(DEFAULT_LOOP_ORDER)
            c = self.complete(Candidates.concat([self._block((dataflow, s), tiles[:, 0], tiles[:, 1], tiles[:, 2], lo)
                                                 for s in self.splits[dataflow]]))
        self._defaults[dataflow] = c
        return c

    def keys_of(self, c: Candidates) -> list:
        """The distinct (dataflow, split) keys of `c`, in order of first appearance."""
        return list(dict.fromkeys(self._key_of(c, i) for i in range(len(c))))

    def size(self, stride: int = 1, orders: list[str] | None = None) -> int:
        """Number of candidates in the pruned space (or in its `stride` subgrid, over `orders`)."""
        n_orders = len(self.loop_orders if orders is None else orders)
        return sum(math.prod(_strided_len(len(v), stride) for v in self.choices[k].values()) * n_orders
                   for k in self.keys)

    def _key_of(self, c: Candidates, i: int) -> tuple:
        df = DATAFLOWS_BY_CODE[int(c.dataflow[i])]
        if c.split is None:
            return df, WHOLE
        sr, dr, sc, dc = (int(a[i]) for a in c.split)
        return df, (sr, GEMM_DIMS[dr] if sr > 1 else None, sc, GEMM_DIMS[dc] if sc > 1 else None)

    def neighbors(self, seeds: Candidates, window: int = PAIR_WINDOW) -> Candidates:
        """Local moves around each seed, for the heuristic's descent.

        * one tile over all of its pruned choices (the others fixed);
        * two tiles at once, each within `window` choices of its current value: buffer
          capacity couples the tiles, so growing one often pays only if another shrinks;
        * three tiles at once within TRIPLE_WINDOW choices;
        * every loop order, and every other spatial split of the dataflow with the same tiles
          snapped to that split's choices (the dataflow stays: the heuristic descends per dataflow).
        """
        orders = self._orders()
        cols = ([], [], [], [])   # tile_m, tile_n, tile_k, loop_order: one array per run of one key
        keys, lengths = [], []
        def full(n, v):
            return np.full(n, v, dtype=np.int64)
        for i in range(len(seeds)):
            key = self._key_of(seeds, i)
            tm, tn, tk, lo = (int(a[i]) for a in (seeds.tile_m, seeds.tile_n, seeds.tile_k, seeds.loop_order))
            ch = self.choices[key]
            cur = {"m": tm, "n": tn, "k": tk}
            pos = {d: int(np.argmin(np.abs(ch[d] - cur[d]))) for d in DIMS}
            near = {d: ch[d][max(0, pos[d] - window): pos[d] + window + 1] for d in DIMS}
            w3 = {d: ch[d][max(0, pos[d] - TRIPLE_WINDOW): pos[d] + TRIPLE_WINDOW + 1] for d in DIMS}
            lm, ln, lk = (len(ch[d]) for d in DIMS)
            a, b, c = (len(near[d]) for d in DIMS)
            a3, b3, c3 = (len(w3[d]) for d in DIMS)
            o = len(orders)
            # runs, in order: each tile over its choices; every loop order; the pairs (m, n), (m, k),
            # (n, k) and the triples, the first named dimension varying slowest
            cols[0].append(np.concatenate((ch["m"], full(ln + lk + o, tm), np.repeat(near["m"], b),
                                           np.repeat(near["m"], c), full(b * c, tm), np.repeat(w3["m"], b3 * c3))))
            cols[1].append(np.concatenate((full(lm, tn), ch["n"], full(lk + o, tn), np.tile(near["n"], a),
                                           full(a * c, tn), np.repeat(near["n"], c),
                                           np.tile(np.repeat(w3["n"], c3), a3))))
            cols[2].append(np.concatenate((full(lm + ln, tk), ch["k"], full(o + a * b, tk), np.tile(near["k"], a),
                                           np.tile(near["k"], b), np.tile(w3["k"], a3 * b3))))
            n_lo = lm + ln + lk
            cols[3].append(np.concatenate((full(n_lo, lo), orders, full(a * b + a * c + b * c + a3 * b3 * c3, lo))))
            keys.append(key)
            lengths.append(len(cols[0][-1]))
            for other in self.splits[key[0]]:
                if other != key[1]:
                    och = self.choices[(key[0], other)]
                    snap = [och[d][np.argmin(np.abs(och[d] - cur[d]))] for d in DIMS]
                    for col, v in zip(cols, (*snap, lo)):
                        col.append(np.array([v], dtype=np.int64))
                    keys.append((key[0], other))
                    lengths.append(1)
        return self.complete(self._from_runs(cols, keys, lengths))

    def _from_runs(self, cols, keys: list, lengths: list) -> Candidates:
        """Candidates from tile and loop-order arrays in runs, run j of `lengths[j]` candidates of key
        `keys[j]` (dataflow, split); the split arrays on a flexible array. Inner levels not added."""
        tm, tn, tk, lo = (np.concatenate(c) for c in cols)   # int64 already: choices, codes, np.full of ints
        codes = {key: (DATAFLOW_CODES[key[0]], *split_row(key[1])) for key in set(keys)}
        per = np.repeat(np.array([codes[key] for key in keys], dtype=np.int64), lengths, axis=0)
        split = tuple(per[:, j] for j in range(1, 5)) if self.flexible else None
        return Candidates(per[:, 0], tm, tn, tk, lo, split=split)

    def sample(self, count: int, rng: np.random.Generator) -> Candidates:
        """`count` random candidates from the whole (unpruned) space, tile sizes log-uniform, a
        dataflow and a split of it uniformly; inner levels by the fit rule.

        Honors the constraints; tile_k is drawn in whole N:M groups.
        """
        extents = {"m": self.op.M, "n": self.op.N, "k": self.op.K}
        orders = np.array([LOOP_ORDERS.index(o) for o in self.loop_orders])
        tiles = {}
        for d in DIMS:
            rule = getattr(self.constraints, f"tile_{d}")
            step = self.plan.m if d == "k" else 1
            if isinstance(rule, (int, list)):
                # exact values: sample among the (already validated) choices of the first key
                tiles[d] = rng.choice(self.choices[self.keys[0]][d], count)
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
        key_idx = rng.integers(0, len(self.keys), count)
        parts = []
        order = rng.choice(orders, count)
        for j, key in enumerate(self.keys):
            sel = key_idx == j
            if sel.any():
                parts.append(self._block(key, tiles["m"][sel], tiles["n"][sel], tiles["k"][sel], order[sel]))
        return self.complete(Candidates.concat(parts))

    # -- validity ----------------------------------------------------------------------------
    def need_bytes(self, c: Candidates) -> np.ndarray:
        """Bytes each memory level must hold per candidate, shape [levels, candidates]: level i holds
        its own tile of the operands it keeps (mapping.footprint_bytes, doubled where double-buffered)."""
        op = self.op
        tiles = [(np.minimum(c.tile_m, op.M), np.minimum(c.tile_n, op.N), np.minimum(c.tile_k, op.K))]
        tiles += [tuple(np.asarray(x) for x in lv[:3]) for lv in c.levels]
        tiles += [tiles[-1]] * (self.n_inner + 1 - len(tiles))
        need = footprint_bytes(self.arch, self.gemm, tiles)
        return np.stack([np.broadcast_to(np.asarray(need[lv.name], dtype=np.float64), (len(c),))
                         for lv in self.arch.memory])

    def fits(self, c: Candidates) -> np.ndarray:
        """Boolean per candidate: every level's tile footprint fits its capacity."""
        return np.all(self.need_bytes(c) <= self.level_sizes[:, None], axis=0)

    def smallest(self) -> Candidates:
        """Per key the smallest allowed tile (footprints grow with every tile size)."""
        lo = LOOP_ORDERS.index(self.loop_orders[0])
        return self.complete(Candidates.concat([self._block(k, *(self.choices[k][d][:1] for d in DIMS), lo)
                                                for k in self.keys]))

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
