"""Lab 1 checks: how many tasks wait at once, wall time against the sum of the delays, result order, errors.

Tasks 1.2 and 1.3 are graded with a reference ``slow_task`` (fixture ``runner_of``), so a wrong Task 1.1 costs
only Task 1.1's points; it counts how many calls wait at the same time, which is how a concurrent run is told from
a sequential one. Times are used only as lower bounds (nothing waits less than its delay), which a busy machine
never breaks.
"""

import asyncio
import time

import pytest

from workbook.checkkit.checking import raises, unawaited

DELAYS = [0.3, 0.1, 0.2]  # out of order on purpose: finishing order differs from input order
NAMES = ["task 0", "task 1", "task 2"]
EARLY = 0.9  # asyncio timers may fire a hair early; nothing can finish in less than 90 % of its wait


async def timed(coro):
    start = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - start


@pytest.mark.task("1.1", points=1)
async def test_slow_task_waits_and_returns_its_name(runners):
    result, elapsed = await timed(runners.slow_task("download", 0.2))
    assert result == "download", f"slow_task('download', 0.2) should return 'download', got {result!r}."
    assert elapsed >= 0.2 * EARLY, f"slow_task(..., 0.2) returned after {elapsed:.3f} s: it should wait 0.2 s."


@pytest.mark.task("1.1", points=2)
async def test_slow_task_lets_other_tasks_run(runners):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    background = asyncio.create_task(ticker())
    try:
        _, elapsed = await timed(runners.slow_task("wait", 0.3))
    finally:
        background.cancel()
    assert elapsed >= 0.3 * EARLY, (
        f"slow_task('wait', 0.3) returned after {elapsed:.3f} s without waiting. Did you forget `await` "
        "before asyncio.sleep? Without it the sleep is created but never runs."
    )
    assert ticks >= 3, (
        f"while slow_task waited 0.3 s, another task on the loop ticked {ticks} times (expected about 30). "
        "slow_task is blocking the event loop: use `await asyncio.sleep`, never `time.sleep`, in a coroutine."
    )


@pytest.mark.task("1.1", points=1)
async def test_slow_task_rejects_a_negative_delay(runners):
    with raises(ValueError, "await slow_task('bad', -1)"):
        await runners.slow_task("bad", -1)


@pytest.mark.task("1.2", points=2)
async def test_sequential_run_takes_the_sum_of_the_delays(runner_of, reference_slow_task):
    result, elapsed = await timed(runner_of.run_sequentially(DELAYS))
    assert result == NAMES, f"run_sequentially({DELAYS}) should return {NAMES}, got {result!r}.{unawaited(result)}"
    assert elapsed >= sum(DELAYS) * EARLY, (
        f"run_sequentially({DELAYS}) took {elapsed:.2f} s; awaiting one after another takes the sum, "
        f"{sum(DELAYS):.1f} s. Did you start them all at once? That is Task 1.3."
    )
    assert reference_slow_task.most_waiting == 1, (
        f"run_sequentially({DELAYS}) had {reference_slow_task.most_waiting} slow_task calls waiting at the same "
        "time; one after another means each starts only when the one before has finished. That is Task 1.3's job."
    )


@pytest.mark.task("1.3", points=2)
async def test_concurrent_run_takes_the_longest_delay(runner_of, reference_slow_task):
    result, elapsed = await timed(runner_of.run_concurrently(DELAYS))
    assert not unawaited(result), f"run_concurrently({DELAYS}) returned {result!r}.{unawaited(result)}"
    assert elapsed >= max(DELAYS) * EARLY, (
        f"run_concurrently({DELAYS}) took only {elapsed:.2f} s: every task must wait."
    )
    waiting = reference_slow_task.most_waiting
    assert waiting == len(DELAYS), (
        f"run_concurrently({DELAYS}) had at most {waiting} of the {len(DELAYS)} slow_task calls waiting at the same "
        f"time, so it takes more than the longest delay, {max(DELAYS):.1f} s (up to the sum, {sum(DELAYS):.1f} s). "
        "Create every task before awaiting any, or pass them all to asyncio.gather."
    )


@pytest.mark.task("1.3", points=1)
async def test_concurrent_results_keep_the_input_order(runner_of):
    result = await runner_of.run_concurrently(DELAYS)
    assert not unawaited(result), f"run_concurrently({DELAYS}) returned {result!r}.{unawaited(result)}"
    assert list(result) == NAMES, (
        f"run_concurrently({DELAYS}) returned {result!r}; expected {NAMES}, in the order of the delays, "
        "not the order the tasks finished in."
    )


@pytest.mark.task("1.3", points=1)
async def test_concurrent_error_reaches_the_caller(runner_of):
    """The ValueError reaches the caller, alone (``gather``) or in an ExceptionGroup (``asyncio.TaskGroup``)."""
    try:
        result = await runner_of.run_concurrently([0.05, -1.0, 0.05])
    except ValueError:
        return
    except ExceptionGroup as group:
        if group.subgroup(ValueError) is not None:
            return
        raise
    if unawaited(result):
        pytest.fail(f"run_concurrently([0.05, -1.0, 0.05]) returned {result!r}.{unawaited(result)}")
    pytest.fail(
        f"run_concurrently([0.05, -1.0, 0.05]) returned {result!r}; the ValueError from the negative delay "
        "should reach the caller. Did you pass return_exceptions=True, or catch it?"
    )
