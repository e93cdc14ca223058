"""Lab 10: no input gives a 500 (taught in lab 5, graded in every later lab too).

``workbook.checkkit.bad_input`` reads your app's own OpenAPI document and sends each operation a fixed set of hostile
requests: wrong JSON types, ``NaN``/``Infinity``/``1e999``, huge numbers, empty, non-JSON and non-UTF-8
bodies, wrong Content-Types, deeply nested JSON, lone surrogates, extra fields, odd query and path
parameters, unknown model names. Every one must get a 4xx, never a 500.
"""

import pytest

from workbook.checkkit.bad_input import describe, requests_that_break
from workbook.checkkit.clients import sync_client

SERVED = ("random_forest", "newsgroups")


@pytest.mark.task("10.1", points=1)
@pytest.mark.timeout(30)  # ~100-300 requests: seconds on a quiet machine, more on a busy one
# the upload route parses with your parse_iris_csv, /token logs in with your login, /ready is yours too
@pytest.mark.needs("10.2", "10.3", "10.5")
def test_service_answers_bad_input_with_a_4xx_never_a_500(make_app, settings):
    with sync_client(make_app(settings, logged_in_as="alice")) as client:
        response = client.post("/predict/no_such_model", json={"text": "hello"})
        assert response.status_code == 404, (
            f"POST /predict/no_such_model should answer 404 (your unknown_model_handler); it answered "
            f"{response.status_code}: {response.text[:300]}"
        )
        broken = requests_that_break(client, model_names=SERVED)
    assert not broken, describe(broken)
