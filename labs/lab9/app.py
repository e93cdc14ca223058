"""Lab 9 — serving at scale: the prediction service, fast.

Read notebooks/09_serving_at_scale.ipynb first. The service of labs 4–8, built to serve thousands of
predictions per second on one machine:

* Task 9.1 ``POST /predict/{model_name}``: one prediction that never blocks the event loop.
* Task 9.2 ``POST /predict/{model_name}/batch``: many rows, ONE ``predict`` call.
* Task 9.6 ``POST /predict/{model_name}/microbatched``: one prediction, answered from a micro-batch
  (the micro-batcher itself is Tasks 9.3–9.5 in batching.py).

Given: ``GET /hello`` (the cheapest route there is: the ceiling every other route is measured against),
``GET /health``, ``GET /models``, ``GET /stats``, the lifespan (models load once, micro-batchers stop
cleanly), an in-memory response cache for repeated single predictions (cache.py) and the error
answers: an unknown model is a 404 that lists the known ones, a bad body a 422 that says what is wrong,
a body over the size limit a 413. The models come from ``labkit.registry``, the finished registry of lab 4
that labs 5–8 serve from too. Bad input gets a 4xx, never a 500.

Run it for real (from the repository root; ``MODEL_DIR`` defaults to ``models``)::

    uvicorn lab9.app:app --app-dir labs --workers 2
    gunicorn lab9.app:app --pythonpath labs --workers 2 --worker-class uvicorn_worker.UvicornWorker

Check it: ``pytest checks/lab9``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from labkit.docs import serve_docs_offline
from labkit.registry import ModelEntry, ModelRegistry, UnknownModelError
from labkit.validation_errors import limit_body_read_time

from .batching import BatchError, MicroBatcher
from .cache import ResponseCache, ResponseCacheMiddleware
from .predicting import (
    ColumnsIn,
    IrisFeatures,
    RowsIn,
    TextIn,
    TextsIn,
    answer,
    batch_answer,
    linear_predictor,
    parse_batch,
    parse_item,
    predict_indices,
)
from .settings import Settings

BATCH_MAX_BYTES = 8 * 1024 * 1024  # about 10,000 rows or long texts; more is a 413
MAX_BODY_BYTES = 1024 * 1024  # any other route: one input is a few hundred bytes; more is a 413


class ErrorMessage(BaseModel):
    """Given: an error answer; ``detail`` says what went wrong."""

    detail: str


class UnknownModel(ErrorMessage):
    """Given: the 404 for a model name that is not served; ``known_models`` are the names that are."""

    known_models: list[str]


class Prediction(BaseModel):
    """Given: the answer of a single prediction (sent as pre-serialised bytes; documented here)."""

    model: str
    version: str
    label: str


class BatchPrediction(BaseModel):
    """Given: the answer of a batch: one label per input, in input order."""

    model: str
    version: str
    labels: list[str]


# Given: the errors a prediction route can answer, documented in /docs and the OpenAPI schema (422 is FastAPI's).
UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}
TOO_LARGE = {413: {"description": "The body is larger than the route's limit (Starlette's plain-text answer)",
                   "content": {"text/plain": {"schema": {"type": "string"}}}}}
BATCH_FAILED = {503: {"model": ErrorMessage, "description": "The micro-batch this request was in failed"}}


class Serving:
    """Given: everything the routes need, built once in the lifespan (``app.state.serving``).

    ``fast`` maps a model name to its numpy predictor (Task 9.7) where there is one; ``batcher(entry)``
    is the model's micro-batcher, started the first time it is needed.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self.registry = ModelRegistry()
        self.fast: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        self.batchers: dict[str, MicroBatcher] = {}

    def load(self) -> None:
        self.registry.load_dir(self.settings.model_dir)
        self.fast = fast_predictors(self.registry)

    def predict_many(self, entry: ModelEntry, items: list[Any]) -> np.ndarray:
        """Class indices for many inputs of one model, in one call: numpy where it can, else ``predict``."""
        fast = self.fast.get(entry.name)
        if fast is not None:
            return fast(np.asarray(items, dtype=float))
        return predict_indices(entry, items)

    def batcher(self, entry: ModelEntry) -> MicroBatcher:
        found = self.batchers.get(entry.name)
        if found is None:
            found = MicroBatcher(partial(self.predict_many, entry), max_size=self.settings.microbatch_max_size,
                                 max_wait=self.settings.microbatch_max_wait, name=f"micro-batcher {entry.name}")
            found.start()
            self.batchers[entry.name] = found
        return found

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        self.batchers.clear()
        self.registry.clear()


def fast_predictors(registry: ModelRegistry) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Given: the numpy predictor of every model that has one (Task 9.7)."""
    found = {}
    for entry in registry.entries():
        try:
            predictor = linear_predictor(entry.pipeline)
        except NotImplementedError:
            return {}  # Task 9.7 is not done yet: every model takes the usual path meanwhile
        if predictor is not None:
            found[entry.name] = predictor
    return found


async def get_serving(request: Request) -> Serving:
    """Given: the service state the lifespan built (models, numpy predictors, micro-batchers, settings).

    ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread pool, and a thread hop
    per request costs more than the whole logistic regression. The routes take this one dependency and
    look the model up themselves (``serving.registry.get(model_name)``: an unknown name raises
    ``UnknownModelError``, which the app answers with a 404 listing the known models) — each dependency
    FastAPI resolves costs tens of microseconds on every request.
    """
    return request.app.state.serving


ServingDep = Annotated[Serving, Depends(get_serving)]


def body_doc(*schemas: type) -> dict:
    """Given: document a raw-body route's JSON in /docs (the route parses the bytes itself, for speed)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [schema.model_json_schema() for schema in schemas]}}}}}


