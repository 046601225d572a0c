"""notebooks/quickstart.ipynb runs top to bottom (no server) and shows what it promises."""

import nbformat
from nbclient import NotebookClient

from tests.e2e.conftest import ROOT


def test_quickstart_notebook_executes(data_dir_copy, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(data_dir_copy))
    notebook = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    outputs = "\n".join(
        out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "route: knowledge" in outputs, outputs
    assert "sources: " in outputs and "checkpointed messages: 2" in outputs, outputs
