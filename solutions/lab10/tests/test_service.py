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
    response = client.post("/predict/no_such_model", json={"text": "hello"})
    assert response.status_code == 404
    body = response.json()
    assert body["status"] == 404 and body["error"] == "unknown_model"
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["known_models"] == MODELS


def test_batch_streams_a_line_per_row_then_a_summary(client, auth_headers, iris_csv):  # Task 10.6
    """Upload ``iris_csv`` to /predict/random_forest/batch (logged in): 200, application/x-ndjson, one line
    ``{"row": n, "label": ...}`` per row in order (n from 1), then ``{"summary": {...}}`` whose "rows" is
    150 and whose "counts" add up to 150."""
    files = {"file": ("iris.csv", iris_csv, "text/csv")}
    with client.stream("POST", "/predict/random_forest/batch", files=files, headers=auth_headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert len(lines) == 151
    assert [line["row"] for line in lines[:-1]] == list(range(1, 151))
    assert all(line["label"] in {"setosa", "versicolor", "virginica"} for line in lines[:-1])
    assert lines[0]["label"] == "setosa"
    summary = lines[-1]["summary"]
    assert summary["model"] == "random_forest" and summary["rows"] == 150
    assert sum(summary["counts"].values()) == 150


def test_malformed_csv_row_is_a_422_naming_the_row(client, auth_headers):  # Task 10.6
    """A CSV whose second data row has a word where a number belongs -> 422 before anything is streamed,
    with "error" "invalid_csv" and "row" 2."""
    data = ",".join(IRIS_FEATURES) + "\n5.1,3.5,1.4,0.2\n6.2,wide,4.8,1.8\n"
    files = {"file": ("bad.csv", data.encode(), "text/csv")}
    response = client.post("/predict/random_forest/batch", files=files, headers=auth_headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_csv"
    assert response.json()["row"] == 2


def test_only_csv_uploads_are_accepted(client, auth_headers, iris_csv):  # Task 10.6
    """The same rows sent as ``application/json`` (the part's content type) -> 415 with "error"
    "unsupported_media_type"."""
    files = {"file": ("iris.json", iris_csv, "application/json")}
    response = client.post("/predict/random_forest/batch", files=files, headers=auth_headers)
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_login_then_me(client, user):  # Task 10.6
    """POST /token with the user's name and password (a form) -> a bearer token; GET /me with it ->
    {"username": <the name>}. A wrong password -> 401 with a WWW-Authenticate header."""
    response = client.post("/token", data={"username": user.username, "password": user.password})
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"
    token = response.json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json() == {"username": user.username}
    wrong = client.post("/token", data={"username": user.username, "password": "not " + user.password})
    assert wrong.status_code == 401 and "www-authenticate" in wrong.headers


def test_expired_token_is_refused(client, user, settings):  # Task 10.6
    """A token for the user, signed with the settings' secret, but expired (its "exp" a minute ago) ->
    GET /me answers 401 with ``WWW-Authenticate: Bearer``. Sign it yourself with ``jwt.encode``."""
    secret = settings.jwt_secret.get_secret_value()
    expired = jwt.encode({"sub": user.username, "exp": int(time.time()) - 60}, secret, algorithm="HS256")
    response = client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "not_authenticated"


def test_rate_limit_429_with_retry_after(client, clock, settings):  # Task 10.6
    """``settings.rate_limit`` predictions answer 200, the next one 429 with a "Retry-After" header (whole
    seconds) and "error" "rate_limited"; after ``clock.advance(<Retry-After>)`` one answers 200 again."""
    for _ in range(settings.rate_limit):
        assert client.post("/predict/logistic_regression", json=SETOSA).status_code == 200
    refused = client.post("/predict/logistic_regression", json=SETOSA)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= settings.rate_period
    clock.advance(retry_after)
    assert client.post("/predict/logistic_regression", json=SETOSA).status_code == 200
