"""Lab 10, Task 10.4 — at most ``RATE_LIMIT`` predictions per ``RATE_PERIOD`` seconds per client.

Read notebooks/10_production.ipynb, section 10.4. A **token bucket** per client: the bucket holds up to
``capacity`` tokens and refills continuously at ``capacity / period`` tokens per second; each request
takes one token; with less than one token left the request is refused with **429 Too Many Requests** and a
``Retry-After`` header (whole seconds, at least 1) saying when a token will be there again.

Time comes from ``clock`` (``time.monotonic`` in production: it never jumps back when the wall clock is
set). Tests pass a fake clock they move forward by hand, so nothing sleeps.

* ``RateLimiter.acquire(key)``: take a token from ``key``'s bucket (a new key starts full); return 0.0
  when the request may go ahead, otherwise the seconds until the next token (take nothing then).
* ``enforce_rate_limit``: the dependency on the prediction routes. The key is the client's address
  (``request.client.host``; ``"unknown"`` without one), so one busy client cannot use up everyone's
  budget. Over the limit: ``ServiceError`` 429 ``rate_limited`` with ``Retry-After`` and ``retry_after``.

The buckets live in one process's memory: with 4 workers a client gets 4 budgets (see the notebook).
Check your work with ``pytest checks/lab10 -k rate``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from fastapi import Request

from .errors import ServiceError


class RateLimiter:
    """A token bucket per key, all of ``capacity`` tokens refilled over ``period`` seconds.

    The constructor is given; you write ``acquire``.
    """

    def __init__(self, capacity: int, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.refill_per_second = capacity / period
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens left, clock at last update)

    def acquire(self, key: str) -> float:  # Task 10.4
        """0.0 and one token taken if ``key`` has a token; else the seconds until it has one."""
        now = self.clock()
        tokens, updated = self._buckets.get(key, (float(self.capacity), now))
        tokens = min(float(self.capacity), tokens + (now - updated) * self.refill_per_second)
        if tokens >= 1 - 1e-9:  # tolerance: waiting exactly Retry-After must be enough despite rounding
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.refill_per_second


def client_key(request: Request) -> str:
    """Given: who is asking. Behind a proxy this is the proxy's address unless the server is told to trust
    ``X-Forwarded-For`` (uvicorn ``--forwarded-allow-ips``; see the notebook)."""
    return request.client.host if request.client else "unknown"


async def enforce_rate_limit(request: Request) -> None:  # Task 10.4
    """429 ``rate_limited`` with ``Retry-After`` (and ``retry_after`` in the body) once the client's
    bucket in ``request.app.state.limiter`` is empty. ``async``: it runs on the event loop, one request
    at a time, so the buckets need no lock."""
    wait = request.app.state.limiter.acquire(client_key(request))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ServiceError(429, "rate_limited", f"too many requests; retry in {seconds} s",
                           headers={"Retry-After": str(seconds)}, retry_after=seconds)
