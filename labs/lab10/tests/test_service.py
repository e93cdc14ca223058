"""Lab 10, Task 10.6 — your own tests of the service, with Starlette's TestClient.

Read notebooks/10_production.ipynb, section 10.6. A service is only as good as the tests that would notice
when it breaks. Write one test per behaviour below: replace each ``raise NotImplementedError`` with
requests and asserts; add more tests if you like. The fixtures in conftest.py (given) give you ``client``
(a TestClient around a fresh service), ``user`` (``user.username``, ``user.password``), ``auth_headers``
(logged in as that user), ``iris_csv`` (150 rows), ``clock`` (the rate limiter's fake clock:
``clock.advance(seconds)``) and ``settings`` (the JWT secret, the rate limit: see conftest.py).

How it is graded (``pytest checks/lab10 -k your_tests``): your tests run against the reference service —
every test must pass — and then against several copies of it, each with one realistic bug. For each broken
copy at least one of your tests must fail. So assert exactly what a client relies on: the status code,
the fields of the body, the headers.

Run them on your own service: ``pytest labs/lab10/tests -q``.
"""

import json
import time

import jwt

from labkit.datasets import IRIS_FEATURES

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
MODELS = ["logistic_regression", "newsgroups", "random_forest"]


def test_unknown_model_is_a_json_404_listing_the_models(client):  # Task 10.6
    """POST /predict/<a name that does not exist> -> 404 with the error body: "status" 404,
    "error" "unknown_model", a "detail" string, and "known_models" listing the three models."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_batch_streams_a_line_per_row_then_a_summary(client, auth_headers, iris_csv):  # Task 10.6
    """Upload ``iris_csv`` to /predict/random_forest/batch (logged in): 200, application/x-ndjson, one line
    ``{"row": n, "label": ...}`` per row in order (n from 1), then ``{"summary": {...}}`` whose "rows" is
    150 and whose "counts" add up to 150."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_malformed_csv_row_is_a_422_naming_the_row(client, auth_headers):  # Task 10.6
    """A CSV whose second data row has a word where a number belongs -> 422 before anything is streamed,
    with "error" "invalid_csv" and "row" 2."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_only_csv_uploads_are_accepted(client, auth_headers, iris_csv):  # Task 10.6
    """The same rows sent as ``application/json`` (the part's content type) -> 415 with "error"
    "unsupported_media_type"."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_login_then_me(client, user):  # Task 10.6
    """POST /token with the user's name and password (a form) -> a bearer token; GET /me with it ->
    {"username": <the name>}. A wrong password -> 401 with a WWW-Authenticate header."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_expired_token_is_refused(client, user, settings):  # Task 10.6
    """A token for the user, signed with the settings' secret, but expired (its "exp" a minute ago) ->
    GET /me answers 401 with ``WWW-Authenticate: Bearer``. Sign it yourself with ``jwt.encode``."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")


def test_rate_limit_429_with_retry_after(client, clock, settings):  # Task 10.6
    """``settings.rate_limit`` predictions answer 200, the next one 429 with a "Retry-After" header (whole
    seconds) and "error" "rate_limited"; after ``clock.advance(<Retry-After>)`` one answers 200 again."""
    raise NotImplementedError("Task 10.6: Your own tests of the service")
