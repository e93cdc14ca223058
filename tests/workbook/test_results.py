"""workbook.results: one status vocabulary, one check record, one roll-up rule for every grading path."""

import json

import pytest

from workbook import results
from workbook.cli import status
from workbook.isolation import lab_process
from workbook.results import CheckResult, Status


def check(task: str, state: str, points: float = 1.0) -> CheckResult:
    return CheckResult(
        lab="lab1",
        task=task,
        name=f"test_{task}_{state}",
        nodeid=f"x::{task}{state}",
        status=state,
        points=points if state == "pass" else 0.0,
        max_points=points,
    )


def test_every_status_has_a_word_and_only_two_leave_the_max():
    assert set(results.INFO) == set(Status)
    assert {s for s in Status if not results.counted(s)} == {Status.NOT_RUN, Status.BY_INSTRUCTOR}
    assert results.word("not-started") == "not started" and results.word("something-new") == "something new"


def test_a_task_takes_the_status_that_explains_the_most():
    assert results.task_status(["pass", "pass"]) == "pass"
    assert results.task_status(["pass", "fail", "timeout"]) == "timeout"
    assert results.task_status(["import-error", "timeout", "tampered"]) == "tampered"
    assert results.task_status(["not-started", "not-started"]) == "not-started"
    assert results.task_status(["not-started", "pass"]) == "fail"
    assert results.task_status(["pass", "not-run"]) == "pass"
    assert results.task_status(["not-run", "not-run"]) == "not-run"
    assert results.task_status(["not-run", "graded-by-instructor"]) == "graded-by-instructor"


def test_class_grading_counts_every_check_it_grades():
    # A kit without solutions/lab10 cannot grade Task 10.6 locally: in a class, its points stay in the max.
    assert lab_process.task_status(["pass", "graded-by-instructor"]) == "fail"
    assert results.roll_up([check("10.6", "graded-by-instructor", 5.0)], uncounted=())["max_points"] == 5.0
    assert results.roll_up([check("10.6", "graded-by-instructor", 5.0)])["max_points"] == 0.0


def test_the_student_grid_and_the_score_table_agree_on_a_task():
    checks = [check("1.1", "pass"), check("1.1", "not-started"), check("1.2", "graded-by-instructor", 3.0)]
    summary = results.summarise(checks, "labs")
    table = {t["task"]: t for t in summary["labs"][0]["tasks"]}
    grid = status.summarise(
        {"labs": {"lab1": {"checks": [c.as_dict() for c in checks], "recorded_at": "now"}}}, {"lab1": _lab1()}
    )
    rows = {t["task"]: t for t in grid["labs"][0]["tasks"]}
    for task in ("1.1", "1.2"):
        assert rows[task]["status"] == table[task]["status"], (rows[task], table[task])
        assert rows[task]["max_points"] == table[task]["max_points"], (rows[task], table[task])


def _lab1():
    from workbook import catalog

    return catalog.labs()["lab1"]


def test_the_json_carries_its_schema_version_and_a_newer_one_is_refused(tmp_path):
    path = tmp_path / "grade.json"
    results.write_json(path, results.summarise([check("1.1", "pass")], "labs"))
    assert results.read_json(path)["schema_version"] == results.SCHEMA_VERSION
    path.write_text(json.dumps({"schema_version": results.SCHEMA_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ValueError, match="newer"):
        results.read_json(path)
