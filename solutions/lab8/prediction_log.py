"""Given: the prediction log (lab 6) — one JSON line per prediction, written after the answer has left.

``write_prediction_log`` appends one line to ``settings.prediction_log`` under a lock, after waiting
``settings.log_delay`` seconds (slow storage). Routes do not call it: they take a :class:`PredictionLogger`
as a dependency, and its ``log`` method schedules the write as a background task, under the request's id
(the one ``request_log.RequestLogMiddleware`` gave it, lab 7). Cache hits are logged like any prediction.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Request
from pydantic import BaseModel

from labkit.registry import ModelEntry

from .settings import Settings, get_settings

_WRITE_LOCK = threading.Lock()  # one writer at a time: lines of different threads never mix


def prediction_record(request_id: str, entry: ModelEntry, payload: dict[str, Any], label: str,
                      latency_ms: float) -> dict[str, Any]:
    """One log line's content: time, request id, model, version, input, label and latency."""
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "model": entry.name,
        "version": entry.version,
        "input": payload,
        "label": label,
        "latency_ms": round(latency_ms, 3),
    }


def write_prediction_log(path: Path, record: dict[str, Any], delay: float = 0.0) -> None:
    """Wait ``delay`` seconds, then append ``record`` to ``path`` as one JSON line (one ``write``, locked)."""
    time.sleep(delay)
    line = json.dumps(record) + "\n"
    path = Path(path)
    with _WRITE_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(line)


class PredictionLogger:
    """A dependency: this request's id, and a way to log its prediction in the background."""

    def __init__(self, request: Request, background_tasks: BackgroundTasks,
                 settings: Annotated[Settings, Depends(get_settings)]) -> None:
        self.request_id: str = request.state.request_id
        self._background_tasks = background_tasks
        self._settings = settings

    def log(self, entry: ModelEntry, payload: BaseModel, label: str, latency_ms: float) -> None:
        """Schedule the line for ``entry``'s ``label``; it is written after the response has been sent."""
        record = prediction_record(self.request_id, entry, payload.model_dump(), label, latency_ms)
        self._background_tasks.add_task(write_prediction_log, self._settings.prediction_log, record,
                                        self._settings.log_delay)


PredictionLog = Annotated[PredictionLogger, Depends()]
