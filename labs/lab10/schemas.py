"""Given: the request and response bodies of the service (pydantic models)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from labkit.datasets import IRIS_FEATURES

# Sanity bounds in cm: iris measurements are a few cm; 0, negatives, NaN and 5 m are input mistakes.
# A JSON body is validated in strict mode (app.py): there, true and "5.1" are not measurements either.
Measurement = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


class TextInput(BaseModel):
    """The body of ``POST /predict/{model}`` for a text model."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class IrisFeatures(BaseModel):
    """The body of ``POST /predict/{model}`` for a tabular (iris) model, and one CSV row of a batch."""

    model_config = ConfigDict(extra="forbid")
    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement

    def as_row(self) -> list[float]:
        """The features in the order the models were trained on."""
        return [getattr(self, name) for name in IRIS_FEATURES]


class Prediction(BaseModel):
    model: str
    version: str
    label: str


class ModelInfo(BaseModel):
    name: str
    kind: str
    version: str
    classes: list[str]


class Token(BaseModel):
    """What ``POST /token`` answers (the OAuth2 password flow's token response)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ErrorBody(BaseModel):
    """The body of every error this service answers (errors.py): a few errors add members of their own."""

    model_config = ConfigDict(extra="allow")
    status: int = Field(description="the HTTP status, repeated")
    error: str = Field(description="a short machine-readable code: unknown_model, rate_limited, ...")
    detail: str = Field(description="what went wrong, in a sentence")


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class InvalidRequest(ErrorBody):
    """A 422: ``errors`` lists every bad field of a request that failed validation."""

    errors: list[FieldError] | None = None


class UnknownModelError(ErrorBody):
    """The 404 for a model name that is not served: ``known_models`` are the names that are."""

    known_models: list[str]


class NotReady(ErrorBody):
    """The 503 of ``/ready``: ``failed`` maps each model that failed to load to the reason."""

    failed: dict[str, str]
