"""The grader: a pytest plugin loaded by the repository's ``conftest.py``.

Every check under ``checks/`` carries ``@pytest.mark.task("3.2", points=2)``. The plugin

* picks the code under test (``--target labs|solutions|DIR`` or ``WORKBOOK_TARGET``),
* gives every check a timeout, so a hang fails that check and the run goes on,
* turns each outcome into one status (:class:`workbook.results.Status`: pass, fail, not-started, timeout,
  import-error; and two that cost nothing: not-run, graded-by-instructor) and replaces tracebacks with a message for the student: what was
  expected, what happened, where to read,
* prints a score table per lab at the end and, with ``--grade-json FILE``, writes the same as JSON.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast

import pytest

from workbook import catalog, results
from workbook.checkkit.clients import async_client as start_async_client
from workbook.checkkit.clients import sync_client as start_sync_client
from workbook.checkkit.student import StudentImportError, as_missing_name, exception_chain, show_path
from workbook.paths import CHECKS
from workbook.results import INFO, CheckResult, Status
from workbook.target import ENV_VAR, TargetError, activate, describe, resolve_target

NOT_RUN, BY_INSTRUCTOR = Status.NOT_RUN, Status.BY_INSTRUCTOR
DEFAULT_CHECK_TIMEOUT = 10.0
TIMEOUT_PREFIX = "Timeout (>"
TIMEOUT_REPEAT = 2.0  # after a check's timeout, interrupt again this often until it has ended
TIMEOUT_LAST_RESORT = 30.0  # ... and if it still has not ended this long after its timeout, end the run
NOT_STARTED = re.compile(r"Task (\d+\.\d+)")
STATUS_WIDTH = 13  # the score table's status column, wider only when a longer word is shown

if TYPE_CHECKING:  # pytest.skip.Exception is this class; mypy cannot take a base class from a function's attribute
    from _pytest.outcomes import Skipped as _Skip
else:
    _Skip = pytest.skip.Exception


class GradedByInstructor(_Skip):
    """Raised by a check (in ``checks/``) that cannot grade here; the message says who does and what to do
    meanwhile. The check gets the status graded-by-instructor and its points leave the local max. Raised from
    anywhere else (the code under test), it is an ordinary skip: a failure."""


@dataclass
class GraderState:
    target: Path
    planned: dict[str, tuple[str, float]] = field(default_factory=dict)  # nodeid -> (task, points)
    results: dict[str, CheckResult] = field(default_factory=dict)
    deselected: set[str] = field(default_factory=set)  # nodeids deselected with -k/-m/--deselect/--lf
    exitstatus: int = 0


STATE = pytest.StashKey[GraderState]()


# --- options and set-up --------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workbook", "lab workbook grader")
    group.addoption(
        "--target", default=None, metavar="labs|solutions|DIR", help=f"code under test (default: ${ENV_VAR} or 'labs')"
    )
    group.addoption("--grade-json", default=None, metavar="FILE", help="also write the scores as JSON to FILE")
    group.addoption(
        "--check-timeout",
        type=float,
        default=DEFAULT_CHECK_TIMEOUT,
        metavar="SECONDS",
        help=f"timeout of a check that sets none itself (default {DEFAULT_CHECK_TIMEOUT:g})",
    )
    group.addoption(
        "--grader-tracebacks",
        action="store_true",
        help="keep pytest's full tracebacks instead of the student-facing messages",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id, points=1): the lab task a check grades and its points")
    config.addinivalue_line(
        "markers",
        "needs(*ids): earlier tasks whose code this check cannot avoid going "
        "through; a failure message then says to fix those first",
    )
    try:
        target = resolve_target(config.getoption("target"))
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    activate(target)
    # Subprocesses a check starts (uvicorn, notebooks) select the same target.
    os.environ[ENV_VAR] = str(target)
    config.stash[STATE] = GraderState(target=target)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    for item in items:
        marker = item.get_closest_marker("task")
        if marker is None:
            continue
        state.planned[item.nodeid] = (str(marker.args[0]), float(marker.kwargs.get("points", 1)))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(config.getoption("check_timeout")))


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Checks deselected after collection (``-k``, ``-m``, ``--deselect``, ``--lf``) are "not run", not failed."""
    if items:
        state = items[0].config.stash.get(STATE, None)
        if state is not None:
            state.deselected.update(item.nodeid for item in items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Train the reference models before the first check starts, outside every check's timeout.

    Importing scikit-learn and training take seconds on a busy machine; a check's timeout should measure
    the student's code, not that. Labs whose catalog says ``reference_models = true`` need them.
    """
    state = session.config.stash[STATE]
    labs = {catalog.lab_of(task_id) for nodeid, (task_id, _) in state.planned.items() if nodeid not in state.deselected}
    if any(lab.reference_models for name, lab in catalog.labs().items() if name in labs):
        from labkit.models import MODEL_NAMES, reference_model

        for name in MODEL_NAMES:
            reference_model(name)


# --- timeouts that always end a check --------------------------------------------------------------
#
# pytest-timeout's "signal" method interrupts a check once. A hang in code that runs after that
# interruption (a ``with ThreadPoolExecutor()`` joining threads stuck on a student's lock, a fixture's
# teardown waiting for a server thread) then waits forever: pytest-timeout also cancels its timer as soon
# as a check fails (its ``pytest_exception_interact``), so teardown has no timeout at all. For graded
# checks the grader sets the timer itself, through pytest-timeout's own hooks:
#
# * at the check's timeout SIGALRM fails it with pytest-timeout's message (status "timeout");
# * every TIMEOUT_REPEAT seconds after that, until the check's setup, call and teardown are over, it
#   interrupts again (a lock wait, a join, a sleep in the main thread all give way to a signal), so a hang
#   in clean-up ends too and the run goes on with the next check;
# * a watchdog thread is the last resort for a main thread that no signal reaches (blocked in C code):
#   TIMEOUT_LAST_RESORT seconds after the timeout it records the timeout, prints the score table (the
#   checks not run yet count as not run) and ends the process.


class _Deadline:
    def __init__(self, item: pytest.Item, timeout: float) -> None:
        self.item = item
        self.timeout = timeout
        self.fired = False
        self.done = threading.Event()
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None
        self.in_phase = False  # only setup, call and teardown are interrupted, never pytest's own reporting

    def start(self) -> None:
        self.previous = signal.signal(signal.SIGALRM, self._on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.timeout, TIMEOUT_REPEAT)
        threading.Thread(target=self._watch, name=f"workbook deadline {self.item.nodeid}", daemon=True).start()

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)
        self.done.set()

    def _on_alarm(self, signum, frame):
        __tracebackhide__ = True
        if not self.in_phase:
            return
        first, self.fired = not self.fired, True
        message = f"Timeout (>{self.timeout:g}s) from pytest-timeout."
        if not first:
            message += " (interrupted again: the check's clean-up hung too)"
        pytest.fail(message, pytrace=False)

    def _watch(self) -> None:
        if self.done.wait(self.timeout + TIMEOUT_LAST_RESORT):
            return
        config = self.item.config
        state = config.stash.get(STATE, None)
        if state is not None and self.item.nodeid in state.planned:
            task_id, points = state.planned[self.item.nodeid]
            previous = state.results.get(self.item.nodeid)
            if previous is None or previous.status == "pass":
                message = _explain("timeout", "", catalog.task(task_id), self.timeout)
                state.results[self.item.nodeid] = _result(
                    self.item, task_id, points, "timeout", message, self.timeout + TIMEOUT_LAST_RESORT
                )
            state.exitstatus = int(pytest.ExitCode.TESTS_FAILED)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        try:
            if reporter is not None:
                reporter.write_line("")
                reporter.write_line(
                    f"{self.item.nodeid} hung and could not be interrupted: the checks after it were not run.",
                    red=True,
                    bold=True,
                )
                pytest_terminal_summary(reporter, int(pytest.ExitCode.TESTS_FAILED), config)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(pytest.ExitCode.TESTS_FAILED))


_DEADLINE = pytest.StashKey[_Deadline]()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings):
    """A graded check's timer (see above); other tests keep pytest-timeout's own."""
    state = item.config.stash.get(STATE, None)
    if (
        state is None
        or item.nodeid not in state.planned
        or not settings.timeout
        or settings.timeout <= 0
        or threading.current_thread() is not threading.main_thread()
        or not hasattr(signal, "SIGALRM")
    ):
        return None
    deadline = _Deadline(item, float(settings.timeout))
    item.stash[_DEADLINE] = deadline
    deadline.start()
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item):
    """pytest-timeout cancels when a check fails, before its teardown: a graded check's timer keeps
    running until its whole protocol is over (the wrapper below stops it)."""
    if _DEADLINE in item.stash:
        return True
    return None


def _phase(item: pytest.Item):
    deadline = item.stash.get(_DEADLINE, None)
    if deadline is not None:
        deadline.in_phase = True
    try:
        yield
    finally:
        if deadline is not None:
            deadline.in_phase = False


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    yield from _phase(item)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item):
    yield from _phase(item)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem):
    yield from _phase(item)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    try:
        yield
    finally:
        deadline = item.stash.get(_DEADLINE, None)
        if deadline is not None:
            deadline.stop()
            del item.stash[_DEADLINE]


# --- fixtures shared by every lab ------------------------------------------------------------------


@pytest.fixture
def app():
    """Each lab's conftest.py overrides this with the application under test."""
    raise NotImplementedError("this lab's conftest.py must define an `app` fixture")


@pytest.fixture
def client(app):
    """A synchronous in-process client (Starlette TestClient); the app's lifespan runs around the check."""
    with start_sync_client(app) as test_client:
        yield test_client


@pytest.fixture
async def async_client(app):
    """An async in-process client (httpx2 over ASGITransport inside asgi-lifespan's LifespanManager)."""
    async with start_async_client(app) as http:
        yield http


# --- outcomes --------------------------------------------------------------------------------------


def _assertion_message(exc: AssertionError) -> str:
    text = str(exc)
    # Keep the check's own message; drop pytest's re-evaluation of the expression after it.
    head = text.split("\nassert ", 1)[0].strip()
    if head and not head.startswith("assert "):
        return head
    first = text.splitlines()[0] if text else ""
    return f"a check failed without saying why (a bug in the check; please report it): {first}".rstrip(": ")


_LAB_PART = re.compile(r"lab\d+")
WORKBOOK_DIR = Path(__file__).resolve().parents[1]  # workbook/, this file being workbook/grader/plugin.py


def _is_student_file(filename: str) -> bool:
    """A file of the code under test: inside a ``labN`` folder, not the checks or the workbook's tools."""
    path = Path(filename)
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return False
    if _is_check_file(filename):
        return False
    return any(_LAB_PART.fullmatch(part) for part in path.parts)


def _is_check_file(filename: str) -> bool:
    path = Path(filename).resolve() if filename and not filename.startswith("<") else Path(filename)
    return path.is_relative_to(CHECKS) or path.is_relative_to(WORKBOOK_DIR)


def _frames(exc: BaseException) -> list[traceback.FrameSummary]:
    try:
        return list(traceback.extract_tb(exc.__traceback__))
    except Exception:  # a source file that cannot be read must not hide the verdict
        return []


def _student_location(exc: BaseException) -> str:
    frames = [f for f in _frames(exc) if _is_student_file(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    where = f"\n  at {show_path(frame.filename)}, line {frame.lineno}: {(frame.line or '').strip()}"
    # The task functions the exception passed through, innermost first: the bug may be where it was
    # raised, or in a caller that should have caught it.
    owners: list[tuple[str, str]] = []
    for outer in reversed(frames):
        owner = _task_function_at(outer.filename, outer.lineno or 0)
        if owner is not None and owner not in owners:
            owners.append(owner)
    if not owners:
        return where
    path = ", called from ".join(f"{name} (Task {task_id})" for task_id, name in owners)
    return f"{where}\n  in {path}"


_MARK = re.compile(r"#\s*Task\s+(\d+\.\d+)\b")


_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+(\w+)")


def _task_function_by_indent(lines: list[str], lineno: int) -> tuple[str, str] | None:
    """The same as :func:`_task_function_at`, from indentation alone (when the file cannot be parsed)."""
    if not 0 < lineno <= len(lines):
        return None
    indent = len(lines[lineno - 1]) - len(lines[lineno - 1].lstrip())
    for n in range(lineno - 1, -1, -1):
        line = lines[n]
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if (match := _DEF.match(line)) and (width < indent or n == lineno - 1):
            for signature_line in lines[n : n + 12]:  # the signature ends at the line whose code ends with ":"
                if mark := _MARK.search(signature_line):
                    return mark.group(1), match.group(2)
                if signature_line.split("#", 1)[0].rstrip().endswith(":"):
                    break
            indent = width
        elif width < indent and not line.lstrip().startswith(("#", "@", ")")):
            indent = width
    return None


def _task_function_at(filename: str, lineno: int) -> tuple[str, str] | None:
    """(task id, function name) of the ``# Task N.K`` function of a lab file that holds ``lineno``."""
    import ast
    import linecache

    lines = linecache.getlines(filename)
    try:
        tree = ast.parse("".join(lines))
    except Exception:  # noqa: BLE001 - SyntaxError, or CPython 3.11's SystemError when parsed deep in a stack
        return _task_function_by_indent(lines, lineno)
    best = None
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno is not None
            and node.lineno <= lineno <= node.end_lineno
        ):
            marks = [m for n in range(node.lineno, node.body[0].lineno) if (m := _MARK.search(lines[n - 1]))]
            if marks and (best is None or node.lineno > best[2]):
                best = (marks[-1].group(1), node.name, node.lineno)
    return (best[0], best[1]) if best else None


def _raised_by_check(exc: BaseException) -> traceback.FrameSummary | None:
    """The check's frame when the exception was raised by the check (or a workbook helper) itself.

    Decided by where it was raised: the innermost frame. If it lies in ``checks/`` or ``workbook/`` and no
    frame of the code under test lies between, the check raised it; otherwise the student's code did
    (directly or through a library it called).
    """
    frames = _frames(exc)
    if not frames:
        return None
    for frame in reversed(frames):
        if _is_student_file(frame.filename):
            return None
        if _is_check_file(frame.filename):
            return frame
    return None


def _unawaited(exc: BaseException) -> str | None:
    """A message when the exception comes from using an un-awaited coroutine or future as a value."""
    text = str(exc)
    if isinstance(exc, (TypeError, AttributeError)) and re.search(
        r"'(coroutine|Future|_GatheringFuture|Task)' object", text
    ):
        kind = "coroutine" if "coroutine" in text else "future"
        return (
            f"your code returned a {kind} where a value was expected: add `await` before the call "
            f"({type(exc).__name__}: {text}){_student_location(exc)}"
        )
    return None


def classify(exc: BaseException) -> tuple[str, str]:
    """The status a failed check gets, and the message the student reads."""
    chain = list(exception_chain(exc))
    for link in chain:
        if isinstance(link, StudentImportError):
            return "import-error", str(link)
        if (missing := as_missing_name(link)) is not None:
            return "import-error", str(missing)
    if str(exc).startswith(TIMEOUT_PREFIX):
        return "timeout", "timeout"
    for link in chain:
        if isinstance(link, NotImplementedError):
            return "not-started", _not_started_message(link)
    if isinstance(exc, pytest.fail.Exception):
        return "fail", _did_not_raise(exc) or str(exc)
    if (message := _unawaited(exc)) is not None:
        return "fail", message
    check_frame = _raised_by_check(exc)
    if isinstance(exc, AssertionError) and (check_frame is not None or not _frames(exc)):
        return "fail", _assertion_message(exc)
    if check_frame is not None and isinstance(exc, TimeoutError):
        return "fail", (
            f"the check stopped waiting for your code: `{(check_frame.line or '').strip()}` "
            f"did not finish in time ({show_path(check_frame.filename)}, line {check_frame.lineno})."
        )
    if check_frame is not None:
        running = f"`{check_frame.line.strip()}` " if check_frame.line else ""
        return "fail", (
            f"the check could not use what your code gave it ({type(exc).__name__}: {exc}) while running "
            f"{running}({show_path(check_frame.filename)}, line {check_frame.lineno}). "
            "Compare what your code returns with what the task's docstring asks for."
        )
    return "fail", f"your code raised {type(exc).__name__}: {exc}{_student_location(exc)}"


def _did_not_raise(exc: BaseException) -> str | None:
    """pytest.raises' bare "DID NOT RAISE", with the call the check made (from the check's source)."""
    text = str(exc)
    if not text.startswith("DID NOT RAISE"):
        return None
    expected = text.removeprefix("DID NOT RAISE").strip()
    frames = [f for f in _frames(exc) if _is_check_file(f.filename) and not f.filename.endswith("checking.py")]
    call = ""
    if frames:
        call = _with_body(frames[-1].filename, frames[-1].lineno or 0)
    tried = f"`{call}`" if call else "the call the check made"
    return f"{tried} should raise {expected}, but it returned without raising."


def _with_body(filename: str, lineno: int) -> str:
    """The statements inside the ``with`` block that starts (or ends) at ``lineno`` of a check file."""
    import ast
    import linecache

    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except Exception:  # noqa: BLE001 - a message must never crash the grader
        return ""
    blocks = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.With, ast.AsyncWith))
        and node.end_lineno is not None
        and node.lineno <= lineno <= node.end_lineno
    ]
    if not blocks:
        return ""
    innermost = max(blocks, key=lambda node: node.lineno)
    return "; ".join(ast.unparse(statement) for statement in innermost.body)[:200]


