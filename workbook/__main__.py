"""Command-line entry point: ``python -m workbook COMMAND`` (``--help`` on each command).

For students: status, watch, hint, reset, doctor. For instructors: grade, build --student, build-starters.
For authors: mutate.
"""

from __future__ import annotations

import argparse
import os
import sys


def make_parser() -> argparse.ArgumentParser:
    # Each command is a module of workbook.cli with an add_command(commands) that declares its options and the
    # function that runs it; imported here, not at the top, so `python -m workbook` starts before any of them.
    from workbook.cli import build, build_starters, doctor, grade, hint, mutate, reset, status, watch

    parser = argparse.ArgumentParser(
        prog="python -m workbook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (status, watch, hint, reset, doctor, grade, build, mutate, build_starters):
        command.add_command(commands)
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
