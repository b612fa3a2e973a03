"""The shipped architecture presets: they load, every number is sourced, and bad input is caught.

Fast: parses the small preset YAML files; no simulation.
"""
from __future__ import annotations

import re

import pytest
import yaml

from nmsim import accel
from nmsim.accel import PRESET_DIR, Arch, load_arch, preset_names
from nmsim.specfile import SpecError, load_model

EXPECTED = {"dense-systolic", "sat", "s4", "t4", "a100", "a100-40gb", "a30", "h100", "h200", "l40s", "rtx3060",
            "rtx4070-ti-super", "rtl-array", "eyeriss", "rtl-soc", "l4", "a10", "rtx3090", "rtx4090", "a100-pcie",
            "h100-pcie", "gh200", "a100-pcie-40gb", "a40"}
PRESETS = sorted(EXPECTED)


@pytest.fixture(scope="module", params=PRESETS)
def preset(request) -> tuple[str, Arch]:
    return request.param, load_arch(request.param)


# --- loading ---------------------------------------------------------------------------------

def test_preset_set_is_exactly_the_shipped_ones():
    assert set(preset_names()) == EXPECTED


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads(name):
    arch = load_arch(name)
    assert isinstance(arch, Arch)
    assert arch.name == name, "a preset's `name` must equal its file stem"
    assert arch.description, "every preset needs a one-line description"
    assert "\n" not in arch.description


def test_load_by_path_equals_load_by_name():
    assert load_arch(PRESET_DIR / "sat.yaml") == load_arch("sat")


# --- the hard rule: every number has a source, an assumption or a derivation ----------------

TAG = re.compile(r"\b(source|assumed|derived):\s*\S")
KEY_LINE = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*)\s*:(?:\s+|$)(.*)$")
ITEM_LINE = re.compile(r"^\s*-\s+(.*)$")
# Identifiers, not quantities: `name: s4` names a preset or a memory level.
EXEMPT_KEYS = {"name"}


def split_comment(line: str) -> tuple[str, str | None]:
    """Split a YAML line into (code, comment); a '#' inside quotes or glued to text is not a comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i + 1:]
    return line, None


def unsourced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every value line that carries a digit but no source/assumed/derived."""
    bad = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code, comment = split_comment(raw)
        if not code.strip():
            continue  # blank or comment-only line
        m = KEY_LINE.match(code)
        if m:
            key, value = m.group(1), m.group(2)
            if key in EXEMPT_KEYS:
                continue
        else:
            item = ITEM_LINE.match(code)
            value = item.group(1) if item else code
        if re.search(r"\d", value) and not (comment and TAG.search(comment)):
            bad.append((lineno, raw))
    return bad


@pytest.mark.parametrize("name", PRESETS)
def test_every_number_is_sourced_assumed_or_derived(name):
    path = PRESET_DIR / f"{name}.yaml"
    bad = unsourced_lines(path.read_text())
    assert not bad, f"{path.name}: numbers without '# source:/assumed:/derived:' comment:\n" + \
        "\n".join(f"  line {n}: {line}" for n, line in bad)


@pytest.mark.parametrize("line", [
    "rows: 32",
    "  rows: 32  # fast enough",
    "  rows: 32  # source:",                      # a tag with nothing after it says nothing
    '    patterns: ["2:4", "2:8"]',
    '    patterns: ["2:4"]  # see the paper',
    "  - 5",
    "description: 'a 32x32 array'",
    "clock_hz: 7.0e+8 # assumed",                 # tag without the colon
    "x: 'has # inside quotes 1'",
    "  size_bytes: 2097152#assumed: glued",        # '#' glued to the value is not a comment
])
def test_rule_checker_flags_unsourced_numbers(line):
    assert unsourced_lines(line), f"checker missed an unsourced number: {line!r}"


@pytest.mark.parametrize("line", [
    "rows: 32  # assumed: scaled down",
    '    patterns: ["2:4", "2:8"]  # source: SAT abstract, 2:8',
    "  bytes_per_s: 3.4e+10  # source: Jouppi et al. 2017, 34 GB/s",
    "  mac_pj: 0.3  # derived: 0.2 + 0.1 pJ (Horowitz 2014)",
    "kind: systolic",
    "dataflows: [ws, os, is]",
    "# a comment with 123 in it",
    "name: s4",
    "  - name: l2",
    "",
])
def test_rule_checker_accepts_sourced_or_numberless_lines(line):
    assert not unsourced_lines(line)


def test_rule_checker_catches_a_number_added_to_a_real_preset():
    text = (PRESET_DIR / "dense-systolic.yaml").read_text()
    assert not unsourced_lines(text)
    text = text.replace("compute:\n", "compute:\n  macs_per_pe_extra: 3\n", 1)
    assert [n for n, _ in unsourced_lines(text)], "added unsourced number went unnoticed"


# --- round trips -----------------------------------------------------------------------------

def test_round_trip_through_model_dump(preset):
    _, arch = preset
    assert Arch.model_validate(arch.model_dump()) == arch


