"""Lab 2 checks: does /fast stay responsive while a slow route runs, in-process, on one event loop?

The check holds the slow route's wait (``time.sleep`` or ``asyncio.sleep``, also where the app imported them by
name) until /fast, sent meanwhile, has been answered, and records for each wait whether the event loop was free to
answer it (``workbook.checkkit.event_loop``): a ``time.sleep`` in a worker thread (a plain ``def`` route) or an
awaited ``asyncio.sleep`` leaves it free; a ``time.sleep`` on the event loop's own thread (inside ``async def``)
blocks it. Nothing is timed, so a busy machine cannot make a free loop look blocked, nor the reverse; the kept
mistakes in tests/mistakes/lab2.toml (half of the wait blocking, the wrong kind of route ...) prove it.

Code that waits by some other means is judged by order instead: /fast must answer well before the slow route, or,
for the anti-pattern, not before the block could have ended (a lower bound, which load never undercuts).
"""

import asyncio
import inspect
import threading
import time

import anyio.to_thread
import pytest

from workbook.checkkit.event_loop import Hold, Probed, probe_while_held, replace_sleeps
from workbook.checkkit.student import import_lab_module

DELAY = 0.6  # how long each slow route waits
LEAD = DELAY / 2  # /fast is sent once the slow route waits, or after this if it waits by other means
HELD_UP = DELAY * 0.8  # a blocked loop cannot answer /fast before this
EARLY = 0.9
REAL_TIME_SLEEP, REAL_ASYNC_SLEEP = time.sleep, asyncio.sleep


def hold_the_waits(monkeypatch) -> Hold:
    """time.sleep and asyncio.sleep, in the slow request only, are held until /fast has been answered."""
    hold = Hold(request_only=True)
    blocking, waiting = hold.wrap(REAL_TIME_SLEEP), hold.wrap_async(REAL_ASYNC_SLEEP)
    replace_sleeps(monkeypatch, import_lab_module("lab2.app"), blocking, waiting)
    return hold


async def probe(client, monkeypatch, slow_path: str) -> tuple[Probed, Hold]:
    """Start ``slow_path`` with ``?delay=DELAY``; once it waits, send /fast; both timed from the same start."""
    hold = hold_the_waits(monkeypatch)
    result = await probe_while_held(
        client, hold, "GET", slow_path, probe_path="/fast", lead=LEAD, params={"delay": DELAY}
    )
    return result, hold


def assert_slow_route_waited(result: Probed, path: str) -> None:
    slow = result.response
    assert slow.status_code == 200, f"GET {path}?delay={DELAY} answered {slow.status_code}: {slow.text[:200]}"
    route = path.lstrip("/")
    assert slow.json() == {"route": route, "waited": DELAY}, (
        f"GET {path}?delay={DELAY} should answer {{'route': '{route}', 'waited': {DELAY}}}, got {slow.json()}."
    )
    assert result.response_done >= DELAY * EARLY, (
        f"GET {path}?delay={DELAY} answered after {result.response_done:.2f} s: it should wait {DELAY} s. "
        "Without `await`, asyncio.sleep(delay) only makes a coroutine and returns at once."
    )


def declared_async(app, path: str) -> bool | None:
    """Whether the route serving GET ``path`` is an ``async def`` (None if the app has no such route)."""
    for route in getattr(app, "routes", []):
        if getattr(route, "path", None) == path and "GET" in (getattr(route, "methods", None) or ()):
            return inspect.iscoroutinefunction(route.endpoint)
    return None


def assert_fast_stayed_responsive(result: Probed, hold: Hold, path: str, app=None, fix: str = "") -> None:
    fast = result.probe
    assert fast is not None and fast.status_code == 200, (
        f"GET /fast, sent while {path} was waiting, did not answer 200: {fast and fast.status_code} "
        f"{fast and fast.text[:200]}"
    )
    why = f"{path} is blocking the event loop."
    if app is not None and declared_async(app, path):
        why = f"{path} is declared `async def`, so a blocking call in it (time.sleep) blocks the event loop: {fix}"
    if hold.outcomes:
        assert hold.loop_stayed_free, (
            f"/fast, sent while {path} was waiting, could be answered only after the wait: the wait ran on the "
            f"event loop's own thread. {why}"
        )
    else:  # it waits without time.sleep or asyncio.sleep: /fast must answer well before it finishes
        assert result.probe_done < result.response_done - DELAY / 4, (
            f"/fast, sent while {path} was waiting, answered {result.probe_done:.2f} s after the start, not long "
            f"before {path} finished at {result.response_done:.2f} s. {why}"
        )


