"""Tasks 12.1 and 12.3: models loaded once per replica; the replicas built and the requests spread over them.

The checks marked with a long timeout share one run of your deployment on a local Ray (conftest.py): the
first of them waits for it, the others read what it recorded. Loads and ``predict`` calls are counted by the
model files themselves, in whichever process they happen (checks/lab12/spy.py).
"""

from __future__ import annotations

from collections import Counter

import pytest

from checks.lab12.runs import LOCAL_CHECK_TIMEOUT, NUM_REPLICAS, RAY_CHECK_TIMEOUT, finished
from labkit.models import MODEL_NAMES, reference_model
from labkit.registry import ModelRegistry
from workbook.checkkit.student import lab_attr

# Importing Ray and the lab takes seconds on a busy machine: more than the default 10 s for a check.
pytestmark = pytest.mark.timeout(LOCAL_CHECK_TIMEOUT)


def local_service(serving, settings_class, model_dir):
    settings = settings_class(model_dir=model_dir)
    return settings, lab_attr(serving, "PredictionService")(settings)


@pytest.mark.task("12.1", points=2)
def test_constructor_loads_the_models(serving, settings_class, model_dir):
    settings, service = local_service(serving, settings_class, model_dir)
    assert getattr(service, "settings", None) is settings, (
        "PredictionService(settings) should keep its settings as self.settings; "
        f"it holds {getattr(service, 'settings', None)!r}."
    )
    registry = getattr(service, "registry", None)
    assert isinstance(registry, ModelRegistry), (
        "PredictionService(settings) should set self.registry to a labkit.registry.ModelRegistry; "
        f"it is {type(registry).__name__}."
    )
    assert registry.names() == sorted(MODEL_NAMES), (
        f"After the constructor, self.registry should hold every model of settings.model_dir ({sorted(MODEL_NAMES)}); "
        f"it holds {registry.names()}. Call self.registry.load_dir(settings.model_dir) in the constructor."
    )


@pytest.mark.task("12.1", points=3)
@pytest.mark.needs("12.2", "12.3")
@pytest.mark.timeout(RAY_CHECK_TIMEOUT)
def test_models_load_once_per_replica(serving, settings_class, model_dir, ray_run):
    local_service(serving, settings_class, model_dir)
    run = finished(ray_run)
    loads = run.events.loads
    driver = run.report.get("driver_pid")
    assert not [key for key in loads if key[0] == driver], (
        "The process that deployed your service (it imports lab12.serving and calls build) loaded models: "
        f"{sorted(name for pid, name in loads if pid == driver)}. Only the replicas may load them, in their "
        "constructor — nothing at import, nothing in build."
    )
    repeated = {f"{name} in pid {pid}": count for (pid, name), count in loads.items() if count != 1}
    assert not repeated, (
        "Each replica should load each model exactly once, in its constructor, however many requests it "
        f"answers. After a few dozen requests, these were loaded more than once: {repeated}. Load in "
        "__init__ and keep the registry on self; never read a model file per request or per batch."
    )
    per_pid = Counter(pid for pid, _ in loads)
    incomplete = {pid: count for pid, count in per_pid.items() if count != len(MODEL_NAMES)}
    assert not incomplete, (
        f"Each replica should load all {len(MODEL_NAMES)} models once; these processes loaded only some: {incomplete}."
    )


@pytest.mark.task("12.1", points=2)
@pytest.mark.needs("12.2", "12.3")
@pytest.mark.timeout(RAY_CHECK_TIMEOUT)
def test_replicas_answer_like_the_models(serving, settings_class, model_dir, ray_run):
    local_service(serving, settings_class, model_dir)
    run = finished(ray_run)
    inputs, answers = run.report["inputs"], run.report["answers"]
    for name, key, items in (
        ("logistic_regression", "logistic_regression", inputs["rows"]),
        ("newsgroups", "newsgroups", inputs["texts"]),
    ):
        pipeline, classes = reference_model(name)
        expected = [classes[int(index)] for index in pipeline.predict(items if name == "newsgroups" else items)]
        got = [
            answer["body"].get("label")
            if answer["status"] == 200 and isinstance(answer["body"], dict)
            else f"HTTP {answer['status']}: {answer['body']}"
            for answer in answers[key]
        ]
        assert got == expected, (
            f"POST /predict/{name} on Ray Serve should answer what the model predicts: expected labels {expected}, "
            f"got {got}."
        )
    pipeline, classes = reference_model("random_forest")
    batch = answers["random_forest_batch"]
    expected = [classes[int(index)] for index in pipeline.predict(inputs["rows"])]
    assert batch["status"] == 200 and batch["body"].get("labels") == expected, (
        f"POST /predict/random_forest/batch on Ray Serve should answer the labels {expected}; it answered "
        f"HTTP {batch['status']}: {batch['body']}."
    )


@pytest.mark.task("12.3", points=1)
def test_build_binds_an_application(serving, settings_class, model_dir):
    from ray.serve import Application

    application = lab_attr(serving, "build")(settings_class(model_dir=model_dir))
    assert isinstance(application, Application), (
        "build(settings) should return the bound application, PredictionDeployment.options(...).bind(settings) "
        f"— something serve.run can deploy; it returned {type(application).__name__}."
    )


@pytest.mark.task("12.3", points=3)
@pytest.mark.needs("12.1", "12.2")
@pytest.mark.timeout(RAY_CHECK_TIMEOUT)
def test_requests_spread_over_the_replicas(serving, settings_class, model_dir, ray_run):
    lab_attr(serving, "build")(settings_class(model_dir=model_dir))
    run = finished(ray_run)
    loaded_by = run.events.load_pids()
    assert len(loaded_by) == NUM_REPLICAS, (
        f"With settings.num_replicas = {NUM_REPLICAS}, Ray Serve should start {NUM_REPLICAS} replicas, each "
        f"loading the models in its own process; models were loaded in {len(loaded_by)} process(es). Pass "
        "num_replicas=settings.num_replicas to PredictionDeployment.options(...)."
    )
    spread = run.phase("spread", "concurrent").predicts["logistic_regression"]
    pids = Counter(pid for pid, _ in spread)
    assert len(pids) == NUM_REPLICAS, (
        f"{len(spread)} concurrent requests should be spread over the {NUM_REPLICAS} replicas; the predictions "
        f"ran in {len(pids)} process(es): {dict(pids)}."
    )
