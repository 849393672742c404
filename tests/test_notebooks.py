"""The analyst notebooks run top to bottom against a live server, in a real Jupyter kernel
(nbclient with ipykernel), and are committed without outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

import test_changes
from conftest import ROOT, Served

NOTEBOOKS = ROOT / "notebooks"
OPEN_NOTEBOOKS = ["01-quick-start.ipynb", "03-reproduce-growth.ipynb"]
PREMIUM_NOTEBOOK = "02-premium-analytics.ipynb"
SYNC_NOTEBOOK = "04-sync-with-changes.ipynb"

changed = test_changes.changed
"""Three releases whose versions of epay-monthly add a month and revise and remove cells, as
monthly publishing does (the release fixture of the changes tests)."""


def run(
    path: Path, served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> nbformat.NotebookNode:
    """Execute every cell; a failing cell raises with its traceback."""
    notebook = nbformat.read(path, as_version=4)
    # The kernel inherits this process's environment: that is how it finds the server.
    monkeypatch.setenv("BAWABA_URL", served.url)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    return notebook


def test_notebooks_are_committed_without_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in paths] == sorted([*OPEN_NOTEBOOKS, PREMIUM_NOTEBOOK, SYNC_NOTEBOOK])
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [], path.name
                assert cell.execution_count is None, path.name


@pytest.mark.parametrize("name", OPEN_NOTEBOOKS)
def test_open_notebook_runs(
    name: str, served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run(NOTEBOOKS / name, served, monkeypatch, tmp_path)


def test_premium_notebook_runs_with_a_key(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BAWABA_API_KEY", served.new_key("business"))
    run(NOTEBOOKS / PREMIUM_NOTEBOOK, served, monkeypatch, tmp_path)


def test_the_sync_notebook_applies_added_revised_and_removed_cells(
    changed: tuple[Served, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notebook = run(NOTEBOOKS / SYNC_NOTEBOOK, changed[0], monkeypatch, tmp_path)
    # The notebook checks its synced copy against a fresh download; here: that it had every
    # kind of change to apply, so the check is not vacuous.
    shown = " ".join(
        str(o.get("data", {}).get("text/plain", "")) + o.get("text", "")
        for c in notebook.cells
        for o in c.get("outputs", [])
    )
    assert "the copy is v1, the current version is v3" in shown
    assert all(kind in shown for kind in ("added", "revised", "removed"))
