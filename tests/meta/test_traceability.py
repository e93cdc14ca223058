"""Every behaviour a task states is traced to a check that grades it, and every check to a stated behaviour.

Each ``checks/labN/lab.toml`` keeps the map, under its tasks::

    [[tasks."5.1".behaviours]]
    says = "an unknown field is a 422"          # copied verbatim from the statement
    checks = ["test_schema_refuses_unknown_fields"]

``says`` is a phrase copied (whitespace aside) from the task's statement: the docstrings of the functions
marked ``# Task N.K`` in ``solutions/labN``, the docstrings of the modules holding them, or the notebook's
``## Exercise`` text. So the map cannot drift from what students read. ``checks`` name test functions of
``checks/labN`` marked ``@pytest.mark.task("N.K", ...)``. Each property is tested per lab, so a lab whose
map is missing fails on its own.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from functools import cache

import pytest

from workbook import catalog
from workbook.paths import CHECKS, SOLUTIONS

NOTEBOOKS = CHECKS.parent / "notebooks"
MARK = re.compile(r"#\s*Task\s+(\d+\.\d+)\b")
LABS = sorted(catalog.labs())


def normalised(text: str) -> str:
    return " ".join(text.split())


@cache
def behaviours(lab: str) -> dict[str, list[dict]]:
    raw = tomllib.loads((CHECKS / lab / "lab.toml").read_text(encoding="utf-8"))
    return {task_id: list(spec.get("behaviours", [])) for task_id, spec in raw.get("tasks", {}).items()}


@cache
def statements(lab: str) -> dict[str, str]:
    """Task id -> its statement: marked functions' docstrings, their modules' docstrings, the exercise."""
    texts: dict[str, list[str]] = {}
    for path in sorted((SOLUTIONS / lab).rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source, str(path))
        module_doc = ast.get_docstring(tree) or ""
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            marks = [MARK.search(lines[n - 1]) for n in range(node.lineno, node.body[0].lineno)]
            marks = [m for m in marks if m]
            if marks:
                texts.setdefault(marks[-1].group(1), []).extend([ast.get_docstring(node) or "", module_doc])
    exercise = exercise_text(catalog.labs()[lab].notebook)
    return {task_id: normalised(" ".join([*parts, exercise])) for task_id, parts in texts.items()}


def exercise_text(notebook: str) -> str:
    """The notebook's ``## Exercise`` section: from that heading to the next level-2 heading."""
    cells = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))["cells"]
    collected, inside = [], False
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        if not inside and "## Exercise" in text:
            inside, text = True, text[text.index("## Exercise") :]
            collected.append(text)
            continue
        if inside:
            if re.search(r"^## ", text, re.MULTILINE):
                break
            collected.append(text)
    return "\n".join(collected)


@cache
def graded_checks(lab: str) -> dict[str, set[str]]:
    """Check function name -> the task ids it is marked with, read from checks/labN/test_*.py."""
    found: dict[str, set[str]] = {}
    for path in sorted((CHECKS / lab).glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or not node.name.startswith("test"):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and ast.unparse(decorator.func) == "pytest.mark.task"
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    found.setdefault(node.name, set()).add(decorator.args[0].value)
    return found


@pytest.mark.parametrize("lab", LABS)
def test_every_task_states_behaviours_found_in_its_statement(lab):
    problems = []
    texts = statements(lab)
    for task_id in catalog.labs()[lab].tasks:
        listed = behaviours(lab).get(task_id, [])
        if not listed:
            problems.append(f'task {task_id} lists no [[tasks."{task_id}".behaviours]] in checks/{lab}/lab.toml')
        for behaviour in listed:
            says = normalised(str(behaviour.get("says", "")))
            if not says:
                problems.append(f"task {task_id}: a behaviour without `says`")
            elif says not in texts.get(task_id, ""):
                problems.append(f"task {task_id}: {says!r} is not in the task's docstrings or the notebook's exercise")
            if not behaviour.get("checks"):
                problems.append(f"task {task_id}: {says!r} names no check")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lab", LABS)
def test_every_traced_check_exists_and_grades_that_task(lab):
    checks = graded_checks(lab)
    problems = []
    for task_id, listed in behaviours(lab).items():
        for behaviour in listed:
            for name in behaviour.get("checks", []):
                if name not in checks:
                    problems.append(f"task {task_id}: no check named {name} in checks/{lab}")
                elif task_id not in checks[name]:
                    problems.append(f"task {task_id}: {name} is marked with task {sorted(checks[name])}, not {task_id}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lab", LABS)
def test_every_graded_check_traces_a_stated_behaviour(lab):
    traced = {name for listed in behaviours(lab).values() for b in listed for name in b.get("checks", [])}
    untraced = sorted(set(graded_checks(lab)) - traced)
    assert not untraced, f"checks of {lab} that grade no stated behaviour in lab.toml: {untraced}"


def test_the_catalog_tolerates_the_behaviours():
    for lab in LABS:
        assert catalog.load_lab(CHECKS / lab / "lab.toml").tasks
