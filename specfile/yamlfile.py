"""Safe YAML: text -> (data, key path -> line), bounded and without surprises.

On top of PyYAML's SafeLoader (no object construction):

* aliases (`*name`) are refused: nine levels of nine aliases expand to 9^9 values from a few
  hundred bytes (an "alias bomb"); spec files never need them (merge keys `<<: *x` included);
* nesting deeper than MAX_DEPTH and more than MAX_NODES values are refused before they are
  built (PyYAML composes recursively: 1,000 levels end in RecursionError);
* a key repeated in one mapping is refused (PyYAML keeps the last one silently);
* `2:4` is the string '2:4', not YAML 1.1's base-60 integer 124 (N:M patterns are written that
  way), and `1e9` is a float as in YAML 1.2 (YAML 1.1 wants `1.0e+9`); other scalars resolve as
  YAML 1.1 (true/false, ints, floats with a dot, .inf, .nan, ...).

Finite numbers and bounds are the schemas' business (specfile.schema, specfile.numbers).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError
from .text import read_text

# Spec files nest a few levels (a sweep: axes -> range -> values); 64 leaves room for any hand-written file.
MAX_DEPTH = 64
# Values (scalars and collections) of one file: the largest zoo workload written out has a few thousand.
MAX_NODES = 1_000_000

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when present (7x faster)
    """SafeLoader (libyaml's when installed) whose scalars resolve without YAML 1.1's base 60."""


def check_yaml_text(text: str, label: str) -> None:
    """SpecError for an alias, nesting deeper than MAX_DEPTH or more than MAX_NODES values, found
    from the parser's event stream before any node is built (the composer recurses per level).
    load_yaml calls it; readers with loaders of their own (Timeloop's tags) call it first."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise SpecError(f"{label}:{event.start_mark.line + 1}: YAML alias '*{event.anchor}' is not accepted "
                            "(aliases can expand without bound); write the value out")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            nodes += 1
            if nodes > MAX_NODES:
                raise SpecError(f"{label}:{event.start_mark.line + 1}: more than {MAX_NODES:,} values; "
                                "a spec file is smaller")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"{label}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep; "
                                "a spec file is flatter")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _without_base60(resolvers: dict) -> dict:
    """The implicit resolvers minus YAML 1.1's base-60 ints and floats (so 2:4 stays a string)."""
    out = {}
    for first, pairs in resolvers.items():
        out[first] = [(tag, rx) for tag, rx in pairs if tag not in (_INT, _FLOAT)]
    return out


_Loader.yaml_implicit_resolvers = _without_base60(yaml.SafeLoader.yaml_implicit_resolvers)
_Loader.add_implicit_resolver(_INT, re.compile(r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X), list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))


def _line_index(node: yaml.Node, label: str, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map every key path of a composed YAML tree to its 1-based line; SpecError on a repeated key."""
    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise SpecError(f"{label}:{line}: key '{key}' repeats line {seen[key]}; keep one")
            seen[key] = line
            out[path + (key,)] = line
            _line_index(value_node, label, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = item.start_mark.line + 1
            _line_index(item, label, path + (i,), out)
    return out


def load_yaml(source: str | Path, text: str | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse a YAML file (or `text` labelled `source`) into data plus a key-path -> line map.

    Raises SpecError for a missing or unreadable file, text that is not UTF-8, malformed YAML,
    aliases, nesting deeper than MAX_DEPTH or a repeated key, naming the file and line.
    """
    label = str(source)
    if text is None:
        text = read_text(source, "file")
    loader = None
    try:
        check_yaml_text(text, label)
        loader = _Loader(text)
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except SpecError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: malformed YAML: {problem}") from None
    except (ValueError, OverflowError) as exc:  # e.g. a timestamp like 2024-13-45, a float beyond range
        raise SpecError(f"{label}: malformed YAML value: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines = _line_index(node, label) if node is not None else {}
    return data, lines
