"""Lab 8's reference service beyond what the graded checks cover: bad input is a clear 4xx (never a 500),
importing the app touches nothing, the docs work offline, and the disk cache lives where the settings say.

These run the *solution* in-process (the checks grade the students' code; this guards the reference).
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from labkit.models import write_reference_models
from workbook.checkkit.clients import sync_client
from workbook.paths import ROOT, SOLUTIONS
from workbook.target import activate

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
JSON = {"content-type": "application/json"}
KEY = "lab8-service-tests-key"


@pytest.fixture(scope="module")
def lab8():
    activate(SOLUTIONS)
    import lab8.app
    import lab8.settings

    return lab8


@pytest.fixture
def settings(lab8, tmp_path):
    write_reference_models(tmp_path / "models")
    return lab8.settings.Settings(
        model_dir=tmp_path / "models",
        cache_dir=tmp_path / "cache",
        cache_size=8,
        prediction_log=tmp_path / "logs" / "predictions.jsonl",
        api_key=KEY,
    )


@pytest.fixture
def client(lab8, settings):
    with sync_client(
        lab8.app.create_app(settings), raise_server_exceptions=False, headers={"X-API-Key": KEY}
    ) as test_client:
        yield test_client


BAD_REQUESTS = {
    "unknown model": ("/predict/no_such_model", {"json": SETOSA}, 404),
    "text for an iris model": ("/predict/random_forest", {"json": {"text": "hello"}}, 422),
    "measurements for a text model": ("/predict/newsgroups", {"json": SETOSA}, 422),
    "unknown field": ("/predict/random_forest", {"json": {**SETOSA, "colour": "blue"}}, 422),
    "negative length": ("/predict/random_forest", {"json": {**SETOSA, "petal_width": -1}}, 422),
    "empty text": ("/predict/newsgroups", {"json": {"text": ""}}, 422),
    "only spaces": ("/predict/newsgroups", {"json": {"text": "   "}}, 422),
    "a petal of 2 metres": ("/predict/random_forest", {"json": {**SETOSA, "petal_length": 200}}, 422),
    "NaN": (
        "/predict/random_forest",
        {
            "content": b'{"sepal_length": NaN, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}',
            "headers": JSON,
        },
        422,
    ),
    "lone surrogate": ("/predict/newsgroups", {"content": b'{"text": "\\ud800 orbit"}', "headers": JSON}, 422),
    "not JSON": ("/predict/newsgroups", {"content": b"{text", "headers": JSON}, 422),
    "not UTF-8": ("/predict/newsgroups", {"content": b"\xff\xfe\x00", "headers": JSON}, 400),
    "a list": ("/predict/newsgroups", {"json": ["orbit"]}, 422),
    "reload of an unknown model": ("/models/no_such_model/reload", {}, 404),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_is_a_clear_4xx(client, case):
    path, kwargs, expected = BAD_REQUESTS[case]
    response = client.post(path, **kwargs)
    assert response.status_code == expected, f"{case}: {response.status_code} {response.text[:300]}"
    assert response.json()["detail"], f"{case}: the body should say what is wrong: {response.text[:300]}"


def test_unknown_model_lists_the_known_ones(client):
    response = client.post("/predict/no_such_model", json=SETOSA)
    assert response.json()["known_models"] == ["logistic_regression", "newsgroups", "random_forest"]


def test_health_models_and_offline_docs(client):
    assert client.get("/health").json() == {"status": "ok"}
    models = client.get("/models").json()
    assert [m["name"] for m in models] == ["logistic_regression", "newsgroups", "random_forest"]
    assert {m["kind"] for m in models} == {"text", "tabular"} and all(len(m["version"]) == 12 for m in models)
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200 and "cdn" not in page.text.lower(), path


def test_every_route_but_health_and_docs_needs_the_key(lab8, settings):
    with sync_client(lab8.app.create_app(settings)) as anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/docs").status_code == 200
        for method, path in [
            ("GET", "/models"),
            ("POST", "/predict/random_forest"),
            ("DELETE", "/cache"),
            ("POST", "/models/random_forest/reload"),
        ]:
            assert anonymous.request(method, path).status_code == 401, (method, path)
            wrong = anonymous.request(method, path, headers={"X-API-Key": "not-the-key"})
            assert wrong.status_code == 403, (method, path)


def test_every_prediction_is_logged_hits_too(client, settings):
    answers = [client.post("/predict/newsgroups", json={"text": "the shuttle reached orbit"}) for _ in range(2)]
    assert [a.headers["X-Cache"] for a in answers] == ["miss", "hit"]
    lines = [json.loads(line) for line in settings.prediction_log.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == [a.json()["request_id"] for a in answers]
    assert [a.headers["X-Request-ID"] for a in answers] == [a.json()["request_id"] for a in answers]


def test_models_that_cannot_load_make_the_model_routes_503(lab8, settings, tmp_path):
    broken = settings.model_copy(update={"model_dir": tmp_path / "no_models_here"})
    with sync_client(lab8.app.create_app(broken), headers={"X-API-Key": KEY}) as client:
        assert client.get("/health").status_code == 200
        for method, path in [("GET", "/models"), ("POST", "/models/random_forest/reload")]:
            answer = client.request(method, path)
            assert answer.status_code == 503 and "no_models_here" in answer.json()["detail"], answer.text
        answer = client.post("/predict/random_forest", json=SETOSA)
        assert answer.status_code == 503, answer.text


def test_reloading_a_broken_file_is_a_409_and_keeps_the_old_version(client, settings):
    before = client.post("/predict/random_forest", json=SETOSA).json()
    model_file = settings.model_dir / "random_forest.joblib"
    for damage in ("digest", "file gone", "not a pickle"):
        if damage == "digest":
            model_file.with_name(model_file.name + ".sha256").write_text("0" * 64)
        elif damage == "file gone":
            model_file.unlink()
        else:
            model_file.write_bytes(b"not a pickle")
            model_file.with_name(model_file.name + ".sha256").write_text(hashlib.sha256(b"not a pickle").hexdigest())
        answer = client.post("/models/random_forest/reload")
        assert answer.status_code == 409 and "stays in service" in answer.json()["detail"], (damage, answer.text)
        assert client.post("/predict/random_forest", json=SETOSA).json()["version"] == before["version"], damage


def test_the_service_refuses_to_start_without_a_key(lab8, settings):
    with pytest.raises(RuntimeError, match="API_KEY"):
        with sync_client(lab8.app.create_app(settings.model_copy(update={"api_key": SecretStr("")}))):
            pass


def test_disk_cache_lives_in_the_cache_dir_and_survives_a_restart(lab8, settings, monkeypatch):
    with sync_client(lab8.app.create_app(settings), headers={"X-API-Key": KEY}) as client:
        assert client.post("/predict/random_forest", json=SETOSA).json()["label"] == "setosa"
    assert list((settings.cache_dir / "joblib").rglob("output.pkl")), "no cached answer under cache_dir/joblib"
    from sklearn.pipeline import Pipeline

    calls = []
    original = Pipeline.predict
    monkeypatch.setattr(Pipeline, "predict", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    with sync_client(lab8.app.create_app(settings), headers={"X-API-Key": KEY}) as client:
        answer = client.post("/predict/random_forest", json=SETOSA)
    assert answer.json()["label"] == "setosa" and answer.headers["X-Cache"] == "miss" and not calls, (
        "after a restart the memory cache is empty (miss) but the disk cache answers: no model may run"
    )


def test_importing_the_app_touches_no_file(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": f"{SOLUTIONS}{os.pathsep}{ROOT}",
        "MODEL_DIR": str(tmp_path / "nowhere"),
        "CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("WORKBOOK_TARGET", None)
    done = subprocess.run(
        [sys.executable, "-c", "import lab8.app"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == [], f"importing lab8.app created {list(tmp_path.iterdir())}"
