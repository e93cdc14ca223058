"""``status``: where you are — a lab × task grid, points per lab, percent complete and the next task to do.

    python -m workbook status            # a fresh run of the labs whose files changed since their last run
    python -m workbook status --all      # a fresh run of every lab, changed or not
    python -m workbook status --lab lab2 # only lab 2 (if it changed; with --all, in any case)
    python -m workbook status --last     # the last recorded results, without running anything

Every run of ``status`` and ``watch`` is recorded in ``.workbook/status.json``, per target and per lab, with a
digest of the lab's files, its checks and the workbook package. A lab whose digest has not changed since its last
run would give the same result, so ``status`` shows the recorded one instead of running it again: that keeps it
quick with ten labs (each lab's checks run in a process of their own, a few seconds to half a minute each).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from workbook import catalog, local_state, results
from workbook.digests import folders_digest
from workbook.isolation import lab_process
from workbook.isolation.lab_process import LabRun
from workbook.paths import CHECKS, ROOT
from workbook.results import Status
from workbook.target import TargetError, describe, resolve_target

RECORD = "status.json"
# The last resort only: a check hung past its own timeout stops a lab's run long before (lab_process).
DEFAULT_LAB_TIMEOUT = 600.0
CELL = 9
LABELS = {  # status -> (cell text, colour)
    Status.PASS: ("pass", "32"),
    Status.FAIL: ("fail", "31"),
    Status.NOT_STARTED: ("·", "33"),
    Status.TIMEOUT: ("timeout", "31"),
    Status.IMPORT_ERROR: ("import!", "31"),
    Status.NO_RESULT: ("no result", "31"),
    Status.TAMPERED: ("tampered", "31"),
    Status.NOT_RUN: ("-", "2"),
    Status.BY_INSTRUCTOR: ("teacher", "2"),
}
LEGEND = (
    "#K is task N.K of lab N.   · not started   import! a file does not import   "
    "no result: the run stopped first   - not run yet   teacher: graded by your instructor"
)
NEXT_WORDS = {
    Status.FAIL: "failing",
    Status.NOT_STARTED: "not started",
    Status.TIMEOUT: "times out",
    Status.IMPORT_ERROR: "does not import",
    Status.NO_RESULT: "no result",
    Status.NOT_RUN: "not checked yet",
    Status.TAMPERED: "tampered",
}


# --- the record ---------------------------------------------------------------------------------------


def lab_digest(lab: str, target: Path) -> str:
    """Changes when the lab's code, its checks, the workbook or labkit package change: then the result may too."""
    return folders_digest(target / lab, CHECKS / lab, ROOT / "workbook", ROOT / "labkit")


def record_runs(target_key: str, runs: list[LabRun], digests: dict[str, str] | None = None) -> dict:
    """Store each lab's latest checks for this target; return the whole record for it."""
    data = local_state.read_json(RECORD)
    labs = data.setdefault("targets", {}).setdefault(target_key, {}).setdefault("labs", {})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for run in runs:
        labs[run.lab] = {
            "recorded_at": now,
            "duration": run.duration,
            "notes": run.notes,
            "digest": (digests or {}).get(run.lab),
            "checks": [check.as_dict() for check in run.checks],
        }
    local_state.write_json(RECORD, data)
    return data["targets"][target_key]


def recorded(target_key: str) -> dict:
    return local_state.read_json(RECORD).get("targets", {}).get(target_key, {"labs": {}})


# --- the summary ----------------------------------------------------------------------------------------


def summarise(record: dict, labs: dict[str, catalog.Lab]) -> dict:
    """Per lab and task: status and points, from the recorded checks; tasks never run are 'not-run'."""
    rows, next_task = [], None
    earned = possible = 0.0
    tasks_done = tasks_total = 0
    for name, lab in labs.items():
        entry = record.get("labs", {}).get(name)
        checks = entry["checks"] if entry else []
        tasks = []
        for task_id, task in lab.tasks.items():
            everything = [c for c in checks if c["task"] == task_id]
            # A check graded by the instructor (Task 10.6 in a student's copy) is not counted here.
            mine = [c for c in everything if results.counted(c)]
            status = results.task_status(c["status"] for c in everything) if everything else Status.NOT_RUN
            points, max_points = sum(c["points"] for c in mine), sum(c["max_points"] for c in mine)
            first_failure = next((c["message"] for c in mine if c["status"] != "pass"), "")
            tasks.append(
                {
                    "task": task_id,
                    "title": task.title,
                    "status": status,
                    "points": points,
                    "max_points": max_points,
                    "message": first_failure,
                }
            )
            if status == Status.BY_INSTRUCTOR:
                continue
            tasks_total += 1
            tasks_done += status == "pass"
            if status != "pass" and next_task is None:
                next_task = {**tasks[-1], "where_to_read": task.where_to_read}
        lab_points = sum(t["points"] for t in tasks)
        lab_max = sum(t["max_points"] for t in tasks)
        earned += lab_points
        possible += lab_max
        rows.append(
            {
                "lab": name,
                "title": lab.title,
                "tasks": tasks,
                "points": lab_points,
                "max_points": lab_max,
                "checked": entry is not None,
                "recorded_at": entry["recorded_at"] if entry else None,
                "notes": entry.get("notes", []) if entry else [],
            }
        )
    return {
        "labs": rows,
        "points": earned,
        "max_points": possible,
        "percent": round(100 * earned / possible, 1) if possible else 0.0,
        "tasks_passed": tasks_done,
        "tasks": tasks_total,
        "next": next_task,
        "unchecked": [row["lab"] for row in rows if not row["checked"]],
    }


