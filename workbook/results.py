"""The score model, once: every status a check can have, the one check-result record, how a task's checks roll
up into one status and its points, and the JSON the grader writes.

Three things grade: the pytest plugin (``pytest checks``, :mod:`workbook.grader.plugin`), a lab run in a process of its
own (``status``, ``watch`` and class grading, :mod:`workbook.isolation.lab_process`) and class grading's reports
(:mod:`workbook.classgrading`). All three speak in these terms, so a status means the same in the score table,
``status``'s grid, ``grades.csv`` and the feedback files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from workbook import catalog

# Version of the JSON written by ``--grade-json`` (and read by tools that consume it). Bump it when a key
# changes meaning or goes; adding a key is compatible.
SCHEMA_VERSION = 1


class Status(StrEnum):
    """What became of one check. A ``StrEnum``: it compares equal to its value, which is what JSON carries."""

    PASS = "pass"
    FAIL = "fail"
    NOT_STARTED = "not-started"  # the check reached a task still raising the starter's NotImplementedError
    TIMEOUT = "timeout"
    IMPORT_ERROR = "import-error"
    NOT_RUN = "not-run"  # deselected (-k, -m, --deselect, --lf): this run did not grade it
    BY_INSTRUCTOR = "graded-by-instructor"  # cannot grade here (Task 10.6 needs the reference service)
    # Only in a lab run in a process of its own (workbook.isolation.lab_process), where the run is watched from outside:
    NO_RESULT = "no-result"  # the process ended before the check reported
    MISSING = "missing"  # the submission has no folder for this lab
    TAMPERED = "tampered"  # the grading machinery was changed during the run, or records were forged
    REVIEW = "review"  # what decides the verdict changed while the check ran: no points, the instructor decides


class SubmissionStatus(StrEnum):
    """What became of one student's submission in class grading, worst first: the first that applies is given."""

    NOT_GRADED = "not-graded"
    UNREADABLE = "unreadable"
    TAMPERED = "tampered"
    REVIEW = "review"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INCOMPLETE = "incomplete"
    EMPTY = "empty"
    OK = "ok"


@dataclass(frozen=True)
class StatusInfo:
    word: str  # in the score table
    counted: bool = True  # False: the check's points leave the max (it was not graded here)
    short: tuple[str, str] | None = None  # pytest's progress letter and verbose word for a failed check
    why: str = ""  # for a status not counted: the score table's note on the points left out


INFO: dict[Status, StatusInfo] = {
    Status.PASS: StatusInfo("pass"),
    Status.FAIL: StatusInfo("fail", short=("F", "FAIL")),
    Status.NOT_STARTED: StatusInfo("not started", short=("N", "NOT STARTED")),
    Status.TIMEOUT: StatusInfo("timeout", short=("T", "TIMEOUT")),
    Status.IMPORT_ERROR: StatusInfo("import error", short=("I", "IMPORT ERROR")),
    Status.NOT_RUN: StatusInfo(
        "not run", counted=False, why="of checks not run (deselected with -k, -m, --deselect or --lf)"
    ),
    Status.BY_INSTRUCTOR: StatusInfo(
        "graded by your instructor", counted=False, why="graded by your instructor, not on this machine"
    ),
    Status.NO_RESULT: StatusInfo("no result"),
    Status.MISSING: StatusInfo("missing"),
    Status.TAMPERED: StatusInfo("tampered"),
    Status.REVIEW: StatusInfo("review"),
}

# The statuses the pytest plugin gives, in the order of its JSON's `counts`.
GRADER_STATUSES = (
    Status.PASS,
    Status.FAIL,
    Status.NOT_STARTED,
    Status.TIMEOUT,
    Status.IMPORT_ERROR,
    Status.NOT_RUN,
    Status.BY_INSTRUCTOR,
)
# Statuses whose points stay out of a student's max. Class grading counts every check it grades instead
# (a graded-by-instructor check there keeps its points in the max and earns nothing): it passes ``uncounted=()``.
UNCOUNTED = frozenset({Status.NOT_RUN, Status.BY_INSTRUCTOR})
# When a task's checks disagree, the status that explains the most wins, in this order.
PRECEDENCE = (Status.TAMPERED, Status.REVIEW, Status.MISSING, Status.IMPORT_ERROR, Status.TIMEOUT, Status.NO_RESULT)


@dataclass
class CheckResult:
    """One graded check: the record every grading path produces, stores and reports."""

    lab: str
    task: str
    name: str
    nodeid: str
    status: str  # a Status value
    points: float
    max_points: float
    message: str = ""
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status)}


