"""Structure-aware mutations: parsed documents (YAML trees, CSV rows, INI lines), strings and bytes.

Every function takes `rng`, a `random.Random` (hypothesis hands one in through `st.randoms()`, so
its choices shrink; the long run seeds its own), and returns a new value; inputs are not changed.
"""
from __future__ import annotations

import copy
import math
import random
from typing import Any

# Values chosen to hit bounds, types and parsers: zero, signs, int64 and float64 edges, booleans,
# empty and odd strings, Unicode digits, containers where scalars belong.
INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 8, 31, 32, 33, 64, 1000, 65536, 65537, 2 ** 31 - 1, 2 ** 31, 2 ** 32,
                    2 ** 53, 2 ** 53 + 1, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64, 10 ** 30, -(2 ** 63)]
INTERESTING_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, 1e-300, 5e-324, 1e-9, 1e9, 1e18, 1e21, 1e22, 1e300, 1e308,
                      math.inf, -math.inf, math.nan]
INTERESTING_STRINGS = ["", " ", "x", "dense", "2:4", "1:32", "0:4", "5:4", "²:4", "2:٤", "1:1025", "ws", "os", "is",
                       "nmk", "kkk", "true", "null", "-1", "1e400", "nan", "../x", "/etc/passwd", "a" * 300,
                       "😀", "\t", "unstructured:0.5", "block:4x4:0.5", "2:4@N", "as-given"]
OTHER_VALUES = [True, False, None, [], {}, [1, 2], {"a": 1}, [[[]]]]


