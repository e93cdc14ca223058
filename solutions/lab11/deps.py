"""Given: the dependencies routes use to reach what the lifespan built, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from .schemas import ErrorMessage
from .service import Service

NOT_LOADED = {503: {"model": ErrorMessage, "description": "The embedding model could not be loaded"}}
BAD_BODY = {400: {"model": ErrorMessage, "description": "The body is not JSON"},
            413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"}}


def get_service(request: Request) -> Service:
    """The service of the lifespan, or 503 with the reason the model did not load."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        reason = getattr(request.app.state, "load_error", None) or "the service is not started"
        raise HTTPException(503, f"the embedding model is not loaded: {reason}")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]
