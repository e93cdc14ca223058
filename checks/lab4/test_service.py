"""Lab 4 checks, Tasks 4.4–4.6: the app loads once in its lifespan, lists, predicts and explains its errors.

Loads are counted, not timed: ``joblib_loads`` records every ``joblib.load`` call and imports lab 4
afresh, so a model read at import time, or again on a request, shows up as an extra load.
"""

import hashlib
import os
from collections import Counter

import joblib
import pytest

from labkit.models import MODEL_NAMES, reference_model
from workbook.checkkit.clients import sync_client
from workbook.checkkit.student import StudentImportError, import_lab_module, lab_attr

FILES = sorted(f"{name}.joblib" for name in MODEL_NAMES)
FLOWER = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5}
POST = "the launch put the satellite in orbit around the moon"


def expected_label(name: str, row) -> str:
    pipeline, names = reference_model(name)
    return names[int(pipeline.predict([row])[0])]


def fresh_app(model_dir):
    """Import lab 4 afresh (after joblib_loads started recording) and create an app for ``model_dir``."""
    settings_class = lab_attr(import_lab_module("lab4.settings"), "Settings")
    create_app = lab_attr(import_lab_module("lab4.app"), "create_app")
    return create_app(settings_class.model_construct(model_dir=model_dir))


def error_detail(response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return ""


class RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


# --- Task 4.4: the lifespan --------------------------------------------------------------------------


@pytest.mark.task("4.4", points=2)
@pytest.mark.needs("4.2")  # loads are counted at joblib.load, inside your registry's read_model
def test_importing_the_app_loads_no_model(joblib_loads, shared_model_dir, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(shared_model_dir))
    module = import_lab_module("lab4.app")
    assert len(joblib_loads) == 0, (
        f"importing lab4.app made {joblib_loads.summary()}. Nothing may load at import time (not at module "
        "level, not in an __init__ that runs at import): load in the lifespan."
    )
    with sync_client(lab_attr(module, "app")):
        started = sorted(joblib_loads.files)
    assert started == FILES, (
        f"starting the module-level app with MODEL_DIR={shared_model_dir} made {joblib_loads.summary()}; "
        f"expected one load of each of {FILES}. Read Settings() in the lifespan, when app.state.settings is None."
    )


@pytest.mark.task("4.4", points=1)
def test_importing_and_starting_work_without_model_files(joblib_loads, monkeypatch, tmp_path):
    missing = tmp_path / "no-models-here"
    monkeypatch.setenv("MODEL_DIR", str(missing))
    try:
        module, import_failure = import_lab_module("lab4.app"), None
    except StudentImportError as exc:
        import_failure = str(exc)  # reported below, outside the except: the grader would call it an import error
    if import_failure:
        pytest.fail(
            f"with MODEL_DIR={missing} (no such folder), importing lab4.app failed: {import_failure}. "
            "Importing must not touch the model files."
        )
    app = lab_attr(module, "app")
    with sync_client(app) as client:
        health = client.get("/health")
        reason = app.state.registry_error
    assert health.status_code == 200 and health.json() == {"status": "ok"}, (
        f"with no model folder the app should still start and GET /health answer 200 {{'status': 'ok'}}; "
        f"got {health.status_code} {health.text[:200]}"
    )
    assert isinstance(reason, str) and "no-models-here" in reason, (
        f"with no model folder, app.state.registry_error should say why, naming the folder; it is {reason!r}."
    )


@pytest.mark.task("4.4", points=2)
@pytest.mark.needs("4.2")  # loads are counted at joblib.load, inside your registry's read_model
def test_models_load_once_at_startup_and_are_released_at_shutdown(joblib_loads, shared_model_dir):
    app = fresh_app(shared_model_dir)
    assert len(joblib_loads) == 0, f"create_app made {joblib_loads.summary()}; loading belongs in the lifespan."
    with sync_client(app):
        at_startup = Counter(joblib_loads.files)
        registry = app.state.registry
        names = registry.names()
        error = app.state.registry_error
    assert at_startup == Counter(FILES), (
        f"start-up made {joblib_loads.summary()}, before any request; expected each of {FILES} exactly once."
    )
    assert names == sorted(MODEL_NAMES) and error is None, (
        f"after start-up app.state.registry holds {names!r} and app.state.registry_error is {error!r}; "
        f"expected {sorted(MODEL_NAMES)} and None."
    )
    assert registry.names() == [], (
        f"after shutdown the registry still holds {registry.names()!r}: call registry.clear() after the yield."
    )
    newsgroups_model = lab_attr(import_lab_module("lab4.predictor"), "newsgroups_model")
    assert newsgroups_model.entry is None, "after shutdown newsgroups_model still holds its model: call unload()."


@pytest.mark.task("4.4", points=1)
def test_lifespan_fills_the_class_dependency(client):
    response = client.post("/newsgroups/predict", json={"text": POST})
    assert response.status_code == 200, (
        f"POST /newsgroups/predict answered {response.status_code}: {response.text[:300]}"
    )
    expected = expected_label("newsgroups", POST)
    assert response.json().get("label") == expected, (
        f"POST /newsgroups/predict {{'text': {POST!r}}} answered {response.json()}; expected the label {expected!r}. "
        "Is load_model called in the lifespan, and does predict use the loaded entry?"
    )


# --- Task 4.5: the routes ----------------------------------------------------------------------------


@pytest.mark.task("4.5", points=1)
def test_models_route_lists_every_loaded_model(client, shared_model_dir):
    response = client.get("/models")
    assert response.status_code == 200, f"GET /models answered {response.status_code}: {response.text[:300]}"
    expected = []
    for name in sorted(MODEL_NAMES):
        digest = hashlib.sha256((shared_model_dir / f"{name}.joblib").read_bytes()).hexdigest()
        expected.append(
            {
                "name": name,
                "kind": "text" if name == "newsgroups" else "tabular",
                "version": digest[:12],
                "classes": list(reference_model(name)[1]),
            }
        )
    assert response.json() == expected, f"GET /models answered {response.json()};\nexpected {expected}."


@pytest.mark.task("4.5", points=2)
@pytest.mark.needs("4.3")  # the 422's message is your WrongInputError's
def test_predict_route_answers_like_the_models(client):
    response = client.post("/predict/newsgroups", json={"text": POST})
    assert response.status_code == 200, (
        f"POST /predict/newsgroups answered {response.status_code}: {response.text[:300]}"
    )
    body = response.json()
    expected = expected_label("newsgroups", POST)
    assert body.get("model") == "newsgroups" and body.get("label") == expected and body.get("version"), (
        f"POST /predict/newsgroups {{'text': {POST!r}}} answered {body}; expected model 'newsgroups', "
        f"its version and the label {expected!r}."
    )
    row = list(FLOWER.values())
    for name in ("logistic_regression", "random_forest"):
        response = client.post(f"/predict/{name}", json=FLOWER)
        expected = expected_label(name, row)
        assert response.status_code == 200 and response.json().get("label") == expected, (
            f"POST /predict/{name} {FLOWER} answered {response.status_code} {response.text[:200]}; "
            f"expected the label {expected!r}."
        )
    response = client.post("/predict/random_forest", json={"text": "a rose"})
    assert response.status_code == 422 and "random_forest" in error_detail(response), (
        f"POST /predict/random_forest with a text should answer 422 with a message naming the model; got "
        f"{response.status_code} {response.text[:200]}"
    )


@pytest.mark.task("4.5", points=2)
@pytest.mark.needs("4.2")  # loads are counted at joblib.load, inside your registry's read_model
def test_many_requests_load_nothing_more(joblib_loads, shared_model_dir):
    app = fresh_app(shared_model_dir)
    with sync_client(app) as client:
        after_startup = len(joblib_loads)
        for _ in range(10):
            for response in (
                client.get("/models"),
                client.post("/predict/random_forest", json=FLOWER),
                client.post("/predict/newsgroups", json={"text": POST}),
            ):
                assert response.status_code == 200, (
                    f"{response.request.method} {response.request.url.path} answered {response.status_code}: "
                    f"{response.text[:200]}"
                )
        after_requests = len(joblib_loads)
    assert after_startup == len(FILES) and after_requests == after_startup, (
        f"{after_startup} load(s) at start-up, {after_requests} after 30 requests ({joblib_loads.summary()}). "
        f"Expected {len(FILES)} and no more: the routes and get_registry must use the registry the lifespan loaded."
    )


# --- Task 4.6: errors --------------------------------------------------------------------------------


@pytest.mark.task("4.6", points=2)
def test_unknown_model_is_a_404_listing_the_known_models(client):
    response = client.post("/predict/gradient_boosting", json=FLOWER)
    assert response.status_code == 404, (
        f"POST /predict/gradient_boosting (no such model) answered {response.status_code}, expected 404: "
        f"{response.text[:200]}"
    )
    body = response.json()
    known = sorted(MODEL_NAMES)
    assert body.get("known_models") == known, (
        f'the 404 body is {body}; it should list the known models: "known_models": {known}.'
    )
    assert all(name in str(body.get("detail", "")) for name in [*known, "gradient_boosting"]), (
        f"the 404 detail {body.get('detail')!r} should name the unknown model and the known ones."
    )


@pytest.mark.task("4.6", points=1)
@pytest.mark.needs("4.4", "4.5")  # the lifespan records the failure, your routes' dependency raises it
def test_missing_model_folder_gives_503_with_the_reason(make_app, tmp_path):
    missing = tmp_path / "no-models-here"
    with sync_client(make_app(missing)) as client:
        health = client.get("/health")
        answers = {
            "GET /models": client.get("/models"),
            "POST /predict/random_forest": client.post("/predict/random_forest", json=FLOWER),
            "POST /newsgroups/predict": client.post("/newsgroups/predict", json={"text": POST}),
        }
    assert health.status_code == 200, f"with no model folder GET /health answered {health.status_code}; expected 200."
    for route, response in answers.items():
        assert response.status_code == 503, (
            f"with no model folder, {route} answered {response.status_code}; expected 503 (the service is up, "
            f"its models are not): {response.text[:200]}"
        )
    detail = error_detail(answers["GET /models"])
    assert detail.startswith("models unavailable") and "no-models-here" in detail, (
        f'the 503 body should say why: {{"detail": "models unavailable: <reason naming the folder>"}}; got {detail!r}.'
    )


@pytest.mark.task("4.6", points=1)
@pytest.mark.needs("4.4", "4.5")
def test_tampered_model_gives_503_and_is_never_unpickled(make_app, model_dir, tmp_path):
    marker = tmp_path / "unpickled-and-ran-code"
    joblib.dump(RunsCodeWhenUnpickled(marker), model_dir / "logistic_regression.joblib")  # old digest stays
    with sync_client(make_app(model_dir)) as client:
        response = client.post("/predict/newsgroups", json={"text": POST})
    assert not marker.exists(), (
        "the tampered model file was unpickled (its code ran). The app loads through your registry: this needs "
        "Task 4.2 to work first (read_model compares the digests before joblib.load): fix it, then re-run."
    )
    assert response.status_code == 503 and "logistic_regression.joblib" in error_detail(response), (
        f"with a tampered logistic_regression.joblib every prediction route should answer 503 naming the file; "
        f"got {response.status_code} {response.text[:200]}"
    )
