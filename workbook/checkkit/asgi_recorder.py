"""Call an ASGI app by hand, the way a server does, and record *when* each part of the exchange happens.

Starlette's ``TestClient`` and httpx's ``ASGITransport`` hand you a response only after the app's call
has returned — after its background tasks have run too — so neither can show that a response left
*before* a background task finished. And httpx tidies URLs (``/health/../predict`` is sent as
``/predict``), so neither can send the odd paths a real client can. This recorder can:

* it builds the HTTP scope as uvicorn does: ``raw_path`` is the request target's bytes as sent, ``path``
  is the same percent-decoded and *not* normalised (``/%68ealth`` arrives as ``/health``,
  ``/health/../predict`` stays as it is);
* it timestamps the final ``http.response.body`` (``more_body`` false: the client has the whole answer)
  and the moment the app's call returns (background tasks done);
* ``on_response_complete(exchange)`` runs at the instant the response is complete — before the app gets
  control back — so a check can look at the world (a log file, a job's status) exactly then, without
  timing anything.

Used by the checks of labs 6 and 7 and by their notebooks::

    async with recording(app) as recorder:             # runs the app's lifespan around the block
        exchange = await recorder.request("GET", "/health")
        call = recorder.start("POST", "/predict/newsgroups", json={"text": "..."})
        await call.response_complete()                 # the client has the answer...
        ...                                            # ...while the background task may still run
        exchange = await call.done()
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from asgi_lifespan import LifespanManager

HOST = "testserver"
CLIENT = ("127.0.0.1", 54321)

HeaderValue = str | bytes


@dataclass
class Exchange:
    """One request and what the app did with it. Times are ``time.perf_counter()`` seconds."""

    method: str
    target: str
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    started_at: float = 0.0
    response_started_at: float | None = None
    response_complete_at: float | None = None  # the final http.response.body was sent
    returned_at: float | None = None  # the app's call returned: background tasks included
    app_error: BaseException | None = None  # what the app raised, before or after responding
    at_response_complete: Any = None  # what on_response_complete returned

    def header(self, name: str) -> str | None:
        """The first value of a response header (case-insensitive), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def describe(self) -> str:
        """``GET /path -> 401 {"detail": ...}``, for failure messages."""
        status = self.status if self.status is not None else "no response"
        return f"{self.method} {self.target} -> {status} {self.text[:200]}".rstrip()


class RecordedCall:
    """A request running as an asyncio task; see :meth:`ASGIRecorder.start`."""

    def __init__(
        self, exchange: Exchange, task: asyncio.Task, complete: asyncio.Event, raise_app_exceptions: bool
    ) -> None:
        self.exchange = exchange
        self.task = task
        self._complete = complete
        self._raise = raise_app_exceptions

    async def response_complete(self) -> Exchange:
        """Wait until the whole response has been sent (or the app returned without one).

        A 5xx usually means the app crashed: Starlette sends its 500 and then re-raises the error. Unless
        told not to raise, wait for that and re-raise it here, as TestClient would.
        """
        waiter = asyncio.ensure_future(self._complete.wait())
        try:
            await asyncio.wait({waiter, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        crashed = self.exchange.status is not None and self.exchange.status >= 500
        if self.exchange.response_complete_at is None or (self._raise and crashed):
            await self.done()  # raises what the app raised
        if self.exchange.response_complete_at is None:
            raise AssertionError(
                f"{self.exchange.method} {self.exchange.target}: the app returned without sending a complete response"
            )
        return self.exchange

    async def done(self) -> Exchange:
        """Wait until the app's call returns; re-raise its exception unless told not to."""
        await self.task
        if self._raise and self.exchange.app_error is not None:
            raise self.exchange.app_error
        return self.exchange


class ASGIRecorder:
    """Send requests straight to an ASGI app (already started: see :func:`recording`)."""

    def __init__(self, app: Callable, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.clock = clock

    def start(
        self,
        method: str,
        target: str,
        *,
        json: Any = None,
        body: bytes = b"",
        headers: Iterable[tuple[str, HeaderValue]] | dict[str, HeaderValue] = (),
        on_response_complete: Callable[[Exchange], Any] | None = None,
        raise_app_exceptions: bool = True,
    ) -> RecordedCall:
        """Start one request as a task and return at once.

        ``target`` is the request target exactly as a client sends it: path and optional ``?query``,
        percent-encoding included. Header values may be ``bytes`` (sent as they are) or ``str`` (latin-1).
        """
        exchange = Exchange(method=method.upper(), target=target)
        complete = asyncio.Event()
        task = asyncio.ensure_future(self._run(exchange, complete, json, body, headers, on_response_complete))
        return RecordedCall(exchange, task, complete, raise_app_exceptions)

    async def request(self, method: str, target: str, **kwargs: Any) -> Exchange:
        """Send one request and wait until the app's call returns (background tasks included)."""
        return await self.start(method, target, **kwargs).done()

    async def _run(
        self,
        exchange: Exchange,
        complete: asyncio.Event,
        json: Any,
        body: bytes,
        headers: Iterable[tuple[str, HeaderValue]] | dict[str, HeaderValue],
        on_response_complete: Callable[[Exchange], Any] | None,
    ) -> None:
        raw_headers = [(b"host", HOST.encode())]
        if json is not None:
            body = jsonlib.dumps(json).encode()
            raw_headers.append((b"content-type", b"application/json"))
        if body:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        items = headers.items() if isinstance(headers, dict) else headers
        for name, value in items:
            raw_headers.append(
                (name.lower().encode("latin-1"), value if isinstance(value, bytes) else value.encode("latin-1"))
            )
        scope = http_scope(exchange.method, exchange.target, raw_headers)
        request_sent = False

        async def receive() -> dict:
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            # As uvicorn does: nothing more arrives until the response is complete, then a disconnect.
            await complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                exchange.response_started_at = self.clock()
                exchange.status = message["status"]
                exchange.headers = [
                    (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message.get("headers", [])
                ]
            elif kind == "http.response.body":
                exchange.body += message.get("body", b"")
                if not message.get("more_body", False):
                    exchange.response_complete_at = self.clock()
                    if on_response_complete is not None:
                        exchange.at_response_complete = on_response_complete(exchange)
                    complete.set()

        exchange.started_at = self.clock()
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # recorded; RecordedCall.done() re-raises it by default
            exchange.app_error = exc
        finally:
            exchange.returned_at = self.clock()
            complete.set()  # wake anyone waiting for a response that will never come


def http_scope(method: str, target: str, raw_headers: list[tuple[bytes, bytes]]) -> dict:
    """The HTTP scope uvicorn would build for ``method target`` (no root path)."""
    raw_path, _, query = target.encode("latin-1").partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": (HOST, 80),
        "client": CLIENT,
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "headers": raw_headers,
    }


@asynccontextmanager
async def recording(app: Callable, timeout: float = 30.0) -> AsyncIterator[ASGIRecorder]:
    """Run ``app``'s lifespan (startup now, shutdown at the end) and yield a recorder talking to it."""
    async with LifespanManager(app, startup_timeout=timeout, shutdown_timeout=timeout) as manager:
        yield ASGIRecorder(manager.app)
