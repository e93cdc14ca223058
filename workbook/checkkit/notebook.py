"""The notebook side of the workbook: try the student's code in a cell without a wall of traceback.

A try-it cell wraps the calls into the student's code::

    from workbook.checkkit.notebook import your_code

    with your_code():
        print(await runners.run_sequentially([0.5, 0.2, 0.3]))

* While a task is still the untouched starter, its ``NotImplementedError("Task N.K: …")`` ends the block
  with one short line, ``Task N.K — <title> is not done yet: open labs/labN/<file>, then re-run this cell``,
  and the notebook carries on (Run All reaches the end). The error is found wherever it was raised: in the
  block, inside an app (the in-process clients re-raise it), in a thread, inside an ``ExceptionGroup``, or
  as the ``__cause__``/``__context__`` of another error.
* Any other error is the student's: it propagates (the cell fails and Run All stops there), and IPython
  shows its traceback trimmed to the student's frames — files of the lab folder and the cell itself —
  instead of pages of FastAPI, Starlette and AnyIO internals.
"""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from workbook import catalog
from workbook.checkkit.student import exception_chain
from workbook.paths import ROOT
from workbook.target import LabFinder

STARTER = re.compile(r"^Task (\d+\.\d+)\b")

if TYPE_CHECKING:

    def get_ipython() -> Any:  # IPython puts it in builtins while a kernel runs a cell; elsewhere a NameError
        ...


def unfinished_task(exc: BaseException) -> NotImplementedError | None:
    """The starter's ``NotImplementedError("Task N.K: …")`` behind ``exc``, if there is one."""
    for link in exception_chain(exc):
        if isinstance(link, NotImplementedError) and STARTER.match(str(link)):
            return link
    return None


def _target() -> Path | None:
    """The folder ``import labN`` resolves to: the active target's finder (``use_target``), else ``sys.path``."""
    for finder in sys.meta_path:
        if isinstance(finder, LabFinder):
            return Path(finder.folder).resolve()
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if (path / "lab1").is_dir() or any(path.glob("lab[0-9]*/__init__.py")):
            return path
    return None


def _show(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _is_student_frame(filename: str, target: Path | None) -> bool:
    """A frame of the lab folder (the student's files) or of a notebook cell."""
    if filename.startswith("<ipython-input") or "ipykernel_" in filename:
        return True
    if target is None:
        return False
    try:
        Path(filename).resolve().relative_to(target)
    except (ValueError, OSError):
        return False
    return True


def not_done_message(error: NotImplementedError) -> str:
    """``Task N.K — <title> is not done yet: open labs/labN/<file>, then re-run this cell.``"""
    starter = STARTER.match(str(error))
    assert starter is not None, f"not a starter's NotImplementedError (see unfinished_task): {error}"
    task_id = starter.group(1)
    found = catalog.task(task_id)
    title = found.title if found else str(error).split(":", 1)[-1].strip()
    target = _target()
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if target is not None and _is_student_frame(f.filename, target) and Path(f.filename).is_file()
    ]
    if frames:
        where = _show(Path(frames[-1].filename))
    else:
        folder = (target / catalog.lab_of(task_id)) if target else Path("labs") / catalog.lab_of(task_id)
        where = _show(folder) + "/"
    return f"Task {task_id} — {title} is not done yet: open {where}, then re-run this cell."


def _renamed(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    """The same frame, named for a student: ``this cell`` or a path from the repository root."""
    cell = frame.filename.startswith("<ipython-input") or "ipykernel_" in frame.filename
    return traceback.FrameSummary(
        "this cell" if cell else _show(Path(frame.filename)),
        frame.lineno,
        frame.name,
        lookup_line=False,
        line=getattr(frame, "_line", None) or frame.line,  # unstripped, so that the carets line up
        end_lineno=getattr(frame, "end_lineno", None),
        colno=getattr(frame, "colno", None),
        end_colno=getattr(frame, "end_colno", None),
    )


def trimmed_traceback(exc: BaseException) -> list[str]:
    """The traceback of ``exc`` (and its chain) with only the student's frames; library frames are counted."""
    target = _target()
    formatted = traceback.TracebackException.from_exception(exc)
    hidden = 0
    seen: set[int] = set()
    todo: list[traceback.TracebackException | None] = [formatted]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        kept = [_renamed(frame) for frame in link.stack if _is_student_frame(frame.filename, target)]
        hidden += len(link.stack) - len(kept)
        link.stack = traceback.StackSummary.from_list(kept)
        todo += [link.__cause__, link.__context__, *(getattr(link, "exceptions", None) or [])]
    lines = "".join(formatted.format()).rstrip("\n").splitlines()
    if hidden:
        lines.append(f"({hidden} frames of library code hidden: only your files and this cell are shown)")
    return lines


LOGGED_STARTER = re.compile(r"^NotImplementedError: (Task (\d+\.\d+)\b.*)$", re.M)
LOGGED_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+', re.M)


def report_server_log(log: str) -> bool:
    """A server in another process cannot raise into the cell: if its log shows a starter's
    ``NotImplementedError``, print the "not done yet" line of the first one and return True."""
    match = LOGGED_STARTER.search(log)
    if match is None:
        return False
    error = NotImplementedError(match.group(1))
    target = _target()
    frames = [
        m.group(1)
        for m in LOGGED_FRAME.finditer(log, 0, match.start())
        if _is_student_frame(m.group(1), target) and Path(m.group(1)).is_file()
    ]
    message = not_done_message(error)
    if frames:
        message = re.sub(r"open \S+, then", f"open {_show(Path(frames[-1]))}, then", message)
    print(message, flush=True)
    return True


_reported: set[tuple[object, str]] = set()


def _cell_run() -> object:
    """Which run of which cell this is (IPython's execution count), so a cell says each thing once."""
    try:
        return get_ipython().execution_count
    except NameError:
        return None


class your_code:  # noqa: N801 - used like a function: ``with your_code():``
    """Run the student's code: an unfinished task prints one line and the notebook goes on; any other error
    stops the cell with a traceback trimmed to the student's own frames."""

    def __enter__(self) -> your_code:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False  # nothing raised, or KeyboardInterrupt / SystemExit: not ours to handle
        error = unfinished_task(exc)
        if error is not None:
            starter = STARTER.match(str(error))
            assert starter is not None  # unfinished_task found the error by this very match
            task_id = starter.group(1)
            cell = _cell_run()
            if (cell, task_id) in _reported:  # said once in this run of the cell already
                print(f"(this part waits for Task {task_id} too, see above)", flush=True)
            else:
                _reported.add((cell, task_id))
                print(not_done_message(error), flush=True)
            return True
        lines = trimmed_traceback(exc)
        try:
            cast(Any, exc)._render_traceback_ = lambda: lines  # IPython shows these lines instead of its own
        except (AttributeError, TypeError):
            pass
        return False

    async def __aenter__(self) -> your_code:
        return self

    async def __aexit__(self, kind, exc, tb) -> bool:
        return self.__exit__(kind, exc, tb)
