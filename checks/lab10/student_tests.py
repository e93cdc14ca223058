"""Run the student's own tests (Task 10.6) against the reference service and against broken copies of it.

The service under test is whatever ``lab10`` the active target holds (the student's conftest imports
``lab10.app``), so a service here is a folder laid out like ``labs/`` with one ``lab10`` in it, and a run is
``pytest <a copy of the student's tests> --target <that folder>`` in a process of its own, with a time limit. The
outcome of every test comes back as JUnit XML. The reference service is the instructor's
``solutions/lab10``; each broken copy is the reference with one edit from ``services/broken.toml``.
Students' copies of the workbook have no ``solutions/`` — shipping the reference beside the checks would
hand out the answers to Tasks 10.1–10.5 — so there this task is graded by the instructor only.

A test still raising the starter's ``NotImplementedError("Task 10.6: ...")`` counts as not written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from workbook.paths import ROOT, SOLUTIONS

SERVICES = Path(__file__).parent / "services"
REFERENCE = SOLUTIONS / "lab10"
INSTRUCTOR_ONLY = (
    "Task 10.6 is graded by your instructor: it runs your tests against the reference service, which is not "
    "part of your copy of the workbook. Meanwhile, run them against your own service: pytest labs/lab10/tests"
)
STUB_MARK = "Task 10.6"
RUN_TIMEOUT = 180.0  # one pytest process over the student's tests
TEST_TIMEOUT = 60  # one test inside it
# The service's settings come from the fixtures, never from the shell that started the checks.
SETTINGS_ENV = ("MODEL_DIR", "MAX_UPLOAD_BYTES", "BATCH_CHUNK_ROWS", "JWT_SECRET", "JWT_ALGORITHM",
                "TOKEN_TTL_SECONDS", "USERS", "RATE_LIMIT", "RATE_PERIOD", "WORKBOOK_TARGET")


@dataclass(frozen=True)
class BrokenService:
    id: str
    bug: str
    file: str
    old: str
    new: str


def load_broken() -> list[BrokenService]:
    raw = tomllib.loads((SERVICES / "broken.toml").read_text(encoding="utf-8"))
    return [BrokenService(**entry) for entry in raw["broken"]]


def build_service(folder: Path, broken: BrokenService | None = None) -> Path:
    """``folder/lab10`` = the reference service, with ``broken``'s edit applied; returns ``folder``."""
    shutil.copytree(REFERENCE, folder / "lab10", ignore=shutil.ignore_patterns("__pycache__"))
    if broken is not None:
        path = folder / "lab10" / broken.file
        source = path.read_text(encoding="utf-8")
        if source.count(broken.old) != 1:
            raise RuntimeError(f"checks/lab10/services/broken.toml: the edit for {broken.bug!r} matches "
                               f"{source.count(broken.old)} times in {broken.file} (expected once)")
        path.write_text(source.replace(broken.old, broken.new), encoding="utf-8")
    return folder


@dataclass
class Outcome:
    status: str  # passed, failed, error, skipped
    message: str = ""


@dataclass
class SuiteRun:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    output: str = ""
    timed_out: bool = False

    def not_written(self) -> set[str]:
        return {name for name, o in self.outcomes.items()
                if o.status in {"failed", "error"} and "NotImplementedError" in o.message and STUB_MARK in o.message}

    def failing(self, ignore: set[str] = frozenset()) -> dict[str, Outcome]:
        return {name: o for name, o in self.outcomes.items() if o.status in {"failed", "error"} and name not in ignore}

    def passing(self) -> set[str]:
        return {name for name, o in self.outcomes.items() if o.status == "passed"}


def run_tests(tests_dir: Path, service: Path, work: Path) -> SuiteRun:
    """The student's tests against the ``lab10`` in ``service``, in a pytest process of their own."""
    work.mkdir(parents=True, exist_ok=True)
    # A copy, outside any package: collecting lab10/tests in place makes pytest import the lab10/ around it
    # as `lab10`, and the tests would test that one instead of the service on --target.
    tests_copy = shutil.copytree(tests_dir, work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    report = work / "junit.xml"
    command = [sys.executable, "-m", "pytest", str(tests_copy), "--target", str(service), "-p", "workbook.grader",
               "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-p", "no:cacheprovider", "-q",
               "--no-header", f"--junitxml={report}", "-o", f"timeout={TEST_TIMEOUT}",
               "--basetemp", str(work / "tmp")]
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_ENV}
    try:
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return SuiteRun(output=output, timed_out=True)
    run = SuiteRun(output=done.stdout + done.stderr)
    if report.exists():
        run.outcomes = read_junit(report)
    return run


def read_junit(report: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").rpartition(".")[2]
        name = f"{module}::{case.get('name', '?')}" if module else case.get("name", "?")
        outcome = Outcome("passed")
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                status = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "") + "\n" + (child.text or "")
                outcome = Outcome(status, message.strip())
                break
        # A test can report twice (a failing test whose teardown errors too): keep the worst.
        if name not in outcomes or outcomes[name].status == "passed":
            outcomes[name] = outcome
    return outcomes


def first_line(message: str) -> str:
    for line in message.splitlines():
        if line.strip():
            return line.strip()[:200]
    return "(no message)"
