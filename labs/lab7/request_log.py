"""Lab 7, Task 7.3 — one middleware that gives every request an id, times it and logs it as one JSON line.

Read notebooks/07_middleware_auth.ipynb, section 7.3. Every response — a prediction, a 404, the 401 of the
API-key check, a CORS preflight, a 500 from a crash — gets two headers:

* ``X-Request-ID``: the client's own id if it sent a sane one, else a new one. Clients quote it in bug
  reports; it ties the client's view to the server's log line.
* ``X-Process-Time``: how long the app took, in seconds, as a decimal number (``"0.004213"``).

and one log line, through ``logger`` (the logging module, logger ``"lab7.requests"``), whose message is a
JSON object: ``{"method", "path", "status", "duration_ms", "request_id"}``. Structured lines are what log
tools search: ``status >= 500``, ``duration_ms > 200``, one ``request_id``.

Never log headers or bodies wholesale: ``X-API-Key`` is a password, and a wrong key is often a typo of a
right one. The path is logged without the query string for the same reason.

* Task 7.3 ``request_id_for`` and ``RequestLogMiddleware.dispatch``.

Check it: ``pytest checks/lab7 -k request``.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

REQUEST_ID_HEADER = "X-Request-ID"
PROCESS_TIME_HEADER = "X-Process-Time"
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

logger = logging.getLogger("lab7.requests")


def configure_request_logging() -> None:
    """Given: log the request lines at INFO and, unless logging is set up already, print them on stderr.

    uvicorn sets up only its own loggers, so without this the lines would go nowhere. The app's lifespan
    calls it; calling it again adds nothing. Records still propagate to the root logger: if it has
    handlers (``logging.basicConfig``, pytest's ``caplog``), they print the lines and no second copy is made.
    """
    logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def request_id_for(headers: Headers) -> str:  # Task 7.3
    """The request's id: the client's ``X-Request-ID`` if it is sane, else a new ``uuid.uuid4().hex``.

    Sane means it matches ``SANE_REQUEST_ID`` completely (``fullmatch``): 1 to 64 characters, each a
    letter, digit, ``.``, ``_`` or ``-``. Anything else — too long, spaces, quotes, control characters —
    is replaced, never echoed: the id goes into a response header and into every log tool.
    """
    raise NotImplementedError("Task 7.3: Request ids, timing and one JSON log line")


class RequestLogMiddleware(BaseHTTPMiddleware):
    """Request id, ``X-Process-Time`` and one JSON log line for every request. Added by ``install_middleware``."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:  # Task 7.3
        """Time the request through the rest of the app; stamp and log whatever answer comes back.

        1. ``request_id = request_id_for(request.headers)``; keep it in ``request.state.request_id``.
        2. ``response = await call_next(request)``, timed with ``time.perf_counter()``. If it raises,
           ``logger.exception(...)`` and answer ``JSONResponse({"detail": "Internal Server Error",
           "request_id": request_id}, status_code=500)`` yourself: the 500 gets its headers and its
           log line like any other answer.
        3. Set the response headers ``X-Request-ID`` and ``X-Process-Time`` (seconds, ``f"{seconds:.6f}"``).
        4. ``logger.info(json.dumps({"method": ..., "path": request.url.path, "status": ...,
           "duration_ms": <milliseconds, a number>, "request_id": ...}))`` — exactly one line per request.
        """
        raise NotImplementedError("Task 7.3: Request ids, timing and one JSON log line")
