"""Grade a class as an instructor does (``python -m workbook grade``) and read back what it wrote.

One way for every class-grading test to build the command, run it (watched: stopped only if it falls silent, see
:mod:`tests.support.runner`) and read ``grades.csv`` and a student's feedback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests.support.runner import run_watched
from workbook.paths import ROOT

GRADE = [sys.executable, "-m", "workbook", "grade"]


def grade_command(submissions: Path, out: Path, labs: Iterable[str], *extra: str) -> list[str]:
    """The instructor's command: grade ``submissions`` into ``out``, the given labs only, then ``extra``."""
    return [*GRADE, str(submissions), "--out", str(out), *(arg for lab in labs for arg in ("--lab", lab)), *extra]


def environment(**extra: str) -> dict[str, str]:
    """The instructor's environment: the suite's own target choice (``WORKBOOK_TARGET``) does not leak in."""
    return {**{k: v for k, v in os.environ.items() if k != "WORKBOOK_TARGET"}, **extra}


def run_grade(
    submissions: Path, out: Path, labs: Iterable[str], *extra: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run :func:`grade_command` from the project root; fail the test if it had to be stopped."""
    done = run_watched(grade_command(submissions, out, labs, *extra), cwd=ROOT, env=env or environment())
    assert done.stuck is None, f"grade was stopped: {done.stuck}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def grade_rows(out: Path) -> dict[str, dict[str, str]]:
    """``grades.csv``: one row per student, by student."""
    with (out / "grades.csv").open(newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def feedback(out: Path, student: str) -> dict:
    """The feedback file ``grade`` wrote for ``student``."""
    return json.loads((out / "feedback" / f"{student}.json").read_text())


def checks_not_passed(student_feedback: dict) -> list[str]:
    """Each check that did not pass: its name, status and the start of its message (for an assertion's text)."""
    return [
        f"{check['name']}: {check['status']}: {check['message'][:600]}"
        for lab in student_feedback["labs"]
        for check in lab["checks"]
        if check["status"] != "pass"
    ]
