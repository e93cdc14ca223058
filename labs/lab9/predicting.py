"""Lab 9 — reading inputs, predicting many at once, writing answers; Task 9.7: logistic regression with numpy.

Read notebooks/09_serving_at_scale.ipynb, section 9.7, first. Everything here is a plain function: the
routes in app.py stay thin and call these.

Given: the input schemas and their parsers (a bad body raises ``RequestValidationError``, which FastAPI
answers with 422 and the list of problems), :func:`predict_indices` (one ``predict`` call for many
inputs) and the answer encoders. The answers are pre-serialised JSON bytes (orjson) sent as a plain
``Response``: no ``response_model`` validation and no ``jsonable_encoder`` on the hot path.

* Task 9.7 :func:`linear_predictor`: the logistic regression's prediction computed with numpy from the
  fitted coefficients, skipping scikit-learn's per-call checks — identical answers, a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

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
    """Given: a batch for a tabular model — one list of the four measurements per row, in IRIS_FEATURES order.

    A list of lists is parsed in one pass by pydantic's Rust core; a list of objects would build one
    Python object per row, which costs more than the prediction itself.
    """

    model_config = ConfigDict(extra="forbid")
    rows: list[Annotated[list[Measurement], Field(min_length=4, max_length=4)]] = Field(min_length=1)


class ColumnsIn(BaseModel):
    """Given: the same batch as column arrays — ``{"columns": {"sepal_length": [...], ...}}`` — the cheapest
    JSON to turn into numpy: four flat lists instead of one small list per row."""

    model_config = ConfigDict(extra="forbid")
    columns: dict[str, list[Measurement]]


class TextsIn(BaseModel):
    """Given: a batch for a text model."""

    model_config = ConfigDict(extra="forbid")
    texts: list[Annotated[str, Field(min_length=1, max_length=10_000)]] = Field(min_length=1)


SINGLE_EXAMPLE = {"text": '{"text": "..."}',
                  "tabular": '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'}
BATCH_EXAMPLE = {"text": '{"texts": ["...", "..."]}',
                 "tabular": '{"rows": [[5.1, 3.5, 1.4, 0.2], ...]} or {"columns": {"sepal_length": [5.1, ...], ...}}'}


def _validate(schema: type[BaseModel], body: bytes, entry: ModelEntry, example: str) -> BaseModel:
    try:
        # strict: in a JSON body, true and "5.1" are not measurements (the Flask app's query strings are lax)
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


def parse_batch(entry: ModelEntry, body: bytes, max_rows: int) -> list[str] | np.ndarray:
    """Given: a batch for ``entry``, at most ``max_rows`` inputs: a list of texts for a text model, an
    ``(n, 4)`` float array for a tabular one.

    Bodies: ``{"texts": [...]}``; ``{"rows": [[...], ...]}`` or ``{"columns": {"sepal_length": [...], ...}}``.
    Rows and columns take a fast path — orjson straight into numpy, checked with a few vectorised tests
    (about 0.3 ms for 1,000 rows, 0.15 ms as columns, where pydantic objects would take several). Only a
    batch that fails them goes through pydantic, for a 422 that names every problem.
    """
    if entry.kind == "tabular":
        rows = _rows_fast(body)
        if rows is not None:
            _check_size(entry, len(rows), max_rows)
            return rows
        if _names_columns(body):
            return _columns_slow(entry, body, max_rows)
    batch = _validate(TextsIn if entry.kind == "text" else RowsIn, body, entry, BATCH_EXAMPLE[entry.kind])
    items = batch.texts if entry.kind == "text" else batch.rows
    _check_size(entry, len(items), max_rows)
    return items if entry.kind == "text" else np.asarray(items, dtype=float)


def _rows_fast(body: bytes) -> np.ndarray | None:
    """An (n, 4) float array if the rows or columns are plainly valid, else None (then pydantic explains)."""
    # numpy would read true as 1.0 and "5.1" as 5.1: a body with a boolean or a quoted value (more quotes than
    # its one key, or its key and the four column names, need) is left to pydantic, which refuses them.
    if b"true" in body or b"false" in body or body.count(b'"') not in (2, 2 + 2 * len(IRIS_FEATURES)):
        return None
    try:
        parsed = orjson.loads(body)
        if not isinstance(parsed, dict) or len(parsed) != 1:
            return None
        if isinstance(parsed.get("rows"), list):
            rows = np.array(parsed["rows"], dtype=np.float64)
        elif isinstance(parsed.get("columns"), dict) and parsed["columns"].keys() == set(IRIS_FEATURES):
            columns = [np.array(parsed["columns"][name], dtype=np.float64) for name in IRIS_FEATURES]
            if any(column.ndim != 1 or len(column) != len(columns[0]) for column in columns):
                return None
            rows = np.column_stack(columns)
        else:
            return None
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return None
    if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != len(IRIS_FEATURES):
        return None
    if not bool(np.all((rows > 0) & (rows < 100))):  # also false for NaN
        return None
    return rows


def _names_columns(body: bytes) -> bool:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and "columns" in parsed


def _columns_slow(entry: ModelEntry, body: bytes, max_rows: int) -> np.ndarray:
    batch = _validate(ColumnsIn, body, entry, BATCH_EXAMPLE["tabular"])
    problems = []
    if set(batch.columns) != set(IRIS_FEATURES):
        problems.append(f"columns must be exactly {', '.join(IRIS_FEATURES)}; got {', '.join(batch.columns)}")
    elif len({len(values) for values in batch.columns.values()}) != 1 or not batch.columns[IRIS_FEATURES[0]]:
        problems.append("every column must hold the same number of values, at least one")
    if problems:
        raise RequestValidationError([{"type": "wrong_body", "loc": ("body", "columns"), "msg": problems[0]}])
    _check_size(entry, len(batch.columns[IRIS_FEATURES[0]]), max_rows)
    return np.column_stack([np.asarray(batch.columns[name], dtype=float) for name in IRIS_FEATURES])


def _check_size(entry: ModelEntry, count: int, max_rows: int) -> None:
    if count > max_rows:
        raise RequestValidationError([{
            "type": "too_long", "loc": ("body", "texts" if entry.kind == "text" else "rows"),
            "msg": f"a batch holds at most {max_rows} items, this one has {count}; split it",
        }])


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


def batch_answer(entry: ModelEntry, indices: np.ndarray) -> Response:
    """Given: ``{"model", "version", "labels": [...]}``, one label per input, in input order."""
    labels = np.asarray(entry.classes, dtype=object)[np.asarray(indices, dtype=np.intp)].tolist()
    return json_response(orjson.dumps({"model": entry.name, "version": entry.version, "labels": labels}))


def linear_predictor(pipeline: Any) -> Callable[[np.ndarray], np.ndarray] | None:  # Task 9.7
    """A numpy function computing ``pipeline.predict(rows)`` for a fitted logistic regression, or None.

    It applies to a ``Pipeline`` of ``StandardScaler`` then ``LogisticRegression`` (and to a pipeline
    holding only the ``LogisticRegression``). For any other pipeline — a random forest, a text
    classifier, anything else — return ``None``: the service then calls ``predict`` as usual.

    The function takes a 2-D float array (one row per flower) and returns what ``pipeline.predict``
    returns, for every input: ``classes_`` indexed by the best-scoring class. Read the fitted arrays
    once, here, not on every call: ``mean_`` and ``scale_`` of the scaler, ``coef_`` and ``intercept_``
    of the regression. Subtract ``mean_`` only if the scaler's ``with_mean`` is true, and divide by
    ``scale_`` only if its ``with_std`` is true: a ``StandardScaler(with_mean=False)`` still computes and
    keeps ``mean_`` (it just does not subtract it), and ``with_std=False`` leaves ``scale_`` None.
    Scores are ``scaled_rows @ coef_.T + intercept_``; with one row of ``coef_`` (two classes) the
    prediction is class 1 where the score is positive.
    """
    raise NotImplementedError("Task 9.7: Logistic regression with numpy")
