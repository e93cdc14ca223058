"""Helpers for writing checks whose failures read as plain sentences.

* :func:`raises` — ``pytest.raises`` that says which call and which input did not raise.
* :func:`settle` — the value of a call that may be a coroutine (an ``async def`` method the task allows).
* :func:`unawaited` — a sentence when a value is a coroutine or future that should have been awaited.
"""

from __future__ import annotations

import asyncio
import inspect
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def raises(expected: type[BaseException] | tuple[type[BaseException], ...], tried: str):
    """``with raises(ValueError, "slow_task('bad', -1)"):`` — on no exception, say what was tried."""
    names = " or ".join(e.__name__ for e in (expected if isinstance(expected, tuple) else (expected,)))
    try:
        with pytest.raises(expected) as info:
            yield info
    except pytest.fail.Exception as exc:
        if not str(exc).startswith("DID NOT RAISE"):
            raise
        pytest.fail(f"{tried} should raise {names}, but it returned without raising.", pytrace=False)


def settle(value: Any) -> Any:
    """``value``, or what it gives when awaited (a sync check calling a method written ``async def``)."""
    if inspect.isawaitable(value):

        async def wait():
            return await value

        return asyncio.run(wait())
    return value


def unawaited(value: Any) -> str:
    """ " You returned a coroutine …" when ``value`` should have been awaited, else ``""``."""
    if inspect.iscoroutine(value):
        return " You returned a coroutine: add `await` before the call that made it."
    if isinstance(value, asyncio.Future) or inspect.isawaitable(value):
        return " You returned a future (an un-awaited task or gather): add `await` before it."
    return ""
