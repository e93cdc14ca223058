"""``status``: the lab × task grid, points, percent complete and the next task, from a fresh run (only of what
changed) or the last record. Runs against a scratch target with lab1 solved and lab2 untouched."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.cli import workbook_cli
from tests.support.runner import lab_points
from workbook import catalog
from workbook.builders import starters
from workbook.cli import status
from workbook.paths import SOLUTIONS


def starter_copy(lab: str, dest):
    for relative, content in starters.starter_files(SOLUTIONS / lab).items():
        (dest / lab / relative).parent.mkdir(parents=True, exist_ok=True)
        (dest / lab / relative).write_bytes(content)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    folder = tmp_path_factory.mktemp("target")
    shutil.copytree(SOLUTIONS / "lab1", folder / "lab1", ignore=shutil.ignore_patterns("__pycache__"))
    starter_copy("lab2", folder)
    return folder


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def first_run(target, state):
    return workbook_cli("status", "--target", target, "--lab", "lab1", "--lab", "lab2", "--json", state=state)


def test_status_runs_the_labs_and_reports_them(first_run):
    assert first_run.returncode == 0, first_run.stderr
    assert "checking lab1, lab2" in first_run.stderr
    summary = json.loads(first_run.stdout)
    rows = {row["lab"]: row for row in summary["labs"]}
    assert [t["status"] for t in rows["lab1"]["tasks"]] == ["pass", "pass", "pass"]
    assert [t["status"] for t in rows["lab2"]["tasks"]] == ["not-started"] * 4
    lab1, lab2 = lab_points("lab1"), lab_points("lab2")
    assert (rows["lab1"]["points"], rows["lab1"]["max_points"]) == (lab1, lab1)
    assert (rows["lab2"]["points"], rows["lab2"]["max_points"]) == (0, lab2)
    assert not rows["lab3"]["checked"] and "lab3" in summary["unchecked"]
    assert summary["percent"] == pytest.approx(100 * lab1 / (lab1 + lab2), abs=0.1)
    assert summary["next"]["task"] == "2.1" and "02_event_loop.ipynb" in summary["next"]["where_to_read"]


def test_unchanged_labs_are_not_run_again(first_run, target, state):
    again = workbook_cli("status", "--target", target, "--lab", "lab1", "--lab", "lab2", state=state)
    assert again.returncode == 0, again.stderr
    assert "unchanged since their last run: lab1, lab2" in again.stderr and "checking" not in again.stderr
    app = target / "lab2" / "app.py"
    app.write_text(app.read_text() + "\n# an edit\n")
    changed = workbook_cli("status", "--target", target, "--lab", "lab1", "--lab", "lab2", state=state)
    assert "checking lab2 in" in changed.stderr and "unchanged since their last run: lab1" in changed.stderr


def test_the_grid_shows_every_lab_and_the_next_task(first_run, target, state):
    shown = workbook_cli("status", "--target", target, "--last", state=state)
    assert shown.returncode == 0 and "checking" not in shown.stderr
    lines = shown.stdout.splitlines()
    lab1 = next(line for line in lines if line.startswith("lab1 "))
    lab2 = next(line for line in lines if line.startswith("lab2 "))
    assert (
        lab1.split()[:4] == ["lab1", "pass", "pass", "pass"]
        and f"{lab_points('lab1'):g} / {lab_points('lab1'):g}" in lab1
    )
    assert lab2.split()[:5] == ["lab2", "·", "·", "·", "·"] and f"0 / {lab_points('lab2'):g}" in lab2
    assert all(any(line.startswith(f"{lab} ") for line in lines) for lab in catalog.labs())
    assert "Next: Task 2.1 — Health and fast routes (not started)" in shown.stdout
    assert "python -m workbook hint 2.1" in shown.stdout


def test_a_missing_target_is_explained(tmp_path, state):
    done = workbook_cli("status", "--target", tmp_path / "nowhere", state=state)
    assert done.returncode == 2 and "nowhere" in done.stderr


def test_summary_of_a_record_names_the_first_unfinished_task():
    labs = {name: catalog.labs()[name] for name in ("lab1", "lab2")}
    check = {"lab": "lab1", "name": "x", "nodeid": "x", "duration": 0, "points": 0.0, "max_points": 2.0}
    record = {
        "labs": {
            "lab1": {
                "recorded_at": "now",
                "checks": [
                    {**check, "task": "1.1", "status": "pass", "points": 2.0, "message": ""},
                    {**check, "task": "1.2", "status": "fail", "message": "took 0.1 s; expected 0.6 s\nRead: …"},
                    {**check, "task": "1.3", "status": "not-started", "message": "not started"},
                ],
            }
        }
    }
    summary = status.summarise(record, labs)
    assert summary["next"]["task"] == "1.2" and summary["next"]["status"] == "fail"
    text = status.render(summary, "labs")
    assert "Next: Task 1.2 — Await slow tasks one after another (failing)" in text
    assert "took 0.1 s; expected 0.6 s" in text
    assert "lab2  -" in text and "not run yet" in text


def test_a_task_graded_by_the_instructor_is_not_counted_nor_next():
    """Task 10.6 in a student's copy (no reference service): shown as the instructor's, out of the max."""
    labs = {"lab10": catalog.labs()["lab10"]}
    check = {"lab": "lab10", "name": "x", "nodeid": "x", "duration": 0, "points": 0.0, "message": ""}
    record = {
        "labs": {
            "lab10": {
                "recorded_at": "now",
                "checks": [
                    *(
                        {**check, "task": task, "status": "pass", "points": 1.0, "max_points": 1.0}
                        for task in ("10.1", "10.2", "10.3", "10.4", "10.5")
                    ),
                    {**check, "task": "10.6", "status": "graded-by-instructor", "max_points": 1.0},
                    {**check, "task": "10.6", "status": "graded-by-instructor", "max_points": 5.0},
                ],
            }
        }
    }
    summary = status.summarise(record, labs)
    assert (summary["points"], summary["max_points"], summary["percent"]) == (5.0, 5.0, 100.0), summary
    assert summary["next"] is None and summary["tasks_passed"] == summary["tasks"] == 5
    text = status.render(summary, "labs")
    assert "teacher" in text and "5 / 5" in text and "Every task passes" in text
