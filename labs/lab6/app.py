"""Lab 6 — the prediction service logs every prediction in the background and runs batches as jobs.

Read notebooks/06_background_tasks.ipynb first. The service is the one labs 4 and 5 built — given here —
plus two uses of background work:

* ``GET /health`` -> ``{"status": "ok"}``; ``GET /models`` -> ``[{"name", "kind", "version", "classes"}, ...]``.
* Task 6.2 ``POST /predict/{model_name}`` with ``{"text": "..."}`` (text model) or the four iris measurements
  (tabular model) -> ``{"model", "version", "label", "request_id"}``, answered *before* the prediction's
  line is written to the log (``prediction_log.write_prediction_log``, run as a background task).
  Prediction routes stay plain ``def``: the model must never run on the event loop (Lab 2).
* Task 6.4 ``POST /jobs`` with ``{"model": ..., "items": [input, ...]}`` -> 202 ``{"job_id", "status":
  "pending"}``; ``GET /jobs/{job_id}`` -> ``{"job_id", "status", "result", "error"}``; unknown id -> 404.

An unknown model is a 404 whose body lists the known ones; input for the wrong kind of model is a 422.
Bad input gets a 4xx, never a 500.
The lifespan (given) loads the models into ``app.state.registry`` and makes ``app.state.jobs``, a
``JobStore``; ``create_app`` keeps the settings in ``app.state.settings``. Routes reach them through the
dependencies ``Registry``, ``Jobs`` and ``AppSettings``.

Run it: ``LOG_DELAY=0.5 uvicorn lab6.app:app --app-dir labs``, open http://127.0.0.1:8000/docs, predict,
and watch ``logs/predictions.jsonl`` grow half a second after each answer.
Check it: ``pytest checks/lab6``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Body, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from labkit.docs import serve_docs_offline
from labkit.registry import ModelRegistry, UnknownModelError
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from .jobs import JobStore, UnknownJobError
from .prediction_log import prediction_record, write_prediction_log
from .predictions import predict_batch, predict_label
from .schemas import (
    BatchRequest,
    ErrorMessage,
    IrisFeatures,
    JobAccepted,
    JobOut,
    ModelInfo,
    PredictionOut,
    TextInput,
    UnknownModel,
    WrongInputError,
    model_input,
)
from .settings import Settings


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_jobs(request: Request) -> JobStore:
    return request.app.state.jobs


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


Registry = Annotated[ModelRegistry, Depends(get_registry)]
Jobs = Annotated[JobStore, Depends(get_jobs)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Payload = Annotated[TextInput | IrisFeatures, Body()]

router = APIRouter()

# The errors a route can answer, documented in /docs and the OpenAPI schema (422 is FastAPI's own).
BODY_ERRORS = {400: {"model": ErrorMessage, "description": "The body could not be read as JSON text"},
               413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"}}
UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/models")
async def list_models(registry: Registry) -> list[ModelInfo]:
    return [ModelInfo.of(entry) for entry in registry.entries()]


# Plain `def` routes: predicting blocks (CPU work), so FastAPI runs these in its thread pool.
@router.post("/predict/{model_name}", responses={**UNKNOWN_MODEL, **BODY_ERRORS})
def predict(model_name: str, payload: Payload, background_tasks: BackgroundTasks, registry: Registry,
            settings: AppSettings) -> PredictionOut:  # Task 6.2
    """Answer ``model_name``'s label for ``payload`` at once; log the prediction after the answer has left.

    1. ``entry = registry.get(model_name)``; ``label = predict_label(entry, model_input(entry, payload))``,
       timed with ``time.perf_counter()``: ``latency_ms`` is that time in milliseconds.
    2. A new ``request_id`` (``uuid.uuid4().hex``) and the log record:
       ``prediction_record(request_id, entry, payload.model_dump(), label, latency_ms)``.
    3. *Schedule* the write — ``background_tasks.add_task(write_prediction_log, settings.prediction_log,
       record, settings.log_delay)`` — do not call it: it runs after the response has been sent.
    4. Answer ``PredictionOut(model=entry.name, version=entry.version, label=label, request_id=request_id)``.
    """
    raise NotImplementedError("Task 6.2: Log each prediction after the response")


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED, responses={**UNKNOWN_MODEL, **BODY_ERRORS})
def submit_job(batch: BatchRequest, response: Response, background_tasks: BackgroundTasks,
               registry: Registry, jobs: Jobs) -> JobAccepted:  # Task 6.4
    """Accept a batch to label later: 202 ``{"job_id": ..., "status": "pending"}``, header ``Location: /jobs/<id>``.

    Refuse what can never work *before* accepting it: ``registry.get(batch.model)`` (an unknown model is a
    404) and ``model_input(entry, item)`` for every item (the wrong kind of input is a 422) — the app's
    error handlers answer both. Then ``jobs.create()`` and schedule the work with
    ``background_tasks.add_task(jobs.run, job.job_id, predict_batch, entry, features)``: it runs after the
    202 has been sent, and its labels become the job's result.
    """
    raise NotImplementedError("Task 6.4: Job routes: 202, polling and 404")


@router.get("/jobs/{job_id}", responses={404: {"model": ErrorMessage, "description": "No job with that id"}})
def get_job(job_id: str, jobs: Jobs) -> JobOut:  # Task 6.4
    """The job as it is now: ``{"job_id", "status", "result", "error"}``.

    An unknown id is a 404 with a ``detail`` that names it (catch ``UnknownJobError``), never a 500.
    """
    raise NotImplementedError("Task 6.4: Job routes: 202, polling and 404")


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
        registry = ModelRegistry()
        registry.load_dir(settings.model_dir)
        app.state.registry = registry
        app.state.jobs = JobStore()
        yield
        registry.clear()

    app = FastAPI(title="Lab 6 — background tasks", lifespan=lifespan)
    app.state.settings = settings
    app.include_router(router)
    add_error_handlers(app)
    install_safe_validation_handler(app)  # a 422 that echoes NaN or bad text must not become a 500
    limit_request_body(app)  # a body over 1 MiB is a 413 before it is parsed; one slower than 30 s a 408
    return serve_docs_offline(app)


app = create_app()
