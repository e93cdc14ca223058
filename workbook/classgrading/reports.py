"""The outputs of ``grade``: ``grades.csv`` (written last, its SHA-256 printed), ``feedback/NAME.json``, the item
analysis (``item_analysis.csv`` and ``.json``) and ``grading.json`` (settings, the checks' hash, the plan).

Every cell a spreadsheet would run as a formula gets a leading apostrophe (:func:`cell`).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from workbook import catalog
from workbook.classgrading.intake import UNREADABLE
from workbook.isolation import lab_process
from workbook.isolation.lab_process import MISSING, PlannedCheck
from workbook.results import CheckResult

if TYPE_CHECKING:  # run.py writes its outputs with this module
    from workbook.classgrading.run import ClassGrades, SubmissionGrade


def task_ids(plan: dict[str, list[PlannedCheck]]) -> list[str]:
    return sorted({c.task for checks in plan.values() for c in checks}, key=catalog.task_sort_key)


def write_outputs(result: ClassGrades, out: Path) -> str:
    """Write every output, ``grades.csv`` last; return its SHA-256."""
    out.mkdir(parents=True, exist_ok=True)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in result.grades:
        (feedback / f"{grade.submission.slug}.json").write_text(
            json.dumps(feedback_for(grade, result), indent=2, ensure_ascii=False), encoding="utf-8"
        )
    items = item_analysis(result)
    (out / "item_analysis.json").write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    _write_items_csv(items, out / "item_analysis.csv")
    (out / "grading.json").write_text(json.dumps(_run_record(result), indent=2), encoding="utf-8")
    _write_grades_csv(result, out / "grades.csv")
    return hashlib.sha256((out / "grades.csv").read_bytes()).hexdigest()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """A CSV cell no spreadsheet runs as a formula: text that starts like one gets a leading apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def format_points(value: float) -> str:
    return f"{value:g}"


def _write_grades_csv(result: ClassGrades, path: Path) -> None:
    tasks = task_ids(result.plan)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *tasks, "total", "max", "status", "duration_s", "checks_sha256", "review"])
        for grade in result.grades:
            per_task: collections.defaultdict[str, float] = collections.defaultdict(float)
            for check in grade.checks:
                per_task[check.task] += check.points
            writer.writerow(
                [
                    cell(grade.submission.name),
                    *(format_points(per_task[t]) for t in tasks),
                    format_points(grade.points),
                    format_points(grade.max_points),
                    grade.status,
                    f"{grade.duration:.1f}",
                    result.kit_digest,
                    cell("; ".join(grade.review)[:2000]),
                ]
            )