def test_round_trip_through_yaml_text(preset):
    _, arch = preset
    text = yaml.safe_dump(arch.model_dump(), sort_keys=False)
    assert load_model(accel.spec.Arch, "x.yaml", text=text) == arch


# --- sanity checks of the numbers ------------------------------------------------------------

def test_dense_systolic_is_a_32x32_one_mac_array_without_sparsity():
    a = load_arch("dense-systolic")
    assert (a.compute.rows, a.compute.cols, a.compute.macs_per_pe) == (32, 32, 1)
    assert a.peak_macs_per_cycle == 32 * 32
    assert a.sparsity.nm is None and a.sparsity.unstructured is None
    assert a.clock_hz == pytest.approx(700e6)
    assert set(a.compute.dataflows) == {"ws", "os", "is"}


def test_sat_supports_its_2_8_headline_and_fits_the_vu9p():
    a = load_arch("sat")
    assert "2:8" in a.sparsity.nm.patterns and (2, 8) in a.sparsity.nm.pairs()
    assert max(m for _, m in a.sparsity.nm.pairs()) == 16
    assert a.peak_macs_per_cycle <= 6840, "more multipliers than the VU9P has DSP48E2 slices"
    assert a.compute.operand_bits == 16
    # derived: 4 x DDR4-2400 x 8 B
    assert a.dram.bytes_per_s == pytest.approx(4 * 2400e6 * 8)


def test_s4_supports_1_32_and_its_sparse_equivalent_rate_is_about_a_petaop():
    a = load_arch("s4")
    assert "1:32" in a.sparsity.nm.patterns
    assert all(n == 1 for n, _ in a.sparsity.nm.pairs())
    ops_at_1_32 = a.peak_macs_per_cycle * 2 * a.clock_hz * 32
    assert ops_at_1_32 == pytest.approx(944e12, rel=0.01)   # the `derived:` claim in s4.yaml
    assert a.compute.operand_bits == 8


@pytest.mark.parametrize("name", ["a100", "a100-40gb", "a30", "h100", "h200", "l40s", "rtx3060", "rtx4070-ti-super",
                                  "l4", "a10", "rtx3090", "rtx4090", "a100-pcie", "h100-pcie", "gh200", "a100-pcie-40gb",
                                  "a40"])
def test_sparse_tensor_rate_is_twice_dense(name):
    g = load_arch(name).gpu
    assert g.sparse_tensor_flops, f"{name} has 2:4 sparse tensor cores"
    for dtype, rate in g.sparse_tensor_flops.items():
        # datasheets print rounded dense and sparse figures (A30 INT8 330 | 661, L40S FP16 362.05 | 733)
        rel = 1e-9 if name in ("a100", "h100", "h200", "a100-pcie", "gh200", "a100-pcie-40gb") else 0.02
        assert rate == pytest.approx(2 * g.dense_tensor_flops[dtype], rel=rel), dtype
    assert load_arch(name).sparsity.nm.patterns == ["2:4"]


def test_h100_numbers():
    a = load_arch("h100")
    g = a.gpu
    assert g.sparse_tensor_flops["fp16"] == pytest.approx(2 * g.dense_tensor_flops["fp16"])
    assert g.dense_tensor_flops["fp16"] == pytest.approx(989.4e12)
    assert g.sms == 132 and g.hbm_bytes_per_s == pytest.approx(3.35e12)
    # the header's note: published tensor rates correspond to 1830 MHz with 4096 FLOP/clk/SM
    assert g.dense_tensor_flops["fp16"] / (g.sms * 4096) == pytest.approx(1.83e9, rel=1e-3)


def test_a100_and_t4_rates_match_sm_count_times_clock():
    # derived cross-check of datasheet rates: SMs x dense FP16 FLOP/clk/SM x boost clock
    a100, t4 = load_arch("a100").gpu, load_arch("t4").gpu
    assert a100.sms * 2048 * a100.boost_clock_hz == pytest.approx(a100.dense_tensor_flops["fp16"], rel=0.01)
    assert t4.sms * 1024 * t4.boost_clock_hz == pytest.approx(t4.dense_tensor_flops["fp16"], rel=0.01)
    # the L2 rate is the measured sustained one (te42kyfo/gpu-benches): below the whitepaper's 5120 B/clk peak
    assert 0.7 < a100.l2_bytes_per_s / (5120 * a100.boost_clock_hz) < 1


# dense FP16 tensor FLOP/clk/SM: 2048 on GA100, 1024 on data-center GA10x/AD10x (FP32 accumulate at full
# rate), 512 on GeForce GA10x/AD10x (FP32 accumulate at half rate; GA102 and Ada whitepapers), 4096 on
# GH100 (where the datasheet rates correspond to a clock below the boost clock: h100's header note)
@pytest.mark.parametrize("name, flop_per_clk, fp32_lanes, rate_clock_hz", [
    ("l4", 1024, 128, None), ("a10", 1024, 128, None), ("rtx3090", 512, 128, None), ("rtx4090", 512, 128, None),
    ("a100-pcie", 2048, 64, None), ("a100-pcie-40gb", 2048, 64, None), ("a40", 1024, 128, None),
    ("h100-pcie", 4096, 128, 1.62e9), ("gh200", 4096, 128, 1.83e9)])
