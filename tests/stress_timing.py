"""Stress the timing checks: run them many times while other cores are kept busy.

Concurrency is lab content, so some checks measure wall time (labs 1 and 2). Their margins must hold on a
busy 2-core machine. This script keeps ``--burners`` processes spinning at 100 % CPU, runs the timing
checks ``--runs`` times against the solutions, and also runs the timing mistakes each time (they must
still be caught). It prints one line per run and a summary, and exits non-zero on any flake.

    .venv/bin/python tests/stress_timing.py --runs 20 --burners 1

It is not part of ``make test`` (it takes minutes); the closing notes of the issues quote its results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.mistakes import load_mistakes  # noqa: E402
from tests.support.runner import run_checks  # noqa: E402

TIMING_LABS = ("checks/lab1", "checks/lab2", "checks/lab6")
TIMING_MISTAKES = (
    "time.sleep inside the coroutine",
    "awaits each task right after creating it",
    "time.sleep in the fixed async route",
    "slow-sync declared async def",
    "slow-async does not block (anti-pattern 'fixed' by accident)",
    "writes the log line before answering",
    "async background task that sleeps with time.sleep",
    "sleeps while holding the lock",
    "ignores log_delay",
)


def burn() -> None:
    while True:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--burners", type=int, default=1, help="CPU-bound processes kept running meanwhile")
    args = parser.parse_args()

    mistakes = [m for m in load_mistakes() if m.name in TIMING_MISTAKES]
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    flakes = []
    try:
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            result = run_checks(*TIMING_LABS, target="solutions")
            failed = [c["name"] for c in result.grade["checks"] if c["status"] != "pass"]
            missed = []
            for mistake in mistakes:
                with tempfile.TemporaryDirectory() as scratch:
                    statuses = run_checks(f"checks/{mistake.lab}", target=mistake.apply(Path(scratch))).statuses()
                missed += [
                    f"{mistake.name} -> {name}"
                    for name in mistake.caught_by
                    if statuses.get(name) not in {"fail", "timeout"}
                ]
            slowest = max(result.grade["checks"], key=lambda c: c["duration"])
            print(
                f"run {run:>2}: {len(result.grade['checks']) - len(failed)}/{len(result.grade['checks'])} pass "
                f"on solutions, {len(mistakes) - len(missed)}/{len(mistakes)} mistakes caught, "
                f"slowest check {slowest['duration']:.2f} s, {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            flakes += [f"run {run}: solution check failed: {name}" for name in failed]
            flakes += [f"run {run}: mistake not caught: {m}" for m in missed]
    finally:
        for burner in burners:
            burner.terminate()
    print(f"\n{args.runs} runs with {args.burners} busy core(s): {len(flakes)} flake(s)")
    for flake in flakes:
        print("  " + flake)
    return 1 if flakes else 0


if __name__ == "__main__":
    sys.exit(main())