@pytest.mark.task("2.1", points=1)
@pytest.mark.timeout(30)
async def test_health_and_fast_answer(async_client, app):
    """Both answer, also while every worker thread is busy: the pool shrinks to one thread, which the check holds
    itself (until both answered, or 8 s). An ``async def`` route answers on the loop at once; a plain ``def`` route
    can only answer once the thread is free again."""
    health = await async_client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}, (
        f"GET /health should answer 200 {{'status': 'ok'}}, got {health.status_code} {health.text[:200]}"
    )
    fast = await async_client.get("/fast")
    assert fast.status_code == 200 and fast.json() == {"message": "fast"}, (
        f"GET /fast should answer 200 {{'message': 'fast'}}, got {fast.status_code} {fast.text[:200]}"
    )
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens = limiter.total_tokens
    release = threading.Event()
    limiter.total_tokens = 1
    holder = asyncio.create_task(anyio.to_thread.run_sync(release.wait, 8.0))
    try:
        while limiter.borrowed_tokens < 1 and not holder.done():
            await asyncio.sleep(0.01)
        for path in ("/health", "/fast"):
            response = await async_client.get(path)
            pool_still_busy = not holder.done()
            assert response.status_code == 200, (
                f"GET {path}, sent while every worker thread was busy, answered {response.status_code}: "
                f"{response.text[:200]}"
            )
            how = "declared plain `def`" if declared_async(app, path) is False else "waiting for a worker thread"
            assert pool_still_busy, (
                f"GET {path}, sent while every worker thread was busy, answered only once a thread was free again: "
                f"{path} is {how}, so it queues behind slow requests (a liveness probe that does is how a healthy "
                "server gets restarted). A route that does nothing slow is `async def`: it answers on the event "
                "loop at once."
            )
    finally:
        release.set()
        await asyncio.gather(holder, return_exceptions=True)
        limiter.total_tokens = tokens


@pytest.mark.task("2.2", points=2)
async def test_slow_async_holds_up_fast(async_client, app, monkeypatch):
    result, hold = await probe(async_client, monkeypatch, "/slow-async")
    assert_slow_route_waited(result, "/slow-async")
    assert declared_async(app, "/slow-async") is not False, (
        "/fast was answered while /slow-async waited: /slow-async is declared with plain `def`, and FastAPI runs a "
        "def route in a thread pool, so its time.sleep cannot block the loop. Declare it `async def` (and keep "
        "time.sleep): that is the anti-pattern this route shows."
    )
    if hold.outcomes:
        blocked = hold.loop_was_blocked
    else:  # it waits without time.sleep or asyncio.sleep: a blocked loop cannot answer /fast before the wait ends
        blocked = result.probe_done >= HELD_UP
    assert blocked, (
        f"/fast was answered while /slow-async waited, but /slow-async should block the whole loop for {DELAY} s: "
        "it must call time.sleep (the anti-pattern this route shows), not await asyncio.sleep."
    )


@pytest.mark.task("2.3", points=2)
async def test_fast_stays_responsive_during_slow_sync(async_client, app, monkeypatch):
    result, hold = await probe(async_client, monkeypatch, "/slow-sync")
    assert_slow_route_waited(result, "/slow-sync")
    assert_fast_stayed_responsive(
        result, hold, "/slow-sync", app, "declare it plain `def`, and FastAPI runs it in a thread pool."
    )


@pytest.mark.task("2.4", points=2)
async def test_fast_stays_responsive_during_slow_fixed(async_client, app, monkeypatch):
    result, hold = await probe(async_client, monkeypatch, "/slow-fixed")
    assert_slow_route_waited(result, "/slow-fixed")
    assert_fast_stayed_responsive(
        result, hold, "/slow-fixed", app, "`await asyncio.sleep(delay)` waits without blocking."
    )


@pytest.mark.task("2.4", points=1)
async def test_slow_routes_reject_a_bad_delay(async_client):
    ok = await async_client.get("/slow-fixed", params={"delay": 0})
    assert ok.status_code == 200, f"GET /slow-fixed?delay=0 should answer 200, got {ok.status_code}."
    for bad in ("-1", "6", "soon"):
        response = await async_client.get("/slow-fixed", params={"delay": bad})
        assert response.status_code == 422, (
            f"GET /slow-fixed?delay={bad} should be refused with 422 (delay is 0 to 5 seconds), "
            f"got {response.status_code}."
        )