def word(status: str) -> str:
    """The status as the score table says it."""
    try:
        return INFO[Status(status)].word
    except ValueError:
        return status.replace("-", " ")


def counted(result: CheckResult | dict | str, uncounted: Iterable[str] = UNCOUNTED) -> bool:
    """Whether a check's points count in the max: it was graded in this run, here."""
    status = result if isinstance(result, str) else result["status"] if isinstance(result, dict) else result.status
    return status not in set(uncounted)


def task_status(statuses: Iterable[str], uncounted: Iterable[str] = UNCOUNTED) -> str:
    """One status for a task from its checks' statuses.

    Checks not graded here leave no mark (all of them: the task is not-run, or graded-by-instructor if any
    check says so); all passed is pass; otherwise the status that explains the most (:data:`PRECEDENCE`);
    all not started is not-started; anything else is fail.
    """
    statuses = [str(s) for s in statuses]
    left_out = set(uncounted)
    graded = [s for s in statuses if s not in left_out]
    if not graded:
        return Status.BY_INSTRUCTOR if Status.BY_INSTRUCTOR in statuses else Status.NOT_RUN
    if all(s == Status.PASS for s in graded):
        return Status.PASS
    for status in PRECEDENCE:
        if status in graded:
            return status
    if all(s == Status.NOT_STARTED for s in graded):
        return Status.NOT_STARTED
    return Status.FAIL


def not_counted(checks: Iterable[CheckResult]) -> dict[str, float]:
    """Points of checks not graded here, by status (not-run, graded-by-instructor); empty when all were."""
    left_out: dict[str, float] = {}
    for check in checks:
        if not counted(check):
            left_out[str(check.status)] = left_out.get(str(check.status), 0.0) + check.max_points
    return left_out


def roll_up(checks: list[CheckResult], uncounted: Iterable[str] = UNCOUNTED) -> dict[str, Any]:
    """A task's (or a lab's) checks as one row: status, points, max points and the points not counted."""
    uncounted = frozenset(uncounted)
    return {
        "status": task_status((c.status for c in checks), uncounted),
        "points": sum(c.points for c in checks),
        "max_points": sum((c.max_points for c in checks if counted(c, uncounted)), 0.0),
        "not_counted": not_counted(c for c in checks if not counted(c, uncounted)),
    }


def summarise(results: list[CheckResult], target: str, labs: dict | None = None) -> dict[str, Any]:
    """The grader's summary of a run: per lab and task, then the totals, then every check.

    ``labs`` maps a lab name to its :class:`workbook.catalog.Lab` (for titles); by default, the catalog's.
    """
    labs = catalog.labs() if labs is None else labs
    by_lab: dict[str, dict[str, list[CheckResult]]] = {}
    for result in results:
        by_lab.setdefault(result.lab, {}).setdefault(result.task, []).append(result)
    lab_rows = []
    for lab_name in sorted(by_lab, key=lambda name: int(name[3:])):
        info = labs.get(lab_name)
        tasks = []
        for task_id in sorted(by_lab[lab_name], key=catalog.task_sort_key):
            task = info.tasks.get(task_id) if info else None
            tasks.append({"task": task_id, "title": task.title if task else "", **roll_up(by_lab[lab_name][task_id])})
        every_check = [c for checks in by_lab[lab_name].values() for c in checks]
        lab_rows.append(
            {
                "lab": lab_name,
                "title": info.title if info else "",
                "tasks": tasks,
                "points": sum(t["points"] for t in tasks),
                "max_points": sum((t["max_points"] for t in tasks), 0.0),
                "not_counted": not_counted(every_check),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "target": target,
        "points": sum(r.points for r in results),
        "max_points": sum((r.max_points for r in results if counted(r)), 0.0),
        "not_counted": not_counted(results),
        "counts": {str(status): sum(r.status == status for r in results) for status in GRADER_STATUSES},
        "labs": lab_rows,
        "checks": [r.as_dict() for r in results],
    }


def write_json(path: str | Path, summary: dict[str, Any]) -> None:
    """Write a summary (from :func:`summarise`) as JSON, with its schema version."""
    Path(path).write_text(json.dumps({"schema_version": SCHEMA_VERSION, **summary}, indent=2), encoding="utf-8")


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a summary written by :func:`write_json`; refuse one of a newer schema than this code knows."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    version = data.get("schema_version", 1)
    if version > SCHEMA_VERSION:
        raise ValueError(f"{path}: schema version {version} is newer than this workbook's ({SCHEMA_VERSION})")
    return data
