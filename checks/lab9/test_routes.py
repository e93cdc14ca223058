"""Lab 9 checks, Tasks 9.1 and 9.2: where the single prediction runs, and the vectorised batch route."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from labkit.datasets import IRIS_FEATURES, load_corpus, load_iris

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def as_body(row) -> dict:
    return dict(zip(IRIS_FEATURES, (float(v) for v in row)))


def expected_label(app, model: str, item) -> str:
    entry = app.state.registry.get(model)
    rows = [item] if isinstance(item, str) else np.asarray([item], dtype=float)
    return entry.classes[int(entry.pipeline.predict(rows)[0])]


def assert_answer(response, request: str, model: str, label: str, version: str) -> None:
    assert response.status_code == 200, f"{request} answered {response.status_code}: {response.text[:300]}"
    body = response.json()
    expected = {"model": model, "version": version, "label": label}
    assert body == expected, f"{request} answered {body}; expected {expected}."


@pytest.mark.task("9.1", points=1)
@pytest.mark.needs("9.7")  # the service answers logistic_regression with your numpy predictor
def test_single_prediction_matches_the_model(client, app):
    versions = {m["name"]: m["version"] for m in client.get("/models").json()}
    features, _, _ = load_iris()
    for model in ("logistic_regression", "random_forest"):
        for row in features[::25]:
            response = client.post(f"/predict/{model}", json=as_body(row))
            assert_answer(
                response,
                f"POST /predict/{model} with {as_body(row)}",
                model,
                expected_label(app, model, row),
                versions[model],
            )
    texts, _ = load_corpus("test")
    for text in texts[:5]:
        response = client.post("/predict/newsgroups", json={"text": text})
        assert_answer(
            response,
            f"POST /predict/newsgroups with {{'text': {text[:30]!r}…}}",
            "newsgroups",
            expected_label(app, "newsgroups", text),
            versions["newsgroups"],
        )


@pytest.mark.task("9.1", points=3)
async def test_slow_model_runs_off_the_event_loop(async_client, app, add_spy):
    spy = add_spy(app, gated=True)  # its predict holds until the check releases it
    prediction = asyncio.create_task(async_client.post("/predict/spy_forest", json=FLOWER))
    entered = asyncio.create_task(asyncio.to_thread(spy.entered.wait, 5))
    try:
        await asyncio.wait({prediction, entered}, return_when=asyncio.FIRST_COMPLETED)
        if prediction.done():
            prediction.result()  # the route failed before reaching the model: show why
        assert spy.entered.is_set(), "POST /predict/spy_forest never called the model's predict."
        health = await asyncio.wait_for(async_client.get("/health"), 5)
        answered_while_predicting = not spy.finished.is_set()
    finally:
        spy.release.set()
        entered.cancel()
    response = await asyncio.wait_for(prediction, 10)
    assert response.status_code == 200, (
        f"POST /predict/spy_forest answered {response.status_code}: {response.text[:300]}"
    )
    assert spy.ran_on_loop == [False], (
        "the random forest's predict ran on the event loop's own thread: while it works, no other request "
        "moves. Call it with `await run_in_threadpool(predict_indices, entry, [item])`."
    )
    assert health.status_code == 200 and answered_while_predicting, (
        "GET /health, sent while a slow predict was running, was only answered after the predict had "
        "finished: the prediction blocks the event loop. Run it in the thread pool."
    )


@pytest.mark.task("9.1", points=1)
def test_single_route_errors_are_clear(client):
    first = client.post("/predict/random_forest", json=FLOWER)
    assert first.status_code == 200, f"POST /predict/random_forest answered {first.status_code}: {first.text[:300]}"
    unknown = client.post("/predict/no_such_model", json=FLOWER)
    assert unknown.status_code == 404 and "random_forest" in unknown.text, (
        f"POST /predict/no_such_model should be a 404 whose body lists the known models, got "
        f"{unknown.status_code} {unknown.text[:200]}"
    )
    for model, body in [
        ("newsgroups", FLOWER),
        ("random_forest", {"text": "hello"}),
        ("random_forest", {**FLOWER, "petal_width": "wide"}),
    ]:
        response = client.post(f"/predict/{model}", json=body)
        assert response.status_code == 422, (
            f"POST /predict/{model} with {body} should be a 422 (the wrong input for this model), "
            f"got {response.status_code} {response.text[:200]}. Parse the body with parse_item(entry, body)."
        )


@pytest.mark.task("9.2", points=2)
def test_batch_route_calls_predict_once(client, app, add_spy):
    spy = add_spy(app)
    rows = [[float(v) for v in row] for row in load_iris()[0][::3]]
    response = client.post("/predict/spy_forest/batch", json={"rows": rows})
    assert response.status_code == 200, (
        f"POST /predict/spy_forest/batch answered {response.status_code}: {response.text[:300]}"
    )
    assert spy.calls == 1 and spy.rows == [len(rows)], (
        f"a batch of {len(rows)} rows caused {spy.calls} predict calls with {spy.rows} rows each; expected "
        f"one call with all {len(rows)} rows. Predict the whole batch at once, never row by row."
    )
    assert spy.ran_on_loop == [False], (
        "the batch's predict ran on the event loop's thread; use `await run_in_threadpool(predict_indices, "
        "entry, items)` for a model without a numpy predictor."
    )


@pytest.mark.task("9.2", points=1)
@pytest.mark.needs("9.7")  # the service answers logistic_regression with your numpy predictor
def test_batch_labels_match_each_row(client, app):
    rng = np.random.default_rng(9)
    rows = np.round(rng.uniform(0.1, 8.0, size=(300, 4)), 2).tolist()
    for model in ("logistic_regression", "random_forest"):
        response = client.post(f"/predict/{model}/batch", json={"rows": rows})
        assert response.status_code == 200, (
            f"POST /predict/{model}/batch answered {response.status_code}: {response.text[:300]}"
        )
        body = response.json()
        entry = app.state.registry.get(model)
        expected = [entry.classes[int(i)] for i in entry.pipeline.predict(np.asarray(rows))]
        assert body.get("model") == model and body.get("version") == entry.version, (
            f"the batch answer should name the model and its version, got {dict(list(body.items())[:2])}"
        )
        wrong = [i for i, (got, want) in enumerate(zip(body.get("labels", []), expected)) if got != want]
        assert len(body.get("labels", [])) == len(rows) and not wrong, (
            f"POST /predict/{model}/batch with {len(rows)} rows: {len(body.get('labels', []))} labels, "
            f"{len(wrong)} differ from the model's own predictions (first at row {wrong[:1]}). "
            "labels[i] must be the prediction for rows[i]."
        )
    texts, _ = load_corpus("test")
    response = client.post("/predict/newsgroups/batch", json={"texts": texts[:40]})
    assert response.status_code == 200, (
        f"POST /predict/newsgroups/batch answered {response.status_code}: {response.text[:300]}"
    )
    assert response.json()["labels"] == [expected_label(app, "newsgroups", t) for t in texts[:40]], (
        "the text batch's labels differ from the model's predictions for each text."
    )


@pytest.mark.task("9.2", points=1)
def test_bad_batches_are_refused(client):
    first = client.post("/predict/logistic_regression/batch", json={"rows": [[5.1, 3.5, 1.4, 0.2]]})
    assert first.status_code == 200, f"a one-row batch answered {first.status_code}: {first.text[:300]}"
    for body, why in [
        ({"rows": [[5.1, 3.5, 1.4]]}, "a row of three numbers"),
        ({"rows": []}, "no rows"),
        ({"rows": [[5.1, 3.5, 1.4, 0.2]] * 10_001}, "more rows than batch_max_rows (10,000)"),
        ({"texts": ["a text"]}, "texts for a tabular model"),
    ]:
        response = client.post("/predict/logistic_regression/batch", json=body)
        assert response.status_code == 422, (
            f"a batch with {why} should be a 422, got {response.status_code} {response.text[:200]}. "
            "Parse it with parse_batch(entry, body, serving.settings.batch_max_rows)."
        )
