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
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


async def safe_validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, with every echoed value made JSON-safe."""
    return JSONResponse(status_code=422, content={"detail": json_safe(list(exc.errors()))})


def install_safe_validation_handler(app: FastAPI) -> FastAPI:
    """Answer request-validation errors with :func:`safe_validation_error_handler`; returns the app."""
    app.add_exception_handler(RequestValidationError, safe_validation_error_handler)
    return app
