"""Given: the request log (lab 7) — every request gets an id, a timing and one JSON log line.

``RequestLogMiddleware`` stamps every response with ``X-Request-ID`` (the client's own id if it sent a sane
one, else a new one) and ``X-Process-Time`` (seconds), keeps the id in ``request.state.request_id`` for
the routes, and logs ``{"method", "path", "status", "duration_ms", "request_id"}`` through the logger
``"lab8.requests"``. Comparing ``X-Process-Time`` of a cache hit and a miss shows what the cache saves.
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

logger = logging.getLogger("lab8.requests")


def configure_request_logging() -> None:
    """Log the request lines at INFO, on stderr unless logging is set up already (calling it again adds nothing)."""
    logger.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def request_id_for(headers: Headers) -> str:
    """The client's ``X-Request-ID`` if it fully matches ``SANE_REQUEST_ID``, else a new ``uuid.uuid4().hex``."""
    sent = headers.get(REQUEST_ID_HEADER)
    if sent is not None and SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestLogMiddleware(BaseHTTPMiddleware):
    """Request id, ``X-Process-Time`` and one JSON log line for every request. Added by ``install_middleware``."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Time the request through the rest of the app; stamp and log whatever answer comes back (a crash too)."""
        request_id = request_id_for(request.headers)
        request.state.request_id = request_id
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            logger.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
            response = JSONResponse({"detail": "Internal Server Error", "request_id": request_id}, status_code=500)
        seconds = time.perf_counter() - start
        response.headers[REQUEST_ID_HEADER] = request_id
        response.headers[PROCESS_TIME_HEADER] = f"{seconds:.6f}"
        logger.info(json.dumps({
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 3),
            "request_id": request_id,
        }))
        return response
