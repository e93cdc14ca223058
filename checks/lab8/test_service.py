"""Lab 8 checks, Tasks 8.3 and 8.4: the service with its caches, over HTTP, on the reference models.

Hits are proven by counting model calls (``model_calls`` counts every pipeline prediction in the process),
never by timing: a hit is an answer for which no model ran.
"""

import asyncio
import logging

import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from labkit.datasets import load_corpus, load_iris
from labkit.models import reference_model, write_model

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}


def predict(client, model: str, payload: dict):
    response = client.post(f"/predict/{model}", json=payload)
    assert response.status_code == 200, (
        f"POST /predict/{model} with {payload} should answer 200; got {response.status_code}: {response.text[:300]}"
    )
    return response


def cache_header(response) -> str | None:
    return response.headers.get("X-Cache")


@pytest.mark.task("8.3", points=2)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
def test_repeated_prediction_is_a_memory_hit(no_secret_output, client, model_calls):
    first = predict(client, "random_forest", SETOSA)
    second = predict(client, "random_forest", SETOSA)
    no_secret_output.client_saw(first, second)
    assert (first.json()["label"], second.json()["label"]) == ("setosa", "setosa"), (
        f"random_forest should answer 'setosa' for {SETOSA} both times; got {first.json()} then {second.json()}."
    )
    assert model_calls.count == 1, (
        f"the same request, sent twice, ran the model {model_calls.count} times; the second answer should "
        "come from a cache (expected 1 model call)."
    )
    assert (cache_header(first), cache_header(second)) == ("miss", "hit"), (
        f"the header X-Cache should be 'miss' on the first request and 'hit' on the repeat; got "
        f"{cache_header(first)!r}, then {cache_header(second)!r}. Set response.headers['X-Cache'] from the "
        "answer's hit flag."
    )


@pytest.mark.task("8.3", points=2)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
def test_models_do_not_share_cache_entries(client, model_calls):
    predict(client, "logistic_regression", SETOSA)
    other = predict(client, "random_forest", SETOSA)
    assert model_calls.count == 2 and cache_header(other) == "miss", (
        f"logistic_regression, then random_forest, got the same measurements: each model should run once "
        f"(expected 2 model calls, counted {model_calls.count}; random_forest's X-Cache was "
        f"{cache_header(other)!r}, expected 'miss'). Put the model's name and version in the cache key."
    )
    assert other.json()["model"] == "random_forest", f"the answer names the wrong model: {other.json()}"


@pytest.mark.task("8.3", points=2)
@pytest.mark.timeout(30)
@pytest.mark.needs("8.1", "8.2")  # the repeat is answered by your disk cache, past your memory cache
def test_a_second_instance_and_a_restart_answer_from_the_disk_cache(settings, model_calls):
    from checks.lab8.conftest import API_KEY
    from workbook.checkkit.clients import sync_client
    from workbook.checkkit.student import import_lab_module, lab_attr

    create_app = lab_attr(import_lab_module("lab8.app"), "create_app")
    key = {"X-API-Key": API_KEY}
    with sync_client(create_app(settings), headers=key) as first:
        predict(first, "random_forest", VIRGINICA)
        # A second worker on the same cache folder, while the first still runs: its memory is empty.
        with sync_client(create_app(settings), headers=key) as second:
            other_worker = predict(second, "random_forest", VIRGINICA)
    with sync_client(create_app(settings), headers=key) as restarted:  # the service restarted
        after_restart = predict(restarted, "random_forest", VIRGINICA)
    labels = {other_worker.json()["label"], after_restart.json()["label"]}
    assert labels == {"virginica"}, f"random_forest should answer 'virginica' for {VIRGINICA}; got {labels}."
    assert model_calls.count == 1, (
        f"one prediction, repeated by a second app instance and by an app restarted on the same cache folder "
        f"({settings.cache_dir}), ran the model {model_calls.count} times; expected 1. The memory cache is per "
        "process and forgotten on restart; the disk cache is what the other workers and the next start share: "
        "on a memory miss, ask caches.disk (it runs the model only on its own miss), never the model directly."
    )
    assert (cache_header(other_worker), cache_header(after_restart)) == ("miss", "miss"), (
        f"X-Cache says whether the *memory* cache answered; a new process's memory is empty, so both answers "
        f"should say 'miss'; got {cache_header(other_worker)!r} and {cache_header(after_restart)!r}."
    )


