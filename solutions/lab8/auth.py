"""Given: the API key (lab 7). Clients send the service's key in the ``X-API-Key`` header.

No key: **401** with ``WWW-Authenticate: APIKey``; a wrong key: **403**. The key is compared in constant
time, as bytes. Every route except ``/health`` and the docs needs it — ``DELETE /cache`` and the model
reload of lab 8 above all: anyone who may empty the caches can slow the service down at will.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Security, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

from .settings import Settings, get_settings

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key reaches require_api_key as None, so the service decides what to answer.
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="the service's API key (setting API_KEY)")


def check_api_key(presented: str | None, expected: SecretStr) -> None:
    """Return if ``presented`` is the key; else raise the 401 (missing) or 403 (wrong) to answer."""
    if not presented:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=f"Missing API key: send it in the {API_KEY_HEADER} header.",
            headers={"WWW-Authenticate": "APIKey"},
        )
    if not secrets.compare_digest(presented.encode("latin-1"), expected.get_secret_value().encode("utf-8")):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Invalid API key.")


async def require_api_key(presented: Annotated[str | None, Security(api_key_header)],
                          settings: Annotated[Settings, Depends(get_settings)]) -> None:
    """The dependency of every protected route: ``check_api_key(<X-API-Key>, settings.api_key)``."""
    check_api_key(presented, settings.api_key)
