"""Lab 2 checks: every slow route keeps the stated delay bounds, 0 to 5 seconds inclusive, and answers a
422 for anything else (not only /slow-fixed, which test_event_loop.py tries).

The sleeping functions are replaced by instant ones for these checks, so the bound of 5 s costs no time;
only the validation of ``delay`` and the answer's shape are graded here.
"""

import asyncio
import threading
import time

import pytest

from workbook.checkkit.clients import sync_client
from workbook.checkkit.event_loop import on_an_event_loop, replace_sleeps
from workbook.checkkit.student import import_lab_module

REAL_TIME_SLEEP, REAL_ASYNC_SLEEP = time.sleep, asyncio.sleep


@pytest.fixture
def instant_sleeps(monkeypatch):
    """time.sleep and asyncio.sleep return at once (also where the app imported them by name).

    Returns the list of time.sleep calls: (delay, whether it ran on the event loop's thread).
    """
    blocking_calls: list[tuple[float, bool]] = []

    async def no_wait(delay, result=None):
        if delay < 0:
            delay = 0  # asyncio.sleep accepts a negative delay
        return await REAL_ASYNC_SLEEP(0, result)

    def no_block(delay):
        blocking_calls.append((delay, on_an_event_loop() or threading.current_thread() is threading.main_thread()))
        if delay < 0:
            raise ValueError("sleep length must be non-negative")
        return None

    replace_sleeps(monkeypatch, import_lab_module("lab2.app"), no_block, no_wait)
    return blocking_calls


def assert_bounds(app, path: str) -> None:
    route = path.lstrip("/")
    with sync_client(app) as client:
        for delay in (0, 5):
            response = client.get(path, params={"delay": delay})
            assert response.status_code == 200 and response.json() == {"route": route, "waited": delay}, (
                f"GET {path}?delay={delay} should answer 200 {{'route': '{route}', 'waited': {delay}}} (the delay "
                f"is 0 to 5 seconds, both included); got {response.status_code} {response.text[:200]}"
            )
        for bad in ("-0.5", "5.5", "soon"):
            try:
                response = client.get(path, params={"delay": bad})
            except NotImplementedError:
                raise
            except Exception as exc:  # noqa: BLE001 - a crash is the answer a student needs to hear about
                pytest.fail(
                    f"GET {path}?delay={bad} crashed the route ({type(exc).__name__}: {exc}), a 500; it "
                    "should be refused with 422 before the route runs (delay is 0 to 5 seconds)."
                )
            assert response.status_code == 422, (
                f"GET {path}?delay={bad} should be refused with 422 (delay is 0 to 5 seconds; anything else is a "
                f"422): got {response.status_code} {response.text[:200]}. Keep the `delay: Delay` parameter."
            )


@pytest.mark.task("2.2", points=1)
def test_slow_async_keeps_the_delay_bounds(app, instant_sleeps):
    assert_bounds(app, "/slow-async")


@pytest.mark.task("2.3", points=1)
def test_slow_sync_keeps_the_delay_bounds(app, instant_sleeps):
    assert_bounds(app, "/slow-sync")


@pytest.mark.task("2.4", points=1)
def test_slow_fixed_keeps_the_delay_bounds(app, instant_sleeps):
    assert_bounds(app, "/slow-fixed")


@pytest.mark.task("2.3", points=1)
def test_slow_sync_sleeps_in_a_worker_thread(app, instant_sleeps):
    with sync_client(app) as client:
        response = client.get("/slow-sync", params={"delay": 0.25})
    assert response.status_code == 200, (
        f"GET /slow-sync?delay=0.25 answered {response.status_code}: {response.text[:200]}"
    )
    calls = [(delay, on_loop) for delay, on_loop in instant_sleeps if delay == 0.25]
    assert calls and not any(on_loop for _, on_loop in calls), (
        f"GET /slow-sync?delay=0.25 should call time.sleep(0.25) in a plain `def` route, which FastAPI runs in a "
        f"worker thread; time.sleep calls seen: {instant_sleeps or 'none'} (True = on the event loop's thread). "
        "The route must show the blocking call moved off the loop, not replace it by asyncio.sleep."
    )
