"""The student's own records, kept in ``.workbook/`` at the top of the workbook (git-ignored).

``status.json`` (the last result of each lab's checks), ``hints.json`` (the hint level used per task) and
``backups/`` (files replaced by ``reset``). Nothing here is needed to run the workbook: delete it any time.
The environment variable ``WORKBOOK_STATE_DIR`` puts it elsewhere (the project's tests use that).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from workbook.paths import ROOT

ENV_VAR = "WORKBOOK_STATE_DIR"


def state_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or ROOT / ".workbook")


def read_json(name: str) -> dict:
    """The record ``name`` (``status.json``), or an empty one when it is missing or unreadable."""
    try:
        data = json.loads((state_dir() / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(name: str, data: dict) -> Path:
    """Write the record atomically, so an interrupted command never leaves half a file."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
    os.replace(temporary, folder / name)
    return folder / name
