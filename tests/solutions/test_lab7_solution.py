"""Lab 7's reference service beyond what the graded checks cover: it refuses to start without an API key,
answers bad input with a clear 4xx behind the key, and keeps /docs whole behind the middleware."""

import pytest

from labkit.docs import ASSETS_URL
from labkit.models import write_reference_models
from workbook.checkkit.clients import sync_client
from workbook.paths import SOLUTIONS
from workbook.target import activate

KEY = {"X-API-Key": "a-key-for-the-project-tests"}


@pytest.fixture(scope="module")
def lab7(tmp_path_factory):
    activate(SOLUTIONS)
    import lab7.app
    import lab7.settings

    folder = tmp_path_factory.mktemp("lab7-solution")
    write_reference_models(folder)
    return lab7.app, lab7.settings.Settings, folder


@pytest.fixture(scope="module")
def client(lab7):
    app_module, settings_class, folder = lab7
    settings = settings_class(model_dir=folder, api_key=KEY["X-API-Key"])
    with sync_client(app_module.create_app(settings)) as test_client:
        yield test_client


def test_refuses_to_start_without_an_api_key(lab7, monkeypatch):
    app_module, settings_class, folder = lab7
    monkeypatch.delenv("API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="API_KEY is not set"):
        with sync_client(app_module.create_app(settings_class(model_dir=folder, api_key=""))):
            pass


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/predict/newsgroups", {"text": ""}, 422),
        ("/predict/newsgroups", {"sepal_length": 1}, 422),
        ("/predict/random_forest", {"text": "a post"}, 422),
        ("/predict/no_such_model", {"text": "a post"}, 404),
    ],
)
def test_bad_input_behind_the_key_is_a_clear_4xx(client, path, body, status):
    response = client.post(path, json=body, headers=KEY)
    assert response.status_code == status, response.text
    assert response.json().get("detail") and "x-process-time" in response.headers


def test_docs_load_without_a_key(client):
    page = client.get("/docs")
    assert page.status_code == 200
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"{ASSETS_URL}/{asset}" in page.text
        assert client.get(f"{ASSETS_URL}/{asset}").status_code == 200
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "the service's API key (setting API_KEY)",
    }


def test_not_a_number_behind_the_key_is_a_422(client):
    response = client.post(
        "/predict/random_forest",
        headers={**KEY, "content-type": "application/json"},
        content=b'{"sepal_length": NaN, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}',
    )
    assert response.status_code == 422 and "x-request-id" in response.headers
