"""Lab 9's solution beyond what the graded checks cover: the response cache, limits, /stats, shutdown."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from labkit.models import write_reference_models
from workbook.checkkit.clients import sync_client
from workbook.paths import SOLUTIONS
from workbook.target import activate

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def lab9():
    activate(SOLUTIONS)
    return {name: importlib.import_module(f"lab9.{name}") for name in ("app", "batching", "settings")}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_reference_models(folder)
    return folder


@pytest.fixture
def client(lab9, model_dir):
    app = lab9["app"].create_app(lab9["settings"].Settings(model_dir=model_dir, cache_size=2))
    with sync_client(app) as test_client:
        yield test_client


def test_importing_the_app_loads_nothing(lab9):
    assert not hasattr(lab9["app"].app.state, "serving")


def test_repeated_single_prediction_is_a_cache_hit(client):
    first = client.post("/predict/newsgroups", json={"text": "rocket orbit"})
    again = client.post("/predict/newsgroups", json={"text": "rocket orbit"})
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert again.headers["content-type"] == "application/json"
    assert client.get("/stats").json()["cache"] == {"hits": 1, "misses": 1, "size": 1}


def test_no_cache_header_and_errors_bypass_the_cache(client):
    for _ in range(2):
        client.post("/predict/newsgroups", json={"text": "brakes"}, headers={"Cache-Control": "no-cache"})
        assert client.post("/predict/newsgroups", json={"wrong": 1}).status_code == 422
    client.post("/predict/newsgroups/microbatched", json={"text": "brakes"})
    assert client.get("/stats").json()["cache"]["size"] == 0


def test_cache_is_bounded(client):
    for text in ("a car", "a rocket", "a doctor"):
        client.post("/predict/newsgroups", json={"text": text})
    assert client.get("/stats").json()["cache"]["size"] == 2


def test_oversized_batch_body_is_a_413(client):
    response = client.post(
        "/predict/logistic_regression/batch",
        content=b"[" + b"1," * 5_000_000 + b"1]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


def test_docs_work_offline(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict/{model_name}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(body["oneOf"]) == 2


def test_stats_count_micro_batches(client):
    for _ in range(3):
        assert client.post("/predict/random_forest/microbatched", json=FLOWER).status_code == 200
    batcher = client.get("/stats").json()["batchers"]["random_forest"]
    assert batcher["items"] == 3 and 1 <= batcher["batches"] <= 3 and batcher["running"]


async def test_stop_fails_waiting_requests_instead_of_hanging(lab9):
    batching = lab9["batching"]
    release = asyncio.Event()

    class Slow(batching.MicroBatcher):
        async def next_batch(self):
            await release.wait()  # the worker never takes anything: requests stay queued
            return await super().next_batch()

    batcher = Slow(lambda items: items, max_wait=0.01)
    batcher.start()
    waiting = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.05)
    await batcher.stop()
    with pytest.raises(batching.BatchError, match="shutting down"):
        await asyncio.wait_for(waiting, 2)


async def test_dead_worker_fails_every_request(lab9):
    batching = lab9["batching"]

    class Broken(batching.MicroBatcher):
        async def next_batch(self):
            raise RuntimeError("bug in the worker")

    batcher = Broken(lambda items: items)
    batcher.start()
    with pytest.raises(RuntimeError, match="bug in the worker"):
        await asyncio.wait_for(batcher.submit(1), 2)
    await batcher.stop()


def test_settings_come_from_the_environment(lab9, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("MICROBATCH_MAX_WAIT", "0.01")
    settings = lab9["settings"].Settings()
    assert settings.model_dir == tmp_path and settings.microbatch_max_wait == 0.01


COLUMNS = {"sepal_length": [5.1, 6.7], "sepal_width": [3.5, 3.0], "petal_length": [1.4, 5.2], "petal_width": [0.2, 2.3]}


def test_batch_accepts_column_arrays(client):
    as_rows = client.post(
        "/predict/logistic_regression/batch", json={"rows": [list(values) for values in zip(*COLUMNS.values())]}
    )
    as_columns = client.post("/predict/logistic_regression/batch", json={"columns": COLUMNS})
    assert as_columns.status_code == 200 and as_columns.json() == as_rows.json()
    assert as_columns.json()["labels"] == ["setosa", "virginica"]


@pytest.mark.parametrize(
    "columns",
    [
        {**COLUMNS, "petal_width": [0.2]},
        {name: values for name, values in COLUMNS.items() if name != "petal_width"},
        {**COLUMNS, "petal_width": [0.2, "wide"]},
        {**COLUMNS, "petal_width": [0.2, -1]},
    ],
)
def test_bad_columns_are_a_422_that_says_why(client, columns):
    response = client.post("/predict/logistic_regression/batch", json={"columns": columns})
    assert response.status_code == 422 and response.json()["detail"][0]["msg"]