@pytest.mark.task("8.3", points=1)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
def test_each_answer_gets_its_own_request_id(client):
    answers = [predict(client, "newsgroups", {"text": "the shuttle reached orbit"}).json() for _ in range(3)]
    ids = [answer.get("request_id") for answer in answers]
    assert all(isinstance(i, str) and i for i in ids), f"every answer should carry a request_id; got {answers}"
    assert len(set(ids)) == 3, (
        f"three requests (two of them cache hits) got the request ids {ids}: a hit must still be a new "
        "response with a new request id. Cache the label, not the response."
    )
    assert {answer["label"] for answer in answers} == {"sci.space"}, f"the labels changed between hits: {answers}"


def uncached_label(model: str, payload: dict) -> str:
    """What the model itself says, with no cache anywhere."""
    pipeline, names = reference_model(model)
    row = payload["text"] if "text" in payload else [payload[k] for k in SETOSA]
    return names[int(pipeline.predict([row])[0])]


def mixed_requests(count: int) -> list[tuple[str, dict]]:
    texts, _ = load_corpus("test")
    features, _, _ = load_iris()
    flowers = [dict(zip(SETOSA, row)) for row in features[::30]]  # 5 flowers across the three species
    distinct = [("newsgroups", {"text": text}) for text in texts[:6]]
    distinct += [(model, flower) for model in ("logistic_regression", "random_forest") for flower in flowers]
    return [distinct[i % len(distinct)] for i in range(count)]


@pytest.mark.task("8.3", points=2)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
@pytest.mark.timeout(60)
async def test_concurrent_requests_get_the_uncached_answers(async_client):
    requests = mixed_requests(50)  # 16 distinct inputs through a cache of 4: hits, misses and evictions
    responses = await asyncio.gather(*(async_client.post(f"/predict/{m}", json=p) for m, p in requests))
    wrong = []
    for (model, payload), response in zip(requests, responses):
        expected = uncached_label(model, payload)
        if response.status_code != 200 or response.json().get("label") != expected:
            wrong.append(f"{model} {payload}: expected {expected!r}, got {response.status_code} {response.text[:120]}")
    assert not wrong, (
        f"{len(wrong)} of 50 concurrent requests got a different answer than the model gives uncached, e.g. "
        f"{wrong[:2]}. Hold the memory cache's lock for every read and change."
    )


@pytest.mark.task("8.4", points=2)
@pytest.mark.needs("8.1", "8.2", "8.3")  # through your caches and predict_cached
def test_delete_cache_empties_both_caches(no_secret_output, client, model_calls):
    predict(client, "random_forest", SETOSA)
    predict(client, "random_forest", SETOSA)
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    logging.getLogger().addHandler(handler)
    try:
        deleted = client.delete("/cache")
    finally:
        logging.getLogger().removeHandler(handler)
    flushing = [r.getMessage() for r in warnings if "Flushing" in r.getMessage()]
    assert not flushing, (
        f"DELETE /cache logged the warning {flushing[0]!r}: clear the disk cache with Memory.clear(warn=False), "
        "emptying it on purpose is not worth a warning in the service's log."
    )
    assert deleted.status_code == 204 and deleted.content == b"", (
        f"DELETE /cache should answer 204 No Content with no body; got {deleted.status_code} {deleted.text[:200]!r}."
    )
    after = predict(client, "random_forest", SETOSA)
    assert model_calls.count == 2 and cache_header(after) == "miss", (
        f"after DELETE /cache, the same request should run the model again (expected 2 model calls in all, "
        f"counted {model_calls.count}; X-Cache was {cache_header(after)!r}, expected 'miss'). Clear both "
        "tiers: when only the memory is cleared, the disk cache still answers."
    )


def save_retrained_model(model_dir):
    """Replace logistic_regression's file with a 'retrained' model that answers virginica for everything."""
    features, targets, names = load_iris()
    always_virginica = Pipeline([("classifier", DummyClassifier(strategy="constant", constant=2))])
    write_model(always_virginica.fit(features, targets), names, model_dir / "logistic_regression.joblib")