def _not_started_message(exc: NotImplementedError) -> str:
    match = NOT_STARTED.search(str(exc))
    if not match:
        return f"not started: {exc or 'NotImplementedError'}"
    found = catalog.task(match.group(1))
    title = found.title if found else str(exc)
    return f"not started: Task {match.group(1)} — {title}"


def _needs_sentence(needs: tuple[str, ...]) -> str:
    """ "This check goes through Task 9.4 …": a check that cannot avoid earlier tasks says so."""
    named = [
        f"Task {task_id} ({found.title})" if (found := catalog.task(task_id)) else f"Task {task_id}"
        for task_id in needs
    ]
    which = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    its, it = ("its", "it") if len(needs) == 1 else ("their", "them")
    return f"This check goes through {which}: if {its} checks fail too, this needs {it} to work first: fix {it}, then re-run."


def _explain(
    status: str, message: str, task: catalog.Task | None, timeout: float | None, needs: tuple[str, ...] = ()
) -> str:
    if status == "timeout":
        message = (
            f"the check did not finish within {timeout:g} s: something waits forever or blocks "
            "(a loop that never ends, a blocking sleep, a lock never released)."
        )
    lines = [message]
    if needs and status in ("fail", "timeout"):
        lines.append(_needs_sentence(needs))
    if task is not None and status != "not-started":
        lines.append(f"Read: {task.where_to_read}")
    return "\n".join(lines)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record each graded check's outcome; for a failure, build the report with the student's message.

    Building the report here means pytest never formats the traceback of a graded failure: the student
    reads the message instead (``--grader-tracebacks`` gives pytest's own report back).
    """
    state = item.config.stash[STATE]
    if item.nodeid not in state.planned:
        return None
    task_id, points = state.planned[item.nodeid]
    previous = state.results.get(item.nodeid)
    excinfo = call.excinfo
    if excinfo is None:
        if call.when == "call" and previous is None:
            state.results[item.nodeid] = _result(item, task_id, points, "pass", "", call.duration)
        return None
    if isinstance(excinfo.value, GradedByInstructor) and _raised_by_a_check(excinfo.value):
        if previous is None:
            state.results[item.nodeid] = _result(
                item, task_id, points, BY_INSTRUCTOR, excinfo.value.msg or "", call.duration
            )
        return None
    if excinfo.errisinstance(pytest.skip.Exception):
        if previous is None:
            state.results[item.nodeid] = _result(
                item, task_id, points, "fail", f"skipped: {excinfo.value}", call.duration
            )
        return None
    try:
        status, message = classify(excinfo.value)
    except Exception as trouble:  # noqa: BLE001 - the grader must report, never crash, whatever was raised
        status, message = "fail", f"{type(excinfo.value).__name__}: {excinfo.value} (and the grader: {trouble!r})"
    timeout_marker = item.get_closest_marker("timeout")
    timeout = float(timeout_marker.args[0]) if timeout_marker and timeout_marker.args else None
    needs_marker = item.get_closest_marker("needs")
    needs = tuple(str(t) for t in needs_marker.args) if needs_marker else ()
    message = _explain(status, message, catalog.task(task_id), timeout, needs)
    if previous is None or previous.status == "pass":
        state.results[item.nodeid] = _result(item, task_id, points, status, message, call.duration)
    if item.config.getoption("grader_tracebacks"):
        return None
    phase = call.when
    assert phase != "collect", "pytest makes runtest reports for setup, call and teardown only"
    report = pytest.TestReport(
        item.nodeid,
        item.location,
        keywords=dict.fromkeys(item.keywords, 1),
        outcome="failed",
        longrepr=f"[Task {task_id}] {message}",
        when=phase,
        sections=[(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
        duration=call.duration,
        start=call.start,
        stop=call.stop,
        user_properties=item.user_properties,
    )
    cast(Any, report).workbook_status = status  # our own attribute, read by pytest_report_teststatus
    return report


def _raised_by_a_check(exc: BaseException) -> bool:
    """Raised by a check in ``checks/`` itself (not a workbook helper, not the code under test)."""
    frame = _raised_by_check(exc)
    return frame is not None and Path(frame.filename).resolve().is_relative_to(CHECKS)


def _result(item, task_id, points, status, message, duration) -> CheckResult:
    return CheckResult(
        lab=catalog.lab_of(task_id),
        task=task_id,
        name=item.name,
        nodeid=item.nodeid,
        status=status,
        points=points if status == "pass" else 0.0,
        max_points=points,
        message=message,
        duration=round(duration, 3),
    )


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    status = getattr(report, "workbook_status", None)
    short = INFO[Status(status)].short if status in set(Status) else None
    if short:
        letter, word = short
        return "failed", letter, (word, {"red": status != "not-started", "yellow": status == "not-started"})
    return None


# --- the score ---------------------------------------------------------------------------------------


def collect_results(state: GraderState) -> list[CheckResult]:
    """Every planned check: a deselected one is "not run", any other without a result counts as a failure."""
    results = []
    for nodeid, (task_id, points) in state.planned.items():
        result = state.results.get(nodeid)
        if result is None and nodeid in state.deselected:
            result = CheckResult(
                lab=catalog.lab_of(task_id),
                task=task_id,
                name=nodeid.split("::")[-1],
                nodeid=nodeid,
                status=NOT_RUN,
                points=0.0,
                max_points=points,
                message="not run: deselected in this run (-k, -m, --deselect or --lf)",
            )
        elif result is None:
            result = CheckResult(
                lab=catalog.lab_of(task_id),
                task=task_id,
                name=nodeid.split("::")[-1],
                nodeid=nodeid,
                status="fail",
                points=0.0,
                max_points=points,
                message="no result: the run stopped before this check finished",
            )
        results.append(result)
    return results


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.planned:
        return
    summary = results.summarise(collect_results(state), describe(state.target))
    write = terminalreporter.write_line
    terminalreporter.section(f"score — target: {summary['target']}", sep="=", bold=True)
    width = max([STATUS_WIDTH] + [len(_word(t["status"])) + 1 for lab in summary["labs"] for t in lab["tasks"]])
    for lab in summary["labs"]:
        write(f"{lab['lab']}: {lab['title']}", bold=True)
        for task in lab["tasks"]:
            colour = {"pass": {"green": True}, "not-started": {"yellow": True}}.get(
                task["status"], {"red": True} if results.counted(task["status"]) else {}
            )
            terminalreporter.write(f"  {task['task']:<5} {task['title'][:52]:<52} ")
            terminalreporter.write(f"{_word(task['status']):<{width}}", **colour)
            if task["max_points"] or not task["not_counted"]:
                points = f"{_num(task['points']):>5} / {_num(task['max_points'])}"
            else:
                points = f"{'-':>5} / {_num(sum(task['not_counted'].values()))}"
            write(points + _not_counted_note(task["not_counted"], task["max_points"] == 0))
        write(
            f"  {'':<5} {'lab total':<52} {'':<{width}}{_num(lab['points']):>5} / {_num(lab['max_points'])}"
            + _not_counted_note(lab["not_counted"])
        )
    write(f"TOTAL {_num(summary['points'])} / {_num(summary['max_points'])}", bold=True)
    for status, points in summary["not_counted"].items():
        write(f"  not counted: {_num(points)} points {INFO[Status(status)].why}")
    out = config.getoption("grade_json")
    if out:
        results.write_json(out, summary)
        write(f"scores written to {out}")


def _num(value: float) -> str:
    return f"{value:g}"


_word = results.word


def _not_counted_note(left_out: dict[str, float], whole: bool = False) -> str:
    if not left_out:
        return ""
    if whole:
        return "  (not counted)"
    label = _word(next(iter(left_out))) if len(left_out) == 1 else "not counted"
    return f"  (+{_num(sum(left_out.values()))} {label})"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        state.exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After a timeout, leave at once: student code may still spin in a worker thread, and Python would
    wait for that thread forever at exit. Everything has been reported by now."""
    state = config.stash.get(STATE, None)
    if state is not None and any(r.status == "timeout" for r in state.results.values()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(state.exitstatus)
