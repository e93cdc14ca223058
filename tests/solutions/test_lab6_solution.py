"""Lab 6's reference service beyond what the graded checks cover: bad input is a clear 4xx, never a 500."""

import pytest

from labkit.models import write_reference_models
from workbook.checkkit.clients import sync_client
from workbook.paths import SOLUTIONS
from workbook.target import activate

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    activate(SOLUTIONS)
    from lab6.app import create_app
    from lab6.settings import Settings

    folder = tmp_path_factory.mktemp("lab6-solution")
    write_reference_models(folder / "models")
    settings = Settings(model_dir=folder / "models", prediction_log=folder / "logs" / "p.jsonl")
    with sync_client(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "path, body, status",
    [
        ("/predict/newsgroups", {"text": ""}, 422),
        ("/predict/newsgroups", {"text": "a post", "extra": 1}, 422),
        ("/predict/newsgroups", FLOWER, 422),
        ("/predict/random_forest", {"text": "a post"}, 422),
        ("/predict/random_forest", {**FLOWER, "petal_width": "wide"}, 422),
        ("/predict/random_forest", {**FLOWER, "petal_width": -1}, 422),
        ("/predict/no_such_model", {"text": "a post"}, 404),
        ("/jobs", {"model": "random_forest", "items": [FLOWER] * 1001}, 422),
        ("/jobs", {"model": "random_forest"}, 422),
        ("/jobs", {"model": "random_forest", "items": [{"text": "a post"}]}, 422),
        ("/jobs", {"model": "no_such_model", "items": [FLOWER]}, 404),
    ],
)
def test_bad_input_is_a_clear_4xx(client, path, body, status):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json().get("detail"), response.text


def test_not_a_number_and_broken_json_are_refused(client):
    nan = client.post(
        "/predict/random_forest",
        content=b'{"sepal_length": NaN, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}',
        headers={"content-type": "application/json"},
    )
    broken = client.post("/predict/newsgroups", content=b'{"text": ', headers={"content-type": "application/json"})
    assert nan.status_code == 422 and broken.status_code == 422


def test_unknown_model_lists_the_known_ones(client):
    response = client.post("/predict/nope", json={"text": "a post"})
    assert response.json()["known_models"] == ["logistic_regression", "newsgroups", "random_forest"]
