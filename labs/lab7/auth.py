"""Lab 7, Tasks 7.1 and 7.2 — an API key, checked by a dependency and by a middleware with a whitelist.

Read notebooks/07_middleware_auth.ipynb, sections 7.1 and 7.2. Clients prove who they are with a secret
key in the ``X-API-Key`` header. The answers are the same wherever the key is checked:

* no key (the header is missing or empty): **401 Unauthorized**, ``{"detail": "..."}`` and the header
  ``WWW-Authenticate: APIKey`` (HTTP requires a challenge on every 401; FastAPI's own ``APIKeyHeader``
  has sent this one since FastAPI 0.122 — before, it answered 403);
* a wrong key: **403 Forbidden**, ``{"detail": "..."}``.

The key is compared in constant time (``secrets.compare_digest``): ``==`` stops at the first differing
character, and how long it takes tells an attacker how much of a guess was right.

* Task 7.1 ``check_api_key`` and the dependency ``require_api_key``.
* Task 7.2 ``is_public`` (the whitelist) and ``ApiKeyMiddleware.dispatch``.

Check it: ``pytest checks/lab7 -k "api_key or whitelist"``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import SecretStr
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import Scope

from labkit.docs import ASSETS_URL

from .settings import Settings

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key reaches require_api_key as None, so the service decides what to answer.
# Declaring the header this way also puts it in the OpenAPI schema: /docs gets an "Authorize" button.
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="the service's API key (setting API_KEY)")

# What a client may reach without a key: the health probe and the API docs.
PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# ...and every file under the docs' assets (Swagger UI's JavaScript and CSS, which /docs loads).
PUBLIC_PREFIX = ASSETS_URL + "/"


def get_settings(request: Request) -> Settings:
    """Given: the app's settings (``create_app`` keeps them in ``app.state.settings``), as a dependency."""
    return request.app.state.settings


def check_api_key(presented: str | None, expected: SecretStr) -> None:  # Task 7.1
    """Accept ``presented`` if it is the ``expected`` key; otherwise raise the ``HTTPException`` to answer.

    * ``presented`` is ``None`` or empty: ``HTTPException(401, detail=<say the key is missing and which
      header carries it>, headers={"WWW-Authenticate": "APIKey"})``.
    * ``presented`` differs from ``expected.get_secret_value()``: ``HTTPException(403, detail=<say the key
      is not valid>)``. Never put either key in the detail.

    Compare with ``secrets.compare_digest`` and compare **bytes**: on ``str`` it refuses (``TypeError``)
    anything that is not ASCII, and a header can hold any byte. ``presented.encode("latin-1")`` gives the
    header's bytes back (Starlette decoded them as latin-1); encode ``expected`` as UTF-8.
    """
    raise NotImplementedError("Task 7.1: Check the API key in a dependency")


async def require_api_key(presented: Annotated[str | None, Security(api_key_header)],
                          settings: Annotated[Settings, Depends(get_settings)]) -> None:  # Task 7.1
    """A dependency for routes that need the key: ``check_api_key(presented, settings.api_key)``.

    ``presented`` is the ``X-API-Key`` header (``None`` if missing); ``settings`` come from
    ``get_settings``. Use it as ``dependencies=[Depends(require_api_key)]`` on a route or a router.
    """
    raise NotImplementedError("Task 7.1: Check the API key in a dependency")


def route_path(scope: Scope) -> str:
    """Given: the path the router matches — the request's percent-decoded path, minus the ``root_path``.

    A server decodes the path before the app sees it (``/%68ealth`` arrives as ``/health``) and does not
    tidy it (``/health/../predict`` stays as it is); Starlette's router matches exactly this string.
    """
    path, root = scope["path"], scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root):] if path[len(root)] == "/" else path


def is_public(path: str) -> bool:  # Task 7.2
    """True if ``path`` (a ``route_path``) may be reached without a key; everything else needs one.

    Public are exactly the ``PUBLIC_PATHS`` (character for character: ``/healthz``, ``/health/``,
    ``/Health`` are not ``/health``) and the files under ``PUBLIC_PREFIX`` — but only a *plain* path
    there: after the prefix, no empty segment (``//``), no ``.`` or ``..`` segment, no backslash.
    A ``..`` lets a path that starts with the prefix lead somewhere else.
    """
    raise NotImplementedError("Task 7.2: Check the key in a middleware, with a whitelist")


class ApiKeyMiddleware(BaseHTTPMiddleware):
    """Every request needs the key, except the public paths. Added by ``install_middleware`` (app.py)."""

    def __init__(self, app, api_key: SecretStr) -> None:
        super().__init__(app)
        self.api_key = api_key

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:  # Task 7.2
        """Pass public paths on untouched; for any other, check the key, then pass the request on.

        ``is_public(route_path(request.scope))`` decides — the very path the router will match. For the
        rest, ``check_api_key(request.headers.get(API_KEY_HEADER), self.api_key)``; when it raises,
        **return** the answer — ``JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
        headers=exc.headers)`` — do not let it escape. A middleware runs outside FastAPI's exception
        handlers: an ``HTTPException`` raised here is not turned into a 401, it becomes a 500.
        """
        raise NotImplementedError("Task 7.2: Check the key in a middleware, with a whitelist")
