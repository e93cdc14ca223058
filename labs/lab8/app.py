"""Lab 8 — the prediction service with its caches: ``X-Cache``, ``DELETE /cache``, model reload (Tasks 8.3, 8.4).

Read notebooks/08_caching.ipynb first. The service is the one labs 4 to 7 built — given here: the registry,
strict input, the prediction log written in the background, the API key, request ids and timing, CORS —
plus the caches:

* ``GET /health`` -> ``{"status": "ok"}`` (public); ``GET /models`` -> ``[{"name", "kind", "version",
  "classes"}, ...]``. Every route but ``/health`` and the docs needs the header ``X-API-Key``.
* Task 8.3 ``POST /predict/{model_name}`` with ``{"text": "..."}`` (text model) or the four iris measurements
  (tabular model) -> ``{"model", "version", "label", "request_id"}`` and the header ``X-Cache: hit|miss``.
* Task 8.4 ``DELETE /cache`` empties both caches: 204 No Content.
* Task 8.4 ``POST /models/{model_name}/reload`` loads the model's file again (a retrained model gets a new
  version) and forgets that model's in-memory answers: 200 with the model's ``{"name", "kind", "version",
  "classes"}``.

An unknown model is a 404 whose body lists the known ones; input for the wrong kind of model is a 422; a
model file that cannot be reloaded is a 409 and the loaded version stays in service; models that could
not be loaded at start-up make the model routes answer 503 (``/health`` still answers). Bad input gets a 4xx, never a 500.

The lifespan (given) loads the models into ``app.state.registry`` and makes the caches —
``Caches(memory=MemoryCache(settings.cache_size), disk=DiskCache(settings.cache_dir))`` — in
``app.state.caches``; routes reach them through the dependencies ``Registry`` and ``CachesDep``, and log
through ``PredictionLog`` (prediction_log.py).

Run it: ``API_KEY=let-me-in uvicorn lab8.app:app --app-dir labs`` (models in ``models/``: lab 3 writes
them), then open http://127.0.0.1:8000/docs and "Authorize" with the key. Check it: ``pytest checks/lab8``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from labkit.docs import serve_docs_offline
from labkit.registry import ModelLoadError, ModelRegistry, RegistryUnavailableError, UnknownModelError
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .auth import API_KEY_HEADER, require_api_key
from .caching import Caches, predict_cached
from .disk_cache import DiskCache
from .memory_cache import MemoryCache
from .prediction_log import PredictionLog
from .request_log import PROCESS_TIME_HEADER, REQUEST_ID_HEADER, RequestLogMiddleware, configure_request_logging
from .schemas import ErrorMessage, ModelInfo, PredictionInput, PredictionOut, UnknownModel, WrongInputError, model_input
from .settings import Settings

CACHE_HEADER = "X-Cache"
CORS_METHODS = ["GET", "POST", "DELETE"]
CORS_ALLOW_HEADERS = [API_KEY_HEADER, "Content-Type", REQUEST_ID_HEADER]
CORS_EXPOSE_HEADERS = [REQUEST_ID_HEADER, PROCESS_TIME_HEADER, CACHE_HEADER]


async def get_registry(request: Request) -> ModelRegistry:
    """The registry the lifespan loaded, or ``RegistryUnavailableError`` (503) when loading failed (lab 4)."""
    reason = request.app.state.registry_error
    if reason is not None:
        raise RegistryUnavailableError(reason)
    return request.app.state.registry


async def get_caches(request: Request) -> Caches:
    return request.app.state.caches


Registry = Annotated[ModelRegistry, Depends(get_registry)]
CachesDep = Annotated[Caches, Depends(get_caches)]

# The errors a route can answer, documented in /docs and the OpenAPI schema (422 is FastAPI's own).
KEY_ERRORS = {401: {"model": ErrorMessage, "description": "No API key: send it in the X-API-Key header",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
              403: {"model": ErrorMessage, "description": "The API key is not valid"}}
UNAVAILABLE = {503: {"model": ErrorMessage, "description": "The models could not be loaded at start-up"}}
BODY_ERRORS = {400: {"model": ErrorMessage, "description": "The body could not be read as JSON text"},
               413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"}}
UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}

public = APIRouter()
protected = APIRouter(dependencies=[Depends(require_api_key)], responses=KEY_ERRORS)  # every route: X-API-Key


@public.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@protected.get("/models", responses=UNAVAILABLE)
async def list_models(registry: Registry) -> list[ModelInfo]:
    return [ModelInfo.of(entry) for entry in registry.entries()]


# Plain `def` routes: predicting and the disk cache block, so FastAPI runs these in its thread pool.
@protected.post("/predict/{model_name}", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **UNAVAILABLE})
def predict(model_name: str, payload: PredictionInput, response: Response, registry: Registry, caches: CachesDep,
            log: PredictionLog) -> PredictionOut:  # Task 8.3
    """Answer ``model_name``'s label for ``payload`` through the caches, saying in ``X-Cache`` where it came from.

    1. ``entry = registry.get(model_name)``; the features are ``model_input(entry, payload)``.
    2. ``answer = predict_cached(caches, entry, features)``, timed with ``time.perf_counter()``.
    3. Set the response header ``X-Cache`` to ``"hit"`` if ``answer.hit``, else ``"miss"``.
    4. ``log.log(entry, payload, answer.label, <the time in milliseconds>)``: the prediction log's line
       (given, lab 6), written after the answer has left.
    5. Answer a *new* ``PredictionOut(model=entry.name, version=entry.version, label=answer.label,
       request_id=log.request_id)``. Cache the label, never the response: a cached response would hand
       every later client the first client's request id.

    The model and the disk cache block: keep the route a plain ``def`` (FastAPI runs it in its thread pool),
    so that they never run on the event loop (Lab 2) while other requests wait.
    """
    raise NotImplementedError("Task 8.3: Serve predictions through both caches")


@protected.delete("/cache", status_code=status.HTTP_204_NO_CONTENT)
def delete_cache(caches: CachesDep) -> Response:  # Task 8.4
    """Empty both caches (``caches.clear()``) and answer 204 No Content: ``Response(status_code=204)``, no body.

    Clearing the disk cache deletes files: keep the route a plain ``def``, never on the event loop.
    """
    raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")


@protected.post("/models/{model_name}/reload", responses={
    **UNKNOWN_MODEL, **UNAVAILABLE,
    409: {"model": ErrorMessage, "description": "The model file cannot be loaded: the loaded version stays"}})
def reload_model(model_name: str, registry: Registry, caches: CachesDep) -> ModelInfo:  # Task 8.4
    """Reload ``model_name`` from its file with ``registry.reload`` and forget its in-memory answers.

    Answer the reloaded model's ``ModelInfo.of(entry)``. (The registry raises ``UnknownModelError`` or
    ``ModelLoadError``; the app already turns them into a 404 and a 409.) Reading and unpickling the file
    blocks: keep the route a plain ``def``, never on the event loop.
    """
    raise NotImplementedError("Task 8.4: Clear the caches and invalidate on reload")


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Given (lab 7): from the outside in, the request log, then CORS (added last = outermost)."""
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

    @app.exception_handler(RegistryUnavailableError)
    async def registry_unavailable(request: Request, exc: RegistryUnavailableError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": f"models unavailable: {exc.reason}"})

    @app.exception_handler(ModelLoadError)
    async def cannot_load(request: Request, exc: ModelLoadError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": f"{exc}; the loaded version stays in service"})


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
        app.state.registry, app.state.registry_error = registry, None
        try:
            registry.load_dir(settings.model_dir)
        except ModelLoadError as exc:  # the app still starts: /health answers, model routes answer 503
            app.state.registry_error = str(exc)
        app.state.caches = Caches(memory=MemoryCache(settings.cache_size), disk=DiskCache(settings.cache_dir))
        yield
        registry.clear()  # the disk cache stays: surviving a restart is its point

    app = FastAPI(title="Lab 8 — cached predictions", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry_error = "the app has not started yet"
    app.include_router(public)
    app.include_router(protected)
    add_error_handlers(app)
    install_safe_validation_handler(app)  # a 422 that echoes NaN or bad text must not become a 500
    limit_request_body(app)  # a body over 1 MiB is a 413 before it is parsed; one slower than 30 s a 408
    install_middleware(app, settings)
    return serve_docs_offline(app)


app = create_app()
