"""Lab 10, Task 10.1 — one JSON error body for every error the service answers.

Read notebooks/10_production.ipynb, section 10.1. FastAPI's defaults answer ``{"detail": ...}`` for
HTTP errors, a list of dicts for validation errors, and a plain-text ``Internal Server Error`` for a bug.
A client should not need three parsers. Every 4xx and 5xx this service answers has this body::

    {"status": 404, "error": "unknown_model", "detail": "unknown model 'x'; ...", ...extra members}

``status`` repeats the HTTP status, ``error`` is a short machine-readable code, ``detail`` a sentence for
a person, and a few errors add members (``known_models``, ``errors``, ``model``). ``error_response``
(given) builds it; you write the handlers, which ``install_error_handlers`` (given) registers:

* ``http_error_handler`` — any ``HTTPException`` (yours, FastAPI's, Starlette's 404/405): keep its
  status, its ``headers`` (``WWW-Authenticate``, ``Retry-After`` live there!) and its detail; the code is
  ``exc.error`` for a :class:`ServiceError` (whose ``exc.extra`` members join the body), otherwise
  ``ERROR_CODES`` by status (``"http_error"`` if absent).
* ``validation_error_handler`` — 422, ``"validation_error"``, ``detail`` a one-line summary naming the
  first bad field, and ``errors``: a list of ``{"loc": [...], "msg": "...", "type": "..."}``.
* ``unknown_model_handler`` — 404, ``"unknown_model"``, and ``known_models``: the names served.
* ``model_not_loaded_handler`` — 503, ``"model_not_loaded"``, and ``model``: the name asked for.
* ``unexpected_error_handler`` — any other exception: 500, ``"internal_error"``, a fixed sentence.
  Never the exception's text or a traceback: they leak internals. (Starlette re-raises the exception
  after this handler answers, so the server still logs the traceback.)

Bad input gets a 4xx, never a 500. A 500 is for a bug of the service, never for what a client sent.

Check your work with ``pytest checks/lab10 -k errors``.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .registry import ModelNotLoadedError, UnknownModelError

ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "content_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}
INTERNAL_ERROR_DETAIL = "an unexpected error occurred on the server; it has been logged"


class ServiceError(HTTPException):
    """Given: an ``HTTPException`` with its own error code and extra members for the JSON body.

    ``raise ServiceError(422, "invalid_csv", "row 3: ...", row=3)`` answers
    ``{"status": 422, "error": "invalid_csv", "detail": "row 3: ...", "row": 3}``.
    """

    def __init__(self, status_code: int, error: str, detail: str, *,
                 headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.error = error
        self.extra = extra


def error_response(status: int, error: str, detail: str, *,
                   headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    """Given: the one error body, as a JSONResponse with ``status`` as its HTTP status."""
    return JSONResponse({"status": status, "error": error, "detail": detail, **extra},
                        status_code=status, headers=headers)


async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:  # Task 10.1
    """Any HTTPException as the error body: same status, same headers, its detail as a string.

    A :class:`ServiceError` brings its own code (``exc.error``) and extra members (``exc.extra``).
    """
    raise NotImplementedError("Task 10.1: One JSON error body for every error")


async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:  # Task 10.1
    """422 ``validation_error``: a summary naming the first bad field, and the list of ``errors``."""
    raise NotImplementedError("Task 10.1: One JSON error body for every error")


async def unknown_model_handler(request: Request, exc: UnknownModelError) -> JSONResponse:  # Task 10.1
    """404 ``unknown_model`` with ``known_models``, the names this service does serve."""
    raise NotImplementedError("Task 10.1: One JSON error body for every error")


async def model_not_loaded_handler(request: Request, exc: ModelNotLoadedError) -> JSONResponse:  # Task 10.1
    """503 ``model_not_loaded`` with ``model``: the file is there but could not be loaded."""
    raise NotImplementedError("Task 10.1: One JSON error body for every error")


async def unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:  # Task 10.1
    """500 ``internal_error`` with a fixed detail: nothing about the exception reaches the client."""
    raise NotImplementedError("Task 10.1: One JSON error body for every error")


def install_error_handlers(app: FastAPI) -> None:
    """Given: register the handlers above (the most specific exception class wins)."""
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(UnknownModelError, unknown_model_handler)
    app.add_exception_handler(ModelNotLoadedError, model_not_loaded_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)


class RefuseOversizedBodies:
    """Given: answer 413 ``content_too_large`` at once when ``Content-Length`` exceeds ``max_bytes``.

    FastAPI's ``max_body_size`` (set on the routers in ``create_app``) counts the bytes as they arrive and
    stops reading at the limit (its 413 goes through the handlers). A body whose ``Content-Length``
    announces it is too big Starlette refuses in plain text, before any handler runs; this middleware
    answers first, with the error body, without reading a byte of it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.max_bytes:
                response = error_response(413, "content_too_large",
                                          f"the request body is larger than the limit of {self.max_bytes} bytes",
                                          limit=self.max_bytes)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
