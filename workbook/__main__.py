"""Command-line entry point: ``python -m workbook COMMAND`` (``--help`` on each command)."""

from __future__ import annotations

import argparse
import sys

from workbook import starters


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
    parser = argparse.ArgumentParser(prog="python -m workbook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build-starters", help="generate labs/ from the marked solutions/",
                                description="Generate the student starters in labs/ from solutions/.")
    build.add_argument("--check", action="store_true", help="only report files that are out of date")
    build.add_argument("--lab", help="only this lab (e.g. lab3)")
    build.set_defaults(run=cmd_build_starters)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
