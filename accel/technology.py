"""Technology tables (accel/tech/*.yaml): one energy basis for every preset on a node.

A systolic arch may name a table (`tech: 45nm`) and price its actions by reference instead of by
number, so two presets on the same node price the same action the same (docs/MODEL.md 3.8):

    energy:
      mac_pj: mac_pj.int8_acc32          # a key of the table's mac_pj (operand and accumulator bits must match)
      per_byte_pj:
        gbuf: sram.1MiB                  # one bank of this size class: read and write pJ/B from the table
        regs: register                   # flip-flops: register.access_pj_per_byte
        dram: dram.LPDDR4                # dram.yaml, pJ/bit x 8
      static_w: leakage.lstp             # SRAM (flavour lstp or hp) + register + MAC leakage from the table

`resolve_references(data)` rewrites such a spec into numbers before validation and records where
each number came from in `energy.sources`. Errors name the field (`energy.per_byte_pj.gbuf: ...`)
so the spec loader can point at the line. The tables are research output with a citation on every
line; `scaling.yaml` documents the node rules they were derived with.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import yaml

TECH_DIR = Path(__file__).parent / "tech"
DRAM_TABLE = "dram"
_NOT_NODES = (DRAM_TABLE, "scaling")
LEAKAGE_FLAVOURS = ("lstp", "hp")
_SIZE = re.compile(r"(\d+)(KiB|MiB|B)")
_MAC_KEY = re.compile(r"^(int|fp)(\d+)_acc(\d+)$")


def tech_names() -> list[str]:
    """Names of the shipped technology tables (file stems), DRAM and scaling tables excluded."""
    return sorted(p.stem for p in TECH_DIR.glob("*.yaml") if p.stem not in _NOT_NODES)


@lru_cache(maxsize=None)
def load_table(name: str) -> dict:
    """The parsed table `accel/tech/<name>.yaml`; ValueError naming the known tables when absent."""
    path = TECH_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"tech: no table '{name}' in accel/tech (tables: {', '.join(tech_names())})")
    return yaml.safe_load(path.read_text())


def size_bytes_of(label: str) -> int:
    """Bytes of a size label such as '32KiB', '1MiB' or 'spad_512B_256x16b' (the first size in it)."""
    m = _SIZE.search(label)
    if m is None:
        raise ValueError(f"no size in '{label}'")
    return int(m.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}[m.group(2)]


def _lookup(table: dict, tech: str, ref: str, field: str):
    """The value at dotted path `ref` of `table`; ValueError naming `field` when missing or a gap."""
    node = table
    for part in ref.split("."):
        if not isinstance(node, dict) or part not in node:
            have = ", ".join(str(k) for k in node) if isinstance(node, dict) else "a number"
            raise ValueError(f"{field}: tech table '{tech}' (accel/tech/{tech}.yaml) has no '{ref}' "
                             f"('{part}' is not among: {have})")
        node = node[part]
    if node is None:
        raise ValueError(f"{field}: tech table '{tech}' has '{ref}' but its value is a gap (null); "
                         "give a number with its source instead")
    return node


def _mac(tech: str, table: dict, ref: str, compute: dict) -> float:
    if not ref.startswith("mac_pj."):
        raise ValueError(f"energy.mac_pj: '{ref}' is not a MAC reference; use mac_pj.<key> "
                         f"(keys: {', '.join(table.get('mac_pj', {}))})")
    key = ref.split(".", 1)[1]
    value = float(_lookup(table, tech, ref, "energy.mac_pj"))
    m = _MAC_KEY.match(key)
    bits = (compute.get("operand_bits", 8), compute.get("accumulator_bits", 32))
    if m and (int(m.group(2)), int(m.group(3))) != bits:
        raise ValueError(f"energy.mac_pj: '{key}' prices {m.group(2)}-bit operands into {m.group(3)}-bit "
                         f"accumulators but compute has operand_bits {bits[0]}, accumulator_bits {bits[1]}")
    return value


def _storage(tech: str, table: dict, ref: str, field: str) -> dict:
    """{read, write} pJ/B of an on-chip storage reference."""
    if ref == "register":
        pj = float(_lookup(table, tech, "register.access_pj_per_byte", field))
        return {"read": pj, "write": pj}
    if ref.startswith(("sram.", "sram_special.")):
        entry = _lookup(table, tech, ref, field)
        return {"read": float(_lookup(entry, tech, "read_pj_per_byte", f"{field} ({ref})")),
                "write": float(_lookup(entry, tech, "write_pj_per_byte", f"{field} ({ref})"))}
    raise ValueError(f"{field}: '{ref}' is not a storage reference; use sram.<class> "
                     f"(classes: {', '.join(k for k in table.get('sram', {}) if k != 'width_bits')}), "
                     "sram_special.<macro> or register")


def _dram(ref: str, field: str) -> dict:
    if not ref.startswith("dram."):
        raise ValueError(f"{field}: '{ref}' is not a DRAM reference; use dram.<type> "
                         f"(types: {', '.join(load_table(DRAM_TABLE)['pj_per_bit'])})")
    kind = ref.split(".", 1)[1]
    pj = 8.0 * float(_lookup(load_table(DRAM_TABLE), DRAM_TABLE, f"pj_per_bit.{kind}", field))
    return {"read": pj, "write": pj}


def _whole(value, field: str) -> int:
    """A count the table pricing multiplies by, as an int; ValueError naming `field` when it is not a
    whole number (the schema would name it too, but only after this pricing ran)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value):
        raise ValueError(f"{field}: expected a whole number, got {value!r:.40}")
    return int(value)