def _num(value: float) -> str:
    return f"{value:g}"


def render(summary: dict, target_name: str, colour: bool = False) -> str:
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour else text

    width = max((len(row["tasks"]) for row in summary["labs"]), default=0)
    lines = [f"Workbook status — the code in {target_name}/", ""]
    header = "lab   " + "".join(f"{'#' + str(k):<{CELL}}" for k in range(1, width + 1)) + "points"
    lines.append(header)
    for row in summary["labs"]:
        cells = ""
        for task in row["tasks"]:
            text, code = LABELS.get(task["status"], (task["status"], "31"))
            cells += paint(f"{text:<{CELL}}", code)
        cells += " " * CELL * (width - len(row["tasks"]))
        points = f"{_num(row['points'])} / {_num(row['max_points'])}" if row["checked"] else "not run yet"
        lines.append(f"{row['lab']:<6}{cells}{points:<12} {row['title']}")
    lines += ["", LEGEND, ""]
    lines.append(
        f"Complete: {_num(summary['points'])} of {_num(summary['max_points'])} points "
        f"({summary['percent']:g} %), {summary['tasks_passed']} of {summary['tasks']} tasks passed"
    )
    if summary["unchecked"]:
        lines.append(f"Not run yet: {', '.join(summary['unchecked'])} (python -m workbook status runs them)")
    for row in summary["labs"]:
        lines.extend(f"Note: {note}" for note in row["notes"])
    nxt = summary["next"]
    if nxt is None:
        lines.append("Every task passes. Well done!")
    else:
        lines.append(f"Next: Task {nxt['task']} — {nxt['title']} ({NEXT_WORDS.get(nxt['status'], nxt['status'])})")
        if nxt["message"] and nxt["status"] != "not-started":
            lines.append("      " + nxt["message"].splitlines()[0][:200])
        lines.append(f"      read {nxt['where_to_read']}")
        lines.append(f"      stuck? python -m workbook hint {nxt['task']}")
    return "\n".join(lines)


# --- running the checks ------------------------------------------------------------------------------


def run_labs(labs: list[str], target: Path, jobs: int, lab_timeout: float) -> list[LabRun]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda lab: lab_process.run_lab(lab, target, wall_limit=lab_timeout), labs))


def resolve_existing_target(value: str | None) -> Path:
    """The target folder, refusing one that does not exist (e.g. ``solutions`` in a student copy)."""
    path = resolve_target(value)
    if not path.is_dir():
        raise TargetError(f"{describe(path)}/ does not exist here ({path})")
    return path


def add_command(commands) -> None:
    parser = commands.add_parser(
        "status",
        help="your progress: a lab × task grid, points, percent complete, the next task",
        description="Run the labs' checks (each lab in its own process) and show a lab × task grid, the points "
        "per lab, how much is complete and which task to do next. A lab whose files, checks and "
        "workbook are unchanged since its last run is shown as recorded instead of run again (--all "
        "runs it anyway). Results are recorded in .workbook/status.json.",
    )
    parser.add_argument("--last", action="store_true", help="show the last recorded results; run nothing")
    parser.add_argument(
        "--all", action="store_true", help="run the labs even when unchanged since their last recorded run"
    )
    parser.add_argument(
        "--lab",
        action="append",
        dest="labs",
        metavar="LAB",
        help="look only at this lab (repeatable); the others are shown as last recorded",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="labs|solutions|DIR",
        help="the code to check (default: $WORKBOOK_TARGET or labs)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="labs checked at the same time (default %(default)s)",
    )
    parser.add_argument(
        "--lab-timeout",
        type=float,
        default=DEFAULT_LAB_TIMEOUT,
        metavar="SECONDS",
        help="stop a lab's checks after this long (default %(default)g)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    labs = catalog.labs()
    try:
        target = resolve_existing_target(args.target)
    except TargetError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 2
    key = describe(target)
    if args.labs and (unknown := [lab for lab in args.labs if lab not in labs]):
        print(f"status: unknown lab(s) {', '.join(unknown)}; the workbook has {', '.join(labs)}", file=sys.stderr)
        return 2
    if args.last:
        record = recorded(key)
    else:
        before = recorded(key).get("labs", {})
        digests = {lab: lab_digest(lab, target) for lab in args.labs or labs}
        chosen = [lab for lab, digest in digests.items() if args.all or before.get(lab, {}).get("digest") != digest]
        unchanged = [lab for lab in digests if lab not in chosen]
        if unchanged:
            print(f"unchanged since their last run: {', '.join(unchanged)} (--all runs them too)", file=sys.stderr)
        if chosen:
            print(f"checking {', '.join(chosen)} in {key}/ …", file=sys.stderr, flush=True)
        record = record_runs(key, run_labs(chosen, target, args.jobs, args.lab_timeout), digests)
    summary = summarise(record, labs)
    if args.json:
        print(json.dumps({"target": key, **summary}, indent=2, ensure_ascii=False))
    else:
        print(render(summary, key, colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    return 0
