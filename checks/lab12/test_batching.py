"""Task 12.2: ``@serve.batch`` answers the random forest's concurrent single requests with one call per batch."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections import Counter

import pytest

from checks.lab12.runs import LOCAL_CHECK_TIMEOUT, RAY_CHECK_TIMEOUT, finished
from labkit.datasets import load_iris
from labkit.models import reference_model
from labkit.registry import ModelRegistry
from workbook.checkkit.student import lab_attr

# Importing Ray and the lab takes seconds on a busy machine: more than the default 10 s for a check.
pytestmark = pytest.mark.timeout(LOCAL_CHECK_TIMEOUT)


class CountingPipeline:
    """A real pipeline that counts its ``predict`` calls and the rows of each."""

    def __init__(self, real):
        self.real = real
        self.rows: list[int] = []

    def predict(self, rows):
        self.rows.append(len(rows))
        return self.real.predict(rows)

    def __getattr__(self, attribute):
        if attribute == "real":
            raise AttributeError(attribute)
        return getattr(self.real, attribute)


def call_body(method, service, rows):
    """The body of ``predict_forest`` as written, called with a list (the way @serve.batch calls it)."""
    body = getattr(method, "__wrapped__", method)
    result = body(service, rows)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    return result


@pytest.mark.task("12.2", points=2)
def test_predict_forest_answers_a_list_with_one_call(serving, settings_class, model_dir):
    service_class = lab_attr(serving, "PredictionService")
    service = service_class.__new__(service_class)  # no constructor: Task 12.1 is checked on its own
    service.settings = settings_class(model_dir=model_dir)
    service.registry = ModelRegistry()
    service.registry.load_dir(model_dir)
    entry = service.registry.get("random_forest")
    spy = CountingPipeline(entry.pipeline)
    service.registry.add(dataclasses.replace(entry, pipeline=spy))
    rows = [[float(value) for value in row] for row in load_iris()[0][::15]]
    got = call_body(service_class.predict_forest, service, rows)
    expected = [int(index) for index in reference_model("random_forest")[0].predict(rows)]
    try:
        got_list = [int(index) for index in got]
    except (TypeError, ValueError):
        got_list = got
    assert got_list == expected, (
        f"predict_forest's body, given a list of {len(rows)} rows, should return their class indices in order, "
        f"{expected}; it returned {got!r}."
    )
    assert spy.rows == [len(rows)], (
        f"predict_forest should predict the {len(rows)} rows it is given in ONE predict call; the model was "
        f"called {len(spy.rows)} time(s), with {spy.rows} rows."
    )


@pytest.mark.task("12.2", points=3)
@pytest.mark.needs("12.1", "12.3")
@pytest.mark.timeout(RAY_CHECK_TIMEOUT)
def test_concurrent_forest_requests_are_batched(serving, settings_class, model_dir, ray_run):
    test_predict_forest_answers_a_list_with_one_call(serving, settings_class, model_dir)
    run = finished(ray_run)
    pipeline, classes = reference_model("random_forest")
    for round_ in run.report["concurrent_forest"]:
        expected = [classes[int(index)] for index in pipeline.predict(round_["rows"])]
        got = [
            answer["body"].get("label")
            if answer["status"] == 200 and isinstance(answer["body"], dict)
            else f"HTTP {answer['status']}: {answer['body']}"
            for answer in round_["answers"]
        ]
        assert got == expected, (
            f"{len(expected)} concurrent POST /predict/random_forest requests should each get their own row's "
            f"label: expected {expected}, got {got}."
        )
    calls = run.phase("concurrent", "end").predicts["random_forest"]
    sizes = [rows for _, rows in calls]
    assert sizes and max(sizes) > 1, (
        f"{sum(len(r['rows']) for r in run.report['concurrent_forest'])} single random-forest requests, 16 at a "
        f"time, should reach the model in batches (@serve.batch gathers them); the model was called "
        f"{len(sizes)} times with {sorted(Counter(sizes).items())} (rows: calls) — never more than one row. "
        "Keep @serve.batch on predict_forest and predict the whole list in one call."
    )
