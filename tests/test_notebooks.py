"""The notebooks of examples/ run from the first cell to the last without an error, draw every
figure they show, and are committed with their outputs stripped.

Each notebook runs in a kernel of the interpreter running the tests (a kernel spec written
for the test, so a "python3" kernel registered elsewhere on the machine cannot be picked up
instead), in a fresh temporary working directory.

The kernel runs torch on one thread (OMP_NUM_THREADS=1 unless it is set): the notebooks train
tiny models, and two OpenMP threads on cores shared with other work wait on each other. On a
busy 2-core machine (load 2-4) the three notebooks took 79, 43 and 50 s with two threads, and
about 20, 20 and 15 s with one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell; a whole notebook takes well under a minute
KERNEL = "weightinit-tests"


def test_the_examples_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_the_lecture.ipynb",
        "02_initialize_your_own_model.ipynb",
        "03_decision_boundaries.ipynb",
        "04_signal_propagation.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for i, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}, cell {i} carries outputs: clear them (Jupyter: Edit > Clear Outputs of All Cells, "
                f"then save; or jupyter nbconvert --clear-output --inplace {path.relative_to(EXAMPLES.parent)})")


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec that starts ipykernel with this very interpreter, found first on JUPYTER_PATH."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "weightinit tests",
        "language": "python",
        "env": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.slow
def test_runs_without_error(path: Path, kernel: str, tmp_path: Path):
    notebook = nbformat.read(path, as_version=4)
    workdir = tmp_path / "work"
    workdir.mkdir()
    # allow_errors=False (the default): the first cell that raises fails the test with its traceback
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name=kernel,
                   resources={"metadata": {"path": str(workdir)}}).execute()
    for i, cell in enumerate(notebook.cells):
        shows = cell.source.splitlines().count("plt.show()") if cell.cell_type == "code" else 0  # top-level calls
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) >= shows, f"{path.name}, cell {i}: {shows} figure(s) shown, {len(images)} drawn"
