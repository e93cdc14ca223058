"""Every graded check passes on the solutions and reports "not started" on the untouched starters."""

import pytest

from tests.support.runner import BACKSTOP
from workbook import catalog

# Both runs grade every check of every lab (session fixtures, in the first test's set-up). They are stopped only
# when they make no progress (tests.support.runner.run_checks), never at a fixed wall-clock limit.
pytestmark = pytest.mark.timeout(BACKSTOP)


def test_every_check_passes_on_the_solutions(solutions_run):
    failing = {
        c["nodeid"]: f"{c['status']}: {c['message']}" for c in solutions_run.grade["checks"] if c["status"] != "pass"
    }
    assert not failing, f"checks failing on solutions/: {failing}\n{solutions_run.output[-3000:]}"
    assert solutions_run.grade["points"] == solutions_run.grade["max_points"] > 0
    assert solutions_run.returncode == 0


def test_every_lab_with_a_catalog_has_checks(solutions_run, labs_under_test):
    graded_labs = {c["lab"] for c in solutions_run.grade["checks"]}
    assert graded_labs == set(labs_under_test), "a lab has a catalog but no checks, or the reverse"


def test_every_check_is_not_started_on_the_starters(starters_run):
    wrong = {
        c["nodeid"]: f"{c['status']}: {c['message']}"
        for c in starters_run.grade["checks"]
        if c["status"] != "not-started"
    }
    assert not wrong, f"on the untouched starters every check must report not-started: {wrong}"
    assert starters_run.grade["points"] == 0
    assert len(starters_run.grade["checks"]) == len(_solutions_names(starters_run))


def _solutions_names(run):
    return {c["nodeid"] for c in run.grade["checks"]}


def test_not_started_messages_name_the_task(starters_run):
    for check in starters_run.grade["checks"]:
        assert check["message"].startswith("not started: Task "), check
        task_id = check["message"].split("Task ", 1)[1].split(" ", 1)[0]
        assert catalog.task(task_id) is not None, check["message"]


def test_every_task_is_graded_and_every_check_names_a_known_task(solutions_run, labs_under_test):
    graded = {c["task"] for c in solutions_run.grade["checks"]}
    known = {task_id for lab in labs_under_test for task_id in catalog.labs()[lab].tasks}
    assert graded == known, f"tasks without checks: {known - graded}; checks of unknown tasks: {graded - known}"
