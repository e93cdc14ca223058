"""Lab 4, Tasks 4.4–4.6 — a prediction service that loads its models once, at start-up.

Read notebooks/04_lifespan_registry.ipynb, sections 4.4 to 4.6. The app is made by ``create_app``
(given): the module-level ``app`` is for uvicorn, tests make their own with their own settings. Importing
this module loads no model and reads no file.

* Task 4.4 ``lifespan``: load the models into ``app.state.registry`` once, before the first request;
  a failure makes the models *unavailable* instead of stopping the app; release them at shutdown.
* Task 4.5 ``get_registry``, ``list_models`` and ``predict``: the routes reach the registry through a
  dependency. ``GET /models`` lists the models, ``POST /predict/{model_name}`` predicts with one. Prediction
  routes stay plain ``def``: the model must never run on the event loop (Lab 2).
  Bad input gets a 4xx, never a 500.
* Task 4.6 ``unknown_model_handler`` and ``registry_unavailable_handler``: errors that say what to do —
  404 with the known model names, 503 with the reason the models are unavailable.

Given: ``GET /health`` -> ``{"status": "ok"}`` (it answers even when the models are unavailable) and
``POST /newsgroups/predict`` (Task 4.3's class dependency at work).

Run it: ``uvicorn lab4.app:app --app-dir labs`` from the repository root (models in ``models/``: lab 3
writes them), then open http://127.0.0.1:8000/docs. Check it: ``pytest checks/lab4``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from labkit.docs import serve_docs_offline
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .predictor import WrongInputError, newsgroups_model, predict_one
from .registry import ModelLoadError, ModelRegistry, RegistryUnavailableError, UnknownModelError
from .schemas import IrisFeatures, ModelInfo, Prediction, TextInput
from .settings import Settings


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
async def lifespan(app: FastAPI) -> AsyncIterator[None]:  # Task 4.4
    """Load the models once, when the app starts; release them when it stops.

    Before ``yield`` (start-up):

    * the settings are ``app.state.settings``, or ``Settings()`` when that is ``None`` — read *now*, not
      at import, so the environment at start-up counts; store them back in ``app.state.settings``;
    * create a ``ModelRegistry``, store it in ``app.state.registry``, and set ``app.state.registry_error``
      to ``None``;
    * ``registry.load_dir(settings.model_dir)``, then ``newsgroups_model.load_model(registry)``.
      If either raises ``ModelLoadError`` or ``UnknownModelError``, do not let the app crash: clear the
      registry and put ``str(error)`` in ``app.state.registry_error``. The app still starts, ``/health``
      still answers, and the prediction routes answer 503 (Task 4.6).

    After ``yield`` (shutdown): ``newsgroups_model.unload()`` and ``registry.clear()``.
    """
    raise NotImplementedError("Task 4.4: Load the models once, in the lifespan")
    yield  # unreachable: keeps this function a generator, as in the finished version


def get_registry(request: Request) -> ModelRegistry:  # Task 4.5
    """The dependency every model route uses: the registry the lifespan loaded.

    ``request.app.state.registry``; but when ``request.app.state.registry_error`` is set, raise
    ``RegistryUnavailableError`` with that reason instead. Never load anything here: it runs on every request.
    """
    raise NotImplementedError("Task 4.5: List the models and predict through a dependency")


Registry = Annotated[ModelRegistry, Depends(get_registry)]


async def health() -> dict[str, str]:
    """Given: liveness — the process answers. ``{"status": "ok"}``, even when the models are unavailable."""
    return {"status": "ok"}


def list_models(registry: Registry) -> list[ModelInfo]:  # Task 4.5
    """``GET /models``: one ``ModelInfo`` (name, kind, version, classes) per loaded model, sorted by name."""
    raise NotImplementedError("Task 4.5: List the models and predict through a dependency")


def predict(model_name: str, payload: TextInput | IrisFeatures, registry: Registry) -> Prediction:  # Task 4.5
    """``POST /predict/{model_name}``: predict with the named model (``registry.get`` and ``predict_one``).

    An unknown name: let ``registry.get`` raise ``UnknownModelError`` (Task 4.6 turns it into a 404).
    An input that does not suit the model (``WrongInputError``): raise ``HTTPException(422, <its message>)``.
    """
    raise NotImplementedError("Task 4.5: List the models and predict through a dependency")


def predict_newsgroup(prediction: Annotated[Prediction, Depends(newsgroups_model.predict)]) -> Prediction:
    """Given: ``POST /newsgroups/predict`` with ``{"text": "..."}``; the dependency does all the work."""
    return prediction


async def unknown_model_handler(request: Request, exc: UnknownModelError) -> JSONResponse:  # Task 4.6
    """Answer ``UnknownModelError`` with 404 and a body that tells the client what exists::

        {"detail": "unknown model 'nope'; known models: logistic_regression, newsgroups, random_forest",
         "known_models": ["logistic_regression", "newsgroups", "random_forest"]}

    (``detail`` is ``str(exc)``; ``known_models`` is ``exc.known``.)
    """
    raise NotImplementedError("Task 4.6: 404 with the known names, 503 when unavailable")


async def registry_unavailable_handler(request: Request, exc: RegistryUnavailableError) -> JSONResponse:  # Task 4.6
    """Answer ``RegistryUnavailableError`` with 503 (the service is up, its models are not) and the reason::

        {"detail": "models unavailable: model folder /srv/models does not exist"}

    (``"models unavailable: "`` followed by ``exc.reason``.)
    """
    raise NotImplementedError("Task 4.6: 404 with the known names, 503 when unavailable")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Given: a new app. ``settings=None`` reads ``Settings()`` at start-up (from the environment and .env)."""
    app = FastAPI(title="Lab 4 — model registry", lifespan=lifespan)
    app.state.settings = settings
    app.state.registry = ModelRegistry()  # empty until the lifespan runs
    app.state.registry_error = "the app has not started yet"
    app.add_exception_handler(UnknownModelError, unknown_model_handler)
    app.add_exception_handler(RegistryUnavailableError, registry_unavailable_handler)
    app.get("/health")(health)
    app.get("/models", responses=UNAVAILABLE)(list_models)
    app.post("/predict/{model_name}", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **WRONG_INPUT, **UNAVAILABLE})(predict)
    app.post("/newsgroups/predict", responses={**UNKNOWN_MODEL, **BODY_ERRORS, **UNAVAILABLE})(predict_newsgroup)
    install_safe_validation_handler(app)
    limit_request_body(app)  # a body over 1 MiB is a 413, before it is parsed
    return serve_docs_offline(app)


app = create_app()
