"""Lab 5, Tasks 5.2–5.4 — from validated inputs to answers: probabilities, one prediction, a batch.

Read notebooks/05_validation.ipynb, sections 5.2 to 5.4. These are plain functions — the routes in
app.py only find the model and call them — so you can try them in the notebook without a server.

* Task 5.2 ``score``: class probabilities, label and confidence for *many* rows, with one model call.
* Task 5.3 ``predict_one``: one input -> one timed ``Prediction``.
* Task 5.4 ``predict_many``: many flowers -> one ``BatchPrediction``, still one model call.

Check it: ``pytest checks/lab5 -k score`` (Task 5.2), then ``pytest checks/lab5``.
"""

from __future__ import annotations

import time
from typing import Any

from labkit.registry import ModelEntry

from .schemas import BatchPrediction, IrisFeatures, Prediction, Scores, TextInput


class WrongInputError(ValueError):
    """Given: the input does not suit the model (text sent to an iris model, or the reverse)."""


def model_input(entry: ModelEntry, payload: TextInput | IrisFeatures) -> Any:
    """Given: what the pipeline takes for one input — the text, or the row of measurements."""
    if entry.kind == "text" and isinstance(payload, TextInput):
        return payload.text
    if entry.kind == "tabular" and isinstance(payload, IrisFeatures):
        return payload.as_row()
    expected = '{"text": "..."}' if entry.kind == "text" else "the four iris measurements"
    raise WrongInputError(f"model {entry.name!r} is a {entry.kind} model: send {expected}")


def elapsed_ms(start: float) -> float:
    """Given: milliseconds since ``start = time.perf_counter()``."""
    return (time.perf_counter() - start) * 1000


def score(entry: ModelEntry, rows: list[Any]) -> list[Scores]:  # Task 5.2
    """``Scores`` for each row, from **one** ``entry.pipeline.predict_proba(rows)`` call.

    ``predict_proba`` returns one row of probabilities per input, one column per class, in the order of
    ``entry.pipeline.classes_`` — the class *indices* the model was trained on. Column ``j`` is the class
    named ``entry.classes[int(entry.pipeline.classes_[j])]``. For each input:

    * ``probabilities``: ``{class name: probability}`` for every class, as Python floats, in column order
      (do not round them: they must still sum to 1);
    * ``label``: the most probable class (the first one on a tie), ``confidence``: its probability.

    Never call the model once per row: a batch of 100 must cost one call.
    """
    raise NotImplementedError("Task 5.2: Class probabilities and confidence")


def predict_one(entry: ModelEntry, payload: TextInput | IrisFeatures) -> Prediction:  # Task 5.3
    """One ``Prediction``: ``score`` the payload's ``model_input`` and time it.

    ``model_input`` raises ``WrongInputError`` for an input that does not suit the model; let it. Measure
    ``processing_time_ms`` around the ``score`` call with ``time.perf_counter()`` (``elapsed_ms`` helps),
    and answer the scores with ``model=entry.name`` and ``version=entry.version``.
    """
    raise NotImplementedError("Task 5.3: One prediction from a path, a query or a body")


def predict_many(entry: ModelEntry, items: list[IrisFeatures]) -> BatchPrediction:  # Task 5.4
    """One ``BatchPrediction`` for many inputs: **one** ``score`` call for all of them, in their order.

    ``predictions[i]`` answers ``items[i]`` and equals what ``predict_one`` says about it (except the time);
    ``processing_time_ms`` is the time of that one ``score`` call.
    """
    raise NotImplementedError("Task 5.4: A bounded batch in one model call")
