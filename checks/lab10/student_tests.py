"""Run the student's own tests (Task 10.6) against the reference service and against broken copies of it.

The service under test is whatever ``lab10`` the active target holds (the student's conftest imports
``lab10.app``), so a service here is a folder laid out like ``labs/`` with one ``lab10`` in it, and a run is
``pytest <a copy of the student's tests> --target <that folder>`` in a process of its own, with a time limit. The
outcome of every test comes back as JUnit XML. The reference service is the instructor's
``solutions/lab10``; each broken copy is the reference with one edit from ``services/broken.toml``.
Students' copies of the workbook have no ``solutions/`` — shipping the reference beside the checks would
hand out the answers to Tasks 10.1–10.5 — so there this task is graded by the instructor only.

A test still raising the starter's ``NotImplementedError("Task 10.6: ...")`` counts as not written.

Two things keep a suite honest. The services run *without their source*: each module is compiled to a
``.pyc`` beside where its ``.py`` was, and the ``.py`` removed, so a "test" that reads the service's source
text (``Path(lab10.auth.__file__).read_text()``, ``inspect.getsource``) fails on the reference service and
earns nothing; only requests and their answers can tell a service from a broken one. And on the
instructor's machine (which has ``tests/``) the suite also meets broken services that students never see
(``tests/lab10_unpublished_services.toml``): the published ones in ``services/broken.toml`` are a practice
set, so a suite written to spot exactly those edits does not pass for a good one.
"""

from __future__ import annotations

import compileall
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
UNPUBLISHED = ROOT / "tests" / "lab10_unpublished_services.toml"  # not in a student's copy (no tests/)
REFERENCE = SOLUTIONS / "lab10"
INSTRUCTOR_ONLY = (
    "Task 10.6 is graded by your instructor: it runs your tests against the reference service, which is not "
    "part of your copy of the workbook. Meanwhile, run them against your own service: pytest labs/lab10/tests"
)
STUB_MARK = "Task 10.6"
RUN_TIMEOUT = 180.0  # one pytest process over the student's tests
TEST_TIMEOUT = 60  # one test inside it
# The service's settings come from the fixtures, never from the shell that started the checks.
SETTINGS_ENV = (
    "MODEL_DIR",
    "MAX_UPLOAD_BYTES",
    "BATCH_CHUNK_ROWS",
    "JWT_SECRET",
    "JWT_ALGORITHM",
    "TOKEN_TTL_SECONDS",
    "USERS",
    "RATE_LIMIT",
    "RATE_PERIOD",
    "WORKBOOK_TARGET",
)


@dataclass(frozen=True)
class BrokenService:
    id: str
    bug: str
    file: str
    old: str
    new: str


def load_broken(unpublished: bool = True) -> list[BrokenService]:
    """The published practice set, then (where ``tests/`` exists: the instructor's machine) the unpublished."""
    services = []
    for source in (SERVICES / "broken.toml", UNPUBLISHED):
        if source == UNPUBLISHED and (not unpublished or not source.exists()):
            continue
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
        services += [BrokenService(**entry) for entry in raw["broken"]]
    return services


def strip_sources(package: Path) -> None:
    """Compile every module of ``package`` to a ``.pyc`` in its place and remove the ``.py`` (Python imports
    such sourceless modules): the service runs as before, but its source text cannot be read."""
    for path in package.rglob("*.py"):
        if "tests" in path.relative_to(package).parts:
            continue
        if not compileall.compile_file(str(path), legacy=True, quiet=2):
            raise RuntimeError(f"could not compile {path}")
        path.unlink()


def build_service(folder: Path, broken: BrokenService | None = None, *, sourceless: bool = False) -> Path:
    """``folder/lab10`` = the reference service, with ``broken``'s edit applied; returns ``folder``.
    ``sourceless``: only compiled modules, no source text (see the module docstring)."""
    shutil.copytree(REFERENCE, folder / "lab10", ignore=shutil.ignore_patterns("__pycache__"))
    if broken is not None:
        path = folder / "lab10" / broken.file
        source = path.read_text(encoding="utf-8")
        if source.count(broken.old) != 1:
            raise RuntimeError(
                f"checks/lab10/services/broken.toml: the edit for {broken.bug!r} matches "
                f"{source.count(broken.old)} times in {broken.file} (expected once)"
            )
        path.write_text(source.replace(broken.old, broken.new), encoding="utf-8")
    if sourceless:
        strip_sources(folder / "lab10")
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
        return {
            name
            for name, o in self.outcomes.items()
            if o.status in {"failed", "error"} and "NotImplementedError" in o.message and STUB_MARK in o.message
        }

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
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(tests_copy),
        "--target",
        str(service),
        "-p",
        "workbook.grader.plugin",
        "--rootdir",
        str(ROOT),
        "-c",
        str(ROOT / "pyproject.toml"),
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        f"--junitxml={report}",
        "-o",
        f"timeout={TEST_TIMEOUT}",
        "--basetemp",
        str(work / "tmp"),
    ]
    env = {name: value for name, value in os.environ.items() if name not in SETTINGS_ENV}
    try:
        done = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL
        )
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
