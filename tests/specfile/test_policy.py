"""specfile's input policy, unit by unit: text, YAML, numbers, schemas, NPZ, referenced paths,
outputs. The same rules seen through the command line: tests/cli/test_input_policy.py."""
from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field

from nmsim.specfile import (MAX_INT, Outputs, SpecError, StrictModel, atomic_path, bounded_float, bounded_int,
                            check_number, csv_rows, load_npz, load_yaml, parse_float, parse_int, parse_model,
                            read_csv, read_text, referenced_path)


# --- text ---------------------------------------------------------------------------------------------------

def test_read_text_utf8_bom_and_errors(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfname: x\n")
    assert read_text(p) == "name: x\n"
    p.write_bytes(b"ok\nname: \xff\n")
    with pytest.raises(SpecError, match=r"a.txt:2: not UTF-8 text \(byte 0xff at column 7\)"):
        read_text(p)
    with pytest.raises(SpecError, match="not found"):
        read_text(tmp_path / "none")
    with pytest.raises(SpecError, match="is a folder"):
        read_text(tmp_path)


def test_read_text_size_bound(tmp_path, monkeypatch):
    import nmsim.specfile.text as text
    monkeypatch.setattr(text, "MAX_TEXT_BYTES", 10)
    p = tmp_path / "big"
    p.write_text("x" * 11)
    with pytest.raises(SpecError, match="at most 10 bytes"):
        text.read_text(p)


def test_csv_field_limit_and_line(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("a,b\n1,2\n3," + "x" * 140_000 + "\n")
    with pytest.raises(SpecError, match=r"m.csv:3: unreadable CSV: a field is longer than 131,072"):
        read_csv(p)
    assert list(csv_rows("a,b\n\n1,2\n", "t")) == [(1, ["a", "b"]), (2, []), (3, ["1", "2"])]
    p.write_text("a,b\n1,2,3\n")
    with pytest.raises(SpecError, match="m.csv:2: 3 fields but the header has 2"):
        read_csv(p)


# --- YAML ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [
    ("a: &x [1]\nb: *x\n", r"f.yaml:2: YAML alias '\*x' is not accepted"),
    ("a: " + "[" * 65 + "]" * 65 + "\n", "nested more than 64 levels"),
    ("a: 1\nb: 2\na: 3\n", "f.yaml:3: key 'a' repeats line 1"),
    ("a: [1, 2\n", "f.yaml:2: malformed YAML"),
    ("a: \x00\n", "malformed YAML"),
    ("? [a]\n: 1\n", "unhashable key"),
])
def test_yaml_refusals(text, match):
    with pytest.raises(SpecError, match=match):
        load_yaml("f.yaml", text)


def test_yaml_values_and_lines():
    data, lines = load_yaml("f.yaml", "p: 2:4\nq: 1.0e9\nr: 1e5\ns: .inf\nt:\n  - 0x10\n  - 1_000\n")
    assert data == {"p": "2:4", "q": 1e9, "r": 1e5, "s": math.inf, "t": [16, 1000]}
    assert lines[("t", 1)] == 7 and lines[("q",)] == 2


def test_yaml_node_bound(monkeypatch):
    import nmsim.specfile.yamlfile as y
    monkeypatch.setattr(y, "MAX_NODES", 5)
    with pytest.raises(SpecError, match="more than 5 values"):
        y.load_yaml("f", "[1, 2, 3, 4, 5, 6]")


# --- numbers ------------------------------------------------------------------------------------------------

class _M(StrictModel):
    count: bounded_int(1, 100, "a hundred things") = 1
    rate: bounded_float(1.0, 1e6, "why not", lo_open=False) = 1.0
    free: int = 0
    table: dict[str, float] = Field(default_factory=dict)
    items: list[int] = Field(default_factory=list)
    flag: bool = False


@pytest.mark.parametrize("data, match", [
    ({"count": 0}, "count: must be greater than 0"),
    ({"count": 101}, r"count: must be at most 100 \(a hundred things\)"),
    ({"count": True}, "count: true is a boolean, not a number"),
    ({"rate": math.inf}, "rate: Input should be a finite number"),
    ({"rate": 0.5}, r"rate: must be at least 1.0 \(why not\)"),
    ({"free": 2 ** 63}, "free: must be at most 2\\^53"),
    ({"table": {"a": math.nan}}, "table.a: Input should be a finite number"),
    ({"table": {"a": False}}, "table: false is a boolean"),
    ({"items": [1, True]}, "items: true is a boolean"),
])
def test_schema_number_policy(data, match):
    with pytest.raises(SpecError, match=match):
        parse_model(_M, data, "m.yaml", {})


def test_schema_accepts_what_it_should():
    m = parse_model(_M, {"count": 100, "rate": 1e6, "free": -MAX_INT, "table": {"a": 1}, "flag": True}, "m", {})
    assert m.count == 100 and m.flag is True and m.table == {"a": 1.0}


@pytest.mark.parametrize("text, ok", [("12", 12), ("+3", 3), (" 7 ", 7), ("²", None), ("٣", None), ("1_000", None),
                                      ("1.0", None), ("", None), ("9" * 40, None), ("0", None), ("101", None)])
