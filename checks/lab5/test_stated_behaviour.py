"""Lab 5 checks for stated behaviours at their edges: a missing field, ties, milliseconds, unknown names,
and the lesson of lab 2 kept: a prediction route never runs the model on the event loop.

Times are lower bounds made by a model that is slow on purpose, so they cannot flake on a busy machine.
"""

import time

import numpy as np
import pytest
from pydantic import ValidationError

from labkit.models import reference_model
from labkit.registry import ModelEntry
from workbook.checkkit.event_loop import Hold, blocked_loop_message, hold_pipelines, probe_while_held
from workbook.checkkit.student import lab_attr

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
FLOWER = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5}
SLOW = 0.25  # seconds a slow stand-in model takes per call


def error_fields(response) -> list:
    try:
        return [error["loc"][-1] for error in response.json()["detail"]]
    except (ValueError, KeyError, TypeError, IndexError):
        return []


def entry_with(name: str, pipeline) -> ModelEntry:
    _, names = reference_model(name)
    return ModelEntry(name=name, kind="tabular", version="v-test", classes=tuple(names), pipeline=pipeline)


class SlowPipeline:
    """Answers like the real pipeline, but each call takes SLOW seconds (time.sleep: work, not waiting)."""

    def __init__(self, pipeline) -> None:
        self._pipeline = pipeline

    def predict(self, rows):
        time.sleep(SLOW)
        return self._pipeline.predict(rows)

    def predict_proba(self, rows):
        time.sleep(SLOW)
        return self._pipeline.predict_proba(rows)

    def __getattr__(self, name):
        return getattr(self._pipeline, name)


class TiedPipeline:
    """A model that cannot decide: every class has the same probability."""

    classes_ = np.array([0, 1, 2])

    def predict_proba(self, rows):
        return np.full((len(rows), 3), 1 / 3)

    def predict(self, rows):
        return np.zeros(len(rows), dtype=int)


# --- Task 5.1: a missing measurement is refused ------------------------------------------------------


@pytest.mark.task("5.1", points=2)
def test_missing_measurement_is_422_naming_the_field(client, schemas):
    IrisFeatures = lab_attr(schemas, "IrisFeatures")
    for field in FEATURES:
        partial = {k: v for k, v in FLOWER.items() if k != field}
        try:
            made = IrisFeatures(**partial)
        except ValidationError:
            made = None
        assert made is None, (
            f"IrisFeatures without {field} was accepted as {made!r}. Every measurement is required: a client "
            f"that forgets or misspells one must hear about it, not get a prediction made with a default. "
            "Give the Field no default."
        )
        response = client.post("/predictions", json=partial)
        assert response.status_code == 422 and field in error_fields(response), (
            f"POST /predictions without {field} should be refused with a 422 naming {field!r}; got "
            f"{response.status_code}: {response.text[:300]}"
        )
    response = client.get("/predictions", params={"sepal_width": 3.0})
    missing = {"sepal_length", "petal_length", "petal_width"}
    assert response.status_code == 422 and missing <= set(error_fields(response)), (
        f"GET /predictions?sepal_width=3.0 (three measurements missing) should be a 422 naming each of "
        f"{sorted(missing)}; got {response.status_code}: {response.text[:300]}"
    )


@pytest.mark.task("5.1", points=1)
def test_every_route_keeps_the_inclusive_bound_and_refuses_zero(client, limits):
    top = {**FLOWER, "petal_length": limits["MAX_CM"]}
    answers = {
        "GET /predictions": client.get("/predictions", params=top),
        "POST /predictions": client.post("/predictions", json=top),
        "POST /predict/random_forest": client.post("/predict/random_forest", json=top),
        "POST /predictions/batch": client.post("/predictions/batch", json={"items": [top]}),
    }
    for route, response in answers.items():
        assert response.status_code == 200, (
            f"{route} with petal_length={limits['MAX_CM']} (exactly MAX_CM, allowed: le) answered "
            f"{response.status_code}: {response.text[:200]}"
        )
    zero = {**FLOWER, "sepal_width": 0}
    refusals = {
        "POST /predict/logistic_regression": client.post("/predict/logistic_regression", json=zero),
        "POST /predictions/batch": client.post("/predictions/batch", json={"items": [FLOWER, zero]}),
    }
    for route, response in refusals.items():
        assert response.status_code == 422 and "sepal_width" in error_fields(response), (
            f"{route} with sepal_width=0 should be refused with a 422 naming sepal_width (a length of 0 is "
            f"no flower: gt=0); got {response.status_code}: {response.text[:200]}"
        )


