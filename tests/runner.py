"""Run the graded checks in a separate pytest process and read back the grader's JSON.

The project's tests never import student or solution code themselves: every verdict comes from the same
grader a student runs, in its own process, so one broken target cannot disturb another.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbook.paths import ROOT


@dataclass
class GradeRun:
    returncode: int
    output: str
    grade: dict

    def by_name(self) -> dict[str, dict]:
        return {check["name"]: check for check in self.grade["checks"]}

    def statuses(self) -> dict[str, str]:
        return {check["name"]: check["status"] for check in self.grade["checks"]}


def run_checks(*paths: str, target: str | Path, extra: tuple[str, ...] = (), timeout: float = 600) -> GradeRun:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "grade.json"
        command = [sys.executable, "-m", "pytest", *paths, "--target", str(target), "--grade-json", str(out),
                   "-q", "-p", "no:cacheprovider", *extra]
        env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_TARGET"}
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        output = done.stdout + done.stderr
        if not out.exists():
            raise AssertionError(f"the grader wrote no JSON (exit {done.returncode}):\n{output[-4000:]}")
        return GradeRun(done.returncode, output, json.loads(out.read_text()))



@functools.lru_cache(maxsize=None)
def planned(lab: str) -> dict:
    """The grader's JSON for a lab's checks collected but not run: every check it would grade, with its points."""
    return run_checks(f"checks/{lab}", target="solutions", extra=("--collect-only",)).grade


def lab_points(lab: str) -> float:
    """The points a lab's checks are worth (as the grader plans them: parametrised checks count once per case), so
    that tests follow the checks as they grow instead of repeating today's totals."""
    return float(planned(lab)["max_points"])
