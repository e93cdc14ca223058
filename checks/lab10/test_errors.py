"""Lab 10 checks, Task 10.1: one JSON error body — status, error, detail — for every 4xx and 5xx."""

import asyncio

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from workbook.checkkit.clients import sync_client

MODELS = ["logistic_regression", "newsgroups", "random_forest"]
SECRET_TEXT = "password=hunter2 at /srv/internal/config.py"


def assert_error_body(response, status: int, error: str, what: str) -> dict:
    """The response is ``status`` with the error body and the expected code; returns the body."""
    assert response.status_code == status, (
        f"{what} should answer {status}; got {response.status_code}: {response.text[:300]}"
    )
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{what} answered {status} but not JSON: {response.text[:300]!r}") from None
    assert isinstance(body, dict) and body.get("status") == status and body.get("error") == error, (
        f"{what} should answer the error body {{'status': {status}, 'error': '{error}', 'detail': ...}}; got {body!r}"
    )
    assert isinstance(body.get("detail"), str) and body["detail"], (
        f"{what}: 'detail' should be a sentence (a non-empty string) for a person; got {body.get('detail')!r}"
    )
    return body


@pytest.mark.task("10.1", points=1)
def test_unknown_model_is_a_json_404_listing_the_models(client):
    response = client.post("/predict/no_such_model", json={"text": "hello"})
    body = assert_error_body(response, 404, "unknown_model", "POST /predict/no_such_model")
    assert body.get("known_models") == MODELS, (
        f"the 404 for an unknown model should list the models served in 'known_models' ({MODELS}); "
        f"got {body.get('known_models')!r}"
    )


@pytest.mark.task("10.1", points=1)
def test_http_errors_keep_their_status_and_headers(app, client):
    def conflict():
        raise HTTPException(status_code=409, detail="that version is already deployed", headers={"X-Check": "kept"})

    # 409 has no code of its own in ERROR_CODES: the body's error is then "http_error".
    app.add_api_route("/conflict-for-the-check", conflict)
    response = client.get("/conflict-for-the-check")
    body = assert_error_body(response, 409, "http_error", "a route that raises HTTPException(409) (not in ERROR_CODES)")
    assert body["detail"] == "that version is already deployed" and response.headers.get("x-check") == "kept", (
        "HTTPException(409, detail='that version is already deployed', headers={'X-Check': 'kept'}) should keep its "
        f"detail and its headers; got the body {body!r} and the headers {dict(response.headers)}"
    )
    missing = client.get("/no/such/route")
    assert_error_body(missing, 404, "not_found", "GET /no/such/route")
    wrong_method = client.delete("/health")
    assert_error_body(wrong_method, 405, "method_not_allowed", "DELETE /health")
    assert "GET" in wrong_method.headers.get("allow", ""), (
        "DELETE /health: Starlette's 405 carries an 'Allow: GET' header, and your handler must pass the "
        f"exception's headers on; the response headers were {dict(wrong_method.headers)}"
    )


@pytest.mark.task("10.1", points=1)
def test_validation_errors_name_the_field(client):
    response = client.post("/predict/newsgroups", json={"txet": "a typo in the field name"})
    body = assert_error_body(response, 422, "validation_error", "POST /predict/newsgroups without 'text'")
    assert "text" in body["detail"], (
        f"the 422's detail should name the field that is wrong or missing ('text'); got {body['detail']!r}"
    )
    errors = body.get("errors")
    assert isinstance(errors, list) and errors and all({"loc", "msg", "type"} <= set(e) for e in errors), (
        f"the 422 should list the problems in 'errors', each with 'loc', 'msg' and 'type'; got {errors!r}"
    )
    assert any("text" in [str(part) for part in e["loc"]] for e in errors), (
        f"one of the 'errors' should have 'text' in its 'loc'; got {errors!r}"
    )
    broken_json = client.post("/predict/newsgroups", content=b'{"text": ', headers={"content-type": "application/json"})
    assert_error_body(broken_json, 422, "validation_error", "POST /predict/newsgroups with broken JSON")


@pytest.mark.task("10.1", points=1)
def test_a_model_that_failed_to_load_is_a_503(make_app, make_settings, model_dir):
    # A wrong recorded digest: the registry refuses to unpickle the file and records why.
    (model_dir / "random_forest.joblib.sha256").write_text("0" * 64 + "\n")
    with sync_client(make_app(make_settings(model_dir=model_dir))) as client:
        response = client.post(
            "/predict/random_forest",
            json={"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        )
        body = assert_error_body(
            response, 503, "model_not_loaded", "POST /predict/random_forest when its file failed to load"
        )
        assert body.get("model") == "random_forest", (
            f"the 503 should say which model in 'model': 'random_forest'; got {body.get('model')!r}"
        )
        other = client.post("/predict/newsgroups", json={"text": "the rocket reached orbit"})
        assert other.status_code == 200, (
            f"the other models must keep serving: POST /predict/newsgroups answered {other.status_code}"
        )


@pytest.mark.task("10.1", points=1)
def test_an_unexpected_error_is_a_json_500_without_internals(app, errors):
    # The handler first, directly: it must not need a request to have gone wrong in a particular way.
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""})
    direct = asyncio.run(errors.unexpected_error_handler(request, RuntimeError(SECRET_TEXT)))
    assert direct.status_code == 500, f"unexpected_error_handler answered {direct.status_code}, not 500."

    def crash():
        raise RuntimeError(SECRET_TEXT)

    app.add_api_route("/crash-for-the-check", crash)
    # raise_server_exceptions=False: see what a real client sees (Starlette re-raises after the handler).
    with sync_client(app, raise_server_exceptions=False) as client:
        response = client.get("/crash-for-the-check")
    body = assert_error_body(response, 500, "internal_error", "a route that raises RuntimeError")
    leaked = [piece for piece in ("hunter2", "/srv/internal", "RuntimeError", "Traceback") if piece in response.text]
    assert not leaked, (
        f"the 500 must not reveal the exception or a traceback; the body contains {leaked}: {response.text[:300]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json"), (
        f"the 500 should be JSON; its content-type is {response.headers.get('content-type')!r}"
    )
    assert body["detail"], "the 500's detail should say that something went wrong on the server."
