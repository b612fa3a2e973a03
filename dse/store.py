"""The resumable result store: one SQLite file, one row per (design point, workload, pattern).

* `results` rows carry the spec hash, the point key, the design's inputs and outputs (JSON),
  the objective columns, the error text of a point that failed, and the nmsim and schema
  versions that wrote them. `result_key` (hash of design, workload ops and pattern) is UNIQUE
  and rows go in with INSERT OR IGNORE, so a rerun never duplicates a row.
* Rows are written in one transaction per batch as results arrive, with write-ahead logging:
  a sweep killed at any instant (SIGKILL included) leaves every committed batch intact and no
  partial one; rerunning it evaluates only the missing points.
* `meta` records the schema version; a store from another schema version is refused with a
  message saying which version wrote it, never mixed. `sweeps` keeps each sweep's spec and
  resolved base arch so results can be traced (and a design rebuilt) from the file alone; `meta`
  `runs:<spec hash>` lists each run of a sweep with its git commit and command line.
* `load_results` reads rows back as a column table; `export_csv` / `export_parquet` flatten
  inputs and outputs into columns.
"""
from __future__ import annotations

import csv
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from nmsim.specfile import SpecError, atomic_path
from nmsim.specfile.results import current_command, git_commit, nmsim_version

from .evaluate import ResultRow

SCHEMA_VERSION = 1
_COLUMNS = ResultRow._fields

