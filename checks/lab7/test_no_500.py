"""Lab 7: no input gives a 500 (taught in lab 5, graded in every later lab too).

``workbook.checkkit.bad_input`` reads your app's own OpenAPI document and sends each operation a fixed set of hostile
requests: wrong JSON types, ``NaN``/``Infinity``/``1e999``, huge numbers, empty, non-JSON and non-UTF-8
bodies, wrong Content-Types, deeply nested JSON, lone surrogates, extra fields, odd query and path
parameters, unknown model names. Every one must get a 4xx, never a 500.
"""

import pytest

from checks.lab7.conftest import API_KEY
from workbook.checkkit.bad_input import describe, requests_that_break

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SERVED = ("random_forest", "newsgroups")


@pytest.mark.task("7.4", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("7.1", "7.2", "7.3")  # every request passes through your key check and request log
def test_service_answers_bad_input_with_a_4xx_never_a_500(client):
    response = client.post("/predict/random_forest", json=FLOWER, headers={"X-API-Key": API_KEY})
    assert response.status_code == 200, (
        f"POST /predict/random_forest with the key and a valid flower should answer 200; it answered "
        f"{response.status_code}: {response.text[:300]}"
    )
    broken = requests_that_break(client, headers={"X-API-Key": API_KEY}, model_names=SERVED)
    assert not broken, describe(broken)
