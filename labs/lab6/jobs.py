"""Lab 6, Task 6.3 — a job store: long work runs after the answer, and clients ask for its result later.

Read notebooks/06_background_tasks.ipynb, section 6.3. A request that would take long (a batch of a
thousand inputs) should not keep the client waiting for its answer, nor time out at a proxy. The job
pattern: ``POST /jobs`` answers *202 Accepted* with a job id at once; the work runs in the background;
``GET /jobs/{job_id}`` says how far it got::

    pending  --run starts-->  running  --returns-->  done   (result)
                                       --raises--->  failed (error)

The store keeps every job in memory, in this process. It is used from the event loop (the routes) and
from worker threads (the background work) at the same time, so every read and change of a job happens
under one lock, and readers get *copies*: a job is never seen half-updated (``done`` without its result).

* Task 6.3 ``JobStore.create``, ``JobStore.get`` and ``JobStore.run``.

Check it: ``pytest checks/lab6 -k job``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass
class Job:
    """Given: one job as the store records it."""

    job_id: str
    status: str = PENDING
    result: Any = None
    error: str | None = None


class UnknownJobError(LookupError):
    """Given: no job has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class JobStore:
    """Jobs by id, safe to use from the event loop and from worker threads at once."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _update(self, job_id: str, **changes: Any) -> None:
        """Given: change some of a job's fields together, under the lock."""
        with self._lock:
            job = self._jobs[job_id]
            for name, value in changes.items():
                setattr(job, name, value)

    def create(self) -> Job:  # Task 6.3
        """Record a new job with a fresh id (``uuid.uuid4().hex``) and status ``"pending"``; return a copy."""
        raise NotImplementedError("Task 6.3: A job store that records failures")

    def get(self, job_id: str) -> Job:  # Task 6.3
        """A copy of the job as it is now (``dataclasses.replace(job)``); ``UnknownJobError`` for an unknown id."""
        raise NotImplementedError("Task 6.3: A job store that records failures")

    def run(self, job_id: str, func: Callable[..., Any], *args: Any) -> None:  # Task 6.3
        """Do the job's work, ``func(*args)``, recording how it goes. Never raises.

        Mark the job ``"running"``, call ``func(*args)``; then record ``status="done"`` with
        ``result=<what func returned>``, or, if it raised, ``status="failed"`` with
        ``error=f"{type(exc).__name__}: {exc}"`` (and log the exception with ``logger.exception``).
        Set status and result (or error) in one ``_update`` call: a reader must never see ``"done"``
        without the result. Nothing escapes: a failing job must not take anything else down with it.
        """
        raise NotImplementedError("Task 6.3: A job store that records failures")
