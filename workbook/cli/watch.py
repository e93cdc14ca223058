"""``watch labN``: run a lab's checks again whenever a file in ``labs/labN/`` changes.

File events come from ``watchfiles`` when it can watch the folder; where events do not arrive (network
drives, some containers and WSL set-ups) ``--poll`` compares file times and sizes every ``--interval``
seconds instead, and the watcher falls back to that by itself when file events cannot be set up.
Each run is recorded for ``status`` like a run of ``status --lab labN``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from workbook import catalog
from workbook.cli import status
from workbook.isolation import lab_process
from workbook.paths import CACHE_DIRS
from workbook.target import TargetError, describe

IGNORED_PARTS = CACHE_DIRS
DEBOUNCE = 0.3  # editors write a file in several steps: wait until the folder is quiet this long


def _relevant(path: Path, folder: Path) -> bool:
    relative = path.relative_to(folder) if path.is_relative_to(folder) else path
    name = relative.name
    return not (
        any(part in IGNORED_PARTS for part in relative.parts)
        or name.endswith((".pyc", "~", ".swp", ".swx"))
        or name.startswith(".#")
    )


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(modification time, size) of every relevant file under ``folder``."""
    files = {}
    for path in folder.rglob("*"):
        if _relevant(path, folder):
            try:
                stat = path.stat()
            except OSError:  # deleted while we looked
                continue
            if path.is_file():
                files[str(path.relative_to(folder))] = (stat.st_mtime_ns, stat.st_size)
    return files


def changed_files(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


def poll_changes(folder: Path, interval: float, stop: threading.Event) -> Iterator[list[str]]:
    """Yield the changed files each time the folder changes, then settles for DEBOUNCE seconds."""
    before = snapshot(folder)
    while not stop.is_set():
        time.sleep(interval)
        now = snapshot(folder)
        changed = changed_files(before, now)
        if not changed:
            continue
        while not stop.is_set():  # let the editor finish writing
            time.sleep(DEBOUNCE)
            settled = snapshot(folder)
            if settled == now:
                break
            changed = sorted(set(changed) | set(changed_files(now, settled)))
            now = settled
        before = now
        yield changed


def event_changes(folder: Path, stop: threading.Event) -> Iterator[list[str]]:
    """The same from file-system events (watchfiles); raises if events cannot be set up here."""
    import watchfiles

    for batch in watchfiles.watch(folder, stop_event=stop, debounce=int(DEBOUNCE * 1000), raise_interrupt=False):
        changed = sorted({str(Path(path).relative_to(folder)) for _, path in batch if _relevant(Path(path), folder)})
        if changed:
            yield changed


def changes(folder: Path, *, poll: bool, interval: float, stop: threading.Event) -> Iterator[list[str]]:
    if not poll:
        try:
            yield from event_changes(folder, stop)
            return
        except (ImportError, OSError, RuntimeError) as exc:
            print(f"file events are not available here ({exc}); checking every {interval:g} s instead", file=sys.stderr)
    yield from poll_changes(folder, interval, stop)


def run_once(lab: str, target: Path, lab_timeout: float) -> lab_process.LabRun:
    """Run the lab's checks with their normal output on the terminal; record and summarise the result."""
    digest = status.lab_digest(lab, target)
    run = lab_process.run_lab(lab, target, wall_limit=lab_timeout, capture=False)
    status.record_runs(describe(target), [run], {lab: digest})
    for note in run.notes:
        print(f"note: {note}")
    passed = sum(c.status == "pass" for c in run.checks)
    print(
        f"{lab}: {passed} of {len(run.checks)} checks pass, {run.points:g} / {run.max_points:g} points "
        f"({time.strftime('%H:%M:%S')})",
        flush=True,
    )
    return run


def watch(
    lab: str, target: Path, *, poll: bool, interval: float, lab_timeout: float, max_runs: int | None = None
) -> int:
    folder = target / lab
    runs = 0
    stop = threading.Event()
    try:
        while True:
            before_run = snapshot(folder)
            run_once(lab, target, lab_timeout)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return 0
            if during := changed_files(before_run, snapshot(folder)):
                print(f"\nchanged while the checks ran: {', '.join(during)}", flush=True)
                continue
            print(f"watching {describe(target)}/{lab}/ for changes (Ctrl+C to stop) …", flush=True)
            # A fresh watcher for each wait: what the run itself wrote is not a change.
            changed = next(changes(folder, poll=poll, interval=interval, stop=stop), None)
            if changed is None:
                return 0
            print(f"\nchanged: {', '.join(changed)}", flush=True)
    finally:
        stop.set()


def add_command(commands) -> None:
    parser = commands.add_parser(
        "watch",
        help="re-run a lab's checks whenever you save a file in it",
        description="Run labN's checks, then again every time a file in labs/labN/ changes. Uses file "
        "events, or checks the files' times every --interval seconds with --poll (or when "
        "events are not available). Stop with Ctrl+C.",
    )
    parser.add_argument("lab", metavar="LAB", help="the lab to watch, e.g. lab1")
    parser.add_argument("--poll", action="store_true", help="compare file times instead of using file events")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="SECONDS", help="how often --poll looks (default %(default)g)"
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="labs|solutions|DIR",
        help="the code to check (default: $WORKBOOK_TARGET or labs)",
    )
    parser.add_argument(
        "--lab-timeout",
        type=float,
        default=status.DEFAULT_LAB_TIMEOUT,
        metavar="SECONDS",
        help="stop one run of the checks after this long (default %(default)g)",
    )
    parser.add_argument(
        "--max-runs",
        type=int,
        default=None,
        metavar="N",
        help="stop after N runs of the checks (for scripts; default: run until Ctrl+C)",
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    labs = catalog.labs()
    if args.lab not in labs:
        print(f"watch: unknown lab {args.lab!r}; the workbook has {', '.join(labs)}", file=sys.stderr)
        return 2
    try:
        target = status.resolve_existing_target(args.target)
    except TargetError as exc:
        print(f"watch: {exc}", file=sys.stderr)
        return 2
    if not (target / args.lab).is_dir():
        print(
            f"watch: {describe(target)}/{args.lab}/ does not exist: `python -m workbook reset {args.lab}` "
            "restores the starter",
            file=sys.stderr,
        )
        return 2
    if args.interval <= 0:
        print("watch: --interval must be positive", file=sys.stderr)
        return 2
    return watch(
        args.lab, target, poll=args.poll, interval=args.interval, lab_timeout=args.lab_timeout, max_runs=args.max_runs
    )
