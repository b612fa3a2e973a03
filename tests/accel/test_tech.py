"""Technology tables (accel/tech/, docs/MODEL.md 3.8): every entry sourced, the node tables quote the
scaling rules they were derived with, presets on one node price one action the same, and a bad
reference is one located error."""
from __future__ import annotations

import re

import pytest
import yaml

from nmsim.accel import PRESET_DIR, load_arch, preset_names
from nmsim.accel.technology import DRAM_TABLE, TECH_DIR, load_table, tech_names
from nmsim.specfile import SpecError

from .test_presets import TAG, split_comment


def test_tables_load_and_every_number_is_sourced():
    assert {"45nm", "65nm", "28nm", "16nm", "7nm", "fpga_ultrascale_plus"} <= set(tech_names())
    for path in TECH_DIR.glob("*.yaml"):
        for lineno, raw in enumerate(path.read_text().splitlines(), 1):
            code, comment = split_comment(raw)
            m = re.match(r"^\s*[\w.-]+\s*:\s*(-?[\d.]+(?:e[+-]?\d+)?)\s*$", code)
            if m:  # a number: it must say where it comes from
                assert comment and (TAG.search(comment) or "unverified" in comment), f"{path.name}:{lineno}: {raw}"


def test_node_tables_quote_the_scaling_rules():
    rules = yaml.safe_load((TECH_DIR / "scaling.yaml").read_text())["node_logic"]["energy_factor_vdd_0p8"]
    for node in ("65nm", "28nm", "16nm", "7nm"):
        table = load_table(node)
        assert table["scaling"]["energy_factor_from_45nm"] == pytest.approx(rules[f"45->{node[:-2]}"], rel=1e-3)
        # every derived MAC is the 45 nm anchor times that factor
        assert table["mac_pj"]["int8_acc32"] == pytest.approx(
            load_table("45nm")["mac_pj"]["int8_acc32"] * rules[f"45->{node[:-2]}"], rel=2e-3)


def test_fpga_table_has_no_figures_to_reference():
    fpga = load_table("fpga_ultrascale_plus")
    assert fpga["dsp48e2_mac_pj"]["int8"] is None and fpga["bram36_pj_per_access_72b"] is None


def test_presets_on_one_node_price_one_action_the_same():
    by_node: dict = {}
    for name in preset_names():
        arch = load_arch(name)
        src = getattr(arch, "energy", None)
        if src is None or not src.sources:
            continue
        for action, ref in src.sources.items():
            value = src.mac_pj if action == "mac" else None
            if value is not None:
                by_node.setdefault(ref, set()).add(value)
    assert by_node["45nm mac_pj.int8_acc32"] == {0.3}  # dense-systolic and rtl-array
    assert all(len(v) == 1 for v in by_node.values())


def test_presets_state_their_energy_basis():
    assert load_arch("dense-systolic").energy_basis() == "tech 45nm"
    assert load_arch("s4").energy_basis() == "tech 16nm"
    assert load_arch("eyeriss").energy_basis() == "tech 65nm"
    assert load_arch("sat").energy_basis() == "assumed numbers"  # no FPGA figures reachable
    dram = load_table(DRAM_TABLE)["pj_per_bit"]
    assert load_arch("s4").energy.read_pj("dram") == 8 * dram["LPDDR4"]
    gbuf = load_table("45nm")["sram"]["1MiB"]
    e = load_arch("dense-systolic").energy
    assert (e.read_pj("gbuf"), e.write_pj("gbuf")) == (gbuf["read_pj_per_byte"], gbuf["write_pj_per_byte"])


def _mutated(tmp_path, old: str, new: str, name: str = "dense-systolic"):
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    assert old in text, f"fixture out of date: {old!r}"
    path = tmp_path / "arch.yaml"
    path.write_text(text.replace(old, new))
    return path, text.replace(old, new)


@pytest.mark.parametrize("old, new, field, needle", [
    ("mac_pj: mac_pj.int8_acc32", "mac_pj: mac_pj.int4_acc32", "energy.mac_pj", "has no 'mac_pj.int4_acc32'"),
    ("gbuf: sram.1MiB", "gbuf: sram.2MiB", "energy.per_byte_pj.gbuf", "has no 'sram.2MiB'"),
    ("dram: dram.DDR3", "dram: dram.DDR4", "energy.per_byte_pj.dram", "value is a gap"),
    ("mac_pj: mac_pj.int8_acc32", "mac_pj: mac_pj.int16_acc16", "energy.mac_pj", "16-bit operands"),
    ("tech: 45nm", "tech: 3nm", "tech", "no table '3nm'"),
])
def test_bad_references_name_file_line_and_field(tmp_path, old, new, field, needle):
    path, text = _mutated(tmp_path, old, new)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:"), msg
    assert f": {field}" in msg and needle in msg, msg
    line = int(msg[len(str(path)) + 1:].split(":")[0])
    assert new in text.splitlines()[line - 1], (line, msg)  # the error points at the bad line


def test_reference_without_a_table_is_refused(tmp_path):
    path, _ = _mutated(tmp_path, "tech: 45nm  #", "# tech: 45nm  #")
    with pytest.raises(SpecError, match="name the table with top-level `tech: <node>`"):
        load_arch(path)


@pytest.mark.parametrize("old, new, needle", [
    # the fuzzer's shapes (tests/fuzz, kind "arch"): a section that is not a mapping, a count that is
    # not a number, priced from the table before the schema runs
    ("  per_byte_pj:\n    gbuf: sram.1MiB", "  per_byte_pj: 1.0e-300\n  unused:\n    gbuf: sram.1MiB", "per_byte_pj"),
    ("  per_byte_pj:\n    gbuf: sram.1MiB", "  per_byte_pj: [a, b]\n  unused:\n    gbuf: sram.1MiB", "per_byte_pj"),
    ("  rows: 32", "  rows: thirty-two", "compute.rows"),
    ("    size_bytes: 16384", "    size_bytes: [16384]", "size_bytes"),
    ("    instances: 32", "    instances: 3.5", "instances"),
    ("  - name: acc", "  - name: [acc]", "name"),
])
def test_malformed_sections_beside_references_are_one_line(tmp_path, old, new, needle):
    path, _ = _mutated(tmp_path, old, new)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}") and needle in msg and "\n" not in msg, msg
