"""Lab 4: no input gives a 500 — your routes, attacked with a fixed set of hostile requests.

``workbook.checkkit.bad_input`` reads your app's own OpenAPI document and sends each operation wrong JSON types,
``NaN``/``Infinity``/``1e999``, huge numbers, empty, non-JSON and non-UTF-8 bodies, wrong Content-Types,
deeply nested JSON, lone surrogates, extra fields, odd path parameters and unknown model names. Every one
must get a 4xx; labs 5 to 10 are checked the same way: a lesson once taught stays graded.
"""

import pytest

from workbook.checkkit.bad_input import describe, requests_that_break

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
SERVED = ("random_forest", "newsgroups")  # one tabular and one text model: bodies reach both kinds


@pytest.mark.task("4.5", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("4.2", "4.3", "4.4", "4.6")  # the registry, predict_one, the lifespan, the 404 handler
def test_routes_answer_bad_input_with_a_4xx_never_a_500(client):
    response = client.post("/predict/random_forest", json=FLOWER)
    assert response.status_code == 200, (
        f"POST /predict/random_forest with a valid flower should answer 200; it answered "
        f"{response.status_code}: {response.text[:300]}"
    )
    broken = requests_that_break(client, model_names=SERVED, only=("/models", "/predict/{model_name}"))
    assert not broken, describe(broken)