@pytest.mark.task("8.4", points=2)
@pytest.mark.needs("8.1", "8.2", "8.3")  # through your caches and predict_cached
def test_reload_serves_the_retrained_model(client, model_dir):
    before = predict(client, "logistic_regression", SETOSA).json()
    predict(client, "logistic_regression", SETOSA)  # now cached
    save_retrained_model(model_dir)
    reloaded = client.post("/models/logistic_regression/reload")
    assert reloaded.status_code == 200, (
        f"POST /models/logistic_regression/reload should answer 200; got {reloaded.status_code} {reloaded.text[:200]}"
    )
    info = reloaded.json()
    assert info.get("name") == "logistic_regression" and info.get("version") not in (None, before["version"]), (
        f"the reload should answer the model's info with the new file's version (not {before['version']}); got {info}."
    )
    after = predict(client, "logistic_regression", SETOSA)
    assert after.json()["label"] == "virginica" and cache_header(after) == "miss", (
        f"after the reload, the retrained model answers 'virginica' for everything; the service answered "
        f"{after.json()} with X-Cache {cache_header(after)!r} — a cached answer of the old model. Key the "
        "caches by version, and forget the model's in-memory answers on reload."
    )
    assert after.json()["version"] == info["version"], f"the answer should name the new version: {after.json()}"


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2", "8.3")  # through your caches and predict_cached
def test_reload_forgets_the_models_memory_entries(client, app):
    predict(client, "logistic_regression", SETOSA)
    predict(client, "logistic_regression", VIRGINICA)
    predict(client, "random_forest", SETOSA)
    memory = app.state.caches.memory
    held = len(memory)
    reloaded = client.post("/models/logistic_regression/reload")
    assert reloaded.status_code == 200, f"POST /models/logistic_regression/reload answered {reloaded.status_code}"
    assert (held, len(memory)) == (3, 1), (
        f"the memory cache held {held} answers (expected 3: two of logistic_regression, one of random_forest) "
        f"and {len(memory)} after reloading logistic_regression (expected 1: only random_forest's). "
        "The reload route should call caches.memory.drop_model(model_name): old answers would only take "
        "up room until they are evicted."
    )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2", "8.3")  # through your caches and predict_cached
def test_reload_refusals_are_clear(client, model_dir):
    unknown = client.post("/models/no_such_model/reload")
    assert unknown.status_code == 404 and "random_forest" in unknown.text, (
        f"reloading an unknown model should be a 404 that lists the known models; got {unknown.status_code} "
        f"{unknown.text[:200]}"
    )
    before = predict(client, "random_forest", SETOSA).json()
    (model_dir / "random_forest.joblib.sha256").write_text("0" * 64 + "\n")  # the file no longer matches
    refused = client.post("/models/random_forest/reload")
    assert refused.status_code == 409, (
        f"reloading a model whose file does not match its digest should be refused with 409; got "
        f"{refused.status_code} {refused.text[:200]}"
    )
    still = predict(client, "random_forest", SETOSA).json()
    assert still["version"] == before["version"], f"after a refused reload the old version should still serve: {still}"


@pytest.mark.task("8.3", points=1)
@pytest.mark.needs("8.1", "8.2")  # the prediction is answered through your caches
def test_logged_latency_is_in_milliseconds(client, settings, monkeypatch):
    import json
    import time

    from sklearn.pipeline import Pipeline as SklearnPipeline

    slow = 0.25  # seconds each prediction takes here: a lower bound no machine can undercut
    original = SklearnPipeline.predict

    def slow_predict(self, *args, **kwargs):
        time.sleep(slow)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SklearnPipeline, "predict", slow_predict)
    answer = predict(client, "random_forest", SETOSA).json()
    path = settings.prediction_log
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    records = [json.loads(line) for line in lines if answer.get("request_id", "?") in line]
    assert len(records) == 1, f"the prediction log holds {len(records)} lines for the answer {answer}; expected 1."
    latency = records[0].get("latency_ms")
    assert isinstance(latency, (int, float)) and slow * 1000 * 0.9 <= latency < 60_000, (
        f"the model took at least {slow} s (made slow on purpose) and the log line says latency_ms {latency!r}: "
        f"expected milliseconds, at least {slow * 1000:g}. Pass (time.perf_counter() - start) * 1000 to log.log."
    )