def test_new_gpu_presets_rates_match_sm_count_times_clock(name, flop_per_clk, fp32_lanes, rate_clock_hz):
    # the derived cross-check of each datasheet figure against SMs x per-SM rate x clock catches a
    # mistyped exponent or a dense figure copied into the sparse column
    g = load_arch(name).gpu
    clock = rate_clock_hz or g.boost_clock_hz
    assert g.sms * flop_per_clk * clock == pytest.approx(g.dense_tensor_flops["fp16"], rel=0.01)
    assert g.sms * fp32_lanes * 2 * g.boost_clock_hz == pytest.approx(g.cuda_core_flops["fp32"], rel=0.02)
    assert g.dense_tensor_flops["int8"] == pytest.approx((4 if flop_per_clk == 512 else 2) * g.dense_tensor_flops["fp16"],
                                                         rel=0.01)
    assert g.l2_bytes < g.hbm_bytes and g.l2_bytes_per_s > g.hbm_bytes_per_s


def test_t4_has_no_nm_support():
    a = load_arch("t4")
    assert a.sparsity.nm is None
    assert a.gpu.sparse_tensor_flops == {}


def test_kinds():
    kinds = {n: load_arch(n).kind for n in PRESETS}
    systolic = {"dense-systolic", "s4", "sat", "rtl-array", "eyeriss", "rtl-soc"}
    assert kinds == {n: "systolic" if n in systolic else "gpu" for n in PRESETS}


# --- bad input: one located SpecError each ---------------------------------------------------

@pytest.mark.parametrize("typo, suggestion", [("sta", "sat"), ("dense-systolc", "dense-systolic"),
                                              ("h10", "h100")])
def test_unknown_preset_suggests_the_closest(typo, suggestion):
    with pytest.raises(SpecError) as exc:
        load_arch(typo)
    msg = str(exc.value)
    assert f"unknown preset '{typo}'" in msg
    assert f"did you mean '{suggestion}'?" in msg


def _write(tmp_path, text: str, name: str = "arch.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing `needle`."""
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in text")


def _mutate(name: str, old: str, new: str) -> str:
    text = (PRESET_DIR / f"{name}.yaml").read_text()
    assert old in text, f"test fixture out of date: {old!r} not in {name}.yaml"
    return text.replace(old, new, 1)


def test_malformed_yaml_names_file_and_line(tmp_path):
    text = "name: broken\nkind: systolic\ncompute:\n  rows: 32\n   cols: 32\n"
    path = _write(tmp_path, text, "broken.yaml")
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:5: malformed YAML"), msg


def test_unclosed_bracket_names_file_and_a_line(tmp_path):
    path = _write(tmp_path, "name: broken\ncompute:\n  dataflows: [ws, os\n  rows: 4\n", "open.yaml")
    with pytest.raises(SpecError, match=r"open\.yaml:\d+: malformed YAML"):
        load_arch(path)


def test_unknown_field_names_it_and_suggests_rows(tmp_path):
    text = _mutate("dense-systolic", "compute:\n", "compute:\n  rowz: 4  # assumed: typo under test\n")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    line = _line_of(text, "rowz")
    assert str(exc.value).startswith(
        f"{path}:{line}: compute.rowz: unknown field 'rowz' (did you mean 'rows'?)"), str(exc.value)


def test_missing_required_field(tmp_path):
    text = _mutate("dense-systolic", "  rows: 32  #", "  # removed rows: 32  #")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    line = _line_of(text, "compute:")
    assert str(exc.value).startswith(f"{path}:{line}: compute.rows: required field is missing"), str(exc.value)


def test_negative_rows(tmp_path):
    text = _mutate("sat", "  rows: 32  #", "  rows: -4  #")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    line = _line_of(text, "rows: -4")
    assert msg.startswith(f"{path}:{line}: compute.rows: "), msg
    assert "greater than 0" in msg and "-4" in msg


def test_impossible_nm_pattern(tmp_path):
    text = _mutate("sat", '["1:2", ', '["5:4", ')
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    line = _line_of(text, "patterns:")
    assert msg.startswith(f"{path}:{line}: sparsity.nm.patterns: "), msg
    assert "'5:4'" in msg and "cannot exceed" in msg


def test_energy_per_byte_missing_a_level(tmp_path):
    text = _mutate("dense-systolic", "    gbuf: sram.1MiB  #", "    # gbuf: sram.1MiB  #")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", msg), msg
    assert "per_byte_pj lacks ['gbuf']" in msg


def test_dram_is_a_reserved_level_name(tmp_path):
    text = _mutate("s4", "  - name: gbuf", "  - name: dram")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    line = _line_of(text, "- name: dram")
    assert msg.startswith(f"{path}:{line}: memory.0.name: "), msg
    assert "reserved" in msg


def test_gpu_dtype_without_a_rate(tmp_path):
    text = _mutate("t4", "  dtype: fp16  #", "  dtype: bf16  #")
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_arch(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}:{_line_of(text, 'gpu:')}: gpu: "), msg
    assert "'bf16' has no entry in dense_tensor_flops" in msg
