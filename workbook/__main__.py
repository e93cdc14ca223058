"""Command-line entry point: ``python -m workbook COMMAND`` (``--help`` on each command).

For students: status, watch, hint, reset, doctor. For instructors: grade, build --student, build-starters.
"""

from __future__ import annotations

import argparse
import os
import sys

from workbook.builders import starters


def cmd_build_starters(args: argparse.Namespace) -> int:
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


def make_parser() -> argparse.ArgumentParser:
    # Each command lives in its own module, with an add_command(commands) that declares its options.
    from workbook import doctor, grading, hints, mutation, reset, status, watch
    from workbook.builders import student_copy as student_build

    parser = argparse.ArgumentParser(
        prog="python -m workbook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status.add_command(commands)
    watch.add_command(commands)
    hints.add_command(commands)
    reset.add_command(commands)
    doctor.add_command(commands)
    grading.add_command(commands)
    student_build.add_command(commands)
    mutation.add_command(commands)

    build = commands.add_parser(
        "build-starters",
        help="generate labs/ from the marked solutions/",
        description="Generate the student starters in labs/ from solutions/.",
    )
    build.add_argument("--check", action="store_true", help="only report files that are out of date")
    build.add_argument("--lab", help="only this lab (e.g. lab3)")
    build.set_defaults(run=cmd_build_starters)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`… | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