def interesting(rng: random.Random, like: Any = None) -> Any:
    """A value from the interesting pools, most often of the same kind as `like`."""
    if rng.random() < 0.7:
        if isinstance(like, bool):
            return _fresh(rng.choice(OTHER_VALUES + [0, 1, "yes"]))
        near = rng.random() < 0.4  # a value near the old one: often still valid, exercising the model
        if isinstance(like, int):
            if near:
                return max(1, int(like * rng.choice([0.5, 2, 3, 4, 16])) + rng.choice([0, 0, 1, -1]))
            return rng.choice(INTERESTING_INTS + [like * 2, like // 2, like + 1, like - 1])
        if isinstance(like, float):
            if near:
                return like * rng.choice([0.5, 2.0, 4.0, 0.1, 10.0, 1e3])
            return rng.choice(INTERESTING_FLOATS + [like * 2, like / 2, like * 1e6, -like])
        if isinstance(like, str):
            return rng.choice(INTERESTING_STRINGS + [like + "x", like[:-1], like.upper(), like * 3])
    pool = rng.choice([INTERESTING_INTS, INTERESTING_FLOATS, INTERESTING_STRINGS, OTHER_VALUES])
    return _fresh(rng.choice(pool))


def _fresh(value: Any) -> Any:
    """A copy of a pool value: the pools' lists and dicts must not be shared by the trees they go
    into, or a later edit of one tree (an appended item) changes the pool and every later case of
    the process (the long run once grew one past Python's recursion limit)."""
    return copy.deepcopy(value)


def _paths(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every key path in a tree of dicts and lists (the root included)."""
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _paths(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _paths(v, path + (i,))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def mutate_tree(rng: random.Random, tree: Any, steps: int | None = None) -> Any:
    """`tree` after 1..3 structural edits: replace a value (interesting or of another type),
    delete or add (unknown, misspelled) keys, drop or repeat list items, scale a number."""
    tree = copy.deepcopy(tree)
    for _ in range(steps or rng.choice([1, 1, 1, 1, 1, 1, 1, 2, 2, 3])):
        paths = _paths(tree)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.1:
                tree = interesting(rng)
            continue
        parent, key = _get(tree, path[:-1]), path[-1]
        value = parent[key]
        op = rng.random()
        if op < 0.45:
            parent[key] = interesting(rng, value)
        elif op < 0.55 and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = value * rng.choice([2, 10, 1000, 0.5, 1e-3, -1])
        elif op < 0.65:
            del parent[key]
        elif op < 0.75 and isinstance(parent, dict):
            new = rng.choice([str(key) + "s", str(key)[:-1] or "k", "unknown_field", str(key).upper()])
            parent[new] = parent.pop(key)
        elif op < 0.82 and isinstance(parent, dict):
            parent[rng.choice(["extra", "kind", "name", "M", "tile_m", "rows"])] = interesting(rng)
        elif op < 0.9 and isinstance(value, list):
            if value and rng.random() < 0.5:
                value.append(copy.deepcopy(rng.choice(value)))
            else:
                value.clear()
        elif isinstance(value, dict) and value:
            del value[rng.choice(list(value))]
        else:
            parent[key] = _fresh(rng.choice(OTHER_VALUES))
    return tree


def scale_numbers(rng: random.Random, tree: Any) -> Any:
    """`tree` with 1..4 of its numbers scaled (x0.5 .. x1000, ints kept ints and >= 1): mostly
    still valid, so the case reaches the cost model with an unusual design or layer."""
    tree = copy.deepcopy(tree)
    nums = [p for p in _paths(tree) if p and isinstance(_get(tree, p), (int, float)) and not isinstance(_get(tree, p), bool)]
    for path in rng.sample(nums, min(len(nums), rng.randint(1, 4))):
        parent = _get(tree, path[:-1])
        v = parent[path[-1]]
        f = rng.choice([0.5, 2, 4, 10, 1000, 0.25, 0.001, 3])
        parent[path[-1]] = max(1, int(v * f)) if isinstance(v, int) else v * f
    return tree


# --- text and bytes --------------------------------------------------------------------------------------

def mutate_text_lines(rng: random.Random, text: str) -> str:
    """`text` with a line deleted, repeated, swapped, cut, or a field replaced by an interesting
    value (fields split on ',', ':' or '=')."""
    lines = text.splitlines()
    if not lines:
        return str(interesting(rng))
    i = rng.randrange(len(lines))
    op = rng.random()
    if op < 0.15:
        del lines[i]
    elif op < 0.3:
        lines.insert(i, lines[i])
    elif op < 0.4:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op < 0.5:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        for sep in (",", ":", "="):
            if sep in lines[i]:
                parts = lines[i].split(sep)
                k = rng.randrange(len(parts))
                old = parts[k].strip()
                like: Any = int(old) if old.lstrip("-").isdigit() else old
                parts[k] = " " + str(interesting(rng, like))
                lines[i] = sep.join(parts)
                break
        else:
            lines[i] = str(interesting(rng, lines[i]))
    return "\n".join(lines) + ("\n" if rng.random() < 0.8 else "")


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """`data` damaged at the byte level: invalid UTF-8, a NUL, truncation, a flipped byte, a BOM,
    or a huge line."""
    op = rng.random()
    b = bytearray(data)
    if op < 0.25 and b:
        b.insert(rng.randrange(len(b)), rng.choice([0xFF, 0xFE, 0xC3, 0x80, 0xED]))
    elif op < 0.35 and b:
        b.insert(rng.randrange(len(b)), 0)
    elif op < 0.55:
        b = b[: rng.randrange(len(b) + 1)]
    elif op < 0.7 and b:
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif op < 0.8:
        b = bytearray(b"\xef\xbb\xbf") + b
    else:
        b += b"x" * rng.choice([200_000, 140_000]) + b"\n"
    return bytes(b)


def hostile_yaml(rng: random.Random) -> str:
    """YAML built to exhaust a naive loader: alias bombs, deep nesting, repeated keys, merge keys."""
    kind = rng.randrange(5)
    if kind == 0:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
        return "\n".join(lines) + "\n"
    if kind == 1:
        depth = rng.choice([70, 1000, 5000])
        return "name: " + "[" * depth + "]" * depth + "\n"
    if kind == 2:
        return "name: a\nname: b\n"
    if kind == 3:
        return "base: &b {rows: 4}\ncompute:\n  <<: *b\n"
    return "- " * rng.choice([100, 2000]) + "x\n"
