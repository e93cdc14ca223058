"""Lab 8 checks, Tasks 8.3 and 8.4: the work that blocks — the model, clearing the disk cache, reading a model
file — never runs on the event loop (the lesson of lab 2, graded again where it matters).

Each check holds that work until a probe, ``GET /health`` sent meanwhile, has been answered, and records
whether it was. A route run in FastAPI's thread pool holds only its worker thread: the event loop answers the
probe at once and the work goes on. A route run on the event loop holds the loop itself: the probe cannot be
answered until the hold gives up. Nothing is timed: HOLD is only how long a held call waits for the probe
before it gives up, seconds more than any machine needs to answer ``/health``.
"""

import asyncio
import threading
from collections.abc import Callable

import pytest

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
HOLD = 10.0  # seconds a held call waits for the probe's answer; a free event loop answers in milliseconds


class Hold:
    """Wraps a blocking call so that it waits, in whatever thread runs it, until the probe was answered."""

    def __init__(self) -> None:
        self.entered = threading.Event()  # a held call has started
        self.probe_answered = threading.Event()
        self.outcomes: list[bool] = []  # one per held call: was the probe answered while it was held?

    def wrap(self, function: Callable) -> Callable:
        def held(*args, **kwargs):
            self.entered.set()
            self.outcomes.append(self.probe_answered.wait(HOLD))
            return function(*args, **kwargs)

        return held


async def probe_while_held(async_client, hold: Hold, method: str, path: str, **kwargs):
    """Send ``method path``; once it reaches the held call, send ``GET /health``; return both responses."""
    request = asyncio.ensure_future(async_client.request(method, path, **kwargs))
    reached = asyncio.ensure_future(asyncio.to_thread(hold.entered.wait, HOLD))
    await asyncio.wait({request, reached}, return_when=asyncio.FIRST_COMPLETED)
    probe = await async_client.get("/health") if hold.entered.is_set() else None
    hold.probe_answered.set()  # lets a held call go on (if it is still waiting)
    hold.entered.set()  # ends the waiting thread if the request never reached the held call
    response = await request
    await reached
    return response, probe


def blocked_loop_message(what: str, route: str) -> str:
    return (
        f"GET /health, sent while {what}, could be answered only after it: {route} runs it on the event loop "
        "(the route is `async def` and calls it directly), so every other request of the service waits. Keep the "
        "route a plain `def` (FastAPI runs it in its thread pool), or `await run_in_threadpool(...)` the blocking "
        "call. See notebook 2."
    )


def probe_was_answered(probe) -> bool:
    return probe is not None and probe.status_code == 200


@pytest.mark.task("8.3", points=1)
@pytest.mark.needs("8.1", "8.2")  # the service answers through your disk and memory caches
@pytest.mark.timeout(60)
async def test_predict_never_runs_the_model_on_the_event_loop(async_client, monkeypatch):
    from sklearn.pipeline import Pipeline

    hold = Hold()
    for method in ("predict", "predict_proba"):
        monkeypatch.setattr(Pipeline, method, hold.wrap(getattr(Pipeline, method)))
    response, probe = await probe_while_held(async_client, hold, "POST", "/predict/random_forest", json=SETOSA)
    assert response.status_code == 200, (
        f"POST /predict/random_forest with {SETOSA} should answer 200; got {response.status_code}: "
        f"{response.text[:300]}"
    )
    assert hold.outcomes, (
        f"POST /predict/random_forest answered {response.json()} on a fresh cache without running the model "
        "(no Pipeline.predict call): a miss must run it (through the disk cache)."
    )
    assert all(hold.outcomes) and probe_was_answered(probe), blocked_loop_message(
        "the model predicted a request that missed both caches", "POST /predict/{model_name}"
    )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2")  # the app's lifespan makes your disk and memory caches
@pytest.mark.timeout(60)
async def test_delete_cache_never_clears_the_disk_on_the_event_loop(app, async_client, monkeypatch):
    disk = app.state.caches.disk
    hold = Hold()
    monkeypatch.setattr(disk, "clear", hold.wrap(disk.clear))
    response, probe = await probe_while_held(async_client, hold, "DELETE", "/cache")
    assert response.status_code == 204, (
        f"DELETE /cache should answer 204 No Content; got {response.status_code}: {response.text[:300]}"
    )
    assert hold.outcomes, (
        "DELETE /cache answered 204 without clearing the disk cache (no call of app.state.caches.disk.clear): "
        "empty both tiers with caches.clear()."
    )
    assert all(hold.outcomes) and probe_was_answered(probe), blocked_loop_message(
        "the disk cache was being cleared (files deleted)", "DELETE /cache"
    )


@pytest.mark.task("8.4", points=1)
@pytest.mark.needs("8.1", "8.2")  # the app's lifespan makes your disk and memory caches
@pytest.mark.timeout(60)
async def test_reload_never_reads_the_model_file_on_the_event_loop(async_client, monkeypatch):
    import labkit.registry

    hold = Hold()
    monkeypatch.setattr(labkit.registry, "read_model", hold.wrap(labkit.registry.read_model))
    response, probe = await probe_while_held(async_client, hold, "POST", "/models/random_forest/reload")
    assert response.status_code == 200, (
        f"POST /models/random_forest/reload should answer 200; got {response.status_code}: {response.text[:300]}"
    )
    assert hold.outcomes, (
        f"POST /models/random_forest/reload answered {response.text[:200]} without reading the model's file "
        "(no call of labkit.registry.read_model): reload it with registry.reload(model_name)."
    )
    assert all(hold.outcomes) and probe_was_answered(probe), blocked_loop_message(
        "the model file was being read and unpickled", "POST /models/{model_name}/reload"
    )
