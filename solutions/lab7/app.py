"""Lab 7 — the prediction service behind an API key, with request ids, timing, a request log and CORS.

Read notebooks/07_middleware_auth.ipynb first. The service is the one labs 4 and 5 built — given here:

* ``GET /health`` -> ``{"status": "ok"}`` (public: load balancers probe it without a key);
* ``GET /models`` -> ``[{"name", "kind", "version", "classes"}, ...]`` (needs the key);
* ``POST /predict/{model_name}`` with ``{"text": "..."}`` or the four iris measurements ->
  ``{"model", "version", "label"}`` (needs the key).

You add the layers around it: the key check (Tasks 7.1, 7.2, in auth.py), the request log (Task 7.3, in
request_log.py) and, here, Task 7.4 ``install_middleware``: CORS, and the order of the middlewares.
``create_app`` calls ``install_middleware``, so this module imports only once Task 7.4 is done; until then,
try Tasks 7.1–7.3 in small apps, as the notebook does (their checks use small apps too).
Bad input gets a 4xx, never a 500. Your layers run around every request, the malformed ones too.

Run it::

    API_KEY=let-me-in CORS_ORIGINS='["http://localhost:5173"]' uvicorn lab7.app:app --app-dir labs
    curl -i localhost:8000/models                            # 401
    curl -i -H 'X-API-Key: let-me-in' localhost:8000/models  # 200, with X-Request-ID and X-Process-Time

Check it: ``pytest checks/lab7``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from labkit.docs import serve_docs_offline
from labkit.registry import ModelRegistry, UnknownModelError
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .auth import API_KEY_HEADER, ApiKeyMiddleware, require_api_key
from .request_log import PROCESS_TIME_HEADER, REQUEST_ID_HEADER, RequestLogMiddleware, configure_request_logging
from .schemas import (
    ErrorMessage,
    IrisFeatures,
    ModelInfo,
    PredictionOut,
    TextInput,
    UnknownModel,
    WrongInputError,
    model_input,
    predict_label,
)
from .settings import Settings

CORS_METHODS = ["GET", "POST"]
CORS_ALLOW_HEADERS = [API_KEY_HEADER, "Content-Type", REQUEST_ID_HEADER]  # what a page may send
CORS_EXPOSE_HEADERS = [REQUEST_ID_HEADER, PROCESS_TIME_HEADER]  # what a page's script may read


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


Registry = Annotated[ModelRegistry, Depends(get_registry)]
Payload = Annotated[TextInput | IrisFeatures, Body()]

# The errors a route can answer, documented in /docs and the OpenAPI schema (422 is FastAPI's own).
KEY_ERRORS = {401: {"model": ErrorMessage, "description": "No API key: send it in the X-API-Key header",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
              403: {"model": ErrorMessage, "description": "The API key is not valid"}}
BODY_ERRORS = {400: {"model": ErrorMessage, "description": "The body could not be read as JSON text"},
               413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"}}
UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}

public = APIRouter()
# Every route of this router needs the key: the dependency checks it, and documents it in /docs.
protected = APIRouter(dependencies=[Depends(require_api_key)], responses=KEY_ERRORS)


@public.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@protected.get("/models")
async def list_models(registry: Registry) -> list[ModelInfo]:
    return [ModelInfo.of(entry) for entry in registry.entries()]


@protected.post("/predict/{model_name}", responses={**UNKNOWN_MODEL, **BODY_ERRORS})
def predict(model_name: str, payload: Payload, registry: Registry) -> PredictionOut:
    entry = registry.get(model_name)
    return PredictionOut(model=entry.name, version=entry.version,
                         label=predict_label(entry, model_input(entry, payload)))


def install_middleware(app: FastAPI, settings: Settings) -> None:  # Task 7.4
    """Add the middlewares so that a request meets them in this order, from the outside in:

    1. ``RequestLogMiddleware`` — outermost, so it times and logs *every* answer: the 401s and 403s of
       the key check and the CORS preflights included.
    2. ``CORSMiddleware`` with ``allow_origins=settings.cors_origins``, ``allow_methods=CORS_METHODS``,
       ``allow_headers=CORS_ALLOW_HEADERS``, ``expose_headers=CORS_EXPOSE_HEADERS``. Outside the key
       check: a browser's preflight (``OPTIONS``) never carries the key and must still be answered, and a
       401 needs the CORS headers too, or the page's script cannot even read that it was refused.
    3. ``ApiKeyMiddleware`` with ``api_key=settings.api_key`` — innermost, right before the routes.

    ``app.add_middleware`` wraps everything added before it: the middleware added *last* is the
    *outermost*. So add them innermost first.
    """
    app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=CORS_METHODS,
                       allow_headers=CORS_ALLOW_HEADERS, expose_headers=CORS_EXPOSE_HEADERS)
    app.add_middleware(RequestLogMiddleware)


def add_error_handlers(app: FastAPI) -> None:
    """Given: the service's own errors become clear 4xx answers, never a 500."""

    @app.exception_handler(UnknownModelError)
    async def unknown_model(request: Request, exc: UnknownModelError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc), "known_models": exc.known})

    @app.exception_handler(WrongInputError)
    async def wrong_input(request: Request, exc: WrongInputError) -> JSONResponse:
        # The shape of every other 422 (FastAPI's HTTPValidationError): one list of problems to read.
        return JSONResponse(status_code=422, content={"detail": [{"type": "wrong_input", "loc": ["body"],
                                                                  "msg": str(exc)}]})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Given: the app, configured by ``settings`` (the environment's when omitted)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_key.get_secret_value():
            raise RuntimeError("API_KEY is not set: put API_KEY=<a long random string> in the environment or "
                               "in .env (python -c 'import secrets; print(secrets.token_urlsafe(32))').")
        configure_request_logging()
        registry = ModelRegistry()
        registry.load_dir(settings.model_dir)
        app.state.registry = registry
        yield
        registry.clear()

    app = FastAPI(title="Lab 7 — middleware and authentication", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(public)
    app.include_router(protected)
    add_error_handlers(app)
    install_safe_validation_handler(app)  # a 422 that echoes NaN or bad text must not become a 500
    limit_request_body(app)  # a body over 1 MiB is a 413 before it is parsed; one slower than 30 s a 408
    install_middleware(app, settings)
    return serve_docs_offline(app)


app = create_app()
