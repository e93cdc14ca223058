"""Lab 9: no input gives a 500 (taught in lab 5, graded in every later lab too).

``workbook.checkkit.bad_input`` reads your app's own OpenAPI document and sends each operation a fixed set of hostile
requests: wrong JSON types, ``NaN``/``Infinity``/``1e999``, huge numbers, empty, non-JSON and non-UTF-8
bodies, wrong Content-Types, deeply nested JSON, lone surrogates, extra fields, odd query and path
parameters, unknown model names. Every one must get a 4xx, never a 500.
"""

import pytest

from labkit.models import MODEL_NAMES
from workbook.checkkit.bad_input import describe, requests_that_break

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def attack(client, path: str, body: dict) -> None:
    """A good request first (through your route), then the hostile ones, with every reference model."""
    good = path.replace("{model_name}", "random_forest")
    response = client.post(good, json=body)
    assert response.status_code == 200, (
        f"POST {good} with a valid body should answer 200; it answered {response.status_code}: {response.text[:300]}"
    )
    broken = requests_that_break(client, model_names=MODEL_NAMES, only=(path,))
    assert not broken, describe(broken)


@pytest.mark.task("9.1", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("9.7")  # logistic regression takes your numpy predictor
def test_predict_route_answers_bad_input_with_a_4xx_never_a_500(client):
    attack(client, "/predict/{model_name}", FLOWER)


@pytest.mark.task("9.2", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("9.7")  # logistic regression takes your numpy predictor
def test_batch_route_answers_bad_input_with_a_4xx_never_a_500(client):
    attack(client, "/predict/{model_name}/batch", {"rows": [list(FLOWER.values())]})


@pytest.mark.task("9.6", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("9.3", "9.4", "9.5", "9.7")  # good inputs go through your micro-batcher
def test_microbatched_route_answers_bad_input_with_a_4xx_never_a_500(client):
    attack(client, "/predict/{model_name}/microbatched", FLOWER)
