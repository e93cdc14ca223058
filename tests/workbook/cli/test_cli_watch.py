"""``watch labN``: runs the checks, then again when a file of the lab changes — by polling, or by file events."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from tests.support.cli import student_env
from workbook.builders import starters
from workbook.cli import watch
from workbook.paths import ROOT, SOLUTIONS


def start_watch(target, state, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "workbook", "watch", "lab1", "--target", str(target), "--max-runs", "2", *extra],
        cwd=ROOT,
        env=student_env(state),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(process, text: str, timeout: float = 120) -> str:
    """Output of ``process`` up to the first line containing ``text``."""
    seen: list[str] = []
    found = threading.Event()

    def reader():
        for line in process.stdout:
            seen.append(line)
            if text in line:
                found.set()
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    if not found.wait(timeout):
        process.kill()
        pytest.fail(f"no {text!r} within {timeout} s:\n{''.join(seen)[-3000:]}")
    return "".join(seen)


@pytest.mark.parametrize("mode", [["--poll", "--interval", "0.2"], []], ids=["polling", "file-events"])
def test_watch_runs_again_when_a_file_changes(tmp_path, mode):
    for relative, content in starters.starter_files(SOLUTIONS / "lab1").items():
        (tmp_path / "target" / "lab1" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "target" / "lab1" / relative).write_bytes(content)
    state = tmp_path / "state"
    process = start_watch(tmp_path / "target", state, *mode)
    try:
        first = read_until(process, "watching")
        starting = re.search(r"lab1: 0 of (\d+) checks pass, 0 / (\d+) points", first)
        assert starting, first
        checks, points = starting.groups()
        time.sleep(0.5)
        shutil.copy(SOLUTIONS / "lab1" / "runners.py", tmp_path / "target" / "lab1" / "runners.py")
        rest, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert (
        "changed: runners.py" in rest and f"lab1: {checks} of {checks} checks pass, {points} / {points} points" in rest
    ), rest
    assert f"TOTAL {points} / {points}" in rest  # the checks' own output reaches the terminal
    record = json.loads((state / "status.json").read_text())
    (labs,) = record["targets"].values()
    assert sum(c["points"] for c in labs["labs"]["lab1"]["checks"]) == int(points)


def test_polling_sees_changes_and_ignores_caches(tmp_path):
    (tmp_path / "app.py").write_text("x = 1\n")
    stop = threading.Event()
    changes = watch.poll_changes(tmp_path, 0.05, stop)

    def edit():
        time.sleep(0.3)
        (tmp_path / "__pycache__").mkdir()
        (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"0")
        (tmp_path / "app.py").write_text("x = 2  # longer\n")

    threading.Thread(target=edit).start()
    assert next(changes) == ["app.py"]
    stop.set()


def test_watch_refuses_an_unknown_lab():
    done = subprocess.run(
        [sys.executable, "-m", "workbook", "watch", "lab99"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "unknown lab" in done.stderr
