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
or found while reading to be larger than ``max_bytes`` is answered 413 before it is parsed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_ECHO_CHARS = 200  # an echoed input longer than this, as JSON, is cut
MAX_ERRORS = 20  # a 422 lists at most this many errors
MAX_BODY_BYTES = 1 << 20  # limit_request_body's default: 1 MiB


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


def short_errors(errors: list[Any]) -> list[Any]:
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


async def safe_validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, with every echoed value made JSON-safe and short."""
    return JSONResponse(status_code=422, content={"detail": short_errors(exc.errors())})


def install_safe_validation_handler(app: FastAPI) -> FastAPI:
    """Answer request-validation errors with :func:`safe_validation_error_handler`; returns the app."""
    app.add_exception_handler(RequestValidationError, safe_validation_error_handler)
    return app


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for a request body larger than ``max_bytes``, declared or streamed."""

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"request body too large: at most {self.max_bytes} bytes"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse(status_code=413, content={"detail": self._detail()})(scope, receive, send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises an HTTPException met while reading the body: it becomes the answer.
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        await self.app(scope, limited_receive, send)


def limit_request_body(app: FastAPI, max_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """Answer 413 to any request whose body is larger than ``max_bytes``; returns the app."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_bytes)
    return app
