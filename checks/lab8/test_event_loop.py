"""Lab 8 checks, Tasks 8.3 and 8.4: the work that blocks — the model, clearing the disk cache, reading a model
file — never runs on the event loop (the lesson of lab 2, graded again where it matters).

Each check holds that work until a probe, ``GET /health`` sent meanwhile, has been answered, and records
whether it was. A route run in FastAPI's thread pool holds only its worker thread: the event loop answers the
probe at once and the work goes on. A route run on the event loop holds the loop itself: the probe cannot be
answered while the work runs. Nothing is timed (workbook/checkkit/event_loop.py says how).
"""

import pytest

from workbook.checkkit.event_loop import Hold, blocked_loop_message, hold_pipelines, probe_while_held

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.mark.task("8.3", points=1)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
@pytest.mark.timeout(60)
async def test_predict_never_runs_the_model_on_the_event_loop(async_client, monkeypatch):
    hold = Hold()
    hold_pipelines(monkeypatch, hold)
    result = await probe_while_held(async_client, hold, "POST", "/predict/random_forest", json=SETOSA)
    response = result.response
    assert response.status_code == 200, (
        f"POST /predict/random_forest with {SETOSA} should answer 200; got {response.status_code}: "
        f"{response.text[:300]}"
    )
    assert hold.outcomes, (
        f"POST /predict/random_forest answered {response.json()} on a fresh cache without running the model "
        "(no Pipeline.predict call): a miss must run it (through the disk cache)."
    )
    assert hold.loop_stayed_free and result.probe_answered, blocked_loop_message(
        "the model predicted a request that missed both caches", "POST /predict/{model_name}"
    )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2")  # the app's lifespan makes your disk and memory caches
@pytest.mark.timeout(60)
async def test_delete_cache_never_clears_the_disk_on_the_event_loop(app, async_client, monkeypatch):
    disk = app.state.caches.disk
    hold = Hold()
    monkeypatch.setattr(disk, "clear", hold.wrap(disk.clear))
    result = await probe_while_held(async_client, hold, "DELETE", "/cache")
    response = result.response
    assert response.status_code == 204, (
        f"DELETE /cache should answer 204 No Content; got {response.status_code}: {response.text[:300]}"
    )
    assert hold.outcomes, (
        "DELETE /cache answered 204 without clearing the disk cache (no call of app.state.caches.disk.clear): "
        "empty both tiers with caches.clear()."
    )
    assert hold.loop_stayed_free and result.probe_answered, blocked_loop_message(
        "the disk cache was being cleared (files deleted)", "DELETE /cache"
    )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2")  # the app's lifespan makes your disk and memory caches
@pytest.mark.timeout(60)
async def test_reload_never_reads_the_model_file_on_the_event_loop(async_client, monkeypatch):
    import labkit.registry

    hold = Hold()
    monkeypatch.setattr(labkit.registry, "read_model", hold.wrap(labkit.registry.read_model))
    result = await probe_while_held(async_client, hold, "POST", "/models/random_forest/reload")
    response = result.response
    assert response.status_code == 200, (
        f"POST /models/random_forest/reload should answer 200; got {response.status_code}: {response.text[:300]}"
    )
    assert hold.outcomes, (
        f"POST /models/random_forest/reload answered {response.text[:200]} without reading the model's file "
        "(no call of labkit.registry.read_model): reload it with registry.reload(model_name)."
    )
    assert hold.loop_stayed_free and result.probe_answered, blocked_loop_message(
        "the model file was being read and unpickled", "POST /models/{model_name}/reload"
    )
