"""Proving that slow work never runs on the event loop (lab 2's lesson, graded again in labs 4, 5 and 8) — and, in
lab 2, that the anti-pattern does block it — without timing anything.

A check wraps the slow call (a model's ``predict``, ``time.sleep`` ...) in a :class:`Hold`, then
:func:`probe_while_held` sends the request that makes the call and, once the request has reached it, a probe
(``GET /health`` or ``/fast``). Each held call records one outcome: could the event loop answer the probe while the
call was running?

* A call in a worker thread (a plain ``def`` route, ``run_in_threadpool``) waits there until the probe has been
  answered — which a free event loop does in milliseconds — then goes on: outcome ``True``.
* A call on the event loop's own thread (an ``async def`` route calling it directly) blocks the loop, so the probe
  cannot be answered while it runs: outcome ``False``, recorded at once without holding (a thread that is running
  an event loop is one), so a failing check costs no time.
* An awaited call (:meth:`Hold.wrap_async`, e.g. ``asyncio.sleep``) waits for the probe without blocking: ``True``.

Load only makes things slower, and no outcome depends on how slow: HOLD only bounds how long a held call waits for
the probe before it gives up. This replaced wall-clock bounds ("/fast answers within 0.3 s"), which a busy machine
broke for correct code.

Only calls made while the probed request is being served are held: ``probe_while_held`` arms the hold for that
window, and with ``request_only=True`` (for functions everything uses, like ``time.sleep``) a call must also come
from the request's own context (its task, or a worker thread it started: Starlette and ``asyncio.to_thread`` copy
the context into the thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOLD = 10.0  # seconds a held call waits for the probe's answer; a free event loop answers in milliseconds

_REAL_ASYNC_SLEEP = asyncio.sleep  # our own reference: a check may patch asyncio.sleep itself
_IN_PROBED_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("in_probed_request", default=False)


def on_an_event_loop() -> bool:
    """True when called on a thread that is running an event loop (an ``async def`` route's thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Hold:
    """Wraps slow calls so that each records whether the event loop answered the probe while it ran."""

    def __init__(self, *, request_only: bool = False) -> None:
        self.request_only = request_only
        self.armed = False  # set by probe_while_held for the request's lifetime
        self.entered = threading.Event()  # a held call has started
        self.probe_answered = threading.Event()
        self.outcomes: list[bool] = []  # one per held call: was the loop free to answer the probe meanwhile?

    def _holds_this_call(self) -> bool:
        return self.armed and (not self.request_only or _IN_PROBED_REQUEST.get())

    def wrap(self, function: Callable) -> Callable:
        """A blocking function: held in a worker thread, recorded as blocking on the event loop's thread."""

        def held(*args, **kwargs):
            if self._holds_this_call():
                if on_an_event_loop():
                    self.outcomes.append(False)  # the loop cannot answer anything while this runs
                    self.entered.set()
                else:
                    self.entered.set()
                    self.outcomes.append(self.probe_answered.wait(HOLD))
            return function(*args, **kwargs)

        return held

    def wrap_async(self, function: Callable) -> Callable:
        """A coroutine function (``asyncio.sleep``): awaiting it waits for the probe without blocking the loop."""

        async def held(*args, **kwargs):
            if self._holds_this_call():
                self.entered.set()
                deadline = time.monotonic() + HOLD
                while not self.probe_answered.is_set() and time.monotonic() < deadline:
                    await _REAL_ASYNC_SLEEP(0.005)
                self.outcomes.append(self.probe_answered.is_set())
            return await function(*args, **kwargs)

        return held

    @property
    def loop_stayed_free(self) -> bool:
        """Every held call let the event loop answer the probe (False if there was none)."""
        return bool(self.outcomes) and all(self.outcomes)

    @property
    def loop_was_blocked(self) -> bool:
        """At least one held call ran on the event loop, so the probe had to wait for it."""
        return not all(self.outcomes)


@dataclass
class Probed:
    """What :func:`probe_while_held` saw: the request's response, the probe's (None if never sent) and times."""

    response: Any
    probe: Any
    probe_done: float  # seconds from sending the request until the probe's answer (or until it was skipped)
    response_done: float  # seconds from sending the request until its answer

    @property
    def probe_answered(self) -> bool:
        return self.probe is not None and self.probe.status_code == 200


async def probe_while_held(
    async_client,
    hold: Hold,
    method: str,
    path: str,
    *,
    probe_path: str = "/health",
    lead: float | None = None,
    **kwargs,
) -> Probed:
    """Send ``method path``; once it reaches a held call, send ``GET probe_path``; return both answers.

    Without ``lead`` the probe waits for the held call (a request that answers without making one gets no probe).
    With ``lead`` it is sent after at most ``lead`` seconds anyway, for code that waits by some other means.
    """
    start = time.perf_counter()
    context = contextvars.copy_context()
    context.run(_IN_PROBED_REQUEST.set, True)
    hold.armed = True
    request = asyncio.get_running_loop().create_task(async_client.request(method, path, **kwargs), context=context)
    reached = asyncio.ensure_future(asyncio.to_thread(hold.entered.wait, HOLD if lead is None else lead))
    try:
        await asyncio.wait({request, reached}, return_when=asyncio.FIRST_COMPLETED)
        probe = None
        if hold.entered.is_set() or lead is not None:
            probe = await async_client.get(probe_path)
        probe_done = time.perf_counter() - start
        hold.probe_answered.set()  # lets a held call go on (if it is still waiting)
        hold.entered.set()  # ends the waiting thread if the request never reached a held call
        response = await request
        response_done = time.perf_counter() - start
    finally:
        hold.armed = False
        hold.probe_answered.set()
        hold.entered.set()
        request.cancel()  # no-op once it finished; collects its error if the probe failed first
        await asyncio.gather(request, reached, return_exceptions=True)
    return Probed(response, probe, probe_done, response_done)


def blocked_loop_message(what: str, route: str, probe: str = "GET /health") -> str:
    return (
        f"{probe}, sent while {what}, could be answered only after it: {route} runs it on the event loop "
        "(the route is `async def` and calls it directly), so every other request of the service waits. Keep the "
        "route a plain `def` (FastAPI runs it in its thread pool), or `await run_in_threadpool(...)` the blocking "
        "call. See notebook 2."
    )


def replace_sleeps(monkeypatch, module, blocking: Callable, waiting: Callable) -> None:
    """``time.sleep`` becomes ``blocking`` and ``asyncio.sleep`` becomes ``waiting`` for the rest of the check, also
    where ``module`` imported them by name (``from time import sleep``)."""
    real_time_sleep, real_async_sleep = time.sleep, asyncio.sleep
    monkeypatch.setattr(time, "sleep", blocking)
    monkeypatch.setattr(asyncio, "sleep", waiting)
    for name, value in list(vars(module).items()):
        if value is real_time_sleep:
            monkeypatch.setattr(module, name, blocking)
        elif value is real_async_sleep:
            monkeypatch.setattr(module, name, waiting)


def hold_pipelines(monkeypatch, hold: Hold, methods: tuple[str, ...] = ("predict", "predict_proba")) -> None:
    """Every scikit-learn ``Pipeline.<method>`` call is held by ``hold`` for the rest of the check."""
    from sklearn.pipeline import Pipeline

    for method in methods:
        monkeypatch.setattr(Pipeline, method, hold.wrap(getattr(Pipeline, method)))
