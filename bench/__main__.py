"""``python -m bench``: measure lab 9's services and write RESULTS.md, results.png and results.json.

.venv/bin/python -m bench                  # the full run (about ten minutes)
.venv/bin/python -m bench --quick          # one round of 2 s each (about three minutes)
.venv/bin/python -m bench --smoke --out /tmp/bench   # seconds; for the test suite
.venv/bin/python -m bench --render bench/results.json  # redraw the table and chart from a run's data
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from . import report, runner

HERE = Path(__file__).resolve().parent
SMOKE_LOADS = {"hello", "lab9-lr", "lab9-lr-batch"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measured run (default 4)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured warm-up before each load (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per load; the median is kept (default 3)")
    parser.add_argument(
        "--tool", choices=("auto", "wrk", "python"), default="auto", help="load generator (default: wrk when installed)"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SERVER",
        help="only this server (lab9, baseline, lab9-2w, gunicorn-uvicorn, flask, flask-2w)",
    )
    parser.add_argument("--quick", action="store_true", help="one round of 2 s")
    parser.add_argument("--smoke", action="store_true", help="a few seconds in all: checks the code path")
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the results (default bench/)")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: rewrite the table and chart from a run's results.json",
    )
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text(encoding="utf-8"))
        for path in report.write_all(result, args.out, result.get("command", "python -m bench")):
            print(f"wrote {path}")
        return 0
    loads = None
    if args.quick:
        args.seconds, args.rounds, args.warmup = 2.0, 1, 0.5
    if args.smoke:
        args.seconds, args.rounds, args.warmup, args.tool = 0.3, 1, 0.1, "python"
        args.only, loads = ["lab9"], SMOKE_LOADS
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    result = runner.run(
        seconds=args.seconds,
        warmup=args.warmup,
        rounds=args.rounds,
        tool=args.tool,
        only=set(args.only) if args.only else None,
        loads=loads,
    )
    result["command"] = command.strip()
    for path in report.write_all(result, args.out, result["command"]):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
