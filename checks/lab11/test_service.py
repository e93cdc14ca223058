"""Lab 11 checks, Task 11.7: the model is loaded once, in the lifespan; a failed load is a 503, not a crash.

model2vec's ``StaticModel.from_pretrained`` is replaced by a counter, so loads are counted, never timed.
"""

from __future__ import annotations

import importlib
import shutil

import pytest

from checks.lab11.reference import MODEL_DIR
from workbook.checkkit.student import import_lab_module


@pytest.mark.timeout(30)  # starts the app: imports, the corpus embedded, a classifier trained
@pytest.mark.task("11.7", points=2)
@pytest.mark.needs("11.1", "11.2", "11.3", "11.5")  # the app starts and answers through them
def test_the_model_is_loaded_once_in_the_lifespan_never_at_import(spy_loads, make_app, client_for):
    importlib.reload(import_lab_module("lab11.app"))
    assert spy_loads.loads == [], (
        f"importing lab11/app.py should load no model; it called StaticModel.from_pretrained {len(spy_loads.loads)} "
        "time(s). Load it in the lifespan, not at module level."
    )
    app = make_app()
    assert spy_loads.loads == [], "create_app(settings) should load no model: the lifespan does, when the app starts."
    with client_for(app) as client:
        assert len(spy_loads.loads) == 1, (
            f"starting the app should load the model once; it was loaded {len(spy_loads.loads)} times."
        )
        for text in ("rocket", "car", "doctor"):
            response = client.post("/classify", json={"text": text})
            assert response.status_code == 200, f"POST /classify answered {response.status_code}: {response.text[:300]}"
            client.post("/search", json={"query": text, "top_k": 2})
        assert len(spy_loads.loads) == 1, (
            f"requests should use the model loaded at start-up; after 6 requests it was loaded {len(spy_loads.loads)} times."
        )
    assert getattr(app.state, "service", "missing") is None, (
        "once the app has stopped, app.state.service should be None: after its `yield` the lifespan releases the "
        "service (model, index, classifier), so a stopped app holds none of them."
    )


@pytest.mark.timeout(30)  # starts the app: imports, the corpus embedded, a classifier trained
@pytest.mark.task("11.7", points=2)
def test_a_model_that_fails_to_load_is_a_503_with_the_reason(make_app, client_for, tmp_path):
    broken = tmp_path / "broken-model"
    shutil.copytree(MODEL_DIR, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    for model, reason in ((str(broken), "broken-model"), (str(tmp_path / "no-such-model"), "no-such-model")):
        with client_for(make_app(embedding_model=model)) as client:
            health = client.get("/health")
            assert health.status_code == 200, (
                f"GET /health should answer even without a model; it answered {health.status_code}."
            )
            for path, body in (("/search", {"query": "rocket"}), ("/embed", {"text": "rocket"})):
                response = client.post(path, json=body)
                assert response.status_code == 503, (
                    f"with a model that cannot be loaded ({reason}), POST {path} should be a 503; it answered "
                    f"{response.status_code}: {response.text[:200]}"
                )
                assert reason in response.text, (
                    f"the 503 should say why the model did not load (its path, {reason!r}); it said {response.text[:300]}"
                )


@pytest.mark.timeout(30)  # starts the app: imports, the corpus embedded, a classifier trained
@pytest.mark.task("11.7", points=1)
@pytest.mark.needs("11.5")  # the store is refused by your load_store
def test_a_corrupt_store_is_a_503_not_a_crash(make_app, client_for, tmp_path):
    store = import_lab_module("lab11.store")
    folder = tmp_path / "store"
    store.save_store(folder, [store.Document("doc-1", "rocket")], [[1.0] * 32], "v1")
    (folder / "documents.json").write_text('[{"id": "doc-1", "text": "tampered", "category": null}]')
    with client_for(make_app()) as client:
        response = client.post("/search", json={"query": "rocket"})
        assert response.status_code == 503, (
            f"with a store that fails its SHA-256 check, POST /search should be a 503 (the store is refused, not "
            f"served and not overwritten); it answered {response.status_code}: {response.text[:200]}"
        )
