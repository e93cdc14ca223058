"""Lab 12 through ``grade``: its checks start a Ray of their own, inside the grading sandbox.

The sandbox refuses the user namespace the checks make for Ray elsewhere (its network is loopback-only already),
allows no file over 256 MB (Ray's object store is one) and counts threads as processes. Each stopped a correct lab 12
at 8 of 22 points once, while ``pytest checks/lab12`` outside the sandbox gave 22: only a graded run shows it.
"""

from __future__ import annotations

import shutil

import pytest

from tests.support.class_grading import checks_not_passed, feedback, grade_rows, run_grade
from tests.support.runner import BACKSTOP
from tests.support.runner import lab_points as points_of_lab
from workbook.paths import LABS, SOLUTIONS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(BACKSTOP)]  # grade is watched: stopped only if it falls silent


def test_a_correct_lab12_gets_full_marks_in_the_sandbox_and_the_starter_none(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(SOLUTIONS / "lab12", submissions / "solved" / "lab12", ignore=ignore)
    shutil.copytree(LABS / "lab12", submissions / "starter" / "lab12", ignore=ignore)
    done = run_grade(submissions, out, ["lab12"])
    rows = grade_rows(out)
    failed = checks_not_passed(feedback(out, "solved"))
    assert float(rows["solved"]["total"]) == points_of_lab("lab12"), "\n\n".join(failed) or done.stdout[-3000:]
    assert rows["solved"]["status"] == "ok" and rows["solved"]["review"] == "", rows["solved"]
    assert float(rows["starter"]["total"]) == 0, rows["starter"]
