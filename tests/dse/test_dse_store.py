"""The result store: round trip, no duplicates, reruns skip finished points, incompatible or
foreign files refused, CSV and Parquet exports hold the same rows."""
from __future__ import annotations

import csv
import sqlite3

import numpy as np
import pytest

from nmsim.dse import export_csv, export_parquet, load_results, run_sweep
from nmsim.dse.evaluate import ResultRow
from nmsim.dse.spec import load_sweep
from nmsim.dse.store import SCHEMA_VERSION, ResultStore
from nmsim.specfile import SpecError

from .test_dse_spec import write_sweep


def row(key: str, lat: float | None = 1.0, error: str | None = None) -> ResultRow:
    out = None if error else f'{{"latency_s": {lat}, "cycles": 7}}'
    return ResultRow(key, "p" + key, "wl", "2:4", '{"rows": 8}', out, error,
                     *((lat, 2.0, 3.0, 4.0, 5.0, 7, 0.5) if not error else (None,) * 7))


def test_round_trip_and_unique_keys(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as st:
        assert st.write("h", [row("a", 1.5), row("b", 2.5), row("c", error="boom")]) == 3
        assert st.write("h", [row("a", 9.9), row("d", 4.0)]) == 1  # "a" exists: ignored, not replaced
        assert st.count() == 4 and st.count(errors=True) == 1
        assert st.existing(["a", "x", "c"]) == {"a", "c"}
    t = load_results(path)
    assert len(t) == 3 and sorted(t["result_key"]) == ["a", "b", "d"]
    assert dict(zip(t["result_key"], t["latency_s"]))["a"] == 1.5
    assert t["rows"].tolist() == [8, 8, 8] and t["nmsim_version"][0]
    assert len(load_results(path, include_errors=True)) == 4
    rows = list(ResultStore(path, readonly=True).rows(errors=True))
    assert rows[0]["error"] == "boom" and rows[0]["outputs"] is None


def test_incompatible_schema_version_is_refused(tmp_path):
    path = tmp_path / "old.sqlite"
    with ResultStore(path) as st:
        st.write("h", [row("a")])
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SpecError) as exc:
        ResultStore(path)
    msg = str(exc.value)
    assert "schema version 0" in msg and f"reads version {SCHEMA_VERSION}" in msg and "new result store" in msg
    with pytest.raises(SpecError):
        load_results(path)


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(SpecError, match="not an nmsim result store"):
        ResultStore(other)
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, this is not a database at all " * 50)
    with pytest.raises(SpecError, match="not an nmsim result store"):
        ResultStore(text)
    with pytest.raises(SpecError, match="no such result store"):
        load_results(tmp_path / "missing.sqlite")


def test_rerun_skips_finished_points_and_retries_errors(tmp_path):
    spec = write_sweep(tmp_path, axes={"rows": [8, 16], "buffer_bytes": [8, 8388608]}, patterns=["2:8"])
    out = tmp_path / "s.sqlite"
    first = run_sweep(spec, out, workers=1, progress=False)
    assert (first.points, first.evaluated, first.skipped, first.rows_written, first.errors) == (4, 4, 0, 4, 2)
    again = run_sweep(spec, out, workers=1, progress=False)
    assert (again.evaluated, again.skipped, again.rows_written, again.errors) == (0, 4, 0, 0)
    retry = run_sweep(spec, out, workers=1, progress=False, retry_errors=True)
    assert (retry.evaluated, retry.skipped, retry.rows_written) == (2, 2, 2)
    with ResultStore(out) as st:
        assert st.count() == 4


def test_a_grown_sweep_reuses_stored_points(tmp_path):
    out = tmp_path / "g.sqlite"
    run_sweep(write_sweep(tmp_path, axes={"rows": [8, 16]}, patterns=["2:8"]), out, workers=1, progress=False)
    grown = run_sweep(write_sweep(tmp_path, axes={"rows": [8, 16, 32]}, patterns=["2:8"]), out, workers=1,
                      progress=False)
    assert (grown.evaluated, grown.skipped) == (1, 2)
    with ResultStore(out) as st:
        assert len(st.sweeps()) == 2 and st.count() == 3


def test_exports_hold_every_row(tmp_path):
    spec = write_sweep(tmp_path, axes={"rows": [8, 16], "buffer_bytes": [8, 8388608]}, patterns=["dense", "2:8"])
    out = tmp_path / "x.sqlite"
    run_sweep(spec, out, workers=1, progress=False)
    n = export_csv(out, tmp_path / "x.csv")
    with open(tmp_path / "x.csv") as fh:
        recs = list(csv.DictReader(fh))
    assert n == len(recs) == 8
    assert sum(1 for r in recs if r["error"]) == 4
    ok = [r for r in recs if not r["error"]]
    assert all(float(r["latency_s"]) > 0 and r["rows"] in ("8", "16") for r in ok)
    pq = pytest.importorskip("pyarrow.parquet")
    assert export_parquet(out, tmp_path / "x.parquet") == 8
    table = pq.read_table(tmp_path / "x.parquet")
    assert table.num_rows == 8 and "latency_s" in table.column_names and "nm_patterns" in table.column_names
    lat = {k: v for k, v in zip(table["result_key"].to_pylist(), table["latency_s"].to_pylist()) if v is not None}
    want = {r["result_key"]: float(r["latency_s"]) for r in ok}
    assert lat == pytest.approx(want)


def test_sweep_is_recorded_with_its_base(tmp_path):
    spec = write_sweep(tmp_path, axes={"rows": [8]}, patterns=["2:8"])
    out = tmp_path / "b.sqlite"
    run_sweep(spec, out, workers=1, progress=False)
    with ResultStore(out) as st:
        (rec,) = st.sweeps()
    sweep = load_sweep(spec)
    assert rec["spec_hash"] == sweep.spec_hash and rec["base_arch"]["name"] == "sat"
    assert rec["spec"]["axes"]["rows"] == [8]
    t = load_results(out)
    assert np.all(t["spec_hash"] == sweep.spec_hash)


def test_replay_rebuilds_stored_designs_from_the_store_alone(tmp_path):
    from nmsim.dse.replay import replay

    spec = write_sweep(tmp_path, axes={"rows": [8, 32], "nm_patterns": ["dense", ["2:4", "2:8"]]},
                       patterns=["dense", "2:8"])
    out = tmp_path / "rp.sqlite"
    run_sweep(spec, out, workers=1, progress=False)
    spec.unlink()  # the store holds spec and base arch; the file is not needed
    t = load_results(out)
    keys = list(t["result_key"][:5])
    for (row, res), key in zip(replay(out, keys), keys):
        assert row["result_key"] == key
        assert res.total["cycles"] == row["outputs"]["cycles"]
        assert res.total["energy_pj"] == pytest.approx(row["outputs"]["energy_pj"], rel=1e-9)
    with pytest.raises(SpecError, match="no successful result"):
        replay(out, ["nope"])
