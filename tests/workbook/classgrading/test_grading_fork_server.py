"""The fork server changes how fast ``grade`` is, not what it finds; and a submission that kills it (it is the
checks' parent process) neither stops the grading nor costs another student a point."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.hostile import Case, write_case
from tests.support.class_grading import feedback, grade_rows, run_grade
from tests.support.runner import BACKSTOP
from tests.support.runner import lab_points as points_of_lab
from workbook.paths import SOLUTIONS

pytestmark = pytest.mark.timeout(BACKSTOP)  # grade is watched: stopped only if it falls silent

KILLS_ITS_PARENT = """
# Hostile: kill the process that started the checks (the fork server, or the grader itself without one).
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)
"""


def grade(submissions, out, *extra):
    return run_grade(submissions, out, ["lab1", "lab2"], *extra)


def totals(out) -> dict[str, tuple[str, str]]:
    return {student: (row["total"], row["status"]) for student, row in grade_rows(out).items()}


def statuses(out, student) -> list[str]:
    return [check["status"] for lab in feedback(out, student)["labs"] for check in lab["checks"]]


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small-class")
    both = {"lab1": "solution", "lab2": "solution"}
    write_case(Case("ann", "complete", both, 18, "ok"), folder)
    write_case(
        Case("bob", "a mistake", both, 17, "ok", mistakes=("lab1: results in the order the tasks finished",)), folder
    )
    write_case(Case("cat", "starters", {"lab1": "starter", "lab2": "starter"}, 0, "ok"), folder)
    return folder


def test_in_the_sandbox_and_outside_the_grades_are_the_same(small_class, tmp_path):
    """The sandbox (a fork server in each submission's bubblewrap sandbox) against the old way, a fresh Python
    for every lab run without a sandbox: honest submissions get exactly the same grades."""
    forked, fresh = tmp_path / "forked", tmp_path / "fresh"
    assert grade(small_class, forked).returncode == 0
    done = grade(small_class, fresh, "--no-fork-server", "--no-sandbox")
    assert done.returncode == 0
    assert done.stdout.count("WARNING: grading WITHOUT a sandbox") == 1
    both = points_of_lab("lab1") + points_of_lab("lab2")
    # bob's results come back in finishing order: the order check and the twelve-delay check fail (2 points).
    assert (
        totals(forked)
        == totals(fresh)
        == {"ann": (f"{both:g}", "ok"), "bob": (f"{both - 2:g}", "ok"), "cat": ("0", "ok")}
    )
    for student in ("ann", "bob", "cat"):
        assert statuses(forked, student) == statuses(fresh, student)


def test_a_submission_that_kills_the_fork_server_hurts_nobody(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    # Graded at the same time (--jobs 2): ann's lab runs are in flight when the server dies.
    shutil.copytree(SOLUTIONS / "lab1", folder / "ann" / "lab1", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SOLUTIONS / "lab2", folder / "ann" / "lab2", ignore=shutil.ignore_patterns("__pycache__"))
    write_case(Case("mallory", "kills its parent", {"lab1": "starter", "lab2": "solution"}, 8, "ok"), folder)
    runners = folder / "mallory" / "lab1" / "runners.py"
    source = runners.read_text()
    runners.write_text(
        source.replace(
            "from __future__ import annotations\n", "from __future__ import annotations\n" + KILLS_ITS_PARENT, 1
        )
    )
    write_case(
        Case("zoe", "complete, graded after the server died", {"lab1": "solution", "lab2": "solution"}, 18, "ok"),
        folder,
    )
    done = grade(folder, tmp_path / "out", "--jobs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    # mallory's source signals its parent: flagged for review; its lab1 run ended with its sandbox.
    both = f"{points_of_lab('lab1') + points_of_lab('lab2'):g}"
    assert totals(tmp_path / "out") == {
        "ann": (both, "ok"),
        "mallory": (f"{points_of_lab('lab2'):g}", "review"),
        "zoe": (both, "ok"),
    }
    assert "the fork server (the checks' parent process) was killed while grading" in done.stdout
    assert "mallory" in json.loads((tmp_path / "out" / "grading.json").read_text())["fork_server_killed_while_grading"]
