"""Lab 10 checks, Task 10.4: a token bucket per client, 429 with Retry-After, time from a fake clock.

Nothing here sleeps: the limiter's clock is a FakeClock the checks move forward by hand.
"""

import asyncio

import pytest
from starlette.testclient import TestClient

from checks.lab10.common import FakeClock
from workbook.checkkit.clients import sync_client
from workbook.checkkit.student import import_lab_module, lab_attr

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
LIMIT, PERIOD = 3, 30.0  # three requests, then one more every 10 s


@pytest.fixture
def limiter_class():
    return lab_attr(import_lab_module("lab10.ratelimit"), "RateLimiter")


@pytest.fixture
def limited_app(make_app, make_settings, limiter_class):
    # Your acquire first, directly, so an unfinished Task 10.4 reports as such.
    limiter_class(1, 1.0, clock=FakeClock()).acquire("first call")
    return make_app(make_settings(rate_limit=LIMIT, rate_period=PERIOD), rate_limited=True)


def predict(client):
    return client.post("/predict/logistic_regression", json=SETOSA)


@pytest.mark.task("10.4", points=1)
def test_token_bucket_refills_with_the_clock(limiter_class):
    clock = FakeClock()
    limiter = limiter_class(LIMIT, PERIOD, clock=clock)
    waits = [limiter.acquire("a") for _ in range(LIMIT)]
    assert waits == [0.0] * LIMIT, f"a new key starts with a full bucket: {LIMIT} calls should return 0.0, got {waits}"
    wait = limiter.acquire("a")
    assert wait == pytest.approx(PERIOD / LIMIT), (
        f"with the bucket empty, acquire should return the seconds until the next token, {PERIOD / LIMIT:g} "
        f"(capacity {LIMIT} per {PERIOD:g} s); got {wait!r}"
    )
    assert limiter.acquire("b") == 0.0, "another key has its own full bucket: acquire('b') should return 0.0."
    clock.advance(4.0)
    assert limiter.acquire("a") == pytest.approx(6.0), (
        "4 s later the bucket has 0.4 of a token: acquire should return the remaining 6 s (and take nothing)."
    )
    clock.advance(6.0)
    assert limiter.acquire("a") == 0.0, "after the full wait the token is there: acquire should return 0.0."
    clock.advance(1_000.0)
    waits = [limiter.acquire("a") for _ in range(LIMIT + 1)]
    assert waits[:LIMIT] == [0.0] * LIMIT and waits[LIMIT] > 0, (
        f"a long pause refills the bucket only up to its capacity ({LIMIT}); after 1000 s, {LIMIT + 1} calls "
        f"returned {waits}"
    )


@pytest.mark.task("10.4", points=2)
@pytest.mark.needs("10.1")  # the refusal's headers reach the client through your HTTP error handler
def test_rate_limit_answers_429_with_retry_after(limited_app, clock):
    with sync_client(limited_app) as client:
        statuses = [predict(client).status_code for _ in range(LIMIT)]
        assert statuses == [200] * LIMIT, f"the first {LIMIT} predictions should answer 200; got {statuses}"
        refused = predict(client)
        assert refused.status_code == 429, (
            f"prediction number {LIMIT + 1} within {PERIOD:g} s (RATE_LIMIT={LIMIT}) should answer 429; got "
            f"{refused.status_code}: {refused.text[:300]}"
        )
        retry_after = refused.headers.get("retry-after")
        assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1, (
            "a 429 must say when to come back: a 'Retry-After' header in whole seconds (at least 1); the "
            f"headers were {dict(refused.headers)}"
        )
        assert int(retry_after) == 10, f"the next token comes in 10 s, so Retry-After should be 10; got {retry_after}"
        body = refused.json()
        assert body.get("error") == "rate_limited" and body.get("retry_after") == 10, (
            f"the 429's body should have 'error': 'rate_limited' and 'retry_after': 10; got {body!r}"
        )
        health = [client.get("/health").status_code for _ in range(LIMIT + 2)]
        assert health == [200] * (LIMIT + 2), f"/health must never be rate limited (probes call it); got {health}"
        clock.advance(int(retry_after) - 0.5)
        almost = predict(client)
        assert almost.status_code == 429 and almost.headers.get("retry-after") == "1", (
            "half a second before the next token the bucket is still empty: a prediction should answer 429 with "
            f"'Retry-After: 1' (a wait under a second is rounded up, never let through); got {almost.status_code}, "
            f"Retry-After {almost.headers.get('retry-after')!r}"
        )
        clock.advance(0.5)
        again = predict(client)
        assert again.status_code == 200, (
            f"after waiting Retry-After ({retry_after} s on the limiter's clock) a prediction should answer 200; "
            f"got {again.status_code}: {again.text[:200]}"
        )


@pytest.mark.task("10.4", points=1)
def test_rate_limit_is_per_client(limited_app):
    with TestClient(limited_app, client=("203.0.113.10", 50000)) as first:
        for _ in range(LIMIT):
            predict(first)
        assert predict(first).status_code == 429, f"client 203.0.113.10 should be limited after {LIMIT} predictions."
        # Another address, same app (TestClient used without `with`: the lifespan is already running).
        second = TestClient(limited_app, client=("198.51.100.20", 50000))
        answer = predict(second)
        assert answer.status_code == 200, (
            f"another client (198.51.100.20) should get its own budget; it got {answer.status_code} "
            f"({answer.text[:120]}): the limit must be kept per client (request.client.host), not for everybody."
        )


@pytest.mark.task("10.4", points=1)
def test_a_forwarded_for_header_does_not_buy_a_new_budget(limited_app):
    with TestClient(limited_app, client=("203.0.113.10", 50000)) as client:
        statuses = [
            client.post(
                "/predict/logistic_regression", json=SETOSA, headers={"X-Forwarded-For": f"192.0.2.{i}"}
            ).status_code
            for i in range(LIMIT + 1)
        ]
    assert statuses[-1] == 429, (
        f"one client (203.0.113.10) sent {LIMIT + 1} predictions, each with another X-Forwarded-For, and got "
        f"{statuses}; the last should be 429. Any client can write that header: key the limit on "
        "client_key(request) (request.client.host), which the server sets only from proxies it trusts."
    )


class WatchedClock(FakeClock):
    """A fake clock that notes, at each call, whether it runs on the event loop's thread."""

    def __init__(self):
        super().__init__()
        self.on_loop: list[bool] = []

    def __call__(self) -> float:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        return self.now


@pytest.mark.task("10.4", points=1)
def test_the_rate_limit_runs_on_the_event_loop(make_settings, limiter_class):
    limiter_class(1, 1.0, clock=FakeClock()).acquire("first call")  # your acquire first: not started shows as such
    create_app = lab_attr(import_lab_module("lab10.app"), "create_app")
    clock = WatchedClock()
    with sync_client(create_app(make_settings(rate_limit=LIMIT, rate_period=PERIOD), clock=clock)) as client:
        statuses = [predict(client).status_code for _ in range(LIMIT)]
    assert statuses == [200] * LIMIT, f"RATE_LIMIT={LIMIT}: {LIMIT} predictions should answer 200; got {statuses}"
    assert clock.on_loop and all(clock.on_loop), (
        f"{clock.on_loop.count(False)} of {len(clock.on_loop)} reads of the limiter's clock during requests ran in a "
        "worker thread, not on the event loop: enforce_rate_limit is a plain `def` (FastAPI runs it in the thread "
        "pool), or sends acquire there. Two requests in two threads can then both read the bucket before either "
        "takes the last token. Keep it `async def` and call acquire directly: on the event loop, one request at a "
        "time, the buckets need no lock."
    )