def feedback_for(grade: SubmissionGrade, result: ClassGrades) -> dict:
    labs = []
    for run in grade.labs:
        info = catalog.labs().get(run.lab)
        tasks = []
        for task_id in sorted({c.task for c in run.checks}, key=catalog.task_sort_key):
            checks = [c for c in run.checks if c.task == task_id]
            task = info.tasks.get(task_id) if info else None
            tasks.append(
                {
                    "task": task_id,
                    "title": task.title if task else "",
                    "status": lab_process.task_status([c.status for c in checks]),
                    "points": sum(c.points for c in checks),
                    "max_points": sum(c.max_points for c in checks),
                }
            )
        labs.append(
            {
                "lab": run.lab,
                "title": info.title if info else "",
                "points": run.points,
                "max_points": run.max_points,
                "duration": run.duration,
                "finished": run.finished,
                "stopped_at_time_limit": run.killed,
                "tasks": tasks,
                "checks": [{k: v for k, v in c.as_dict().items() if k != "lab"} for c in run.checks],
            }
        )
    return {
        "student": grade.submission.name,
        "status": grade.status,
        "points": grade.points,
        "max_points": grade.max_points,
        "duration": grade.duration,
        "checks_sha256": result.kit_digest,
        "submission_sha256": grade.submission.digest,
        "graded_at": result.started,
        "notes": grade.notes,
        "review": grade.review,
        "unreadable": grade.submission.unreadable,
        "labs": labs,
    }


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _message_key(message: str) -> str:
    """A failure message with its numbers blanked, so '0.92 s' and '0.95 s' count as the same failure."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return NUMBER.sub("#", first)[:300]


def item_analysis(result: ClassGrades) -> list[dict]:
    by_check: dict[str, list[CheckResult]] = collections.defaultdict(list)
    for grade in result.grades:
        for check in grade.checks:
            by_check[check.nodeid].append(check)
    items = []
    for lab in result.settings.labs:
        for planned in result.plan[lab]:
            outcomes = [c for c in by_check[planned.nodeid] if c.status not in (MISSING, UNREADABLE)]
            statuses = collections.Counter(c.status for c in outcomes)
            # What went wrong for those who tried: "not started" says nothing about the check.
            tried = [c for c in outcomes if c.status not in ("pass", "not-started")]
            failed = tried or [c for c in outcomes if c.status != "pass"]
            failures = collections.Counter(_message_key(c.message) for c in failed)
            example: dict[str, str] = {}
            for c in failed:
                first_line = c.message.strip().splitlines()[0] if c.message.strip() else ""
                example.setdefault(_message_key(c.message), first_line)
            common, count = failures.most_common(1)[0] if failures else ("", 0)
            items.append(
                {
                    "lab": lab,
                    "task": planned.task,
                    "check": planned.name,
                    "nodeid": planned.nodeid,
                    "points": planned.points,
                    "submitted": len(outcomes),
                    "missing": sum(c.status in (MISSING, UNREADABLE) for c in by_check[planned.nodeid]),
                    "passed": statuses.get("pass", 0),
                    "pass_rate": round(statuses.get("pass", 0) / len(outcomes), 3) if outcomes else None,
                    "statuses": dict(sorted(statuses.items())),
                    "most_common_failure": example.get(common, ""),
                    "most_common_failure_count": count,
                }
            )
    return items


def _write_items_csv(items: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "lab",
                "task",
                "check",
                "points",
                "submitted",
                "missing",
                "passed",
                "pass_rate",
                "statuses",
                "most_common_failure",
                "most_common_failure_count",
            ]
        )
        for item in items:
            rate = "" if item["pass_rate"] is None else f"{item['pass_rate']:.3f}"
            statuses = " ".join(f"{k}={v}" for k, v in item["statuses"].items())
            writer.writerow(
                [
                    item["lab"],
                    item["task"],
                    cell(item["check"]),
                    format_points(item["points"]),
                    item["submitted"],
                    item["missing"],
                    item["passed"],
                    rate,
                    statuses,
                    cell(item["most_common_failure"]),
                    item["most_common_failure_count"],
                ]
            )


def _run_record(result: ClassGrades) -> dict:
    return {
        "started": result.started,
        "duration": result.duration,
        "checks_sha256": result.kit_digest,
        "settings": {
            "labs": result.settings.labs,
            "jobs": result.settings.jobs,
            "ray": result.settings.ray,
            "lab_timeouts": {lab: result.settings.lab_limit(checks) for lab, checks in result.plan.items()},
            "submission_timeout": result.settings.submission_timeout,
            "check_timeout": result.settings.check_timeout,
        },
        "python": sys.version.split()[0],
        "plan": {
            lab: [{"nodeid": c.nodeid, "task": c.task, "points": c.points} for c in checks]
            for lab, checks in result.plan.items()
        },
        "students": [
            {"student": g.submission.name, "points": g.points, "max_points": g.max_points, "status": g.status}
            for g in result.grades
        ],
        "instructor_files_changed": result.instructor_files_changed,
        "changed_while_grading": result.changed_while_grading,
        "fork_server_killed_while_grading": result.server_died_while_grading,
    }
