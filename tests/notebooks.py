"""Running the notebooks in analysis/ against a sweep, as a user would in Jupyter."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("sweep_overview", "learning_curves", "policy")


def run_notebook(name: str, sweep: str, workdir: Path, monkeypatch) -> list[dict]:
    """Execute analysis/NAME.ipynb top to bottom on ``sweep``; returns every cell output."""
    monkeypatch.setenv("A2C_RAY_SWEEP", str(sweep))
    monkeypatch.setenv("A2C_RAY_GIF_DIR", str(workdir))
    # the kernel runs in ``workdir``: a sweep of the tests' own network (tests.networks)
    # imports it from the repository, as a user's kernel imports theirs from their project
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [
        str(ROOT), os.environ.get("PYTHONPATH", "")])))
    nb = nbformat.read(ROOT / "analysis" / f"{name}.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed clean
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    return outputs
