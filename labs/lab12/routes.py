"""Given: the prediction service's routes — lab 9's service, on a module-level router.

They do not know whether they run under uvicorn or in a Ray Serve replica: they only call the
:class:`~.service.Service` they depend on. That is why lab 12 deploys them without rewriting them.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from .deps import ServiceDep
from .predicting import IrisFeatures, RowsIn, TextIn, TextsIn, answer, batch_answer, parse_batch, parse_item


class ErrorMessage(BaseModel):
    """Given: an error answer; ``detail`` says what went wrong."""

    detail: str


class UnknownModel(ErrorMessage):
    """Given: the 404 for a model name that is not served; ``known_models`` are the names that are."""

    known_models: list[str]


class Prediction(BaseModel):
    """Given: the answer of a single prediction."""

    model: str
    version: str
    label: str


class BatchPrediction(BaseModel):
    """Given: the answer of a batch: one label per input, in input order."""

    model: str
    version: str
    labels: list[str]


def body_doc(*schemas: type[BaseModel]) -> dict:
    """Given: document a raw-body route's JSON in /docs (the route parses the bytes itself)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [schema.model_json_schema() for schema in schemas]}}}}}


UNKNOWN_MODEL = {404: {"model": UnknownModel, "description": "No model of that name: the known names are listed"}}
TOO_LARGE = {413: {"description": "The body is larger than the route's limit (Starlette's plain-text answer)",
                   "content": {"text/plain": {"schema": {"type": "string"}}}}}

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, str]:
    """Given: liveness."""
    return {"status": "ok"}


@router.get("/replica")
async def replica(service: ServiceDep) -> dict:
    """Given: which process answered (a replica's pid) and the models it holds."""
    return {"pid": os.getpid(), "models": service.registry.names()}


@router.get("/models")
async def models(service: ServiceDep) -> list[dict]:
    """Given: the models served: name, kind, version, classes."""
    return [{"name": e.name, "kind": e.kind, "version": e.version, "classes": list(e.classes)}
            for e in service.registry.entries()]


@router.post("/predict/{model_name}", openapi_extra=body_doc(TextIn, IrisFeatures),
             responses={200: {"model": Prediction}, **UNKNOWN_MODEL, **TOO_LARGE})
async def predict(model_name: str, request: Request, service: ServiceDep) -> Response:
    """Given: one prediction, ``{"model", "version", "label"}``."""
    entry = service.registry.get(model_name)
    item = parse_item(entry, await request.body())
    return answer(entry, await service.predict(entry, item))


@router.post("/predict/{model_name}/batch", openapi_extra=body_doc(TextsIn, RowsIn),
             responses={200: {"model": BatchPrediction}, **UNKNOWN_MODEL, **TOO_LARGE})
async def predict_batch(model_name: str, request: Request, service: ServiceDep) -> Response:
    """Given: many predictions from one ``predict`` call, ``{"model", "version", "labels": [...]}``."""
    entry = service.registry.get(model_name)
    items = parse_batch(entry, await request.body(), service.settings.batch_max_rows)
    return batch_answer(entry, await service.predict_many(entry, items))