def _level_leak_w(tech: str, table: dict, level: dict, ref: str, flavour: str) -> float:
    """Leakage of one memory level, all instances (W)."""
    where = f"memory '{level.get('name')}'"
    size = _whole(level.get("size_bytes", 0), f"{where}.size_bytes")
    copies = _whole(level.get("instances", 1), f"{where}.instances")
    field = f"energy.static_w (level '{level.get('name')}')"
    if ref == "register":
        nw = float(_lookup(table, tech, "register.leak_nw_per_bit", field))
        return copies * size * 8 * nw * 1e-9
    entry = _lookup(table, tech, ref, field)
    leak = entry.get(f"leak_uw_{flavour}")
    if leak is None:
        raise ValueError(f"{field}: tech table '{tech}' has no {flavour} leakage for {ref}")
    banks = math.ceil(size / size_bytes_of(ref.split(".", 1)[1]))
    return copies * banks * float(leak) * 1e-6


def _static(tech: str, table: dict, ref: str, data: dict, refs: dict, mac_ref) -> float:
    """Leakage power of the whole arch from the table (W): every level and every MAC."""
    flavour = ref.split(".", 1)[1] if ref.startswith("leakage.") else None
    if flavour not in LEAKAGE_FLAVOURS:
        raise ValueError(f"energy.static_w: '{ref}' is not a leakage reference; use leakage.lstp or leakage.hp")
    total = 0.0
    memory = data.get("memory")
    for level in memory if isinstance(memory, list) else []:
        name = level.get("name") if isinstance(level, dict) else None
        if not isinstance(name, str) or name == "dram" or name not in refs:
            continue  # a reserved or unpriced level: the schema's own checks name it
        if not isinstance(refs.get(name), str):
            raise ValueError(f"energy.static_w: '{ref}' needs every level priced from the table, "
                             f"but per_byte_pj.{name} is a number")
        total += _level_leak_w(tech, table, level, refs[name], flavour)
    if not isinstance(mac_ref, str):
        raise ValueError(f"energy.static_w: '{ref}' needs mac_pj from the table (a mac_pj.<key> reference)")
    c = _section(data.get("compute"), "compute")
    macs = _whole(c.get("rows", 0), "compute.rows") * _whole(c.get("cols", 0), "compute.cols") \
        * _whole(c.get("macs_per_pe", 1), "compute.macs_per_pe")
    key = mac_ref.split(".", 1)[1]
    return total + macs * float(_lookup(table, tech, f"mac_leak_uw.{key}", "energy.static_w")) * 1e-6


def has_references(data: dict) -> bool:
    """True when the spec's energy section names table entries instead of numbers (a section of the
    wrong shape has none: the schema names it)."""
    e = data.get("energy") if isinstance(data, dict) else None
    if not isinstance(e, dict):
        return False
    per_byte = e.get("per_byte_pj")
    refs = (list(per_byte.values()) if isinstance(per_byte, dict) else []) + [e.get("mac_pj"), e.get("static_w")]
    return any(isinstance(v, str) for v in refs)


def _section(value, field: str) -> dict:
    """`value` as a mapping ({} when absent); ValueError naming `field` when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{field}: expected a mapping, got {type(value).__name__} ({str(value)[:40]!r})")
    return value


def resolve_references(data: dict) -> dict:
    """A copy of a systolic spec with its tech-table references replaced by numbers and
    `energy.sources` naming the table entry of each (docs/MODEL.md 3.8). Specs without references
    come back unchanged; ValueError (field first) for a bad reference."""
    if not has_references(data):
        return data
    tech = data.get("tech")
    if not tech:
        raise ValueError("tech: energy names table entries (e.g. 'sram.1MiB'); name the table with top-level "
                         f"`tech: <node>` ({', '.join(tech_names())})")
    table = load_table(str(tech))
    energy = dict(data["energy"])
    refs = dict(_section(energy.get("per_byte_pj"), "energy.per_byte_pj"))
    sources = dict(_section(energy.get("sources"), "energy.sources"))
    compute = _section(data.get("compute"), "compute")
    per_byte = {}
    for name, ref in refs.items():
        if not isinstance(ref, str):
            per_byte[name] = ref
            continue
        field = f"energy.per_byte_pj.{name}"
        per_byte[name] = _dram(ref, field) if name == "dram" else _storage(str(tech), table, ref, field)
        sources[name] = f"{ref} (accel/tech/{DRAM_TABLE}.yaml)" if name == "dram" else f"{tech} {ref}"
    energy["per_byte_pj"] = per_byte
    mac_ref = energy.get("mac_pj")
    if isinstance(mac_ref, str):
        sources["mac"] = f"{tech} {mac_ref}"
        energy["mac_pj"] = _mac(str(tech), table, mac_ref, compute)
    if isinstance(energy.get("static_w"), str):
        sources["static"] = f"{tech} {energy['static_w']} (levels and MACs)"
        energy["static_w"] = _static(str(tech), table, energy["static_w"], data, refs, mac_ref)
    energy["sources"] = sources
    return {**data, "energy": energy}
