"""Lab 5, Tasks 5.3–5.4 — the prediction service with validated input and richer answers.

Read notebooks/05_validation.ipynb. The service is Lab 4's (given here: settings, registry, lifespan,
``GET /health``, ``GET /models``, the 404 and 503 handlers); its inputs are now the strict schemas of
schemas.py and every prediction carries class probabilities, a confidence and a processing time.

* Task 5.3 ``predict``: ``POST /predict/{model_name}`` with ``{"text": ...}`` or the four iris measurements.
* Task 5.3 ``predict_from_query`` and ``predict_from_body``: the same iris prediction as
  ``GET /predictions?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2`` and as
  ``POST /predictions`` with those four fields as JSON. Both use the model ``PREDICTIONS_MODEL`` and must
  give the same answer (apart from the time).
* Task 5.4 ``predict_batch``: ``POST /predictions/batch`` with ``{"items": [<flower>, ...]}`` (1 to
  ``MAX_BATCH`` flowers) -> one ``BatchPrediction``; more than ``MAX_BATCH`` is a 422.

Routes stay thin: find the entry (``registry.get``) and call the functions of scoring.py. Prediction
routes stay plain ``def``: the model must never run on the event loop (Lab 2).
Bad input gets a 4xx, never a 500. (Task 5.1's schemas refuse it before your route runs.)
Run it: ``uvicorn lab5.app:app --app-dir labs`` from the repository root, then open
http://127.0.0.1:8000/docs. Check it: ``pytest checks/lab5``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from labkit.docs import serve_docs_offline
from labkit.registry import ModelLoadError, ModelRegistry, RegistryUnavailableError, UnknownModelError
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .schemas import BatchPrediction, BatchRequest, IrisFeatures, ModelInfo, Prediction, PredictionInput
from .scoring import WrongInputError, predict_many, predict_one
from .settings import Settings

PREDICTIONS_MODEL = "logistic_regression"  # the iris model behind /predictions


class ErrorMessage(BaseModel):
    """Given: an error answer; ``detail`` says what went wrong."""

    detail: str


class UnknownModel(ErrorMessage):
    """Given: the 404 for a model name that is not served; ``known_models`` are the names that are."""

    known_models: list[str]


class FieldError(BaseModel):
    """Given: one problem in a 422 (FastAPI's ``ValidationError``): where, what, and its type."""

    model_config = ConfigDict(extra="allow")  # FastAPI adds the refused "input", sometimes a "ctx"
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrors(BaseModel):
    """Given: FastAPI's 422 body (``HTTPValidationError``): every problem of the request."""

    detail: list[FieldError]


# Given: the errors a route can answer, documented in /docs and the OpenAPI schema.
UNAVAILABLE = {503: {"model": ErrorMessage, "description": "The models could not be loaded at start-up"}}
UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}
BODY_ERRORS = {400: {"model": ErrorMessage, "description": "The body could not be read as JSON text"},
               413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"}}
WRONG_INPUT = {422: {"model": ValidationErrors | ErrorMessage,
                     "description": "The body is not valid (a list of problems), or not for this model (a sentence)"}}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Given (Lab 4): load the models once at start-up; a failure makes them unavailable (503)."""
    settings = app.state.settings or Settings()
    app.state.settings = settings
    registry = ModelRegistry()
    app.state.registry, app.state.registry_error = registry, None
    try:
        registry.load_dir(settings.model_dir)
    except ModelLoadError as exc:
        app.state.registry_error = str(exc)
    yield
    registry.clear()


def get_registry(request: Request) -> ModelRegistry:
    """Given (Lab 4): the loaded registry, or ``RegistryUnavailableError`` when loading failed."""
    reason = request.app.state.registry_error
    if reason is not None:
        raise RegistryUnavailableError(reason)
    return request.app.state.registry


Registry = Annotated[ModelRegistry, Depends(get_registry)]


async def health() -> dict[str, str]:
    """Given: liveness — ``{"status": "ok"}``, even when the models are unavailable."""
    return {"status": "ok"}


def list_models(registry: Registry) -> list[ModelInfo]:
    """Given: ``GET /models`` — name, kind, version and classes of every loaded model."""
    return [ModelInfo(name=e.name, kind=e.kind, version=e.version, classes=list(e.classes))
            for e in registry.entries()]


def predict(model_name: str, payload: PredictionInput, registry: Registry) -> Prediction:  # Task 5.3
    """``POST /predict/{model_name}``: ``predict_one`` with the named model.

    An unknown name: let ``registry.get`` raise (404). An input that does not suit the model
    (``WrongInputError``): raise ``HTTPException(422, <its message>)``.
    """
    entry = registry.get(model_name)
    try:
        return predict_one(entry, payload)
    except WrongInputError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


def predict_from_query(features: Annotated[IrisFeatures, Query()], registry: Registry) -> Prediction:  # Task 5.3
    """``GET /predictions?sepal_length=...&sepal_width=...&petal_length=...&petal_width=...``.

    ``Annotated[IrisFeatures, Query()]`` makes FastAPI read the four fields from the query string and
    validate them with the same schema as the JSON body. Predict with ``PREDICTIONS_MODEL``.
    """
    return predict_one(registry.get(PREDICTIONS_MODEL), features)


def predict_from_body(features: IrisFeatures, registry: Registry) -> Prediction:  # Task 5.3
    """``POST /predictions`` with the four fields as JSON: the same answer as the GET, from ``PREDICTIONS_MODEL``."""
    return predict_one(registry.get(PREDICTIONS_MODEL), features)


def predict_batch(batch: BatchRequest, registry: Registry) -> BatchPrediction:  # Task 5.4
    """``POST /predictions/batch``: ``predict_many`` over ``batch.items`` with ``PREDICTIONS_MODEL``."""
    return predict_many(registry.get(PREDICTIONS_MODEL), batch.items)


async def unknown_model_handler(request: Request, exc: UnknownModelError) -> JSONResponse:
    """Given (Lab 4): 404 with the known model names."""
    return JSONResponse(status_code=404, content={"detail": str(exc), "known_models": exc.known})


async def registry_unavailable_handler(request: Request, exc: RegistryUnavailableError) -> JSONResponse:
    """Given (Lab 4): 503 with the reason the models are unavailable."""
    return JSONResponse(status_code=503, content={"detail": f"models unavailable: {exc.reason}"})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Given: a new app. ``settings=None`` reads ``Settings()`` at start-up (from the environment and .env)."""
    app = FastAPI(title="Lab 5 — validated predictions", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = ModelRegistry()
    app.state.registry_error = "the app has not started yet"
    app.add_exception_handler(UnknownModelError, unknown_model_handler)
    app.add_exception_handler(RegistryUnavailableError, registry_unavailable_handler)
    # NaN in a JSON body must stay a 422: see notebooks/05_validation.ipynb, "A 422 that became a 500".
    install_safe_validation_handler(app)
    limit_request_body(app)  # a body over 1 MiB is a 413, before it is parsed
    app.get("/health")(health)
    app.get("/models", responses=UNAVAILABLE)(list_models)
    app.post("/predict/{model_name}", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **WRONG_INPUT, **UNAVAILABLE})(predict)
    app.get("/predictions", responses={**UNKNOWN_MODEL, **UNAVAILABLE})(predict_from_query)
    app.post("/predictions", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **UNAVAILABLE})(predict_from_body)
    app.post("/predictions/batch", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **UNAVAILABLE})(predict_batch)
    return serve_docs_offline(app)


app = create_app()
