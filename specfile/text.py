"""Reading user files as text: UTF-8 only, bounded size, one-line errors; CSV rows with their lines.

Every loader reads its file through `read_text` (YAML specs, SCALE-Sim cfg and topology files,
measurement CSVs, calibration text), so a file that is missing, a folder, unreadable, too large
or not UTF-8 is always the same one-line SpecError naming the file (and, for bad bytes, the line).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from .errors import SpecError

# A hand-written spec, a topology or a measurement file is far below this (a 64 MiB measurement
# CSV holds about half a million rows); a larger file is refused before it is read into memory.
MAX_TEXT_BYTES = 64 << 20


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of `path` decoded as UTF-8 (a leading byte-order mark is dropped); SpecError when
    it is missing, a folder, unreadable, larger than MAX_TEXT_BYTES or not UTF-8. `what` names the
    file's role in messages ('SCALE-Sim config file')."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"{path}: {what} not found")
    if p.is_dir():
        raise SpecError(f"{path}: is a folder; give the {what} itself")
    try:
        size = p.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise SpecError(f"{path}: {size:,} bytes; a {what} is at most {MAX_TEXT_BYTES:,} bytes "
                            "(is this the right file?)")
        with p.open("rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > MAX_TEXT_BYTES:  # it grew while being read (a pipe, a device)
        raise SpecError(f"{path}: more than {MAX_TEXT_BYTES:,} bytes; a {what} is smaller")
    return decode_utf8(data, str(path))


def decode_utf8(data: bytes, source: str) -> str:
    """`data` as UTF-8 text; SpecError naming `source`, the line and the byte otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {col}); "
                        "save the file as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def csv_rows(text: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of every record of CSV `text`; csv module errors (a field over the reader's
    131,072-character limit, a NUL byte, a stray quote) become SpecErrors naming `source:line`."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num or 1
            problem = str(exc)
            if "field limit" in problem:
                problem = f"a field is longer than {csv.field_size_limit():,} characters (the CSV reader's limit)"
            raise SpecError(f"{source}:{line}: unreadable CSV: {problem}") from None
        yield reader.line_num, row


def read_csv(path: str | Path, what: str = "CSV file") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line, {column: text})]) of a CSV file with a header line (read_text's rules;
    csv_rows' errors). A row with more fields than the header is an error naming its line;
    missing trailing fields read as ''."""
    rows = csv_rows(read_text(path, what), str(path))
    first = next(rows, None)
    if first is None:
        raise SpecError(f"{path}: empty {what}; it needs a header line")
    header = [h.strip() for h in first[1]]
    out = []
    for line, fields in rows:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) > len(header):
            raise SpecError(f"{path}:{line}: {len(fields)} fields but the header has {len(header)}")
        out.append((line, dict(zip(header, fields + [""] * (len(header) - len(fields))))))
    return header, out
