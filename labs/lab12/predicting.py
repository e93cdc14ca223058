"""Given: reading inputs, predicting, writing answers — lab 9's plain functions, unchanged in spirit.

A bad body raises ``RequestValidationError``, which FastAPI answers with a 422 that names the problem;
:func:`predict_indices` is one ``predict`` call for many inputs; the answers are JSON bytes (orjson).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labkit.datasets import IRIS_FEATURES
from labkit.registry import ModelEntry

Measurement = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False, description="centimetres")]


class IrisFeatures(BaseModel):
    """Given: one flower, in centimetres (the input of a tabular model)."""

    model_config = ConfigDict(extra="forbid")
    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement


class TextIn(BaseModel):
    """Given: one text (the input of a text model)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class RowsIn(BaseModel):
    """Given: a batch for a tabular model — the four measurements per row, in IRIS_FEATURES order."""

    model_config = ConfigDict(extra="forbid")
    rows: list[Annotated[list[Measurement], Field(min_length=4, max_length=4)]] = Field(min_length=1)


class TextsIn(BaseModel):
    """Given: a batch for a text model."""

    model_config = ConfigDict(extra="forbid")
    texts: list[Annotated[str, Field(min_length=1, max_length=10_000)]] = Field(min_length=1)


SINGLE_EXAMPLE = {"text": '{"text": "..."}',
                  "tabular": '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'}
BATCH_EXAMPLE = {"text": '{"texts": ["...", "..."]}', "tabular": '{"rows": [[5.1, 3.5, 1.4, 0.2], ...]}'}


def _validate(schema: type[BaseModel], body: bytes, entry: ModelEntry, example: str) -> Any:
    try:
        # strict: in a JSON body, true and "5.1" are not measurements
        return schema.model_validate_json(body, strict=True)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])}
                  for error in exc.errors(include_url=False, include_context=False, include_input=False)]
        summary = {"type": "wrong_body", "loc": ("body",),
                   "msg": f"{entry.name} is a {entry.kind} model: send JSON like {example}"}
        raise RequestValidationError([summary, *errors]) from None


def parse_item(entry: ModelEntry, body: bytes) -> str | list[float]:
    """Given: one input for ``entry`` from a raw JSON body: a text, or the four measurements in order."""
    if entry.kind == "text":
        return _validate(TextIn, body, entry, SINGLE_EXAMPLE["text"]).text
    features = _validate(IrisFeatures, body, entry, SINGLE_EXAMPLE["tabular"])
    return [getattr(features, name) for name in IRIS_FEATURES]


def parse_batch(entry: ModelEntry, body: bytes, max_rows: int) -> list[str] | list[list[float]]:
    """Given: at most ``max_rows`` inputs for ``entry`` (``{"texts": [...]}`` or ``{"rows": [[...], ...]}``)."""
    batch = _validate(TextsIn if entry.kind == "text" else RowsIn, body, entry, BATCH_EXAMPLE[entry.kind])
    items = batch.texts if entry.kind == "text" else batch.rows
    if len(items) > max_rows:
        raise RequestValidationError([{
            "type": "too_long", "loc": ("body", "texts" if entry.kind == "text" else "rows"),
            "msg": f"a batch holds at most {max_rows} items, this one has {len(items)}; split it",
        }])
    return items


def predict_indices(entry: ModelEntry, items: Sequence[Any]) -> np.ndarray:
    """Given: class indices for many inputs from ONE ``predict`` call (texts, or rows of measurements)."""
    if entry.kind == "text":
        return entry.pipeline.predict(list(items))
    return entry.pipeline.predict(np.asarray(items, dtype=float))


def json_response(content: bytes, status_code: int = 200) -> Response:
    """Given: send JSON that is already bytes, as it is."""
    return Response(content, status_code=status_code, media_type="application/json")


def answer(entry: ModelEntry, index: int) -> Response:
    """Given: ``{"model", "version", "label"}`` for one prediction."""
    return json_response(orjson.dumps({"model": entry.name, "version": entry.version,
                                       "label": entry.classes[int(index)]}))


def batch_answer(entry: ModelEntry, indices: Sequence[int]) -> Response:
    """Given: ``{"model", "version", "labels": [...]}``, one label per input, in input order."""
    labels = [entry.classes[int(index)] for index in indices]
    return json_response(orjson.dumps({"model": entry.name, "version": entry.version, "labels": labels}))