_DDL = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sweeps (
    spec_hash TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT, spec_json TEXT NOT NULL,
    base_arch_json TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    result_key TEXT NOT NULL UNIQUE,
    spec_hash TEXT NOT NULL,
    point_key TEXT NOT NULL,
    workload TEXT NOT NULL,
    pattern TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT,
    error TEXT,
    latency_s REAL, energy_pj REAL, area_mm2 REAL, edp_js REAL, throughput_per_area REAL,
    cycles INTEGER, utilization REAL,
    nmsim_version TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT {SCHEMA_VERSION},
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS results_point ON results (point_key);
"""


def _absolute(source: str) -> str:
    """A spec file's absolute path (so stored designs can be rebuilt from anywhere), else `source`."""
    p = Path(source)
    return str(p.resolve()) if p.is_file() else source


class ResultStore:
    """An open result store (context manager). `readonly` refuses to create a missing file."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise SpecError(f"{self.path}: no such result store (write one with `nmsim dse run`)")
        if self.path.exists() and self.path.is_dir():
            raise SpecError(f"{self.path}: is a directory; give a .sqlite file path")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._check_or_init(fresh, readonly)
        except sqlite3.DatabaseError as exc:
            raise SpecError(f"{self.path}: not an nmsim result store ({exc})") from None
        self.version = nmsim_version()

    def _check_or_init(self, fresh: bool, readonly: bool) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if not fresh or readonly:
                raise SpecError(f"{self.path}: not an nmsim result store (no meta table); "
                                "write results to a new file")
            with self.transaction():
                for stmt in _DDL.split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
                self.db.execute("INSERT INTO meta VALUES ('schema_version', ?), ('created_by', ?)",
                                (str(SCHEMA_VERSION), nmsim_version()))
            return
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        found = meta.get("schema_version")
        if found != str(SCHEMA_VERSION):
            raise SpecError(f"{self.path}: result store schema version {found} (written by nmsim "
                            f"{meta.get('created_by', '?')}); this nmsim reads version {SCHEMA_VERSION} only. "
                            "Write to a new result store (results are never mixed across versions)")

    # --- transactions ----------------------------------------------------------------------
    def transaction(self):
        """Context manager: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error)."""
        store = self

        class _Tx:
            def __enter__(self):
                store.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, exc, tb):
                store.db.execute("ROLLBACK" if kind else "COMMIT")
                return False
        return _Tx()

    def register_sweep(self, sweep) -> None:
        """Record a sweep's spec and resolved base arch (once per spec hash), and this run of it:
        `meta` key `runs:<spec hash>` lists every run's start time, nmsim version, git commit and
        command line, so each row (its `created` time) traces to the code that wrote it."""
        commit, dirty = git_commit()
        run = {"started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "started": time.time(),
               "nmsim_version": nmsim_version(), "git_commit": commit, "git_dirty": dirty,
               "command": current_command()}
        with self.transaction():
            self.db.execute("INSERT OR IGNORE INTO sweeps VALUES (?, ?, ?, ?, ?, ?)",
                            (sweep.spec_hash, sweep.name, _absolute(sweep.source), sweep.spec.model_dump_json(),
                             sweep.base.model_dump_json(), time.time()))
            key = f"runs:{sweep.spec_hash}"
            found = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            runs = json.loads(found[0]) if found else []
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(runs + [run])))

    def write(self, spec_hash: str, rows: Iterable[ResultRow]) -> int:
        """Insert `rows` in one transaction, skipping keys already present; returns rows added."""
        now = time.time()
        data = [(*r, spec_hash, self.version, SCHEMA_VERSION, now) for r in rows]
        cols = ", ".join(_COLUMNS) + ", spec_hash, nmsim_version, schema_version, created"
        marks = ", ".join("?" * (len(_COLUMNS) + 4))
        with self.transaction():
            before = self.db.total_changes
            self.db.executemany(f"INSERT OR IGNORE INTO results ({cols}) VALUES ({marks})", data)
            return self.db.total_changes - before

    def lookup(self, keys: list[str], columns: tuple[str, ...] = ()) -> dict[str, dict]:
        """Stored rows among result `keys`, looked up in bounded batches: {key: {column: value}}."""
        found: dict[str, dict] = {}
        cols = "".join(f", {c}" for c in columns)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = f"SELECT result_key{cols} FROM results WHERE result_key IN ({','.join('?' * len(part))})"
            for key, *vals in self.db.execute(q, part):
                found[key] = dict(zip(columns, vals))
        return found

    def existing(self, keys: list[str]) -> set[str]:
        """Which of `keys` (result keys) are already stored."""
        return set(self.lookup(keys))

    def delete_errors(self, spec_hash: str | None = None) -> int:
        """Remove rows that recorded an error (so a rerun retries them); returns how many."""
        with self.transaction():
            q, args = "DELETE FROM results WHERE error IS NOT NULL", ()
            if spec_hash:
                q, args = q + " AND spec_hash = ?", (spec_hash,)
            return self.db.execute(q, args).rowcount

    def count(self, errors: bool | None = None) -> int:
        """Rows stored (only failed ones with errors=True, only successful with False)."""
        cond = {None: "", True: " WHERE error IS NOT NULL", False: " WHERE error IS NULL"}[errors]
        return self.db.execute(f"SELECT COUNT(*) FROM results{cond}").fetchone()[0]

    def sweeps(self) -> list[dict]:
        """The sweeps recorded: spec hash, name, source, spec (dict), base arch (dict)."""
        q = "SELECT spec_hash, name, source, spec_json, base_arch_json FROM sweeps ORDER BY created"
        meta = dict(self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'runs:%'"))
        return [{"spec_hash": h, "name": n, "source": s, "spec": json.loads(sj), "base_arch": json.loads(bj),
                 "runs": json.loads(meta.get(f"runs:{h}", "[]"))}
                for h, n, s, sj, bj in list(self.db.execute(q))]

    def rows(self, workload: str | None = None, pattern: str | None = None, spec_hash: str | None = None,
             errors: bool | None = None, result_keys: list[str] | None = None) -> Iterator[dict]:
        """Stored rows as dicts (inputs/outputs parsed), filtered; streamed, not loaded at once.
        `result_keys` (a short list) selects rows by key."""
        conds, args = [], []
        if result_keys is not None:
            conds.append(f"result_key IN ({','.join('?' * len(result_keys))})")
            args.extend(result_keys)
        for col, val in (("workload", workload), ("pattern", pattern), ("spec_hash", spec_hash)):
            if val is not None:
                conds.append(f"{col} = ?")
                args.append(val)
        if errors is not None:
            conds.append("error IS NOT NULL" if errors else "error IS NULL")
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        q = ("SELECT result_key, spec_hash, point_key, workload, pattern, inputs, outputs, error, nmsim_version, "
             f"schema_version FROM results{where} ORDER BY id")
        for rk, sh, pk, wl, pat, inp, out, err, ver, sv in self.db.execute(q, args):
            yield {"result_key": rk, "spec_hash": sh, "point_key": pk, "workload": wl, "pattern": pat,
                   "inputs": json.loads(inp), "outputs": json.loads(out) if out else None, "error": err,
                   "nmsim_version": ver, "schema_version": sv}

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- reading back ----------------------------------------------------------------------------

ID_COLUMNS = ("result_key", "spec_hash", "point_key", "workload", "pattern", "error", "nmsim_version")


@dataclass
class ResultTable:
    """Stored rows as columns: `table["latency_s"]` is a numpy array (one entry per row); design
    inputs (rows, cols, nm_patterns, ...) and every output are columns too. Missing = NaN / ''."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["result_key"]) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise KeyError(f"no column '{name}' (have: {', '.join(self.columns)})")
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def take(self, idx) -> "ResultTable":
        """Rows at integer or boolean index `idx`."""
        return ResultTable({k: v[idx] for k, v in self.columns.items()})

    def where(self, **equal) -> "ResultTable":
        """Rows whose columns equal the given values, e.g. where(workload=..., pattern='2:8')."""
        mask = np.ones(len(self), dtype=bool)
        for k, v in equal.items():
            mask &= self[k] == v
        return self.take(mask)

    def records(self) -> list[dict]:
        """Rows as dicts of plain Python values."""
        keys = list(self.columns)
        return [{k: _plain(self.columns[k][i]) for k in keys} for i in range(len(self))]

    def to_arrow(self):
        """A pyarrow.Table of the columns (pyarrow from the `dist` extra)."""
        import pyarrow as pa

        return pa.table({k: pa.array([_plain(x) for x in v]) for k, v in self.columns.items()})


