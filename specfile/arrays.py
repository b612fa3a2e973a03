"""NPZ files of user arrays (weight masks): read without pickles, shapes checked before allocation.

`np.load` trusts the file: a member's header may claim any shape (a few bytes that ask for
9 TiB), hold pickled objects, or be truncated; a file that is not a zip raises zip/numpy errors.
`load_npz` reads each member's header first, asks the caller whether that name, shape and dtype
are wanted, checks that the member holds exactly the bytes the header promises, and only then
reads it (with allow_pickle=False). Every problem is a one-line SpecError naming the file and
member.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import SpecError

# Elements of all arrays of one file together: a mask of a 4096 x 11008 layer has 45M; the
# largest zoo model's masks together stay below this (1 bit per element read as 1 byte: 4 GiB).
MAX_NPZ_ELEMENTS = 1 << 32


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from a member's .npy header, without reading its data."""
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        except Exception as exc:  # numpy parses the header as Python text: any error means a damaged one
            raise SpecError(f"{label}: damaged .npy header ({type(exc).__name__}); write the file with numpy.savez") \
                from None
        offset = fh.tell()
    if dtype.hasobject:
        raise SpecError(f"{label}: holds Python objects (a pickle); masks are boolean arrays")
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise SpecError(f"{label}: dtype {dtype} is not a mask's (bool, or 0/1 integers)")
    if any(d < 0 for d in shape):
        raise SpecError(f"{label}: negative dimension in shape {shape}")
    want = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != want:
        raise SpecError(f"{label}: header promises shape {shape} ({want:,} bytes with the header) but the member "
                        f"holds {info.file_size:,} bytes; the file is damaged")
    return tuple(int(d) for d in shape), dtype


def load_npz(path: str | Path, accept: Callable[[str, tuple[int, ...]], None],
             max_elements: int = MAX_NPZ_ELEMENTS) -> dict[str, np.ndarray]:
    """{name: array} of an NPZ file. `accept(name, shape)` is called for each member before any
    data is read and raises SpecError for a name or shape the caller does not want; arrays are
    read only after every header passed and their total elements are at most `max_elements`."""
    label = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(f"{label}: file not found")
    try:
        with zipfile.ZipFile(p) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            headers = {}
            for info in members:
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if not info.filename.endswith(".npy"):
                    raise SpecError(f"{label}: member '{info.filename}' is not a .npy array")
                shape, dtype = _header(zf, info, f"{label}: array '{name}'")
                accept(name, shape)
                headers[name] = (info, shape)
            total = sum(int(np.prod(s, dtype=object)) for _, s in headers.values())
            if total > max_elements:
                raise SpecError(f"{label}: {total:,} elements in all; at most {max_elements:,} are read")
            out = {}
            for name, (info, shape) in headers.items():
                with zf.open(info) as fh:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
            return out
    except SpecError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, OSError,
            NotImplementedError, KeyError) as exc:
        raise SpecError(f"{label}: not a readable NPZ file ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:80] if str(exc) else 'damaged'}); write it with numpy.savez") from None
