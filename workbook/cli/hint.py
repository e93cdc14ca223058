"""``hint N.K``: hints that escalate. The first call gives a nudge, each later call one more hint.

The hints are the task's ``hints`` in ``checks/labN/lab.toml``. The level each task has reached is recorded in
``.workbook/hints.json`` (with the time of each call), so the next call goes on where the last one stopped.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from workbook import catalog, local_state

RECORD = "hints.json"


def levels() -> dict[str, dict]:
    """task id -> {"level": hints shown so far, "history": [{"level", "at"}]}."""
    return local_state.read_json(RECORD).get("tasks", {})


def take_hint(task: catalog.Task, again: bool = False) -> int:
    """Raise the task's level by one (not past the last hint, nor when ``again``); record it; return it."""
    data = local_state.read_json(RECORD)
    entry = data.setdefault("tasks", {}).setdefault(task.id, {"level": 0, "history": []})
    level = entry["level"] if again and entry["level"] else min(entry["level"] + 1, len(task.hints))
    entry["level"] = level
    entry["history"].append({"level": level, "at": datetime.now(UTC).isoformat(timespec="seconds")})
    local_state.write_json(RECORD, data)
    return level


def render(task: catalog.Task, level: int) -> str:
    total = len(task.hints)
    lines = [f"Task {task.id} — {task.title}   (hint {level} of {total})", f"Read: {task.where_to_read}", ""]
    for number, hint in enumerate(task.hints[:level], start=1):
        marker = "▶" if number == level else " "
        lines.append(f"{marker} {number}. {hint}")
    lines.append("")
    if level < total:
        lines.append(f"Still stuck? `python -m workbook hint {task.id}` gives hint {level + 1} of {total}.")
    else:
        lines.append(
            "That is every hint for this task. Re-read the section above, run the checks for their "
            "message, or ask your instructor."
        )
    return "\n".join(lines)


def render_levels(labs: dict[str, catalog.Lab]) -> str:
    used = levels()
    lines = ["Hints used so far (level / hints available):"]
    for lab in labs.values():
        for task in lab.tasks.values():
            level = used.get(task.id, {}).get("level", 0)
            lines.append(f"  {task.id:<6} {level} / {len(task.hints)}   {task.title}")
    return "\n".join(lines)


def add_command(commands) -> None:
    parser = commands.add_parser(
        "hint",
        help="a hint for a task; each call gives one more",
        description="Show the next hint for task N.K (e.g. 1.3): the first call gives a nudge, later calls "
        "give more. The level reached is recorded in .workbook/hints.json.",
    )
    parser.add_argument("task", nargs="?", metavar="N.K", help="the task, as in the checks' score table (e.g. 1.3)")
    parser.add_argument("--again", action="store_true", help="show the hints you have had, without a new one")
    parser.add_argument("--list", action="store_true", help="list every task and the hint level used")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    labs = catalog.labs()
    if args.list or not args.task:
        print(render_levels(labs))
        if not args.task and not args.list:
            print("\nAsk for one with: python -m workbook hint N.K")
        return 0
    known = [task_id for lab in labs.values() for task_id in lab.tasks]
    task = catalog.task(args.task) if catalog.TASK_ID.match(args.task) else None
    if task is None:
        print(f"hint: there is no task {args.task!r}. Tasks: {' '.join(known)}", file=sys.stderr)
        return 2
    if not task.hints:
        print(f"Task {task.id} — {task.title} has no hints. Read: {task.where_to_read}")
        return 0
    print(render(task, take_hint(task, again=args.again)))
    return 0
