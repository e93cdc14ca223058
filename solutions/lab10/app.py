"""Lab 10 — production extras: the prediction service of labs 4–9, ready to deploy.

Read notebooks/10_production.ipynb first. This module wires the service together; the tasks live in
small modules: errors.py (10.1), batch.py (10.2), auth.py (10.3), ratelimit.py (10.4), the readiness
probe below (10.5) and tests/test_service.py (10.6). Routes stay thin; the logic is in plain functions.

* ``GET /health`` — liveness: ``{"status": "ok"}`` while the process runs (given).
* ``GET /ready`` — readiness (Task 10.5).
* ``GET /models`` — the loaded models: ``[{"name", "kind", "version", "classes"}]`` (given).
* ``POST /predict/{model}`` — ``{"text": ...}`` or the four iris features -> ``{"model", "version", "label"}``.
* ``POST /predict/{model}/batch`` — a CSV upload -> an NDJSON stream (Task 10.2; needs a token).
* ``POST /token`` — the OAuth2 password flow's login form -> an access token (Task 10.3).
* ``GET /me`` — ``{"username": ...}`` for a valid token (Task 10.3).

Both prediction routes are rate limited per client (Task 10.4). Every error has one JSON body (10.1).

Run it: ``uvicorn lab10.app:app --app-dir labs`` (models from ``MODEL_DIR``, default ``models/``), or as
in production: ``gunicorn -c deploy/gunicorn.conf.py lab10.app:app`` (see deploy/Dockerfile).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, File, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from labkit.docs import serve_docs_offline
from labkit.validation_errors import limit_body_read_time

from . import auth, batch
from .deps import get_registry, get_settings
from .errors import RefuseOversizedBodies, ServiceError, error_response, install_error_handlers
from .ratelimit import RateLimiter, enforce_rate_limit
from .registry import ModelRegistry
from .schemas import ErrorBody, InvalidRequest, IrisFeatures, ModelInfo, NotReady, Prediction, TextInput, Token
from .schemas import UnknownModelError as UnknownModelBody
from .settings import Settings

# Multipart boundaries and part headers around the CSV file; the whole request may be this much larger.
MULTIPART_ALLOWANCE = 16 * 1024

Registry = Annotated[ModelRegistry, Depends(get_registry)]
AppSettings = Annotated[Settings, Depends(get_settings)]
User = Annotated[str, Depends(auth.current_user)]

# The errors a route can answer, each with the one error body, documented in /docs and the OpenAPI schema.
def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that can answer these statuses."""
    return {status: ERRORS[status] for status in statuses}


ERRORS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read (not JSON text, broken form data)"},
    401: {"model": ErrorBody, "description": "No valid token, or a failed login",
          "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
    404: {"model": UnknownModelBody, "description": "No model of that name: the known names are listed"},
    413: {"model": ErrorBody, "description": "The body is larger than the limit"},
    415: {"model": ErrorBody, "description": "The uploaded file is not text/csv"},
    422: {"model": InvalidRequest, "description": "The request, or the input for this model, is not valid"},
    429: {"model": ErrorBody, "description": "Too many requests: retry after Retry-After seconds",
          "headers": {"Retry-After": {"schema": {"type": "string"}}}},
    503: {"model": ErrorBody, "description": "The model could not be loaded, or login is switched off"},
}

router = APIRouter()
predictions = APIRouter(dependencies=[Depends(enforce_rate_limit)], responses=errors(400, 404, 413, 422, 429, 503))


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process is up and answering. Never rate limited, never touches a model."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": NotReady, "description": "not ready: no model loaded, or one failed"}})
async def ready(registry: Registry) -> JSONResponse:  # Task 10.5
    """Readiness: may this instance get traffic? 200 ``{"status": "ready", "models": [names]}`` when at
    least one model is loaded and none failed; otherwise 503 with the error body, error ``"not_ready"``,
    a detail that says why, and ``failed``: ``{name: reason}`` (empty when there are simply no models).

    A load balancer or Kubernetes sends traffic only to ready instances, so a release whose model file
    is broken never serves a request, while ``/health`` keeps the process from being restarted in a loop.
    """
    if registry.failed or not registry.names():
        why = (f"models failed to load: {', '.join(sorted(registry.failed))}" if registry.failed
               else "no models loaded: is MODEL_DIR right?")
        return error_response(503, "not_ready", why, failed=dict(registry.failed))
    return JSONResponse({"status": "ready", "models": registry.names()})


