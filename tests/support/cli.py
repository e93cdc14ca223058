"""Run ``python -m workbook COMMAND`` as a student does: from the project root, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbook.paths import ROOT


def student_env(state: Path | None = None) -> dict[str, str]:
    """The student's environment: no target chosen by the suite (``WORKBOOK_TARGET``); the CLI's records (hint
    levels, last results) in ``state`` when given, so a test never touches the real ones."""
    env = {k: v for k, v in os.environ.items() if k != "WORKBOOK_TARGET"}
    if state is not None:
        env["WORKBOOK_STATE_DIR"] = str(state)
    return env


def workbook_cli(
    *args, state: Path | None = None, stdin=subprocess.DEVNULL, timeout: float = 300, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """``python -m workbook *args`` to its end (``timeout`` is a last resort: these commands take seconds)."""
    return subprocess.run(
        [sys.executable, "-m", "workbook", *map(str, args)],
        cwd=cwd,
        env=student_env(state),
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
