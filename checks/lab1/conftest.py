import asyncio

import pytest

from workbook.checkkit.student import import_lab_module


@pytest.fixture
def runners():
    """The student's lab1/runners.py, imported from the target."""
    return import_lab_module("lab1.runners")


async def reference_slow_task(name: str, delay: float) -> str:
    """Task 1.1 done right: what Tasks 1.2 and 1.3 are graded with, so they never pay for Task 1.1."""
    if delay < 0:
        raise ValueError(f"delay must be >= 0, got {delay}")
    await asyncio.sleep(delay)
    return name


@pytest.fixture
def runner_of(runners, monkeypatch):
    """The student's runners.py with ``slow_task`` swapped for the reference (Tasks 1.2 and 1.3)."""
    monkeypatch.setattr(runners, "slow_task", reference_slow_task)
    return runners
