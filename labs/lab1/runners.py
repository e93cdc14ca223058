"""Lab 1 — asyncio: sequential and concurrent waiting.

Read notebooks/01_asyncio.ipynb first. A "slow task" stands for any work that mostly *waits*: a network
call, a database query, a model server answering. You will write it three ways:

* ``slow_task_blocking`` (given): ``time.sleep`` — run twice, the times add up.
* Task 1.1 ``slow_task``: the same as a coroutine, with ``await asyncio.sleep``.
* Task 1.2 ``run_sequentially``: await one slow task after another — the times still add up.
* Task 1.3 ``run_concurrently``: start them all with ``asyncio.create_task`` / ``asyncio.gather`` —
  the whole run takes about as long as the longest one.

Check your work with ``pytest checks/lab1``.
"""

from __future__ import annotations

import asyncio
import time


def slow_task_blocking(name: str, delay: float) -> str:
    """Given: wait ``delay`` seconds the blocking way and return ``name``."""
    print(f"{time.strftime('%X')} start  {name}")
    time.sleep(delay)
    print(f"{time.strftime('%X')} finish {name}")
    return name


def run_blocking(delays: list[float]) -> list[str]:
    """Given: run one blocking task per delay, one after the other."""
    return [slow_task_blocking(f"task {i}", delay) for i, delay in enumerate(delays)]


async def slow_task(name: str, delay: float) -> str:  # Task 1.1
    """Wait ``delay`` seconds *without blocking the event loop*, then return ``name``.

    A negative delay is a mistake by the caller: raise ``ValueError`` before waiting.
    While this task waits, other tasks on the same event loop must keep running.
    """
    raise NotImplementedError("Task 1.1: An async slow task")


async def run_sequentially(delays: list[float]) -> list[str]:  # Task 1.2
    """Await ``slow_task(f"task {i}", delay)`` for each delay, one after the other.

    Return the results in the order of ``delays``. The total time is the *sum* of the delays.
    """
    raise NotImplementedError("Task 1.2: Await slow tasks one after another")


async def run_concurrently(delays: list[float]) -> list[str]:  # Task 1.3
    """Run ``slow_task(f"task {i}", delay)`` for every delay *at the same time*.

    Return the results in the order of ``delays`` (not the order they finish in). The total time is
    about the *longest* delay. If one task raises, the exception must reach the caller.
    """
    raise NotImplementedError("Task 1.3: Run slow tasks concurrently")
