"""``build --student OUT``: write the copy of the workbook students get (:mod:`workbook.builders.student_copy`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbook.builders.student_copy import BuildError, build_student


def add_command(commands) -> None:
    parser = commands.add_parser(
        "build",
        help="build the copy of the workbook to hand out to students (instructors)",
        description="Write a copy of the workbook without solutions/ (nor tests/, .ci/), with fresh starters "
        "in labs/ and an untouched copy of them in starters/ for `reset`.",
    )
    parser.add_argument(
        "--student",
        required=True,
        type=Path,
        metavar="OUT",
        help="the folder to write the student copy into (new or empty)",
    )
    parser.add_argument("--force", action="store_true", help="replace the contents of OUT if it is not empty")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    try:
        notes = build_student(args.student, force=args.force)
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 2
    print(f"student copy written to {args.student}")
    for note in notes:
        print(f"  {note}")
    print("Students start with: make lab   (inside that folder)")
    return 0