SINGLE_BODY = body_doc(TextIn, IrisFeatures)
BATCH_BODY = body_doc(TextsIn, RowsIn, ColumnsIn)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Given: build the app. Nothing is loaded until the lifespan starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        serving = Serving(settings)
        serving.load()
        app.state.serving = serving
        app.state.registry = serving.registry
        yield
        await serving.close()

    app = FastAPI(title="Lab 9 — serving at scale", lifespan=lifespan, max_body_size=MAX_BODY_BYTES)
    app.state.cache = ResponseCache(settings.cache_size)
    app.add_middleware(ResponseCacheMiddleware, cache=app.state.cache)

    @app.exception_handler(UnknownModelError)
    async def unknown_model(request: Request, exc: UnknownModelError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "known_models": exc.known}, status_code=404)

    @app.exception_handler(BatchError)
    async def batch_failed(request: Request, exc: BatchError) -> JSONResponse:
        return JSONResponse({"detail": f"the prediction failed: {exc}"}, status_code=503)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=499)  # the client left mid-request (a load test ending): nobody to answer

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        """Given: hello world — the ceiling. No route can be faster than this one."""
        return {"message": "Hello World"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Given: liveness."""
        return {"status": "ok"}

    @app.get("/models")
    async def models(serving: ServingDep) -> list[dict]:
        """Given: the models served: name, kind, version, classes."""
        return [{"name": e.name, "kind": e.kind, "version": e.version, "classes": list(e.classes)}
                for e in serving.registry.entries()]

    @app.get("/stats")
    async def stats(request: Request, serving: ServingDep) -> dict:
        """Given: what the cache and the micro-batchers have done in this process."""
        cache = request.app.state.cache
        return {"cache": {"hits": cache.hits, "misses": cache.misses, "size": len(cache.answers)},
                "batchers": {name: {"batches": b.batches, "items": b.items, "running": b.running}
                             for name, b in serving.batchers.items()}}

    @app.post("/predict/{model_name}", openapi_extra=SINGLE_BODY,
              responses={200: {"model": Prediction}, **UNKNOWN_MODEL, **TOO_LARGE})
    async def predict(model_name: str, request: Request, serving: ServingDep) -> Response:  # Task 9.1
        """One prediction, without ever blocking the event loop with a slow model.

        Look the model up with ``entry = serving.registry.get(model_name)``. The body is
        ``{"text": "..."}`` for a text model, the four measurements (``{"sepal_length": 5.1, ...}``) for
        a tabular one: read the raw bytes (``await request.body()``) and parse them with
        ``parse_item(entry, body)``, which answers a bad body with a 422 for you. Answer
        ``answer(entry, index)``: ``{"model", "version", "label"}``.

        Where the prediction runs is the point of this task:

        * ``serving.fast.get(entry.name)`` is the model's numpy predictor (Task 9.7) when it has one: call
          it right here, on one row (``predictor(np.asarray([item]))[0]``). It takes microseconds —
          less than handing the work to a thread would cost.
        * Any other model — a random forest takes milliseconds — must run in the thread pool:
          ``await run_in_threadpool(predict_indices, entry, [item])``, so that the event loop keeps
          serving every other request while it works. Calling ``predict`` directly in this
          ``async def`` would freeze the whole service for as long as the model takes.
        """
        raise NotImplementedError("Task 9.1: Keep prediction off the event loop")

    @app.post("/predict/{model_name}/batch", openapi_extra=BATCH_BODY, max_body_size=BATCH_MAX_BYTES,
              responses={200: {"model": BatchPrediction}, **UNKNOWN_MODEL, **TOO_LARGE})
    async def predict_batch(model_name: str, request: Request, serving: ServingDep) -> Response:  # Task 9.2
        """Many predictions in one request, from ONE ``predict`` call: the vectorised batch route.

        Look the model up with ``entry = serving.registry.get(model_name)``. The body is
        ``{"rows": [[5.1, 3.5, 1.4, 0.2], ...]}`` (the four measurements per row, in the order of
        ``IRIS_FEATURES``) or ``{"columns": {"sepal_length": [...], ...}}`` for a tabular model,
        ``{"texts": ["...", ...]}`` for a text model, at most
        ``serving.settings.batch_max_rows`` of them: ``parse_batch(entry, body, max_rows)`` parses and
        checks it (422 otherwise). Answer ``batch_answer(entry, indices)``:
        ``{"model", "version", "labels": [...]}``, one label per input, in order.

        Predict the whole batch at once, never row by row: with the numpy predictor of Task 9.7 when
        ``serving.fast`` has one (right here: it takes well under a millisecond even for 10,000 rows),
        otherwise with one ``await run_in_threadpool(predict_indices, entry, items)``.
        """
        raise NotImplementedError("Task 9.2: A vectorised batch route")

    @app.post("/predict/{model_name}/microbatched", openapi_extra=SINGLE_BODY,
              responses={200: {"model": Prediction}, **UNKNOWN_MODEL, **TOO_LARGE, **BATCH_FAILED})
    async def predict_microbatched(model_name: str, request: Request, serving: ServingDep) -> Response:  # Task 9.6
        """One prediction, answered from a micro-batch shared with the requests arriving at the same time.

        Same model lookup, body and answer as ``POST /predict/{model_name}``: parse the body with
        ``parse_item``, then hand the input to the model's micro-batcher —
        ``await serving.batcher(entry).submit(item)`` — and answer ``answer(entry, index)`` with the class
        index it gives back. (A failed batch raises ``BatchError``, which the app answers with a 503.)
        """
        raise NotImplementedError("Task 9.6: The micro-batched route, served for real")

    limit_body_read_time(app)  # outermost: the response cache reads bodies too; over 30 s is a 408
    return serve_docs_offline(app)


app = create_app()
