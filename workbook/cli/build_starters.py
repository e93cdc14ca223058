"""``build-starters [--lab labN] [--check]``: generate ``labs/`` from the marked ``solutions/``."""

from __future__ import annotations

import argparse

from workbook.builders import starters


def add_command(commands) -> None:
    parser = commands.add_parser(
        "build-starters",
        help="generate labs/ from the marked solutions/",
        description="Generate the student starters in labs/ from solutions/.",
    )
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("--lab", help="only this lab (e.g. lab3)")
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    if args.check:
        problems = starters.drift()
        for problem in problems:
            print(problem)
        if problems:
            print("labs/ is out of date: run `python -m workbook build-starters`.")
            return 1
        print("labs/ matches what solutions/ generates.")
        return 0
    written = starters.build(only=args.lab)
    print(f"wrote {len(written)} starter files into labs/")
    return 0
