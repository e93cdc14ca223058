"""``reset labN [--task N.K]``: the untouched starter comes back — from solutions/ or from a student copy's
starters/ — after asking, with the student's files backed up; ``--task`` resets only that task's functions."""

from __future__ import annotations

import ast
import builtins
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support.cli import workbook_cli
from workbook.builders import starters
from workbook.cli import reset
from workbook.paths import SOLUTIONS


@pytest.fixture
def solved(tmp_path):
    """A target whose lab1 is the solution (so every task has work in it)."""
    shutil.copytree(SOLUTIONS / "lab1", tmp_path / "target" / "lab1", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "target"


def starter_text(lab="lab1", file="runners.py") -> str:
    return starters.starter_files(SOLUTIONS / lab)[Path(file)].decode()


def function_source(source: str, name: str) -> str:
    node = next(
        n
        for n in ast.walk(ast.parse(source))
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name
    )
    return ast.get_source_segment(source, node)


def test_reset_restores_the_starter_and_backs_up_the_work(solved, tmp_path):
    mine = (solved / "lab1" / "runners.py").read_text() + "\n# my notes\n"
    (solved / "lab1" / "runners.py").write_text(mine)
    (solved / "lab1" / "helpers.py").write_text("x = 1\n")
    done = workbook_cli("reset", "lab1", "--target", solved, "--yes", state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert (solved / "lab1" / "runners.py").read_text() == starter_text()
    assert "your own files stay as they are: helpers.py" in done.stdout
    assert (solved / "lab1" / "helpers.py").exists()
    (backup,) = (tmp_path / "state" / "backups").glob("*/lab1/runners.py")
    assert backup.read_text() == mine
    again = workbook_cli("reset", "lab1", "--target", solved, "--yes", state=tmp_path / "state")
    assert "nothing to reset" in again.stdout


def test_reset_asks_first(solved, tmp_path, monkeypatch):
    before = (solved / "lab1" / "runners.py").read_text()
    done = workbook_cli("reset", "lab1", "--target", solved, state=tmp_path / "state")
    assert done.returncode == 2 and "--yes" in done.stderr  # no terminal to ask: nothing changes
    assert (solved / "lab1" / "runners.py").read_text() == before
    args = SimpleNamespace(lab="lab1", task=None, yes=False, target=str(solved))
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    assert reset.run_command(args) == 1 and (solved / "lab1" / "runners.py").read_text() == before
    assert reset.run_command(args) == 0 and (solved / "lab1" / "runners.py").read_text() == starter_text()


def test_reset_task_replaces_only_that_tasks_functions(solved, tmp_path):
    solution = (solved / "lab1" / "runners.py").read_text()
    done = workbook_cli("reset", "lab1", "--task", "1.3", "--target", solved, "--yes", state=tmp_path / "state")
    assert done.returncode == 0, done.stderr
    assert "runners.py: run_concurrently" in done.stdout
    now = (solved / "lab1" / "runners.py").read_text()
    assert function_source(now, "run_concurrently") == function_source(starter_text(), "run_concurrently")
    for kept in ("slow_task", "run_sequentially", "run_blocking"):
        assert function_source(now, kept) == function_source(solution, kept)
    compile(now, "runners.py", "exec")


def test_reset_task_keeps_the_students_indentation_and_docstring_edits():
    current = (
        "class Service:\n"
        "  def predict(self, text):  # Task 3.5\n"
        '    """My own notes."""\n'
        "    # thinking...\n"
        "    return 42\n"
        "\n"
        "def other():\n"
        "    return 1\n"
    )
    starter = (
        "class Service:\n"
        "    def predict(self, text):  # Task 3.5\n"
        '        """The task."""\n'
        '        raise NotImplementedError("Task 3.5: Predict a category name")\n'
        "\n"
        "def other():\n"
        "    return 1\n"
    )
    new, missing = reset.reset_functions(current, starter, ["Service.predict"], "x.py")
    assert missing == []
    assert new == (
        "class Service:\n"
        "  def predict(self, text):  # Task 3.5\n"
        '    """My own notes."""\n'
        '    raise NotImplementedError("Task 3.5: Predict a category name")\n'
        "\n"
        "def other():\n"
        "    return 1\n"
    )


def test_reset_task_explains_what_it_cannot_do(solved, tmp_path):
    runners = solved / "lab1" / "runners.py"
    runners.write_text(runners.read_text().replace("def run_concurrently(", "def run_all("))
    done = workbook_cli("reset", "lab1", "--task", "1.3", "--target", solved, "--yes", state=tmp_path / "state")
    assert done.returncode == 2 and "no function run_concurrently" in done.stderr
    runners.write_text("def broken(:\n")
    done = workbook_cli("reset", "lab1", "--task", "1.3", "--target", solved, "--yes", state=tmp_path / "state")
    assert done.returncode == 2 and "line 1" in done.stderr and "without --task" in done.stderr
    done = workbook_cli("reset", "lab1", "--task", "2.1", "--target", solved, "--yes", state=tmp_path / "state")
    assert done.returncode == 2 and "not a task of lab1" in done.stderr
    done = workbook_cli("reset", "lab1", "--target", "solutions", "--yes", state=tmp_path / "state")
    assert done.returncode == 2 and "never touches solutions/" in done.stderr


def test_without_solutions_the_shipped_starters_are_used(tmp_path):
    for relative, content in starters.starter_files(SOLUTIONS / "lab2").items():
        (tmp_path / "starters" / "lab2" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "starters" / "lab2" / relative).write_bytes(content)
    files = reset.starter_files("lab2", solutions=tmp_path / "no-solutions", pristine=tmp_path / "starters")
    assert files == starters.starter_files(SOLUTIONS / "lab2")
    with pytest.raises(reset.ResetError, match="neither solutions/lab3/ nor starters/lab3/"):
        reset.starter_files("lab3", solutions=tmp_path / "no-solutions", pristine=tmp_path / "starters")
