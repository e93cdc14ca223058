import asyncio

import pytest

from workbook.checkkit.student import import_lab_module


@pytest.fixture
def runners():
    """The student's lab1/runners.py, imported from the target."""
    return import_lab_module("lab1.runners")


class ReferenceSlowTask:
    """Task 1.1 done right: what Tasks 1.2 and 1.3 are graded with, so they never pay for Task 1.1.

    It also counts how many calls are waiting at once (``most_waiting``): 1 for a sequential run, every task for a
    concurrent one. A count, unlike a stopwatch, does not change on a busy machine.
    """

    def __init__(self) -> None:
        self.waiting = 0
        self.most_waiting = 0

    async def __call__(self, name: str, delay: float) -> str:
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            await asyncio.sleep(delay)
        finally:
            self.waiting -= 1
        return name


@pytest.fixture
def reference_slow_task() -> ReferenceSlowTask:
    return ReferenceSlowTask()


@pytest.fixture
def runner_of(runners, monkeypatch, reference_slow_task):
    """The student's runners.py with ``slow_task`` swapped for the reference (Tasks 1.2 and 1.3)."""
    monkeypatch.setattr(runners, "slow_task", reference_slow_task)
    return runners
