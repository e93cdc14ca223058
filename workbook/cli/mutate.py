"""``mutate LAB``: how strong are a lab's checks? The engine is :mod:`workbook.mutation.engine`.

python -m workbook mutate lab3 [--task 3.2] [--jobs 2] [--max-per-task N] [--list]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from workbook import catalog
from workbook.mutation.engine import REPORTS, MutationError, lab_mutants, print_report, run_lab, sample
from workbook.paths import SOLUTIONS


def add_command(commands) -> None:
    parser = commands.add_parser(
        "mutate",
        help="mutation-test a lab's checks against its solution (authors)",
        description="Mutate the marked task functions of solutions/LAB one small edit at a time, grade each "
        "mutant with the lab's checks through --target, and report killed / survived per task, the "
        "survivors' diffs and the score. Survivors recorded in tests/mutation/LAB.toml as "
        "equivalent or irrelevant are left out of the score; those recorded as a known gap count against it. "
        "Exit 1 when a survivor is not recorded.",
    )
    parser.add_argument("lab", help="e.g. lab3")
    parser.add_argument("--task", action="append", dest="tasks", metavar="N.K", help="only this task (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, metavar="N", help="mutants graded at the same time (2)")
    parser.add_argument(
        "--max-per-task",
        type=int,
        default=None,
        metavar="N",
        help="at most N mutants per task: a stable sample (smallest hash of the id)",
    )
    parser.add_argument("--no-cache", dest="cache", action="store_false", help="grade every mutant again")
    parser.add_argument(
        "--no-fork-server",
        dest="fork",
        action="store_false",
        help="start a fresh Python per run instead of forking a warm one",
    )
    parser.add_argument("--list", action="store_true", help="only list the mutants (id and diff), grade nothing")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    if args.lab not in catalog.labs() or not (SOLUTIONS / args.lab).is_dir():
        print(f"unknown lab {args.lab!r} (or no solutions/ here): {', '.join(catalog.labs())}", file=sys.stderr)
        return 2
    if args.list:
        mutants = sample(
            [m for m in lab_mutants(args.lab) if not args.tasks or m.task in args.tasks], args.max_per_task
        )
        for mutant in mutants:
            print(mutant.diff((SOLUTIONS / args.lab / mutant.file).read_text(encoding="utf-8")))
        print(f"{len(mutants)} mutants")
        return 0

    def stop(signum, frame):  # a SIGTERM (a test's timeout, a CI cancel) ends the runs in flight too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        report = run_lab(
            args.lab,
            tasks=args.tasks,
            jobs=args.jobs,
            per_task=args.max_per_task,
            use_cache=args.cache,
            fork=args.fork,
            progress=lambda line: print(line, flush=True),
        )
    except MutationError as exc:
        print(f"cannot measure: {exc}", file=sys.stderr)
        return 2
    print_report(report)
    data = report.as_dict()
    REPORTS.mkdir(parents=True, exist_ok=True)
    for path in [REPORTS / f"{args.lab}.json", *([args.json] if args.json else [])]:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 1 if report.unrecorded() else 0