def test_parse_int(text, ok):
    if ok is None:
        with pytest.raises(SpecError, match="^M[ :]"):
            parse_int(text, "M", 1, 100)
    else:
        assert parse_int(text, "M", 1, 100) == ok


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e400", "x", "١"])
def test_parse_float_refuses(text):
    with pytest.raises(SpecError):
        parse_float(text, "d", 0.0, 1.0)


def test_check_number():
    assert check_number(3, "x", 1, 4, integer=True) == 3
    for bad in (True, 2.5, "3", 5):
        with pytest.raises(SpecError, match="^x: "):
            check_number(bad, "x", 1, 4, integer=True)


# --- NPZ ----------------------------------------------------------------------------------------------------

def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_reads_checked_arrays(tmp_path):
    p = _npz(tmp_path / "m.npz", a=np.ones((2, 3), dtype=bool), b=np.zeros((4,), dtype=np.uint8))
    seen = []
    out = load_npz(p, lambda name, shape: seen.append((name, shape)))
    assert sorted(seen) == [("a", (2, 3)), ("b", (4,))] and out["a"].shape == (2, 3)


def test_npz_shape_refused_before_reading(tmp_path):
    p = _npz(tmp_path / "m.npz", a=np.ones((2, 3), dtype=bool))

    def accept(name, shape):
        raise SpecError(f"{name}: no thanks {shape}")
    with pytest.raises(SpecError, match=r"a: no thanks \(2, 3\)"):
        load_npz(p, accept)


def test_npz_hostile(tmp_path):
    p = tmp_path / "m.npz"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones((2, 2), dtype=bool))
    forged = buf.getvalue().replace(b"(2, 2)", b"(9999999, 9999999)"[:6], 1)
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("a.npy", forged)
    with pytest.raises(SpecError, match="damaged|promises"):
        load_npz(p, lambda n, s: None)
    with zipfile.ZipFile(p, "w") as zf:
        obj = io.BytesIO()
        np.lib.format.write_array(obj, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zf.writestr("a.npy", obj.getvalue())
    with pytest.raises(SpecError, match="pickle"):
        load_npz(p, lambda n, s: None)
    p.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SpecError, match="not a readable NPZ file"):
        load_npz(p, lambda n, s: None)
    _npz(p, a=np.ones((1000,), dtype=bool))
    with pytest.raises(SpecError, match="at most 10 are read"):
        load_npz(p, lambda n, s: None, max_elements=10)


# --- referenced paths ---------------------------------------------------------------------------------------

def test_referenced_path_stays_in_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    assert referenced_path("m.npz", tmp_path / "sub", "w") == tmp_path / "sub" / "m.npz"
    assert referenced_path("x/../m.npz", tmp_path / "sub", "w") == tmp_path / "sub" / "x/../m.npz"
    with pytest.raises(SpecError, match="w: '../m.npz' leads outside"):
        referenced_path("../m.npz", tmp_path / "sub", "w")
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    with pytest.raises(SpecError, match="leads outside"):
        referenced_path("up/m.npz", tmp_path / "sub", "w")
    assert referenced_path(str(tmp_path / "m.npz"), tmp_path / "sub", "w") == tmp_path / "m.npz"


# --- outputs ------------------------------------------------------------------------------------------------

def test_atomic_path_replaces_only_on_success(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["r.json"]
    with atomic_path(p) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == tmp_path
        tmp.write_text("new")
    assert p.read_text() == "new"


def test_outputs_all_or_nothing(tmp_path):
    with pytest.raises(SpecError, match="--b .*does not exist"):
        with Outputs() as out:
            out.add(tmp_path / "a.json", "--a")
            out.add(tmp_path / "no" / "b.json", "--b")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyError):
        with Outputs() as out:
            out.path(out.add(tmp_path / "a.json", "--a"))
            out.path(tmp_path / "a.json").write_text("x")
            raise KeyError
    assert list(tmp_path.iterdir()) == []
    with Outputs() as out:
        out.add(tmp_path / "a.json", "--a")
        out.path(tmp_path / "a.json").write_text("x")
        out.add(tmp_path / "d", "--dir", folder=True)
        out.path(tmp_path / "d").mkdir()
        (out.path(tmp_path / "d") / "f").write_text("y")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.json", "d"] and (tmp_path / "d" / "f").exists()


def test_outputs_modes(tmp_path):
    store = tmp_path / "r.sqlite"
    with pytest.raises(ValueError):
        with Outputs() as out:
            assert out.add(store, "--out", mode="resume") == store
            store.write_text("db")
            Path(f"{store}-wal").write_text("wal")
            raise ValueError
    assert list(tmp_path.iterdir()) == []          # created by the failed command: removed
    store.write_text("old rows")
    with pytest.raises(ValueError):
        with Outputs() as out:
            out.add(store, "--out", mode="resume")
            raise ValueError
    assert store.read_text() == "old rows"        # resumed, not created: kept
    with pytest.raises(SpecError, match="same file"):
        with Outputs() as out:
            out.add(tmp_path / "x", "--json")
            out.add(tmp_path / "x", "--csv")
