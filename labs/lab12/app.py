"""Given: the prediction service as a FastAPI app — ``create_app`` only wires it together.

Served by uvicorn (one process, lab 9's way), the lifespan builds a :class:`~.service.LocalService` and loads
the models once::

    uvicorn lab12.app:app --app-dir solutions

Served by Ray Serve (serving.py), every replica loads the models in its own constructor and builds this same
app with ``create_app(settings, service=self)``: the routes are not rewritten, they are deployed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from labkit.docs import serve_docs_offline
from labkit.registry import UnknownModelError
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .routes import router
from .service import LocalService, Service
from .settings import Settings

MAX_BODY_BYTES = 8 * 1024 * 1024  # a batch of about 10,000 rows; more is a 413


async def unknown_model(request: Request, exc: Exception) -> JSONResponse:
    """Given: an unknown model is a 404 that lists the known ones."""
    assert isinstance(exc, UnknownModelError)
    return JSONResponse({"detail": str(exc), "known_models": exc.known}, status_code=404)


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """Given: build the app around ``service`` (models already loaded), or a local one the lifespan loads."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is None:
            local = LocalService(settings)
            local.load()
            app.state.service = local
        else:
            app.state.service = service
        yield

    app = FastAPI(title="Lab 12 — the prediction service on Ray Serve", lifespan=lifespan)
    app.include_router(router)
    app.add_exception_handler(UnknownModelError, unknown_model)
    install_safe_validation_handler(app)
    limit_request_body(app, MAX_BODY_BYTES)
    return serve_docs_offline(app)


app = create_app()