def _plain(x):
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x != x:
        return None
    return x


def _flat(row: dict) -> dict:
    flat = {k: row[k] for k in ID_COLUMNS}
    flat.update(row["inputs"])
    if row["outputs"]:
        flat.update(row["outputs"])
    return flat


def _column(values: list) -> np.ndarray:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if all(isinstance(v, int) for v in present) and len(present) == len(values):
            return np.array(values, dtype=np.int64)
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def load_results(store: str | Path, workload: str | None = None, pattern: str | None = None,
                 spec_hash: str | None = None, include_errors: bool = False) -> ResultTable:
    """Read a store's rows (successful ones unless `include_errors`) into a ResultTable."""
    with ResultStore(store, readonly=True) as st:
        rows = [_flat(r) for r in st.rows(workload, pattern, spec_hash, None if include_errors else False)]
    keys = list(dict.fromkeys(k for r in rows for k in r)) or list(ID_COLUMNS)
    return ResultTable({k: _column([r.get(k) for r in rows]) for k in keys})


def _header(st: ResultStore) -> tuple[list[str], dict[str, bool]]:
    """(every column in first-seen order, whether each holds only numbers), in one pass."""
    numeric: dict[str, bool] = {k: False for k in ID_COLUMNS}
    for r in st.rows():
        for k, v in _flat(r).items():
            num = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
            numeric[k] = numeric.get(k, True) and num
    return list(numeric), numeric


def export_csv(store: str | Path, out: str | Path) -> int:
    """Write every row (errors included) as CSV, inputs and outputs as columns; returns rows written."""
    n = 0
    with ResultStore(store, readonly=True) as st, atomic_path(out) as tmp, open(tmp, "w", newline="") as fh:
        header, _ = _header(st)
        w = csv.DictWriter(fh, fieldnames=header, restval="")
        w.writeheader()
        for r in st.rows():
            w.writerow(_flat(r))
            n += 1
    return n


def export_parquet(store: str | Path, out: str | Path, batch_rows: int = 20_000) -> int:
    """Write every row as Parquet (pyarrow), streamed in batches; returns rows written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    with ResultStore(store, readonly=True) as st, atomic_path(out) as tmp:
        header, numeric = _header(st)
        schema = pa.schema([(k, pa.float64() if numeric[k] else pa.string()) for k in header])
        with pq.ParquetWriter(str(tmp), schema) as writer:
            buf: list[dict] = []
            for r in st.rows():
                buf.append(_flat(r))
                if len(buf) >= batch_rows:
                    writer.write_table(_arrow_batch(buf, header, numeric, schema))
                    n, buf = n + len(buf), []
            if buf or n == 0:
                writer.write_table(_arrow_batch(buf, header, numeric, schema))
                n += len(buf)
    return n


def _arrow_batch(buf: list[dict], header: list[str], numeric: dict, schema):
    import pyarrow as pa

    cols = {}
    for k in header:
        vals = [r.get(k) for r in buf]
        cols[k] = [None if v is None else (float(v) if numeric[k] else str(v)) for v in vals]
    return pa.table(cols, schema=schema)
