"""The notebooks in notebooks/ run top to bottom at small parameters; any cell error fails the build.

Each notebook reads NMSIM_NOTEBOOK_SMALL=1 and shrinks its sweep; outputs are kept out of git.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook execution needs the dev extra (make test installs it)")
from nbclient import NotebookClient  # noqa: E402

NB_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))


def test_notebooks_present():
    names = {p.name for p in NOTEBOOKS}
    for want in ("01_quickstart.ipynb", "02_sat_vs_s4_design_space.ipynb", "03_sparsity_quality_speed.ipynb",
                 "04_gpu_validation.ipynb"):
        assert want in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_outputs_stripped(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{path.name} cell {i} carries outputs: strip them before committing (see notebooks/README.md)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_use_only_the_public_api(path):
    """`import nmsim` and the names nmsim/__init__.py lists; no reaching into subpackages."""
    import re

    import nmsim

    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.findall(r"^\s*(?:from|import)\s+nmsim\.", code, re.M), f"{path.name} imports an nmsim subpackage"
    used = set(re.findall(r"\bnmsim\.(\w+)", code))
    assert used and used <= set(nmsim.__all__), f"{path.name} uses names nmsim does not list: {used - set(nmsim.__all__)}"


def test_readme_python_example_uses_only_the_public_api():
    import re

    import nmsim

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    assert "import nmsim" in code and not re.findall(r"(?:from|import)\s+nmsim\.", code)
    assert set(re.findall(r"\bnmsim\.(\w+)", code)) <= set(nmsim.__all__)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("NMSIM_NOTEBOOK_SMALL", "1")
    # The kernel's default inline backend turns every figure into a display_data output.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    if path.name.startswith("04_"):
        # Exercise part 2 (validation) on a synthetic test fixture; never a measurement, never committed.
        from ..sim.test_gpu_model import synthesize

        monkeypatch.setenv("NMSIM_GPU_MEASUREMENTS", str(synthesize(tmp_path / "fixture.csv", tokens=(1, 16, 1024))))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    # Every code cell ran, and the notebook produced something to look at.
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    figures = [o for c in code for o in c.outputs if o.get("output_type") == "display_data"
               and ({"image/png", "image/svg+xml"} & set(o.get("data", {})))]
    assert figures, f"{path.name} drew no figure"
    assert any(o.get("name") == "stdout" for c in code for o in c.outputs)