@router.get("/models")
async def list_models(registry: Registry) -> list[ModelInfo]:
    return [ModelInfo(name=e.name, kind=e.kind, version=e.version, classes=list(e.classes))
            for e in registry.entries()]


PREDICT_EXAMPLES = {
    "text": {"summary": "a text model", "value": {"text": "the rocket reached orbit"}},
    "tabular": {"summary": "an iris model", "value": {"sepal_length": 5.1, "sepal_width": 3.5,
                                                      "petal_length": 1.4, "petal_width": 0.2}},
}


@predictions.post("/predict/{model_name}")
def predict(model_name: str, payload: Annotated[dict[str, Any], Body(openapi_examples=PREDICT_EXAMPLES)],
            registry: Registry) -> Prediction:
    """One prediction: ``{"text": ...}`` for a text model, the four iris features for a tabular one.

    The body is validated against the model's own input schema, so a mistake is reported field by field
    (``body.text: Field required``). A plain ``def``: FastAPI runs it in the thread pool, so ``predict``
    cannot block the event loop.
    """
    entry = registry.get(model_name)
    schema = TextInput if entry.kind == "text" else IrisFeatures
    try:
        features = schema.model_validate(payload, strict=True)  # strict: true and "5.1" are not numbers
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors], body=payload) from None
    inputs = [features.text] if isinstance(features, TextInput) else [features.as_row()]
    return Prediction(model=entry.name, version=entry.version, label=entry.predict_labels(inputs)[0])


@predictions.post("/predict/{model_name}/batch", response_class=StreamingResponse,
                  responses={200: {"content": {"application/x-ndjson": {}},
                                   "description": "one JSON line per row, then a summary line"},
                             **errors(401, 415)})
async def predict_batch(model_name: str, file: Annotated[UploadFile, File(description="iris rows, text/csv")],
                        registry: Registry, settings: AppSettings, user: User) -> StreamingResponse:
    """Batch predictions for an uploaded CSV of iris rows, streamed back as NDJSON (Task 10.2)."""
    entry = registry.get(model_name)
    if entry.kind != "tabular":
        raise ServiceError(422, "wrong_input_for_model", f"{model_name} is a {entry.kind} model; "
                           "batch uploads are iris rows for a tabular model")
    data = await batch.read_csv_upload(file, settings.max_upload_bytes)
    # Validating a megabyte of rows takes a while: in the thread pool, not on the event loop (lab 2).
    rows = await run_in_threadpool(batch.parse_iris_csv, data)
    # A plain generator: Starlette iterates it in the thread pool, so each predict call leaves the loop free.
    return StreamingResponse(batch.stream_predictions(entry, rows, settings.batch_chunk_rows),
                             media_type="application/x-ndjson")


@router.post("/token", responses=errors(400, 401, 413, 422, 503))
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], settings: AppSettings) -> Token:
    """The OAuth2 password flow: a form with ``username`` and ``password`` -> a bearer token (Task 10.3)."""
    return auth.login(form.username, form.password, settings)


@router.get("/me", responses=errors(401, 503))
async def me(user: User) -> dict[str, str]:
    """Who the token belongs to (Task 10.3)."""
    return {"username": user}


def create_app(settings: Settings | None = None, *, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """Given: the service. ``clock`` is the rate limiter's time source (tests pass a fake one)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = ModelRegistry()
        registry.load_dir(settings.model_dir)  # failures are recorded, not raised: /ready reports them
        app.state.registry = registry
        yield
        registry.clear()

    app = FastAPI(title="Lab 10 — prediction service", lifespan=lifespan)
    app.state.settings = settings
    app.state.limiter = RateLimiter(settings.rate_limit, settings.rate_period, clock=clock)
    install_error_handlers(app)
    max_body = settings.max_upload_bytes + MULTIPART_ALLOWANCE
    # No route reads a request body past max_body: a bigger one is refused (413) as it arrives...
    app.include_router(router, max_body_size=max_body)
    app.include_router(predictions, max_body_size=max_body)
    # ...or before it arrives, when its Content-Length announces it.
    app.add_middleware(RefuseOversizedBodies, max_bytes=max_body)
    # A body that takes longer than BODY_TIMEOUT_SECONDS (30 s) to arrive is a 408: slow clients cannot hold us.
    limit_body_read_time(app)
    return serve_docs_offline(app)


app = create_app()
