"""Every notebook executes headless (nbclient), once against the solutions and once against the untouched
starters; it is stored clean and has the sections the task catalog sends students to.

* Against the **solutions**: no error output, no "not done yet" line, and every measurable claim of a demo
  holds. A claim lives in its cell's metadata, ``{"workbook": {"claims": ["expression", ...]}}``; right after
  that cell runs, each expression is evaluated in the same kernel (``output`` is the cell's printed text),
  so a demo can never again contradict the text around it. Claims compare with generous factors: they
  must hold on a busy 2-core machine.
* Against the **starters** (what a student meets on day one): Run All reaches the end with no error
  output, and every unfinished exercise a try-it cell calls prints one "Task N.K — … is not done yet" line
  (``workbook.checkkit.notebook.your_code``) instead of a traceback.

Each notebook's last cell runs the lab's checks; here it only collects them (``--collect-only``): running
them is what tests/meta/test_checks_are_real.py does, on both targets.

No notebook has a wall-clock budget as a whole: a run fails only when it stops making progress (one cell running
for ``CELL_SECONDS``), or when the kernel does not start or a cell's output does not arrive within limits far
beyond what a loaded 2-core machine needs (nbclient's defaults, 60 s and 4 s, are not: past its ``iopub_timeout``
nbclient silently drops the rest of a cell's output, and a claim would then fail on a slow machine only).
"""

import json
import os
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.runner import BACKSTOP, IDLE_SECONDS
from workbook import catalog
from workbook.paths import NOTEBOOKS, ROOT

NOTEBOOK_FILES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
NOT_DONE = re.compile(r"^Task (\d+\.\d+) — (.+) is not done yet: open (\S+?),? then re-run this cell\.$", re.M)
CLAIMS_MARK = "__workbook_claims__"
CELL_SECONDS = 300  # the longest one cell may run (the progress measure: a notebook may take as many cells as it has)

# The "not done yet" lines Run All prints on the untouched starters, in order: one per unfinished exercise
# the try-it cells reach.
NOT_DONE_ON_THE_STARTERS = {
    "01_asyncio.ipynb": ["1.1", "1.2", "1.3"],
    "02_event_loop.ipynb": ["2.1", "2.2", "2.3", "2.4"],
    "03_persistence.ipynb": ["3.1", "3.2", "3.1"],
    "04_lifespan_registry.ipynb": ["4.1"],
    "05_validation.ipynb": ["5.1"],
    "06_background_tasks.ipynb": ["6.1", "6.2", "6.4"],
    "07_middleware_auth.ipynb": ["7.1", "7.2", "7.3", "7.4"],
    "08_caching.ipynb": ["8.2"],
    "09_serving_at_scale.ipynb": ["9.7", "9.1", "9.2", "9.6", "9.8"],
    "10_production.ipynb": ["10.1", "10.5"],
    "11_embeddings.ipynb": ["11.1", "11.2", "11.3", "11.4", "11.5", "11.7"],
    "12_ray_serve.ipynb": ["12.3", "12.1", "12.2", "12.3", "12.4"],
}


def headings(notebook) -> list[tuple[int, str]]:
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    found.append((len(line) - len(line.lstrip("#")), line.lstrip("#").strip()))
    return found


def claims_of(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("workbook", {}).get("claims", []))


def claim_source(claims: list[str], output: str) -> str:
    """Code evaluated in the kernel right after a cell with claims; prints one JSON line of verdicts."""
    return (
        "def __workbook_check_claims__(claims, output):\n"
        "    import json\n"
        "    verdicts = []\n"
        "    for claim in claims:\n"
        "        try:\n"
        "            verdicts.append([claim, bool(eval(claim, {**globals(), 'output': output})), ''])\n"
        "        except Exception as error:\n"
        "            verdicts.append([claim, False, f'{type(error).__name__}: {error}'])\n"
        f"    print({CLAIMS_MARK!r} + json.dumps(verdicts))\n"
        f"__workbook_check_claims__({claims!r}, {output!r})\n"
        "del __workbook_check_claims__\n"
    )


