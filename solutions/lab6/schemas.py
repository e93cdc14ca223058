"""Given: what the service accepts and answers (lab 5), and the model input each request becomes.

A text model takes ``{"text": "..."}``; a tabular (iris) model takes the four measurements in cm. Pydantic
refuses anything else with a 422 that names the field. :func:`model_input` turns a validated request into
the *features* a model runs on — a string, or a tuple of four floats in the models' feature order.
A batch job (``POST /jobs``) takes a model name and 1 to 1000 such inputs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from labkit.datasets import IRIS_FEATURES
from labkit.registry import ModelEntry

Features = str | tuple[float, ...]
# strict: JSON true/false and strings such as "5.1" are not measurements (lax Pydantic reads them as numbers)
Measurement = Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False, description="cm")]
MAX_BATCH = 1000


class TextInput(BaseModel):
    """The input of a text model."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000, examples=["the shuttle reached orbit"])


class IrisFeatures(BaseModel):
    """The input of an iris model: four measurements in cm."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]})
    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement


class PredictionOut(BaseModel):
    """One answer. ``request_id`` is new for every request: it finds the request's line in the log."""

    model: str
    version: str
    label: str
    request_id: str


class ModelInfo(BaseModel):
    name: str
    kind: str
    version: str
    classes: list[str]

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelInfo:
        return cls(name=entry.name, kind=entry.kind, version=entry.version, classes=list(entry.classes))


class BatchRequest(BaseModel):
    """``POST /jobs``: which model, and the inputs to label (all of that model's kind)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    items: list[TextInput | IrisFeatures] = Field(min_length=1, max_length=MAX_BATCH)


class JobAccepted(BaseModel):
    """The 202 answer to ``POST /jobs``: where to ask for the result."""

    job_id: str
    status: str


class JobOut(BaseModel):
    """``GET /jobs/{job_id}``: ``status`` is pending, running, done or failed."""

    job_id: str
    status: str
    result: Any = None  # the labels, once done
    error: str | None = None  # "ExceptionType: message", once failed


class ErrorMessage(BaseModel):
    """An error answer: ``detail`` says what went wrong."""

    detail: str


class UnknownModel(ErrorMessage):
    """The 404 for a model name that is not served: ``known_models`` are the names that are."""

    known_models: list[str]


class WrongInputError(ValueError):
    """The request is valid, but not for this model (a text for an iris model, or the reverse)."""


def model_input(entry: ModelEntry, payload: TextInput | IrisFeatures) -> Features:
    """The features ``entry`` runs on: the text itself, or the measurements in the models' order."""
    if entry.kind == "text":
        if not isinstance(payload, TextInput):
            raise WrongInputError(f"model {entry.name!r} classifies text: send {{\"text\": \"...\"}}")
        return payload.text
    if not isinstance(payload, IrisFeatures):
        raise WrongInputError(f"model {entry.name!r} takes the iris measurements: {', '.join(IRIS_FEATURES)}")
    return tuple(getattr(payload, name) for name in IRIS_FEATURES)
