"""Given: what the service accepts and answers (lab 5), and the model input each request becomes.

A text model takes ``{"text": "..."}`` (surrounding whitespace stripped, 1 to 2000 characters); an iris
model takes the four measurements, each above 0 and at most 30 cm. Unknown fields, ``NaN`` and infinities
are refused: FastAPI answers 422 and names the field. :func:`model_input` turns a validated request into
the *features* a model runs on — the text, or a tuple of four floats in the models' feature order.
Features are hashable, and equal exactly when the model's input is equal: they can be part of a cache key.
"""

# No `from __future__ import annotations` here: Pydantic must see the Annotated metadata as objects.

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from labkit.datasets import IRIS_FEATURES
from labkit.registry import ModelEntry

Features = str | tuple[float, ...]
MAX_CM = 30.0
MAX_TEXT_CHARS = 2_000
REQUEST_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


def measurement(description: str, example: float) -> Any:
    # strict: JSON true/false and strings such as "5.1" are not measurements (lax Pydantic reads them as numbers)
    return Field(strict=True, gt=0, le=MAX_CM, description=description, examples=[example])


class IrisFeatures(BaseModel):
    """The four measurements of one iris flower, in centimetres."""

    model_config = REQUEST_CONFIG

    sepal_length: float = measurement("Length of the sepal, in cm.", 5.1)
    sepal_width: float = measurement("Width of the sepal, in cm.", 3.5)
    petal_length: float = measurement("Length of the petal, in cm.", 1.4)
    petal_width: float = measurement("Width of the petal, in cm.", 0.2)


class TextInput(BaseModel):
    """The input of a text model."""

    model_config = REQUEST_CONFIG

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)] = Field(
        description="The text to classify: surrounding whitespace is ignored.",
        examples=["The shuttle reached orbit two minutes after the launch."],
    )


def input_kind(value: Any) -> str:
    """Which schema a body is meant for: ``"text"`` when it has a ``"text"`` field, else ``"iris"``."""
    if isinstance(value, dict):
        return "text" if "text" in value else "iris"
    return "text" if isinstance(value, TextInput) else "iris"


# The body of POST /predict/{model_name}: the discriminator picks one schema first, so a 422 lists only
# the errors that matter (a plain union would report every error of both).
PredictionInput = Annotated[
    Annotated[TextInput, Tag("text")] | Annotated[IrisFeatures, Tag("iris")],
    Discriminator(input_kind),
]


class PredictionOut(BaseModel):
    """One answer. ``request_id`` is new for every request — a cache hit too: it finds the request's log line."""

    model: str
    version: str
    label: str
    request_id: str


class ModelInfo(BaseModel):
    """One item of ``GET /models``."""

    name: str
    kind: str
    version: str
    classes: list[str]

    @classmethod
    def of(cls, entry: ModelEntry) -> "ModelInfo":
        return cls(name=entry.name, kind=entry.kind, version=entry.version, classes=list(entry.classes))


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
            raise WrongInputError(f"model {entry.name!r} is a text model: send {{\"text\": \"...\"}}")
        return payload.text
    if not isinstance(payload, IrisFeatures):
        raise WrongInputError(f"model {entry.name!r} is a tabular model: send the four iris measurements "
                              f"({', '.join(IRIS_FEATURES)})")
    return tuple(getattr(payload, name) for name in IRIS_FEATURES)
