"""Every notebook executes headless (nbclient) against the solutions, is stored clean, and has the
sections the task catalog sends students to."""


import nbformat
import pytest
from nbclient import NotebookClient

from workbook import catalog
from workbook.paths import NOTEBOOKS

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def headings(notebook) -> set[str]:
    found = set()
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            found |= {line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")}
    return found


def test_every_lab_has_its_notebook():
    names = {path.name for path in NOTEBOOK_FILES}
    for lab in catalog.labs().values():
        assert lab.notebook in names, f"{lab.name}'s catalog names {lab.notebook}, which does not exist"


@pytest.mark.parametrize("lab", list(catalog.labs().values()), ids=lambda lab: lab.name)
def test_catalog_sections_exist_in_the_notebook(lab):
    found = headings(nbformat.read(NOTEBOOKS / lab.notebook, as_version=4))
    missing = [t.section for t in lab.tasks.values() if t.section not in found]
    assert not missing, f"{lab.notebook} has no heading for {missing}"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_executes_against_the_solutions(path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_TARGET", "solutions")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
