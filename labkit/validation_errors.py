"""422 answers that cannot turn into 500s: a request-validation handler every app installs.

FastAPI answers invalid input with 422 and a list of errors, each echoing the ``input`` it refused. The
default handler serialises that list as strict JSON, so some inputs break the *answer itself* and the
client gets a 500 instead of the 422:

* ``{"sepal_length": NaN}`` or ``1e999`` in a JSON body: Python's JSON parser accepts them, Pydantic
  rightly refuses the non-finite float, and the error echoes ``nan``/``inf``, which strict JSON cannot carry;
* a non-UTF-8 body (an image posted to a JSON route): the error echoes raw bytes that cannot be decoded;
* a string holding a lone surrogate (``"\\ud800"``), which cannot be encoded as UTF-8.

``install_safe_validation_handler(app)`` replaces the handler by one that keeps FastAPI's shape —
``{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}`` — and makes every value JSON-safe first.
Every app of labs 4 onwards calls it, next to ``serve_docs_offline(app)``.

The answer is also kept *short*: the stock handler echoes the whole input in every error (a body with four
missing fields is echoed four times), so a large body gave an answer several times its size. Here an echoed
``input`` longer than ``MAX_ECHO_CHARS`` (as JSON) is cut to that length with a note of its full size, and
at most ``MAX_ERRORS`` errors are listed.

``limit_request_body(app, max_bytes)`` bounds what a client may send: a body declared (``Content-Length``)
or found while reading to be larger than ``max_bytes`` is answered 413 before it is parsed. It also bounds
*how long* a client may take to send it: a body not received whole within ``body_timeout`` seconds of the
request's start (a client that sends slowly, or stops mid-body) is answered 408 Request Timeout, so it
cannot hold a connection and its task for ever. ``limit_body_read_time(app)`` sets only that deadline (for an
app with size limits of its own). The default, ``BODY_TIMEOUT`` seconds, can be changed with the
environment variable ``BODY_TIMEOUT_SECONDS``; uvicorn has no such timeout of its own.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ECHO_CHARS = 200  # an echoed input longer than this, as JSON, is cut
MAX_ERRORS = 20  # a 422 lists at most this many errors
MAX_BODY_BYTES = 1 << 20  # limit_request_body's default: 1 MiB
BODY_TIMEOUT = 30.0  # seconds a client has to send a whole request body (env BODY_TIMEOUT_SECONDS)


def default_body_timeout() -> float:
    """``BODY_TIMEOUT_SECONDS`` from the environment if set (a positive number), else ``BODY_TIMEOUT``."""
    try:
        seconds = float(os.environ.get("BODY_TIMEOUT_SECONDS", BODY_TIMEOUT))
    except ValueError:
        return BODY_TIMEOUT
    return seconds if math.isfinite(seconds) and seconds > 0 else BODY_TIMEOUT


def json_safe(value: Any) -> Any:
    """``value`` with everything strict JSON cannot carry replaced by a readable string.

    Non-finite floats become ``"nan"``, ``"inf"`` or ``"-inf"``; bytes are decoded as UTF-8 with
    replacement characters; strings lose unencodable characters; anything else unknown becomes ``str()``.
    """
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if isinstance(value, dict):
        return {str(json_safe(key)): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return json_safe(str(value))


def short_echo(value: Any) -> Any:
    """A JSON-safe ``value`` as it is if its JSON is at most ``MAX_ECHO_CHARS`` long, else a cut string."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_ECHO_CHARS:
        return value
    return f"{text[:MAX_ECHO_CHARS]}… ({len(text)} characters in all)"


def short_errors(errors: Sequence[Any]) -> list[Any]:
    """The first ``MAX_ERRORS`` errors, JSON-safe, each echoed ``input`` (and ``ctx`` value) kept short."""
    kept = []
    for error in json_safe(list(errors)[:MAX_ERRORS]):
        if isinstance(error, dict):
            if "input" in error:
                error["input"] = short_echo(error["input"])
            if isinstance(error.get("ctx"), dict):
                error["ctx"] = {key: short_echo(item) for key, item in error["ctx"].items()}
        kept.append(error)
    return kept


async def safe_validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 answer, with every echoed value made JSON-safe and short."""
    # Registered for RequestValidationError only (Starlette types every handler as taking an Exception).
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": short_errors(exc.errors())})


def install_safe_validation_handler(app: FastAPI) -> FastAPI:
    """Answer request-validation errors with :func:`safe_validation_error_handler`; returns the app."""
    app.add_exception_handler(RequestValidationError, safe_validation_error_handler)
    return app


class BodyTimeout(HTTPException):
    """The request body did not arrive in time (408): FastAPI answers it like any HTTPException."""


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for a request body larger than ``max_bytes`` (``None``: any size), declared
    or streamed; 408 for a body not received whole within ``body_timeout`` seconds (``None``: the default)."""

    def __init__(self, app, max_bytes: int | None = MAX_BODY_BYTES, body_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.body_timeout = default_body_timeout() if body_timeout is None else body_timeout

    def _detail(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if self.max_bytes is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse(status_code=413, content={"detail": self._detail()})(scope, receive, send)
            return
        started = False

        async def watched_send(message) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        received = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        body_done = False

        async def limited_receive():
            nonlocal received, body_done
            if body_done:  # after the body only http.disconnect is left: waiting for it is no slow client
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):  # no extra task per message, unlike wait_for
                    message = await receive()
            except TimeoutError:
                body_done = True
                raise BodyTimeout(
                    status_code=408,
                    headers={"Connection": "close"},
                    detail=f"request body not received within {self.body_timeout:g} seconds",
                ) from None
            if message.get("type") != "http.request" or not message.get("more_body", False):
                body_done = True
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if self.max_bytes is not None and received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body: it becomes the answer.
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTimeout as exc:  # read outside FastAPI's handlers (an ASGI middleware): answer it here
            if started:
                raise
            await JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers)(
                scope, receive, send
            )


def limit_request_body(app: FastAPI, max_bytes: int = MAX_BODY_BYTES, body_timeout: float | None = None) -> FastAPI:
    """Answer 413 to any request whose body is larger than ``max_bytes``, 408 to one whose body takes longer
    than ``body_timeout`` seconds (default: ``default_body_timeout()``) to arrive; returns the app."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes, body_timeout=body_timeout)
    return app


def limit_body_read_time(app: FastAPI, body_timeout: float | None = None) -> FastAPI:
    """Answer 408 to any request whose body takes longer than ``body_timeout`` seconds to arrive (no size
    limit: for an app that bounds sizes itself); returns the app."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=None, body_timeout=body_timeout)
    return app
