"""Lab 5, Task 5.1 — request schemas that refuse bad input, and the answers' schemas.

Read notebooks/05_validation.ipynb, section 5.1. FastAPI validates every request against these classes
*before* your route runs: a bad value is a 422 that names the field, the route never sees it, and
``/docs`` shows every limit, description and example written here.

You write the three pieces the classes are built from (the classes below call them):

* ``request_config``: the configuration of every request model — no unknown fields, no NaN or infinity;
* ``measurement``: the ``Field`` of one iris measurement — its limits, description and example;
* ``text_constraints``: the constraints of a text to classify — stripped, not empty, bounded.

The classes call them when this module is imported, so nothing in lab 5 imports until all three work:
do Task 5.1 first. Check it: ``pytest checks/lab5 -k schema``.
"""

# No `from __future__ import annotations` here: Pydantic must see the Annotated metadata as objects.

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, StringConstraints, Tag

from labkit.datasets import IRIS_FEATURES

MAX_CM = 30.0  # no part of an iris flower comes near 30 cm: a bigger value is a mistake (mm? inches?)
MAX_TEXT_CHARS = 2_000
MAX_BATCH = 100


def request_config() -> ConfigDict:  # Task 5.1
    """The ``model_config`` of every request model.

    * ``extra="forbid"``: an unknown field is a 422, not silently dropped — a client that sends
      ``"sepal_lenght"`` must hear about its typo, not get a prediction made without the value;
    * ``allow_inf_nan=False``: ``NaN``, ``Infinity`` and ``-Infinity`` in any float field are a 422 whose
      message says the input should be a *finite* number (Python's JSON parser accepts them).
    """
    raise NotImplementedError("Task 5.1: Request schemas that refuse bad input")


def measurement(description: str, example: float) -> Any:  # Task 5.1
    """The ``Field(...)`` of one iris measurement, in centimetres.

    Greater than 0 (``gt=0``: a length of 0 or less is no flower) and at most ``MAX_CM`` (``le``), with
    ``description`` and ``examples=[example]`` so that ``/docs`` and the OpenAPI schema show them.
    """
    raise NotImplementedError("Task 5.1: Request schemas that refuse bad input")


def not_a_boolean(value: Any) -> Any:
    """Given: JSON ``true``/``false`` is not a measurement (lax Pydantic would read it as 1.0 and 0.0)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a number, not a boolean")
    return value


Number = Annotated[float, BeforeValidator(not_a_boolean)]  # a float, but never a boolean


class IrisFeatures(BaseModel):
    """The input of an iris model: four measurements of one flower, in centimetres."""

    model_config = request_config()

    sepal_length: Number = measurement("Length of the sepal, in cm.", 5.1)
    sepal_width: Number = measurement("Width of the sepal, in cm.", 3.5)
    petal_length: Number = measurement("Length of the petal, in cm.", 1.4)
    petal_width: Number = measurement("Width of the petal, in cm.", 0.2)

    def as_row(self) -> list[float]:
        """The measurements in the order the iris models were trained on."""
        return [getattr(self, name) for name in IRIS_FEATURES]


def text_constraints() -> StringConstraints:  # Task 5.1
    """The ``StringConstraints`` of a text to classify.

    Strip surrounding whitespace *first* (``strip_whitespace=True``), then require at least 1 and at most
    ``MAX_TEXT_CHARS`` characters: ``"   "`` is empty (422), and ``"  " + 2000 characters + "  "`` fits.
    """
    raise NotImplementedError("Task 5.1: Request schemas that refuse bad input")


class TextInput(BaseModel):
    """The input of a text model."""

    model_config = request_config()

    text: Annotated[str, text_constraints()] = Field(
        description="The text to classify: surrounding whitespace is ignored.",
        examples=["The shuttle reached orbit two minutes after the launch."],
    )


def input_kind(value: Any) -> str:
    """Given: which schema a body is meant for — ``"text"`` when it has a ``"text"`` field, else ``"iris"``."""
    if isinstance(value, dict):
        return "text" if "text" in value else "iris"
    return "text" if isinstance(value, TextInput) else "iris"


# The body of POST /predict/{model_name}. A plain `TextInput | IrisFeatures` would report every error of
# *both* schemas; the discriminator picks one first, so the 422 lists only the errors that matter.
PredictionInput = Annotated[
    Annotated[TextInput, Tag("text")] | Annotated[IrisFeatures, Tag("iris")],
    Discriminator(input_kind),
]


class BatchRequest(BaseModel):
    """Several flowers in one request."""

    model_config = request_config()

    items: list[IrisFeatures] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"The flowers to classify: 1 to {MAX_BATCH} per request.",
    )


class Scores(BaseModel):
    """What a model says about one input."""

    label: str = Field(description="The most probable class.")
    confidence: float = Field(ge=0, le=1, description="The probability of `label`.")
    probabilities: dict[str, float] = Field(
        description="The probability of every class, by class name, in the model's class order; they sum to 1.",
    )


class Prediction(Scores):
    """The answer to one input."""

    model: str = Field(description="The model that answered.")
    version: str = Field(description="Its version: the first 12 hex characters of the model file's SHA-256.")
    processing_time_ms: float = Field(ge=0, description="Time spent predicting, in milliseconds.")


class BatchPrediction(BaseModel):
    """The answer to a batch: one item of `predictions` per input, in the order of the inputs."""

    model: str
    version: str
    processing_time_ms: float = Field(ge=0, description="Time spent predicting the whole batch, in milliseconds.")
    predictions: list[Scores]


class ModelInfo(BaseModel):
    """One item of `GET /models`: a loaded model."""

    name: str
    kind: str
    version: str
    classes: list[str]
