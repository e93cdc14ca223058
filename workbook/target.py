"""One way to pick the code under test: ``labs`` (default), ``solutions``, or any folder laid out like ``labs/``.

The pytest option ``--target`` wins over the environment variable ``WORKBOOK_TARGET``. Only the ``labN``
packages of the chosen folder become importable (an import hook answers for the names ``lab1``, ``lab2`` …): the
folder itself is not put on ``sys.path``, so a ``joblib/`` or ``numpy/`` folder beside the labs cannot replace the
real library.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import sys
from pathlib import Path

from workbook.paths import LABS, ROOT, SOLUTIONS

ENV_VAR = "WORKBOOK_TARGET"
NAMED_TARGETS = {"labs": LABS, "solutions": SOLUTIONS}


class TargetError(Exception):
    """The target named does not exist or is not laid out like labs/."""


def resolve_target(value: str | None = None) -> Path:
    """Turn ``labs``, ``solutions`` or a directory path into an absolute directory."""
    value = value or os.environ.get(ENV_VAR) or "labs"
    if value in NAMED_TARGETS:
        path = NAMED_TARGETS[value]
        if not path.is_dir():
            raise TargetError(f"target {value!r}: {path} does not exist here (a student copy has no solutions/)")
        return path
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    path = path.resolve()
    if not path.is_dir():
        raise TargetError(f"target {value!r} is neither 'labs', 'solutions' nor a directory (looked for {path})")
    return path


def describe(path: Path) -> str:
    """A short name for messages: ``labs``, ``solutions`` or the path."""
    for name, named in NAMED_TARGETS.items():
        if path == named:
            return name
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


LAB_PACKAGE = re.compile(r"^lab\d+$")


class LabFinder:
    """Finds the top-level ``labN`` packages in one folder, and nothing else there."""

    def __init__(self, folder: Path) -> None:
        self.folder = str(folder)

    def find_spec(self, fullname: str, path=None, target=None):
        if path is not None or not LAB_PACKAGE.match(fullname):
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.folder])

    def invalidate_caches(self) -> None:
        importlib.machinery.PathFinder.invalidate_caches()


def activate(path: Path) -> None:
    """Make ``import labN`` resolve inside ``path``, and nowhere else; nothing else of ``path`` is importable."""
    for other in [*NAMED_TARGETS.values(), path]:
        while str(other) in sys.path:
            sys.path.remove(str(other))
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, LabFinder)]
    sys.meta_path.insert(0, LabFinder(path))
    importlib.machinery.PathFinder.invalidate_caches()
    # Forget lab packages imported from a previous target (a notebook can switch targets).
    for name in [name for name in sys.modules if is_lab_module(name)]:
        del sys.modules[name]


def is_lab_module(name: str) -> bool:
    """``lab3`` and ``lab3.persistence`` are lab modules; ``labs`` and ``lab_tools`` are not."""
    top = name.split(".")[0]
    return top.startswith("lab") and top[3:].isdigit()


def use_target(value: str | None = None) -> Path:
    """For notebooks: select the target the same way the checks do and say which one is in use."""
    path = resolve_target(value)
    activate(path)
    print(f"Using the code in {describe(path)}/ (set {ENV_VAR}=solutions to run the reference solutions).")
    return path
