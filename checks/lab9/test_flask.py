"""Lab 9 checks, Task 9.8: the same model behind Flask, in-process and under gunicorn."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.datasets import IRIS_FEATURES, load_iris
from workbook.checkkit.loadtest import run_load
from workbook.checkkit.server import gunicorn_command, serve
from workbook.target import resolve_target

QUERY = "sepal_length=6.7&sepal_width=3.0&petal_length=5.2&petal_width=2.3"
SERVER_TIMEOUT = 120


@pytest.fixture
def flask_app(flask_module, lab_settings):
    app = flask_module.create_flask_app(lab_settings)
    app.testing = True  # exceptions reach the check instead of becoming a 500
    return app


@pytest.fixture
def flask_client(flask_app):
    return flask_app.test_client()


@pytest.fixture
def model(flask_module, lab_settings):
    registry = flask_module.ModelRegistry()
    registry.load_dir(lab_settings.model_dir)
    return registry.get("logistic_regression")


@pytest.mark.task("9.8", points=2)
def test_flask_get_and_post_predictions(flask_client, model):
    features, _, _ = load_iris()
    for row in features[::30]:
        body = dict(zip(IRIS_FEATURES, row))
        expected = {
            "model": "logistic_regression",
            "version": model.version,
            "label": model.classes[int(model.pipeline.predict(np.asarray([row]))[0])],
        }
        query = "&".join(f"{k}={v}" for k, v in body.items())
        got = flask_client.get(f"/predictions?{query}")
        assert got.status_code == 200 and got.get_json() == expected, (
            f"GET /predictions?{query} answered {got.status_code} {got.get_json()}; expected {expected}."
        )
        posted = flask_client.post("/predictions", json=body)
        assert posted.status_code == 200 and posted.get_json() == expected, (
            f"POST /predictions with {body} answered {posted.status_code} {posted.get_json()}; expected {expected}."
        )


@pytest.mark.task("9.8", points=1)
def test_flask_bad_input_is_a_422(flask_client):
    first = flask_client.get(f"/predictions?{QUERY}")
    assert first.status_code == 200, (
        f"GET /predictions?{QUERY} answered {first.status_code}: {first.get_data(as_text=True)[:200]}"
    )
    for how, response in [
        ("GET without petal_width", flask_client.get("/predictions?sepal_length=5&sepal_width=3&petal_length=1")),
        ("GET with sepal_length=long", flask_client.get(f"/predictions?{QUERY.replace('6.7', 'long')}")),
        ("POST with a JSON list", flask_client.post("/predictions", json=[5.1, 3.5, 1.4, 0.2])),
        (
            "POST with a negative width",
            flask_client.post(
                "/predictions", json={"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": -1}
            ),
        ),
    ]:
        body = response.get_json(silent=True) or {}
        assert response.status_code == 422 and isinstance(body.get("detail"), list) and body["detail"], (
            f"{how} should answer 422 with {{'detail': [the problems]}}, got {response.status_code} "
            f"{response.get_data(as_text=True)[:200]}"
        )


@pytest.mark.task("9.8", points=1)
@pytest.mark.timeout(SERVER_TIMEOUT)
def test_flask_under_gunicorn_serves_and_stops_cleanly(flask_client, model_dir):
    first = flask_client.get(f"/predictions?{QUERY}")
    assert first.status_code == 200, f"in-process, GET /predictions answered {first.status_code}"
    command = lambda port: gunicorn_command(  # noqa: E731 -- a server factory, read as one expression
        "lab9.flask_app:create_flask_app()",
        port,
        pythonpath=resolve_target(),
        workers=1,
    )
    with serve(command, env={"MODEL_DIR": str(model_dir)}, startup_timeout=90) as server:
        result = run_load(
            f"{server.url}/predictions?{QUERY}",
            concurrency=8,
            seconds=1.5,
            warmup=0,
            max_requests=20_000,
            tool="python",
        )
    assert result.requests > 0 and result.errors == 0, (
        f"under gunicorn, {result.errors} of {result.requests} requests failed ({result}).\n{server.output[-1500:]}"
    )
    assert server.stopped_cleanly, (
        f"gunicorn did not shut down cleanly after SIGTERM: exit code {server.returncode}.\n{server.output[-2500:]}"
    )
