"""Lab 1 checks at the edges the statements imply: a zero delay, an error raised before any waiting, no
delays at all, and more than ten tasks (where "task 10" sorts before "task 2", so sorting by name is not
keeping the input order).
"""

import time

import pytest

MANY = 12  # more than ten: sorted by name, "task 10" and "task 11" would come before "task 2"


@pytest.mark.task("1.1", points=1)
async def test_slow_task_accepts_a_zero_delay(runners):
    start = time.perf_counter()
    try:
        result = await runners.slow_task("now", 0)
    except ValueError as exc:
        pytest.fail(
            f"slow_task('now', 0) raised ValueError({exc}); only a *negative* delay is a mistake: "
            "a delay of 0 waits no time and returns the name."
        )
    elapsed = time.perf_counter() - start
    assert result == "now" and elapsed < 0.5, f"slow_task('now', 0) returned {result!r} after {elapsed:.2f} s."


@pytest.mark.task("1.1", points=1)
async def test_negative_delay_is_refused_before_waiting(runners):
    coroutine = runners.slow_task("bad", -0.5)
    try:
        coroutine.send(None)  # run it up to its first wait, without an event loop in between
    except ValueError:
        return
    except StopIteration as done:
        pytest.fail(f"slow_task('bad', -0.5) returned {done.value!r}; a negative delay must raise ValueError.")
    finally:
        coroutine.close()
    pytest.fail(
        "slow_task('bad', -0.5) started waiting before it raised: check the delay and raise "
        "ValueError *before* the first await."
    )


@pytest.mark.task("1.2", points=1)
async def test_sequential_run_of_nothing_and_of_many(runners):
    empty = await runners.run_sequentially([])
    assert list(empty) == [], f"run_sequentially([]) should return [], got {empty!r}."
    result = await runners.run_sequentially([0.0] * MANY)
    expected = [f"task {i}" for i in range(MANY)]
    assert list(result) == expected, (
        f"run_sequentially with {MANY} delays returned {result!r}; expected {expected}, in the order of the "
        "delays (sorting the names puts 'task 10' before 'task 2')."
    )


@pytest.mark.task("1.3", points=1)
async def test_concurrent_run_of_nothing_and_of_many(runners):
    try:
        empty = await runners.run_concurrently([])
    except ValueError as exc:
        pytest.fail(
            f"run_concurrently([]) raised ValueError({exc}); with no delays there is nothing to wait "
            "for: return []. (asyncio.wait refuses an empty set; asyncio.gather() does not.)"
        )
    assert list(empty) == [], f"run_concurrently([]) should return [], got {empty!r}."
    delays = [0.01 * (MANY - i) for i in range(MANY)]  # the last one finishes first
    result = await runners.run_concurrently(delays)
    expected = [f"task {i}" for i in range(MANY)]
    assert list(result) == expected, (
        f"run_concurrently with {MANY} delays, the later ones shorter, returned {result!r}; expected {expected}: "
        "in the order of the delays, not the order they finished in, nor sorted by name."
    )
