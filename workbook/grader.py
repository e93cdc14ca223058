"""The grader: a pytest plugin loaded by the repository's ``conftest.py``.

Every check under ``checks/`` carries ``@pytest.mark.task("3.2", points=2)``. The plugin

* picks the code under test (``--target labs|solutions|DIR`` or ``WORKBOOK_TARGET``),
* gives every check a timeout, so a hang fails that check and the run goes on,
* turns each outcome into one status — pass, fail, not-started, timeout, import-error — and replaces
  tracebacks with a message for the student: what was expected, what happened, where to read,
* prints a score table per lab at the end and, with ``--grade-json FILE``, writes the same as JSON.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

from workbook import catalog
from workbook.clients import async_client as start_async_client
from workbook.clients import sync_client as start_sync_client
from workbook.student import StudentImportError, as_missing_name, show_path
from workbook.target import ENV_VAR, TargetError, activate, describe, resolve_target

STATUSES = ("pass", "fail", "not-started", "timeout", "import-error")
DEFAULT_CHECK_TIMEOUT = 10.0
TIMEOUT_PREFIX = "Timeout (>"
NOT_STARTED = re.compile(r"Task (\d+\.\d+)")
SHORT = {"fail": ("F", "FAIL"), "not-started": ("N", "NOT STARTED"), "timeout": ("T", "TIMEOUT"),
         "import-error": ("I", "IMPORT ERROR")}


@dataclass
class CheckResult:
    lab: str
    task: str
    name: str
    nodeid: str
    status: str
    points: float
    max_points: float
    message: str = ""
    duration: float = 0.0


@dataclass
class GraderState:
    target: Path
    planned: dict[str, tuple[str, float]] = field(default_factory=dict)  # nodeid -> (task, points)
    results: dict[str, CheckResult] = field(default_factory=dict)
    exitstatus: int = 0


STATE = pytest.StashKey[GraderState]()


# --- options and set-up --------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("workbook", "lab workbook grader")
    group.addoption("--target", default=None, metavar="labs|solutions|DIR",
                    help=f"code under test (default: ${ENV_VAR} or 'labs')")
    group.addoption("--grade-json", default=None, metavar="FILE",
                    help="also write the scores as JSON to FILE")
    group.addoption("--check-timeout", type=float, default=DEFAULT_CHECK_TIMEOUT, metavar="SECONDS",
                    help=f"timeout of a check that sets none itself (default {DEFAULT_CHECK_TIMEOUT:g})")
    group.addoption("--grader-tracebacks", action="store_true",
                    help="keep pytest's full tracebacks instead of the student-facing messages")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id, points=1): the lab task a check grades and its points")
    config.addinivalue_line("markers", "needs(*ids): earlier tasks whose code this check cannot avoid going "
                                       "through; a failure message then says to fix those first")
    try:
        target = resolve_target(config.getoption("target"))
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    activate(target)
    # Subprocesses a check starts (uvicorn, notebooks) select the same target.
    os.environ[ENV_VAR] = str(target)
    config.stash[STATE] = GraderState(target=target)


@pytest.hookimpl(trylast=True)  # after -k/-m/--deselect: a check the run does not select has no result to miss
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[STATE]
    for item in items:
        marker = item.get_closest_marker("task")
        if marker is None:
            continue
        state.planned[item.nodeid] = (str(marker.args[0]), float(marker.kwargs.get("points", 1)))
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(config.getoption("check_timeout")))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Train the reference models before the first check starts, outside every check's timeout.

    Importing scikit-learn and training take seconds on a busy machine; a check's timeout should measure
    the student's code, not that. Labs whose catalog says ``reference_models = true`` need them.
    """
    state = session.config.stash[STATE]
    labs = {catalog.lab_of(task_id) for task_id, _ in state.planned.values()}
    if any(lab.reference_models for name, lab in catalog.labs().items() if name in labs):
        from workbook.models import MODEL_NAMES, reference_model

        for name in MODEL_NAMES:
            reference_model(name)


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

def _chain(exc: BaseException | None, seen: set[int] | None = None):
    """The exception, its causes and contexts, and the members of exception groups."""
    seen = set() if seen is None else seen
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if isinstance(exc, BaseExceptionGroup):
            for member in exc.exceptions:
                yield from _chain(member, seen)
        exc = exc.__cause__ or exc.__context__


def _assertion_message(exc: AssertionError) -> str:
    text = str(exc)
    # Keep the check's own message; drop pytest's re-evaluation of the expression after it.
    head = text.split("\nassert ", 1)[0].strip()
    if head and not head.startswith("assert "):
        return head
    first = text.splitlines()[0] if text else ""
    return f"a check failed without saying why (a bug in the check; please report it): {first}".rstrip(": ")


_LAB_PART = re.compile(r"lab\d+")
CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"
WORKBOOK_DIR = Path(__file__).resolve().parent


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
    return path.is_relative_to(CHECKS_DIR) or path.is_relative_to(WORKBOOK_DIR)


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
            for signature_line in lines[n:n + 12]:  # the signature ends at the line whose code ends with ":"
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
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= lineno <= node.end_lineno:
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
            r"'(coroutine|Future|_GatheringFuture|Task)' object", text):
        kind = "coroutine" if "coroutine" in text else "future"
        return (f"your code returned a {kind} where a value was expected: add `await` before the call "
                f"({type(exc).__name__}: {text}){_student_location(exc)}")
    return None


