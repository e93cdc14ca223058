"""Lab 6, Task 6.1 — the prediction log: one JSON line per prediction, written slowly, never mangled.

Read notebooks/06_background_tasks.ipynb, section 6.1. Every prediction the service makes is appended to
a *JSON Lines* file (``settings.prediction_log``): one JSON object per line, so the file can be read line
by line — ``[json.loads(line) for line in open(path)]`` — by people, ``grep`` and pandas alike.

The log's storage is slow — ``settings.log_delay`` seconds per write stands for a network disk or a log
service — which is why the app writes it in a *background task*, after the client has its answer
(Task 6.2). Background tasks of many requests run at the same time, in the thread pool's threads, so
the writer must make sure that lines from different threads never mix.

* ``prediction_record`` (given) builds the dict that becomes one line.
* Task 6.1 ``write_prediction_log`` appends it.

Check it: ``pytest checks/lab6 -k log``.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labkit.registry import ModelEntry

# One lock for every writer in this process: whoever holds it is the only one writing.
_WRITE_LOCK = threading.Lock()


def prediction_record(request_id: str, entry: ModelEntry, payload: dict[str, Any], label: str,
                      latency_ms: float) -> dict[str, Any]:
    """Given: one log line's content.

    ``{"time": <UTC, ISO 8601>, "request_id", "model", "version", "input": <the request's JSON>,
    "label", "latency_ms": <how long the model took, in milliseconds>}``.
    """
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "model": entry.name,
        "version": entry.version,
        "input": payload,
        "label": label,
        "latency_ms": round(latency_ms, 3),
    }


def write_prediction_log(path: Path, record: dict[str, Any], delay: float = 0.0) -> None:  # Task 6.1
    """Wait ``delay`` seconds (the slow storage), then append ``record`` to ``path`` as one JSON line.

    A plain ``def`` on purpose: as a background task, Starlette runs it in its thread pool, so the wait
    (``time.sleep(delay)``) blocks one worker thread, never the event loop. Many of these run at once:

    * wait *before* taking the lock, so slow writes wait side by side, not one after another;
    * then, holding ``_WRITE_LOCK``, open the file in **append** mode (``"a"``; ``"w"`` empties it) and
      write the whole line — ``json.dumps(record) + "\\n"`` — with **one** ``write`` call, so no other
      thread's line can land in the middle of it.

    Create the parent folder if it is missing. ``json.dumps`` escapes newlines inside strings, so a text
    with line breaks still makes exactly one line.
    """
    time.sleep(delay)
    line = json.dumps(record) + "\n"
    path = Path(path)
    with _WRITE_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(line)
