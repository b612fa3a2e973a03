"""SCALE-Sim topology CSVs (as read by PyPI `scalesim` 3.0.0) -> `Workload`.

Two forms, told apart by the header (SCALE-Sim itself needs `-i gemm|conv`):

* GEMM:  `Layer, M, N, K[, Sparsity],`  -> op `gemm` out[M,N] = A[M,K] . B[K,N];
* conv:  `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides[, Sparsity],` -> op `conv2d` lowered by im2col, no padding (SCALE-Sim
  has none): M = ofmap pixels, N = filters, K = filter height x width x channels.

`Sparsity` is `N:M` (`1:1` or absent: dense), applied to the weights along K. As in
topology_utils.py: the first line is always the header; a conv layer whose name contains `DP`
is depthwise and becomes one layer per channel (`<name>Channel_<i>`, one channel each); the
ofmap side is `ceil((ifmap - filter + stride) / stride)`; a filter larger than the ifmap is
refused. SCALE-Sim drops the field after the last comma of every row (rows end with `,`, or with
a comment such as `,#dw`), and so do we, with a note when that drops a value; a row left too
short by that (SCALE-Sim fails on it) keeps the field.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from nmsim.problem import DIM_WHY, MAX_DIM, parse_nm
from nmsim.specfile import SpecError, parse_int, read_text

from .ops import ConvShape, Op
from .sparsity import DENSE, Sparsity
from .workload import Workload

GEMM_FIELDS = ("Layer", "M", "N", "K")
CONV_FIELDS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
               "Num Filter", "Strides")
# SCALE-Sim makes one layer per channel of a depthwise ('DP') row, and nmsim costs each (about 2 ms
# with the stall replay): 4,096 is above the widest depthwise layers of real networks (a few thousand
# channels) and about 8 s; 65,536 took two minutes in the long fuzz run.
MAX_DEPTHWISE_CHANNELS = 1 << 12


@dataclass(frozen=True)
class ScaleSimTopology:
    """A topology file read as a Workload, with its form and the notes reading it produced."""

    workload: Workload
    form: str
    notes: tuple[str, ...] = field(default=())
    # M (ofmap pixels) as SCALE-Sim counts it, per op name, where it differs from the op's M
    scalesim_m: dict[str, int] = field(default_factory=dict)

    @property
    def nm_patterns(self) -> list[str]:
        """Distinct N:M patterns of the layers ('2:4', ...), sorted."""
        return sorted({str(op.weight_sparsity) for op in self.workload.ops if op.weight_sparsity.kind == "nm"})


def _form_of(header: list[str], first_row: list[str] | None, where: str) -> str:
    names = [h.strip().lower() for h in header if h.strip()]
    if names[1:4] == ["m", "n", "k"]:
        return "gemm"
    if len(names) > 1 and names[1].startswith("ifmap"):
        return "conv"
    n = len(first_row or [])
    if 4 <= n < 8:  # GEMM rows may carry ignored extra fields; conv rows have 8 or 9
        return "gemm"
    if 8 <= n <= 9:
        return "conv"
    raise SpecError(f"{where}: cannot tell a GEMM topology ({', '.join(GEMM_FIELDS)}[, Sparsity]) from a conv "
                    f"one ({', '.join(CONV_FIELDS)}[, Sparsity]); start the file with one of these headers")


def _sparsity(text: str, where: str) -> Sparsity:
    parts = text.replace(" ", "").split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise SpecError(f"{where}: sparsity '{text}' is not N:M; write e.g. 2:4 (1:1 = dense)")
    try:
        n, grp = parse_nm(text.replace(" ", ""))
    except ValueError as exc:
        if 1 <= int(parts[0]) and int(parts[0]) > int(parts[1]):
            raise SpecError(f"{where}: sparsity '{text}' needs 1 <= N <= M (N of every M weights kept), e.g. 2:4") from None
        raise SpecError(f"{where}: sparsity {exc}") from None
    return DENSE if n == grp else Sparsity(kind="nm", n=n, m=grp, density=n / grp)


def _ints(values: list[str], names: tuple[str, ...], where: str) -> list[int]:
    return [parse_int(v, f"{where}: {name}", 1, MAX_DIM, DIM_WHY) for v, name in zip(values, names)]


def _conv_ops(name: str, f: list[str], sp: Sparsity, where: str) -> tuple[list[Op], int]:
    """The ops of one conv row and SCALE-Sim's count of their ofmap pixels."""
    ih, iw, fh, fw, ch, nf, st = _ints(f[1:8], CONV_FIELDS[1:], where)
    if "DP" in name and ch > MAX_DEPTHWISE_CHANNELS:
        raise SpecError(f"{where}: Channels of depthwise layer '{name}' is {ch:,}; at most {MAX_DEPTHWISE_CHANNELS:,} "
                        "(SCALE-Sim runs one layer per channel)")
    if fh > ih or fw > iw:
        raise SpecError(f"{where}: layer '{name}': filter {fh}x{fw} is larger than the ifmap {ih}x{iw} "
                        "(SCALE-Sim pads nothing); enlarge the ifmap or shrink the filter")
    oh, ow = (ih - fh) // st + 1, (iw - fw) // st + 1
    # topology_utils.py rounds up, ceil((ifmap - filter + stride) / stride): when the stride does not
    # divide (ifmap - filter) it schedules one more, partial, window per row/column than the conv has.
    ss_px = -(-(ih - fh + st) // st) * -(-(iw - fw + st) // st)
    # SCALE-Sim runs a 'DP' (depthwise) layer as one single-channel layer per input channel.
    layers = [(f"{name}Channel_{c}", 1) for c in range(ch)] if "DP" in name else [(name, ch)]
    return [Op(lname, "conv2d", M=oh * ow, N=nf, K=fh * fw * c, weight_sparsity=sp,
               conv=ConvShape(1, ih, iw, c, nf, fh, st, 0, 1) if fh == fw else None)
            for lname, c in layers], ss_px


def _located(where: str, build):
    """`build()`, with `where` put before an Op's own SpecError (bounds of its dims and MACs)."""
    try:
        return build()
    except SpecError as exc:
        if str(exc).startswith(where):
            raise
        raise SpecError(f"{where}: {exc}") from None


def _lines(items: list, most: int = 5) -> str:
    """'line 3' or 'lines 3, 5, ...' for notes that name the rows they concern."""
    shown = ", ".join(map(str, items[:most])) + (", ..." if len(items) > most else "")
    return f"line{'s' * (len(items) > 1)} {shown}"


def parse_scalesim_topology(text: str, source: str = "<scalesim topology>", name: str | None = None) -> ScaleSimTopology:
    """Parse a SCALE-Sim topology CSV; SpecError naming `source:line` and the fix on bad input."""
    lines = text.splitlines()
    if not lines:
        raise SpecError(f"{source}: topology file is empty; it needs a header line and one row per layer")
    rows = [(no, ln.strip()) for no, ln in enumerate(lines[1:], start=2) if ln.strip()]
    first = rows[0][1].rstrip(",").split(",") if rows else None
    form = _form_of(lines[0].split(","), first, f"{source}:1")
    notes: list[str] = []
    head = [h.strip() for h in lines[0].split(",")]
    if len(head) > 1 and head[1].isdigit():
        notes.append(f"{source}:1: read as the header, as SCALE-Sim does, but it looks like a layer "
                     f"('{head[0]}'); start the file with a header line to keep it")
    kept: list[int] = []
    extra: list[int] = []
    dropped: list[str] = []
    edge: list[int] = []
    ss_m: dict[int, int] = {}  # op index -> SCALE-Sim's M
    ops: list[Op] = []
    want = (4, 5) if form == "gemm" else (8, 9)
    for no, row in rows:
        where = f"{source}:{no}"
        *f, last = [x.strip() for x in row.split(",")]
        if last and not last.startswith("#"):
            if len(f) < want[0]:
                f.append(last)
                kept.append(no)
            else:
                dropped.append(f"{no} ('{last}')")
        if form == "gemm" and len(f) > want[1]:
            # topology_utils.py reads the first five fields of a GEMM row and ignores the rest
            extra.append(no)
            f = f[:want[1]]
        if not want[0] <= len(f) <= want[1]:
            cols = GEMM_FIELDS if form == "gemm" else CONV_FIELDS
            raise SpecError(f"{where}: a {form} row has {want[0]} or {want[1]} fields ({', '.join(cols)}"
                            f"[, N:M]), this one has {len(f)}")
        sp = _sparsity(f[want[0]], where) if len(f) > want[0] else DENSE
        lname = f[0] or f"layer{len(ops)}"
        if form == "gemm":
            m, n, k = _ints(f[1:4], GEMM_FIELDS[1:], where)
            ops.append(_located(where, lambda: Op(lname, "gemm", M=m, N=n, K=k, weight_sparsity=sp)))
        else:
            conv_ops, ss_px = _located(where, lambda: _conv_ops(lname, f, sp, where))
            if ss_px != conv_ops[0].M:
                edge.append(no)
                ss_m.update({len(ops) + i: ss_px for i in range(len(conv_ops))})
            ops.extend(conv_ops)
    if dropped:
        notes.append(f"{source}: {_lines(dropped)}: the value after the last comma is ignored, as SCALE-Sim "
                     "3.0.0 ignores it; end the row with ',' to use it")
    if extra:
        notes.append(f"{source}: {_lines(extra)}: fields after the fifth are ignored, as SCALE-Sim 3.0.0 "
                     "ignores them")
    if kept:
        notes.append(f"{source}: no trailing comma on {_lines(kept)}: SCALE-Sim 3.0.0 would drop the last "
                     "field and fail; nmsim keeps it")
    if edge:
        notes.append(f"{source}: {_lines(edge)}: the stride does not divide ifmap - filter; "
                     "SCALE-Sim schedules a partial window at the edge (ceil), nmsim's conv has floor((ifmap - "
                     "filter) / stride) + 1 outputs; compatibility cycles follow SCALE-Sim")
    if not ops:
        raise SpecError(f"{source}: no layers after the header line (SCALE-Sim always takes line 1 as the header)")
    seen: dict[str, int] = {}
    for i, op in enumerate(ops):
        # SCALE-Sim numbers layers by position and allows repeated names; a Workload needs unique ones
        seen[op.name] = seen.get(op.name, 0) + 1
        if seen[op.name] > 1:
            ops[i] = replace(op, name=f"{op.name}#{seen[op.name]}")
            notes.append(f"{source}: layer name '{op.name}' repeats; later ones are renamed '{op.name}#2', ...")
    wl = Workload(name=name or Path(source).stem, ops=ops, description=f"SCALE-Sim {form} topology {source}")
    return ScaleSimTopology(workload=wl, form=form, notes=tuple(dict.fromkeys(notes)),
                            scalesim_m={ops[i].name: m for i, m in ss_m.items()})


def read_scalesim_topology(path: str | Path) -> ScaleSimTopology:
    """Read a SCALE-Sim topology CSV file (see parse_scalesim_topology)."""
    return parse_scalesim_topology(read_text(path, "SCALE-Sim topology file"), str(path))
