"""The input policy, in one place: every file and value a user gives nmsim goes through here.

* files are read as UTF-8 text of bounded size (`read_text`, `read_csv`, `csv_rows`);
* YAML is parsed safely: no aliases, bounded nesting and size, repeated keys refused (`load_yaml`);
* schemas inherit `StrictModel`: unknown keys refused, numbers finite, booleans not numbers,
  integers bounded (`bounded_int`, `bounded_float` add each field's bounds and their reasons);
  `parse_model`/`load_model` turn pydantic errors into one line naming file, line and field;
* text parsers use `parse_int`/`parse_float`/`check_number` with the same rules;
* NPZ arrays are read without pickles, shapes checked before allocation (`load_npz`);
* a file named inside another resolves against its folder and stays inside it unless absolute
  (`referenced_path`);
* outputs are checked before the work and written all or nothing (`Outputs`, `atomic_path`).

`SpecError` is the one exception type the CLI turns into "one line on stderr, exit code 2".
docs/RELIABILITY.md states the policy and its bounds.
"""
from __future__ import annotations

from .arrays import MAX_NPZ_ELEMENTS, load_npz
from .errors import ImpossibleFigure, SpecError, foreign_reader
from .names import closest, did_you_mean
from .numbers import MAX_INT, bounded_float, bounded_int, check_number, parse_float, parse_int
from .outputs import PLOT_SUFFIXES, Outputs, atomic_path, check_output_path, check_plot_path
from .paths import referenced_path
from .schema import StrictModel, load_model, parse_model
from .text import MAX_TEXT_BYTES, csv_rows, decode_utf8, read_csv, read_text
from .yamlfile import MAX_DEPTH, MAX_NODES, check_yaml_text, load_yaml

__all__ = ["SpecError", "ImpossibleFigure", "foreign_reader", "StrictModel", "load_yaml", "parse_model", "load_model", "closest", "did_you_mean",
           "check_plot_path", "PLOT_SUFFIXES", "read_text", "decode_utf8", "read_csv", "csv_rows", "MAX_TEXT_BYTES",
           "MAX_DEPTH", "MAX_NODES", "MAX_INT", "bounded_int", "bounded_float", "parse_int", "parse_float",
           "check_number", "load_npz", "MAX_NPZ_ELEMENTS", "referenced_path", "Outputs", "atomic_path",
           "check_output_path", "check_yaml_text"]
