"""``build --student OUT``: a copy without solutions/ that still works — starters, checks, notebooks on labs/,
and the student commands (reset comes from the shipped starters/)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.support.runner import lab_points
from workbook import catalog
from workbook.builders import starters
from workbook.paths import ROOT, SOLUTIONS


def run(command, cwd, timeout=300, installed=None):
    """Run ``command``; ``installed`` stands for the copy's own `pip install -e .` (a student's make setup)."""
    env = {k: v for k, v in os.environ.items() if k not in {"WORKBOOK_TARGET", "WORKBOOK_STATE_DIR", "PYTHONPATH"}}
    if installed is not None:
        env["PYTHONPATH"] = str(installed)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout") / "workbook"
    done = run([sys.executable, "-m", "workbook", "build", "--student", str(out)], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return out


def test_the_copy_has_no_solutions_nor_the_projects_own_tests(copy):
    present = {path.name for path in copy.iterdir()}
    assert {
        "workbook",
        "labkit",
        "checks",
        "notebooks",
        "labs",
        "starters",
        "data",
        "README.md",
        "Makefile",
        ".jupyter",
    } <= present
    assert not present & {"solutions", "tests", ".ci", "CONTRIBUTING.md", ".git", ".venv", ".workbook", "models"}
    assert not list(copy.rglob("__pycache__"))
    config = tomllib.loads((copy / "pyproject.toml").read_text())
    assert config["tool"]["pytest"]["ini_options"]["testpaths"] == ["checks"]


def makefile_parts(text: str) -> dict[str, list[str]]:
    """A Makefile's variables and rules, each with its continuation and recipe lines."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("\t") and current:
            parts[current].append(line)
            continue
        current = None
        if (variable := re.match(r"([A-Za-z_]+)\s*(\?=|:=|=)", line)) is not None:
            current = f"variable {variable.group(1)}"
        elif (rule := re.match(r"([^\s:#=]+):", line)) is not None:
            current = f"rule {rule.group(1)}"
        if current:
            parts[current] = [line]
    return parts


def test_the_copy_has_a_students_readme(copy):
    readme = (copy / "README.md").read_text()
    for command in (
        "make lab",
        "make grade",
        "pytest checks/lab3",
        "workbook status",
        "workbook hint",
        "workbook reset",
        "workbook watch",
        "workbook doctor",
        "graded by your instructor",
    ):
        assert command in readme, f"the student README does not mention `{command}`"
    for lab in catalog.labs().values():
        assert f"| `{lab.notebook.split('/')[-1]}` |" in readme, f"the labs table lacks {lab.notebook}"
    lowered = readme.lower()
    for word in (
        "solution",
        "instructors",
        "workbook grade",
        "build --student",
        "--target",
        "project's own",
        "test suite",
        "contribut",
        "`tests/`",
        ".ci",
        "<!--",
    ):
        assert word not in lowered, f"the student README mentions {word!r}: it is for the instructor's copy"
    assert not (copy / "workbook" / "builders" / "handout").exists(), "the handout templates were copied into the copy"


def test_the_copy_has_a_students_makefile(copy):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    text = (copy / "Makefile").read_text()
    assert "test suite" not in text and "project's" not in text, "the student Makefile speaks of the project's suite"

    def dry_run(goal):
        # --no-print-directory: under `make test` this make is nested, and would announce its directory.
        done = run(["make", "-n", "--no-print-directory", "-o", ".venv/.installed", goal], cwd=copy)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert dry_run("grade") == dry_run("test") == ".venv/bin/python -m pytest checks"
    assert "jupyter lab" in dry_run("lab") and f'--ServerApp.root_dir="{copy}"' in dry_run("lab")
    # Everything the two Makefiles share is the same text: installing and `make lab` cannot drift apart.
    mine, instructors = makefile_parts(text), makefile_parts((ROOT / "Makefile").read_text())
    # `make check`, `make lint` and `make mutation` are the authors' loop (they need tests/, solutions/ and the
    # linters): not the student's.
    shared = set(instructors) - {"rule test", "rule .PHONY", "rule check", "rule lint", "rule mutation"}
    assert shared <= set(mine), f"the student Makefile lacks {sorted(shared - set(mine))}"
    differ = [name for name in sorted(shared) if mine[name] != instructors[name]]
    assert not differ, f"workbook/builders/handout/Makefile and Makefile differ in {differ}: keep them the same"


