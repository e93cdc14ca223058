"""One way to start an app in-process, for checks and notebooks alike.

Both clients run the app's lifespan (startup before the first request, shutdown at the end), so a check
sees the app exactly as uvicorn would start it, without a network port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx2
from asgi_lifespan import LifespanManager
from starlette.testclient import TestClient

BASE_URL = "http://testserver"


@contextmanager
def sync_client(app, **kwargs) -> Iterator[TestClient]:
    """Starlette's TestClient used as a context manager, so the lifespan runs."""
    with TestClient(app, base_url=BASE_URL, **kwargs) as client:
        yield client


@asynccontextmanager
async def async_client(app, timeout: float = 30.0) -> AsyncIterator[httpx2.AsyncClient]:
    """An httpx2 AsyncClient talking to the app on the caller's own event loop, lifespan included."""
    async with LifespanManager(app, startup_timeout=timeout, shutdown_timeout=timeout) as manager:
        transport = httpx2.ASGITransport(app=manager.app)
        async with httpx2.AsyncClient(transport=transport, base_url=BASE_URL, timeout=timeout) as client:
            yield client
