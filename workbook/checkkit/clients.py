"""One way to start an app in-process, for checks and notebooks alike.

Both clients run the app's lifespan (startup before the first request, shutdown at the end), so a check
sees the app exactly as uvicorn would start it, without a network port.

Both also surface crashes an app turned into a 500 of its own. A middleware that answers every exception
with a 500 (as the timing middleware of lab 7 must, so that errors carry their headers too) would
otherwise hide a starter's ``NotImplementedError`` or a student's ``TypeError`` behind "got 500". When a
response is a 5xx and the app logged an exception while making it, the client raises that exception in
the check, and the grader reports it as "not started" or "your code raised …, at line N".
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx2
from asgi_lifespan import LifespanManager
from starlette.testclient import TestClient

BASE_URL = "http://testserver"


class LoggedCrashes(logging.Handler):
    """Exceptions logged (with a traceback) anywhere in the process while a client is open."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.caught: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], Exception):
            self.caught.append(record.exc_info[1])

    def raise_behind(self, response: httpx2.Response) -> None:
        """Raise the exception behind a 5xx answer, if the app logged one; forget older ones."""
        caught, self.caught = self.caught, []
        if response.status_code >= 500 and caught:
            raise caught[0]


@contextmanager
def logged_crashes() -> Iterator[LoggedCrashes]:
    handler = LoggedCrashes()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@contextmanager
def sync_client(app, **kwargs) -> Iterator[TestClient]:
    """Starlette's TestClient used as a context manager, so the lifespan runs."""
    with logged_crashes() as crashes, TestClient(app, base_url=BASE_URL, **kwargs) as client:
        client.event_hooks["response"].append(crashes.raise_behind)
        yield client


@asynccontextmanager
async def async_client(
    app, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 AsyncClient talking to the app on the caller's own event loop, lifespan included."""

    async def raise_behind(response: httpx2.Response) -> None:
        crashes.raise_behind(response)

    with logged_crashes() as crashes:
        async with LifespanManager(app, startup_timeout=timeout, shutdown_timeout=timeout) as manager:
            transport = httpx2.ASGITransport(app=manager.app)
            async with httpx2.AsyncClient(
                transport=transport,
                base_url=BASE_URL,
                timeout=timeout,
                headers=headers,
                event_hooks={"response": [raise_behind]},
            ) as client:
                yield client
