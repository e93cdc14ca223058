"""Lab 11: no input gives a 500 (taught in lab 5, graded in every later lab too).

``workbook.checkkit.bad_input`` reads your app's own OpenAPI document and sends each operation a fixed set of hostile
requests: wrong JSON types, ``NaN``/``Infinity``/``1e999``, huge numbers, empty, non-JSON and non-UTF-8
bodies, wrong Content-Types, deeply nested JSON, lone surrogates, extra fields, odd query and path
parameters. Every one must get a 4xx, never a 500.
"""

import pytest

from workbook.checkkit.bad_input import describe, requests_that_break

GOOD = {
    "/embed": {"texts": ["rocket", "car"]},
    "/classify": {"text": "rocket"},
    "/search": {"query": "rocket"},
    "/documents": {"documents": [{"text": "a new rocket"}]},
}


@pytest.mark.task("11.7", points=1)
@pytest.mark.timeout(60)  # a few hundred requests: seconds on a quiet machine, more on a busy one
@pytest.mark.needs("11.1", "11.2", "11.3", "11.5", "11.6")  # good requests go through them
def test_the_service_answers_bad_input_with_a_4xx_never_a_500(client):
    for path, body in GOOD.items():
        response = client.post(path, json=body)
        assert response.status_code in (200, 202), (
            f"POST {path} with a valid body should succeed; it answered {response.status_code}: {response.text[:300]}"
        )
    broken = requests_that_break(client)
    assert not broken, describe(broken)