# --- Task 5.2: ties ----------------------------------------------------------------------------------


@pytest.mark.task("5.2", points=1)
def test_score_breaks_a_tie_with_the_first_class(scoring):
    score = lab_attr(scoring, "score")
    [scores] = score(entry_with("logistic_regression", TiedPipeline()), [list(FLOWER.values())])
    got = scores.model_dump()
    assert got["label"] == "setosa", (
        f"with every probability 1/3 (a tie), score gave the label {got['label']!r}; the docstring says the "
        "first class wins a tie: 'setosa' (the first column)."
    )
    assert abs(got["confidence"] - 1 / 3) < 1e-9, (
        f"the confidence on a three-way tie is 1/3, got {got['confidence']!r}."
    )


# --- Tasks 5.3 and 5.4: milliseconds, unknown names ---------------------------------------------------


@pytest.mark.task("5.3", points=1)
def test_processing_time_is_in_milliseconds(scoring, schemas):
    predict_one = lab_attr(scoring, "predict_one")
    IrisFeatures = lab_attr(schemas, "IrisFeatures")
    entry = entry_with("random_forest", SlowPipeline(reference_model("random_forest")[0]))
    got = predict_one(entry, IrisFeatures(**FLOWER)).processing_time_ms
    least = SLOW * 1000 * 0.9
    assert isinstance(got, (int, float)) and least <= got < 60_000, (
        f"a model that takes {SLOW} s to score gave processing_time_ms={got!r}; expected at least "
        f"{least:.0f} (milliseconds, not seconds: (perf_counter() - start) * 1000, around the score call)."
    )


@pytest.mark.task("5.4", points=1)
def test_batch_processing_time_is_in_milliseconds(scoring, schemas):
    predict_many = lab_attr(scoring, "predict_many")
    IrisFeatures = lab_attr(schemas, "IrisFeatures")
    entry = entry_with("random_forest", SlowPipeline(reference_model("random_forest")[0]))
    got = predict_many(entry, [IrisFeatures(**FLOWER)] * 3).processing_time_ms
    least = SLOW * 1000 * 0.9
    assert isinstance(got, (int, float)) and least <= got < 60_000, (
        f"a model that takes {SLOW} s to score the batch gave processing_time_ms={got!r}; expected at least "
        f"{least:.0f}: milliseconds, measured around the one score call."
    )


@pytest.mark.task("5.3", points=1)
def test_unknown_model_is_a_404(client):
    response = client.post("/predict/gradient_boosting", json=FLOWER)
    assert response.status_code == 404, (
        f"POST /predict/gradient_boosting (no such model) should answer 404 with the known names (let "
        f"registry.get raise UnknownModelError); got {response.status_code}: {response.text[:200]}"
    )
    assert "logistic_regression" in response.text, f"the 404 should list the known models: {response.text[:200]}"


# --- Tasks 5.3 and 5.4: the model never runs on the event loop (lab 2's lesson) ------------------------


ROUTES = {
    "5.3": [
        ("POST", "/predict/random_forest", {"json": FLOWER}),
        ("GET", "/predictions", {"params": FLOWER}),
        ("POST", "/predictions", {"json": FLOWER}),
    ],
    "5.4": [("POST", "/predictions/batch", {"json": {"items": [FLOWER, FLOWER]}})],
}


async def assert_routes_leave_the_loop_free(async_client, monkeypatch, task: str) -> None:
    for method, path, kwargs in ROUTES[task]:
        hold = Hold()
        hold_pipelines(monkeypatch, hold)
        result = await probe_while_held(async_client, hold, method, path, **kwargs)
        response = result.response
        assert response.status_code == 200, f"{method} {path} answered {response.status_code}: {response.text[:200]}"
        assert hold.outcomes, f"{method} {path} answered {response.text[:200]} without running the model."
        assert hold.loop_stayed_free and result.probe_answered, blocked_loop_message(
            "the model scored the request", f"{method} {path}"
        )


@pytest.mark.task("5.3", points=1)
@pytest.mark.timeout(60)
async def test_prediction_routes_never_block_the_event_loop(async_client, monkeypatch):
    await assert_routes_leave_the_loop_free(async_client, monkeypatch, "5.3")


@pytest.mark.task("5.4", points=1)
@pytest.mark.timeout(60)
async def test_batch_route_never_blocks_the_event_loop(async_client, monkeypatch):
    await assert_routes_leave_the_loop_free(async_client, monkeypatch, "5.4")