class ClaimingClient(NotebookClient):
    """Executes a notebook; after each cell with claims, evaluates them in the same kernel."""

    def __init__(self, notebook, check_claims: bool, **kwargs):
        super().__init__(notebook, **kwargs)
        self.check_claims = check_claims
        self.verdicts: list[tuple[str, str, list]] = []  # (cell id, the cell's output, [claim, ok, error])

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        claims = claims_of(cell)
        if self.check_claims and claims and cell.cell_type == "code":
            output = printed(cell)
            probe = nbformat.v4.new_code_cell(claim_source(claims, output))
            await super().async_execute_cell(probe, cell_index, store_history=False)
            lines = [line for line in printed(probe).splitlines() if line.startswith(CLAIMS_MARK)]
            verdicts = (
                json.loads(lines[-1][len(CLAIMS_MARK) :])
                if lines
                else [[claim, False, f"the claims did not run: {printed(probe) or probe.outputs}"] for claim in claims]
            )
            self.verdicts.append((cell.get("id", str(cell_index)), output, verdicts))
        return cell


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def execute(path, target: str, check_claims: bool, monkeypatch) -> tuple:
    """Run a notebook top to bottom like Run All (stopping at an error); the last cell only collects the checks."""
    monkeypatch.setenv("WORKBOOK_TARGET", target)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    last = notebook.cells[-1]
    assert last.cell_type == "code" and "-m pytest ../checks/lab" in last.source, (
        f"{path.name}: the last cell should run the lab's checks"
    )
    last.source = last.source.replace("-q --no-header", "-q --no-header --collect-only")
    client = ClaimingClient(
        notebook,
        check_claims,
        timeout=CELL_SECONDS,
        startup_timeout=int(IDLE_SECONDS),  # starting a kernel: a second or two on a quiet machine
        iopub_timeout=int(IDLE_SECONDS),  # waits only until the kernel is idle: only a slow machine waits long
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as error:  # CellExecutionError: the message shows the cell and its traceback
        pytest.fail(f"{path.name} against the {target}: a cell raised (Run All would stop there):\n{error}")
    return notebook, client.verdicts, time.perf_counter() - start


def error_outputs(notebook) -> list[str]:
    return [
        f"cell {c.get('id')}: {o.ename}: {o.evalue}"
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]


def not_done_lines(notebook) -> list[tuple[str, str, str]]:
    return [
        match.groups()[::2] + (match.group(2),)
        for c in notebook.cells
        if c.cell_type == "code"
        for match in NOT_DONE.finditer(printed(c))
    ]


def test_every_lab_has_its_notebook():
    names = {path.name for path in NOTEBOOK_FILES}
    for lab in catalog.labs().values():
        assert lab.notebook in names, f"{lab.name}'s catalog names {lab.notebook}, which does not exist"
        assert lab.notebook.startswith(f"{lab.number:02d}_"), f"{lab.name}'s notebook is {lab.notebook}"


@pytest.mark.parametrize("lab", list(catalog.labs().values()), ids=lambda lab: lab.name)
def test_catalog_sections_exist_in_the_notebook(lab):
    """Every task's section is a `## N.K …` heading of its lab's notebook, numbered like the task."""
    found = headings(nbformat.read(NOTEBOOKS / lab.notebook, as_version=4))
    sections = {text for level, text in found if level == 2}
    missing = [t.section for t in lab.tasks.values() if t.section not in sections]
    assert not missing, f"{lab.notebook} has no `## ` heading for the catalog's sections {missing}"
    misnumbered = [(t.id, t.section) for t in lab.tasks.values() if not t.section.startswith(f"{t.id} ")]
    assert not misnumbered, f"checks/{lab.name}/lab.toml: a section must start with its task id: {misnumbered}"
    numbered = [text for level, text in found if level == 2 and re.match(rf"{lab.number}\.\d+ ", text)]
    assert len(numbered) == len(set(t.split()[0] for t in numbered)), f"{lab.notebook}: a section number repeats"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    for cell in notebook.cells:
        for claim in claims_of(cell):
            compile(claim, f"{path.name} cell {cell.get('id')} claim", "eval")  # a SyntaxError names the claim


@pytest.mark.timeout(BACKSTOP)  # cells are timed one by one (CELL_SECONDS)
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_against_the_solutions(path, monkeypatch):
    notebook, verdicts, seconds = execute(path, "solutions", True, monkeypatch)
    assert not error_outputs(notebook), error_outputs(notebook)
    assert not not_done_lines(notebook), f"{path.name}: the solutions left {not_done_lines(notebook)}"
    broken = [
        f"cell {cell_id}: claim `{claim}` is false{' (' + error + ')' if error else ''}\n"
        f"  the cell printed:\n    " + "\n    ".join(output.splitlines()[-15:])
        for cell_id, output, results in verdicts
        for claim, ok, error in results
        if not ok
    ]
    assert not broken, f"{path.name}: a demo contradicts its text:\n" + "\n".join(broken)
    claimed = sum(len(claims_of(c)) for c in nbformat.read(path, as_version=4).cells)
    assert sum(len(results) for _, _, results in verdicts) == claimed, "every claim must be evaluated"
    print(f"{path.name}: {seconds:.1f} s against the solutions, {claimed} claims")


@pytest.mark.timeout(BACKSTOP)  # cells are timed one by one (CELL_SECONDS)
@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.name)
def test_notebook_against_the_untouched_starters(path, monkeypatch):
    notebook, _, seconds = execute(path, "labs", False, monkeypatch)
    assert not error_outputs(notebook), (
        f"{path.name} against the starters shows errors (a student's Run All stops there): {error_outputs(notebook)}"
    )
    lines = not_done_lines(notebook)
    for task_id, where, title in lines:
        task = catalog.task(task_id)
        assert task is not None and task.title == title, f"{path.name}: unknown task or title in {task_id} {title}"
        assert (ROOT / where).exists() and where.startswith(f"labs/{task.lab}/"), (
            f"{path.name}: Task {task_id} sends the student to {where}, which is not a file of labs/{task.lab}/"
        )
    assert [task_id for task_id, _, _ in lines] == NOT_DONE_ON_THE_STARTERS[path.name], (
        f"{path.name}: expected one 'not done yet' line per unfinished exercise "
        f"{NOT_DONE_ON_THE_STARTERS[path.name]}, got {lines}"
    )
    print(f"{path.name}: {seconds:.1f} s against the starters")
