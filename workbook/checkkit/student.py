"""Importing student code so that a broken file fails only the checks that need it.

Checks never import lab code at module level: fixtures call :func:`import_lab_module`, which turns a
syntax error, a failing import or a missing name into :class:`StudentImportError` with the file and line.
``NotImplementedError`` passes through untouched: the grader reports it as "not started".
"""

from __future__ import annotations

import importlib
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from workbook.paths import ROOT
from workbook.target import is_lab_module


class StudentImportError(Exception):
    """Student code could not be imported, or lacks a name the checks need."""


def show_path(filename: str | Path) -> str:
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _student_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost traceback frame that lies in a lab package (not the standard library)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "/lab" in f.filename.replace("\\", "/") and "importlib" not in f.filename
    ]
    if not frames:
        return None
    return frames[-1].filename, frames[-1].lineno or 0


def import_lab_module(name: str) -> ModuleType:
    """Import ``name`` (``lab3.persistence``) from the active target, explaining any failure."""
    try:
        return importlib.import_module(name)
    except NotImplementedError:
        raise
    except SyntaxError as exc:
        where = f"{show_path(exc.filename or name)}, line {exc.lineno}"
        raise StudentImportError(
            f"{where}: Python cannot read this file ({exc.msg}). Fix the syntax, then run the checks again."
        ) from None
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise StudentImportError(
                f"cannot find the module {name}: is the folder {name.split('.')[0]}/ with its files "
                f"present in the target? ({exc})"
            ) from None
        raise StudentImportError(_explain(name, exc)) from None
    except (Exception, SystemExit) as exc:
        raise StudentImportError(_explain(name, exc)) from None


def _explain(name: str, exc: BaseException) -> str:
    frame = _student_frame(exc)
    where = f"{show_path(frame[0])}, line {frame[1]}" if frame else name
    return f"importing {name} failed at {where}: {type(exc).__name__}: {exc}"


def missing_name(module: ModuleType, attr: str) -> StudentImportError:
    return StudentImportError(
        f"{show_path(module.__file__ or module.__name__)} has no `{attr}`. "
        "The checks use the names from the starter: keep them (you can add your own)."
    )


def as_missing_name(exc: BaseException) -> StudentImportError | None:
    """An AttributeError raised by looking a name up on a lab module, as an import error; else None."""
    if (
        isinstance(exc, AttributeError)
        and isinstance(module := getattr(exc, "obj", None), ModuleType)
        and is_lab_module(module.__name__)
        and exc.name
    ):
        return missing_name(module, exc.name)
    return None


def lab_attr(module: ModuleType, attr: str) -> Any:
    """``module.attr``, or a message telling the student which name the checks expect."""
    try:
        return getattr(module, attr)
    except AttributeError:
        raise missing_name(module, attr) from None


def exception_chain(exc: BaseException | None, seen: set[int] | None = None):
    """The exception, its causes and contexts, and the members of exception groups (depth first).

    Where a starter's ``NotImplementedError`` may hide: inside an app, a thread, an ExceptionGroup, or as the
    cause or context of another error."""
    seen = set() if seen is None else seen
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if isinstance(exc, BaseExceptionGroup):
            for member in exc.exceptions:
                yield from exception_chain(member, seen)
        exc = exc.__cause__ or exc.__context__
