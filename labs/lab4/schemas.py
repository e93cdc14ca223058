"""Lab 4 — the JSON the service reads and writes (given; Lab 5 makes the validation strict).

A text model takes ``{"text": "..."}``; an iris model takes the four measurements in centimetres.
Unknown fields are refused, and each measurement must be a finite number of modest size: ``NaN``, or
``1e308`` (which overflows the 32-bit floats a random forest computes with), would otherwise reach
scikit-learn and fail there, as a 500 instead of a 422. JSON ``true`` is not a number either: Pydantic
would read it as 1.0, so it is refused before the float is validated; nor is the string ``"5.1"``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from labkit.datasets import IRIS_FEATURES


def not_a_boolean(value):
    """``true``/``false`` are not measurements (lax Pydantic would read them as 1.0 and 0.0)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


# strict: a string such as "5.1" is not a number either (lax Pydantic would read it as 5.1)
Measurement = Annotated[float, BeforeValidator(not_a_boolean), Field(strict=True, allow_inf_nan=False, ge=-1e6, le=1e6)]


class TextInput(BaseModel):
    """The input of a text model."""

    model_config = ConfigDict(extra="forbid")

    text: str


class IrisFeatures(BaseModel):
    """The input of an iris model: four measurements of one flower, in centimetres."""

    model_config = ConfigDict(extra="forbid")

    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement

    def as_row(self) -> list[float]:
        """The measurements in the order the iris models were trained on."""
        return [getattr(self, name) for name in IRIS_FEATURES]


class Prediction(BaseModel):
    """The answer of every prediction route."""

    model: str
    version: str
    label: str


class ModelInfo(BaseModel):
    """One item of `GET /models`: a loaded model."""

    name: str
    kind: str
    version: str
    classes: list[str]
