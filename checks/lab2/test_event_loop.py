"""Lab 2 checks: does /fast stay responsive while a slow route runs, in-process, on one event loop?

The probe starts the slow request first and gives it a short lead, so it has certainly reached its
handler before /fast is sent. /fast is then timed from the *common* start: if the slow route blocks the
loop, /fast cannot finish before the block ends, whether it ran during the block or just after it. That
is why a blocked loop cannot pass as a free one whatever order the requests are scheduled in; the
mistake fixtures in tests/ prove it.
"""

import asyncio
import inspect
import threading
import time

import anyio.to_thread
import pytest

DELAY = 0.6  # how long each slow route waits
LEAD = 0.05  # head start for the slow request before /fast is sent
RESPONSIVE = DELAY / 2  # a free loop answers /fast well before this (measured: ~0.06 s)
HELD_UP = DELAY * 0.8  # a blocked loop cannot answer /fast before this
EARLY = 0.9


async def probe(client, slow_path: str) -> dict:
    """Start ``slow_path`` with ``?delay=DELAY``, then /fast; time both from the same start."""
    start = time.perf_counter()
    slow = asyncio.create_task(client.get(slow_path, params={"delay": DELAY}))
    try:
        await asyncio.sleep(LEAD)
        fast = await client.get("/fast")
        fast_done = time.perf_counter() - start
        slow_response = await slow
        slow_done = time.perf_counter() - start
    finally:
        slow.cancel()  # no-op once it finished; collects its error if /fast failed first
        await asyncio.gather(slow, return_exceptions=True)
    return {"fast": fast, "fast_done": fast_done, "slow": slow_response, "slow_done": slow_done}


def assert_slow_route_waited(result: dict, path: str) -> None:
    slow = result["slow"]
    assert slow.status_code == 200, f"GET {path}?delay={DELAY} answered {slow.status_code}: {slow.text[:200]}"
    route = path.lstrip("/")
    assert slow.json() == {"route": route, "waited": DELAY}, (
        f"GET {path}?delay={DELAY} should answer {{'route': '{route}', 'waited': {DELAY}}}, got {slow.json()}."
    )
    assert result["slow_done"] >= DELAY * EARLY, (
        f"GET {path}?delay={DELAY} answered after {result['slow_done']:.2f} s: it should wait {DELAY} s. "
        "Without `await`, asyncio.sleep(delay) only makes a coroutine and returns at once."
    )


def declared_async(app, path: str) -> bool | None:
    """Whether the route serving GET ``path`` is an ``async def`` (None if the app has no such route)."""
    for route in getattr(app, "routes", []):
        if getattr(route, "path", None) == path and "GET" in (getattr(route, "methods", None) or ()):
            return inspect.iscoroutinefunction(route.endpoint)
    return None


def assert_fast_stayed_responsive(result: dict, path: str, app=None, fix: str = "") -> None:
    fast = result["fast"]
    assert fast.status_code == 200, f"GET /fast answered {fast.status_code}: {fast.text[:200]}"
    why = f"{path} is blocking the event loop."
    if app is not None and declared_async(app, path):
        why = f"{path} is declared `async def`, so a blocking call in it (time.sleep) blocks the event loop: {fix}"
    assert result["fast_done"] < RESPONSIVE, (
        f"/fast, sent while {path} was waiting, answered {result['fast_done']:.2f} s after the start; "
        f"expected under {RESPONSIVE:.2f} s, long before {path} finished at {result['slow_done']:.2f} s. {why}"
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
async def test_slow_async_holds_up_fast(async_client, app):
    result = await probe(async_client, "/slow-async")
    assert_slow_route_waited(result, "/slow-async")
    assert declared_async(app, "/slow-async") is not False, (
        f"/fast answered {result['fast_done']:.2f} s after /slow-async started: /slow-async is declared with "
        "plain `def`, and FastAPI runs a def route in a thread pool, so its time.sleep cannot block the loop. "
        "Declare it `async def` (and keep time.sleep): that is the anti-pattern this route shows."
    )
    assert result["fast_done"] >= HELD_UP, (
        f"/fast answered {result['fast_done']:.2f} s after /slow-async started, but /slow-async should "
        f"block the whole loop for {DELAY} s: it must call time.sleep (the anti-pattern this route shows), "
        "not await asyncio.sleep."
    )


@pytest.mark.task("2.3", points=2)
async def test_fast_stays_responsive_during_slow_sync(async_client, app):
    result = await probe(async_client, "/slow-sync")
    assert_slow_route_waited(result, "/slow-sync")
    assert_fast_stayed_responsive(
        result, "/slow-sync", app, "declare it plain `def`, and FastAPI runs it in a thread pool."
    )


@pytest.mark.task("2.4", points=2)
async def test_fast_stays_responsive_during_slow_fixed(async_client, app):
    result = await probe(async_client, "/slow-fixed")
    assert_slow_route_waited(result, "/slow-fixed")
    assert_fast_stayed_responsive(result, "/slow-fixed", app, "`await asyncio.sleep(delay)` waits without blocking.")


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