def classify(exc: BaseException) -> tuple[str, str]:
    """The status a failed check gets, and the message the student reads."""
    chain = list(_chain(exc))
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
        return "fail", (f"the check stopped waiting for your code: `{(check_frame.line or '').strip()}` "
                        f"did not finish in time ({show_path(check_frame.filename)}, line {check_frame.lineno}).")
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
    blocks = [node for node in ast.walk(tree)
              if isinstance(node, (ast.With, ast.AsyncWith)) and node.lineno <= lineno <= node.end_lineno]
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
    """"This check goes through Task 9.4 …": a check that cannot avoid earlier tasks says so."""
    named = [f"Task {task_id} ({found.title})" if (found := catalog.task(task_id)) else f"Task {task_id}"
             for task_id in needs]
    which = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    its, it = ("its", "it") if len(needs) == 1 else ("their", "them")
    return f"This check goes through {which}: if {its} checks fail too, this needs {it} to work first: fix {it}, then re-run."


def _explain(status: str, message: str, task: catalog.Task | None, timeout: float | None,
             needs: tuple[str, ...] = ()) -> str:
    if status == "timeout":
        message = (f"the check did not finish within {timeout:g} s: something waits forever or blocks "
                   "(a loop that never ends, a blocking sleep, a lock never released).")
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
    if excinfo.errisinstance(pytest.skip.Exception):
        if previous is None:
            state.results[item.nodeid] = _result(item, task_id, points, "fail",
                                                 f"skipped: {excinfo.value}", call.duration)
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
    report = pytest.TestReport(
        item.nodeid, item.location, keywords=dict.fromkeys(item.keywords, 1), outcome="failed",
        longrepr=f"[Task {task_id}] {message}", when=call.when,
        sections=[(f"Captured {key} {when}", content) for when, key, content in item._report_sections],
        duration=call.duration, start=call.start, stop=call.stop, user_properties=item.user_properties,
    )
    report.workbook_status = status
    return report


def _result(item, task_id, points, status, message, duration) -> CheckResult:
    return CheckResult(
        lab=catalog.lab_of(task_id), task=task_id, name=item.name, nodeid=item.nodeid, status=status,
        points=points if status == "pass" else 0.0, max_points=points, message=message,
        duration=round(duration, 3),
    )


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    status = getattr(report, "workbook_status", None)
    if status in SHORT:
        letter, word = SHORT[status]
        return "failed", letter, (word, {"red": status != "not-started", "yellow": status == "not-started"})
    return None


# --- the score ---------------------------------------------------------------------------------------

def collect_results(state: GraderState) -> list[CheckResult]:
    """Every planned check, with "no result" counted as a failure."""
    results = []
    for nodeid, (task_id, points) in state.planned.items():
        result = state.results.get(nodeid)
        if result is None:
            result = CheckResult(lab=catalog.lab_of(task_id), task=task_id, name=nodeid.split("::")[-1],
                                 nodeid=nodeid, status="fail", points=0.0, max_points=points,
                                 message="no result: the run stopped before this check finished")
        results.append(result)
    return results


def task_status(statuses: list[str]) -> str:
    """One status for a task from its checks' statuses."""
    if all(s == "pass" for s in statuses):
        return "pass"
    for status in ("import-error", "timeout"):
        if status in statuses:
            return status
    if all(s == "not-started" for s in statuses):
        return "not-started"
    return "fail"


def summarise(results: list[CheckResult], target: str) -> dict:
    labs: dict[str, dict] = {}
    for result in results:
        lab = labs.setdefault(result.lab, {"lab": result.lab, "tasks": {}})
        lab["tasks"].setdefault(result.task, []).append(result)
    lab_rows = []
    for lab_name in sorted(labs, key=lambda name: int(name[3:])):
        info = catalog.labs().get(lab_name)
        tasks = []
        for task_id in sorted(labs[lab_name]["tasks"], key=catalog.task_sort_key):
            checks = labs[lab_name]["tasks"][task_id]
            task = info.tasks.get(task_id) if info else None
            tasks.append({
                "task": task_id, "title": task.title if task else "",
                "status": task_status([c.status for c in checks]),
                "points": sum(c.points for c in checks), "max_points": sum(c.max_points for c in checks),
            })
        lab_rows.append({
            "lab": lab_name, "title": info.title if info else "", "tasks": tasks,
            "points": sum(t["points"] for t in tasks), "max_points": sum(t["max_points"] for t in tasks),
        })
    return {
        "target": target,
        "points": sum(r.points for r in results),
        "max_points": sum(r.max_points for r in results),
        "counts": {status: sum(r.status == status for r in results) for status in STATUSES},
        "labs": lab_rows,
        "checks": [asdict(r) for r in results],
    }


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.planned:
        return
    summary = summarise(collect_results(state), describe(state.target))
    write = terminalreporter.write_line
    terminalreporter.section(f"score — target: {summary['target']}", sep="=", bold=True)
    for lab in summary["labs"]:
        write(f"{lab['lab']}: {lab['title']}", bold=True)
        for task in lab["tasks"]:
            word = task["status"].replace("-", " ")
            colour = {"pass": {"green": True}, "not-started": {"yellow": True}}.get(task["status"], {"red": True})
            terminalreporter.write(f"  {task['task']:<5} {task['title'][:52]:<52} ")
            terminalreporter.write(f"{word:<13}", **colour)
            write(f"{_num(task['points']):>5} / {_num(task['max_points'])}")
        write(f"  {'':<5} {'lab total':<52} {'':<13}{_num(lab['points']):>5} / {_num(lab['max_points'])}")
    write(f"TOTAL {_num(summary['points'])} / {_num(summary['max_points'])}", bold=True)
    out = config.getoption("grade_json")
    if out:
        Path(out).write_text(json.dumps(summary, indent=2), encoding="utf-8")
        write(f"scores written to {out}")


def _num(value: float) -> str:
    return f"{value:g}"


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
