"""Lab 2 — the event loop inside FastAPI.

Read notebooks/02_event_loop.ipynb first. FastAPI runs every ``async def`` route on one event loop, and
every plain ``def`` route in a thread pool. A blocking call (``time.sleep``, a slow ``predict``, a file read)
inside ``async def`` freezes the loop: no other request moves until it returns.

Each slow route takes the time to wait as a query parameter, ``?delay=0.5`` (seconds, 0 to 5; anything
else is a 422), so experiments and checks stay fast. Every route answers JSON.

* Task 2.1 ``/health`` answers ``{"status": "ok"}`` and ``/fast`` answers ``{"message": "fast"}`` at once.
* Task 2.2 ``/slow-async``: the anti-pattern, on purpose — ``time.sleep(delay)`` inside ``async def``.
* Task 2.3 ``/slow-sync``: the same ``time.sleep(delay)`` in a plain ``def`` route (FastAPI runs it in a thread).
* Task 2.4 ``/slow-fixed``: an ``async def`` route that waits ``delay`` seconds *without* blocking the loop.

The three slow routes answer ``{"route": <path without the slash>, "waited": delay}``.
Run it: ``uvicorn lab2.app:app --app-dir labs`` and open http://127.0.0.1:8000/docs (given:
``serve_docs_offline`` from ``labkit``, which serves that page without internet; notebook section 2.1).
Check it: ``pytest checks/lab2``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import FastAPI, Query

from labkit.docs import serve_docs_offline

app = serve_docs_offline(FastAPI(title="Lab 2 — the event loop"))

Delay = Annotated[float, Query(ge=0, le=5, description="seconds to wait")]


@app.get("/")
async def root() -> dict[str, str]:
    """Given: a greeting, so the app answers something at its root."""
    return {"message": "Lab 2: the event loop. Try /fast while /slow-async is running."}


@app.get("/health")
async def health() -> dict[str, str]:  # Task 2.1
    """Liveness probe: ``{"status": "ok"}``, at once even while every worker thread is busy (nothing slow here)."""
    raise NotImplementedError("Task 2.1: Health and fast routes")


@app.get("/fast")
async def fast() -> dict[str, str]:  # Task 2.1
    """Answer ``{"message": "fast"}`` immediately, even while every worker thread is busy."""
    raise NotImplementedError("Task 2.1: Health and fast routes")


@app.get("/slow-async")
async def slow_async(delay: Delay = 1.0) -> dict[str, str | float]:  # Task 2.2
    """The anti-pattern: block the event loop with ``time.sleep(delay)`` inside ``async def``."""
    raise NotImplementedError("Task 2.2: The blocking async route (on purpose)")


@app.get("/slow-sync")
def slow_sync(delay: Delay = 1.0) -> dict[str, str | float]:  # Task 2.3
    """The same ``time.sleep(delay)`` in a plain ``def`` route: FastAPI runs it in its thread pool."""
    raise NotImplementedError("Task 2.3: The same wait in a def route")


@app.get("/slow-fixed")
async def slow_fixed(delay: Delay = 1.0) -> dict[str, str | float]:  # Task 2.4
    """Wait ``delay`` seconds in ``async def`` without blocking the loop."""
    raise NotImplementedError("Task 2.4: An async route that waits without blocking")