def test_task_10_6_is_graded_by_the_instructor_in_the_copy(copy, tmp_path):
    """The copy has no reference service: Task 10.6 is "graded by your instructor" and out of the local max."""
    out = tmp_path / "grade.json"
    done = run(
        [sys.executable, "-m", "pytest", "checks/lab10", "-q", "-p", "no:cacheprovider", "--grade-json", str(out)],
        cwd=copy,
        installed=copy,
    )
    assert out.exists(), done.stdout[-3000:] + done.stderr[-2000:]
    grade = json.loads(out.read_text())
    mine = [check for check in grade["checks"] if check["task"] == "10.6"]
    assert mine and {check["status"] for check in mine} == {"graded-by-instructor"}, mine
    assert "pytest labs/lab10/tests" in mine[0]["message"]
    ten_six = sum(check["max_points"] for check in mine)
    assert grade["not_counted"] == {"graded-by-instructor": ten_six}, grade["not_counted"]
    assert grade["max_points"] == sum(c["max_points"] for c in grade["checks"]) - ten_six
    assert {check["status"] for check in grade["checks"] if check["task"] != "10.6"} == {"not-started"}
    row = next(line for line in done.stdout.splitlines() if line.startswith("  10.6 "))
    assert "graded by your instructor" in row and "(not counted)" in row and "fail" not in row, row
    assert f"TOTAL 0 / {grade['max_points']:g}" in done.stdout
    assert f"not counted: {ten_six:g} points graded by your instructor" in done.stdout


def test_labs_and_starters_are_the_untouched_starters(copy):
    for lab in catalog.labs():
        expected = starters.starter_files(SOLUTIONS / lab)
        for folder in ("labs", "starters"):
            found = {
                p.relative_to(copy / folder / lab): p.read_bytes()
                for p in (copy / folder / lab).rglob("*")
                if p.is_file()
            }
            assert found == expected, f"{folder}/{lab} differs from the generated starter"


def test_the_checks_run_in_the_copy(copy):
    done = run(
        [sys.executable, "-m", "pytest", "checks/lab1", "-q", "-p", "no:cacheprovider"], cwd=copy, installed=copy
    )
    assert done.returncode == 1, done.stdout[-2000:]
    assert "score — target: labs" in done.stdout and f"TOTAL 0 / {lab_points('lab1'):g}" in done.stdout
    assert "not started" in done.stdout


def test_notebooks_in_the_copy_use_its_labs(copy):
    code = "import workbook; from workbook import use_target; print(workbook.__file__); print(use_target())"
    done = run([sys.executable, "-c", code], cwd=copy / "notebooks", installed=copy)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == str(copy / "workbook" / "__init__.py") and lines[-1] == str(copy / "labs")


def test_student_commands_work_in_the_copy(copy):
    runners = copy / "labs" / "lab1" / "runners.py"
    runners.write_text(runners.read_text() + "\n# my attempt\n")
    done = run([sys.executable, "-m", "workbook", "reset", "lab1", "--yes"], cwd=copy, installed=copy)
    assert done.returncode == 0, done.stderr
    assert runners.read_bytes() == (copy / "starters" / "lab1" / "runners.py").read_bytes()
    assert list((copy / ".workbook" / "backups").glob("*/lab1/runners.py"))
    done = run([sys.executable, "-m", "workbook", "status", "--lab", "lab1"], cwd=copy, installed=copy)
    assert done.returncode == 0 and f"0 / {lab_points('lab1'):g}" in done.stdout, done.stderr
    assert run([sys.executable, "-m", "workbook", "hint", "1.1"], cwd=copy, installed=copy).returncode == 0
    assert list((copy / ".workbook").glob("hints.json")) and list((copy / ".workbook").glob("status.json"))
    done = run(
        [sys.executable, "-m", "workbook", "status", "--lab", "lab1", "--target", "solutions"], cwd=copy, installed=copy
    )
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_build_refuses_to_overwrite(copy):
    done = run([sys.executable, "-m", "workbook", "build", "--student", str(copy)], cwd=ROOT)
    assert done.returncode == 2 and "--force" in done.stderr
    done = run([sys.executable, "-m", "workbook", "build", "--student", str(ROOT / "checks" / "x")], cwd=ROOT)
    assert done.returncode == 2 and "inside one of the workbook's own folders" in done.stderr


def test_a_solution_copied_anywhere_in_the_handout_is_reported(tmp_path):
    from workbook.builders.student_copy import solution_copies

    solutions = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS / "lab1", solutions / "lab1", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    (out / "checks" / "lab1" / "reference").mkdir(parents=True)
    shutil.copy(SOLUTIONS / "lab1" / "runners.py", out / "checks" / "lab1" / "reference" / "runners.py")
    shutil.copy(SOLUTIONS / "lab1" / "__init__.py", out / "checks" / "lab1" / "reference" / "__init__.py")
    (leak,) = solution_copies(out, solutions)
    assert leak.startswith("checks/lab1/reference/runners.py is solutions/lab1/runners.py")
