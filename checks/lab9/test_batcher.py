"""Lab 9 checks, Tasks 9.3–9.5: the micro-batcher, one method at a time.

Each task is checked on its own: ``submit`` runs against the checks' own worker (a subclass whose
``next_batch`` and ``run_batch`` are known to work), ``next_batch`` and ``run_batch`` are called directly on
hand-made :class:`Pending` inputs. Counting calls, not measuring time, decides; where time matters (a
lone input must not wait for company) the margin is 25 times the configured wait.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from workbook.checkkit.event_loop import on_an_event_loop

MAX_WAIT = 0.02
LONE_LIMIT = 0.5  # a lone input waits max_wait (0.02 s); anything under half a second passes


class CountingPredict:
    """``predict_batch`` for the checks: results are ``item * 10``; records each call's items and thread."""

    def __init__(self, fail_on=None):
        self.calls: list[list] = []
        self.ran_on_loop: list[bool] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, items):
        with self._lock:
            self.calls.append(list(items))
            self.ran_on_loop.append(on_an_event_loop())
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"the model cannot predict {self.fail_on!r}")
        return [item * 10 for item in items]


def with_reference_worker(batching):
    """A MicroBatcher whose worker is the checks' own, so only the student's ``submit`` is graded."""

    class ReferenceWorker(batching.MicroBatcher):
        async def next_batch(self):
            batch = [await self.queue.get()]
            await asyncio.sleep(self.max_wait)
            while len(batch) < self.max_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            return batch

        async def run_batch(self, batch):
            try:
                results = await asyncio.to_thread(self.predict_batch, [p.item for p in batch])
            except Exception as exc:
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(batching.BatchError(str(exc)))
                return
            for pending, result in zip(batch, results):
                if not pending.future.done():
                    pending.future.set_result(result)

    return ReferenceWorker


def pending(batching, item):
    return batching.Pending(item, asyncio.get_running_loop().create_future())


@pytest.fixture
async def stop_later():
    started = []
    yield started.append
    for batcher in started:
        await batcher.stop()


# --- Task 9.3: submit -----------------------------------------------------------------------------------


@pytest.mark.task("9.3", points=2)
async def test_submit_returns_its_own_result(batching, stop_later):
    predict = CountingPredict()
    batcher = with_reference_worker(batching)(predict, max_size=64, max_wait=MAX_WAIT)
    batcher.start()
    stop_later(batcher)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(20))), 5)
    assert results == [i * 10 for i in range(20)], (
        f"20 concurrent submit(i) should return i * 10 each, in their own order; got {results}."
    )
    assert len(predict.calls) < 20, (
        f"20 concurrent submits made {len(predict.calls)} predict calls: put each input on self.queue and "
        "await its future; the worker batches them."
    )


@pytest.mark.task("9.3", points=1)
async def test_submit_raises_the_error_of_its_batch(batching, stop_later):
    batcher = with_reference_worker(batching)(CountingPredict(fail_on=3), max_size=64, max_wait=MAX_WAIT)
    batcher.start()
    stop_later(batcher)
    try:
        result = await asyncio.wait_for(batcher.submit(3), 5)
    except batching.BatchError:
        return
    pytest.fail(
        f"submit(3) returned {result!r}, but its batch failed: the BatchError set on its future "
        "should reach the caller (`return await future`)."
    )


@pytest.mark.task("9.3", points=1)
async def test_submit_fails_at_once_when_the_worker_is_dead(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=8, max_wait=MAX_WAIT)  # never started
    batcher.failure = RuntimeError("the worker died")
    try:
        result = await asyncio.wait_for(batcher.submit(1), 2)
    except RuntimeError as exc:
        if "worker died" in str(exc):
            return
        raise
    except TimeoutError:
        pytest.fail(
            "submit() waited forever on a batcher whose worker had died (self.failure was set): "
            "raise self.failure at once instead."
        )
    pytest.fail(f"submit() returned {result!r} on a batcher whose worker had died; it should raise self.failure.")


# --- Task 9.4: next_batch ---------------------------------------------------------------------------------


@pytest.mark.task("9.4", points=1)
async def test_next_batch_takes_at_most_max_size_in_order(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=4, max_wait=MAX_WAIT)
    queued = [pending(batching, i) for i in range(10)]
    for item in queued:
        batcher.queue.put_nowait(item)
    sizes, order = [], []
    for _ in range(3):
        batch = await asyncio.wait_for(batcher.next_batch(), 2)
        sizes.append(len(batch))
        order += [p.item for p in batch]
    assert sizes == [4, 4, 2], f"10 queued inputs with max_size=4 gave batches of {sizes}; expected [4, 4, 2]."
    assert order == list(range(10)), f"the batches took the inputs in the order {order}; expected arrival order."


@pytest.mark.task("9.4", points=2)
async def test_lone_input_leaves_after_max_wait(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=64, max_wait=MAX_WAIT)
    batcher.queue.put_nowait(pending(batching, "alone"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        batch = await asyncio.wait_for(batcher.next_batch(), 2 * LONE_LIMIT)
    except TimeoutError:
        pytest.fail(
            f"with one input queued, max_size=64 and max_wait={MAX_WAIT} s, next_batch() had not "
            f"returned after {2 * LONE_LIMIT} s: it waits for a full batch. Stop waiting max_wait "
            "seconds after the first input."
        )
    waited = loop.time() - start
    assert [p.item for p in batch] == ["alone"], f"next_batch() returned {[p.item for p in batch]}; expected ['alone']."
    assert waited < LONE_LIMIT, (
        f"a lone input left after {waited:.2f} s; with max_wait={MAX_WAIT} s it should leave after about {MAX_WAIT} s."
    )


@pytest.mark.task("9.4", points=1)
async def test_next_batch_waits_for_company(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=64, max_wait=1.0)
    first, second = pending(batching, "first"), pending(batching, "second")

    async def arrive_later():
        await asyncio.sleep(0.05)  # well inside max_wait (1 s)
        batcher.queue.put_nowait(second)

    batch_task = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0.05)
    if batch_task.done():
        batch = batch_task.result()
        pytest.fail(f"next_batch() returned {batch!r} while the queue was empty; it should wait for the first input.")
    batcher.queue.put_nowait(first)
    latecomer = asyncio.create_task(arrive_later())
    batch = await asyncio.wait_for(batch_task, 5)
    await latecomer
    assert [p.item for p in batch] == ["first", "second"], (
        f"an input that arrived 0.05 s after the first, with max_wait=1 s, should join its batch; the batch "
        f"was {[p.item for p in batch]}. Keep taking inputs until max_wait has passed or the batch is full."
    )


@pytest.mark.task("9.4", points=1)
async def test_a_full_batch_leaves_at_once(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=4, max_wait=30.0)
    queued = [pending(batching, i) for i in range(4)]
    for item in queued[:2]:
        batcher.queue.put_nowait(item)

    async def the_rest_arrive():
        await asyncio.sleep(0.05)
        for item in queued[2:]:
            batcher.queue.put_nowait(item)

    arriving = asyncio.create_task(the_rest_arrive())
    try:
        batch = await asyncio.wait_for(batcher.next_batch(), 3)
    except TimeoutError:
        pytest.fail(
            "with max_size=4 and max_wait=30 s, 4 inputs arrived within 0.05 s, yet next_batch() had not "
            "returned 3 s later: a full batch must leave at once, not wait out max_wait."
        )
    finally:
        await arriving
    assert [p.item for p in batch] == [0, 1, 2, 3], (
        f"the full batch was {[p.item for p in batch]}; expected [0, 1, 2, 3]."
    )


@pytest.mark.task("9.4", points=1)
async def test_the_wait_does_not_restart_with_each_arrival(batching):
    max_wait, every, arrivals = 0.3, 0.1, 25
    batcher = batching.MicroBatcher(CountingPredict(), max_size=64, max_wait=max_wait)

    async def steady_traffic():
        for i in range(arrivals):
            batcher.queue.put_nowait(pending(batching, i))
            await asyncio.sleep(every)

    traffic = asyncio.create_task(steady_traffic())
    try:
        batch = await asyncio.wait_for(batcher.next_batch(), 10)
    finally:
        traffic.cancel()
    assert len(batch) <= 12, (
        f"inputs arrived every {every} s with max_wait={max_wait} s; the first batch should leave about {max_wait} s "
        f"after its first input (with 3 or 4 of them), but it took {len(batch)} inputs, arriving over "
        f"{(len(batch) - 1) * every:.1f} s. max_wait counts from the first input taken: one deadline for the whole "
        "batch, not a new wait of max_wait after each arrival."
    )


# --- Task 9.5: run_batch ----------------------------------------------------------------------------------


@pytest.mark.task("9.5", points=2)
async def test_run_batch_makes_one_call_and_answers_each(batching):
    predict = CountingPredict()
    batcher = batching.MicroBatcher(predict, max_size=64, max_wait=MAX_WAIT)
    batch = [pending(batching, i) for i in (7, 3, 5, 1, 9)]
    await asyncio.wait_for(batcher.run_batch(batch), 5)
    assert predict.calls == [[7, 3, 5, 1, 9]], (
        f"run_batch on the inputs [7, 3, 5, 1, 9] called predict_batch with {predict.calls}; expected one "
        "call with all of them, in order."
    )
    assert all(p.future.done() for p in batch), "run_batch returned, but some futures have no result yet."
    got = [p.future.result() for p in batch]
    assert got == [70, 30, 50, 10, 90], (
        f"the futures got {got}; expected [70, 30, 50, 10, 90]: results[i] belongs to batch[i]."
    )
    assert predict.ran_on_loop == [False], (
        "predict_batch ran on the event loop's thread: `await asyncio.to_thread(self.predict_batch, items)` "
        "keeps the loop serving requests while the model works."
    )


@pytest.mark.task("9.5", points=2)
async def test_failed_batch_fails_only_its_own_requests(batching):
    predict = CountingPredict(fail_on="bad")
    batcher = batching.MicroBatcher(predict, max_size=64, max_wait=MAX_WAIT)
    doomed = [pending(batching, item) for item in (1, "bad", 2)]
    try:
        await asyncio.wait_for(batcher.run_batch(doomed), 5)
    except Exception as exc:
        pytest.fail(
            f"run_batch raised {type(exc).__name__}: {exc} when predict_batch failed; it must set the "
            "error on this batch's futures and return, or the worker dies and every later request fails."
        )
    unresolved = [p.item for p in doomed if not p.future.done()]
    assert not unresolved, (
        f"predict_batch failed, and the requests for {unresolved} were left waiting forever: set a BatchError "
        "on every future of the failed batch."
    )
    for p in doomed:
        error = p.future.exception()
        assert isinstance(error, batching.BatchError), (
            f"the request for {p.item!r} got {type(error).__name__ if error else 'a result'}; expected a BatchError."
        )
        assert isinstance(error.__cause__, ValueError), (
            "the BatchError should be raised from the model's own error (set `__cause__`), so the log shows why."
        )
    survivors = [pending(batching, item) for item in (4, 5)]
    await asyncio.wait_for(batcher.run_batch(survivors), 5)
    assert [p.future.result() for p in survivors] == [40, 50], "the next batch, after a failed one, should be answered."


@pytest.mark.task("9.5", points=1)
async def test_wrong_number_of_results_fails_the_batch(batching):
    batcher = batching.MicroBatcher(lambda items: [0], max_size=64, max_wait=MAX_WAIT)
    batch = [pending(batching, item) for item in (1, 2, 3)]
    await asyncio.wait_for(batcher.run_batch(batch), 5)
    outcomes = [
        "error" if p.future.done() and p.future.exception() else ("result" if p.future.done() else "waiting")
        for p in batch
    ]
    assert outcomes == ["error"] * 3, (
        f"predict_batch returned 1 result for 3 inputs; the requests ended as {outcomes}. A wrong number of "
        "results is a failed batch: set a BatchError on every future (zip would silently drop the rest)."
    )


@pytest.mark.task("9.5", points=1)
async def test_cancelled_request_is_skipped(batching):
    batcher = batching.MicroBatcher(CountingPredict(), max_size=64, max_wait=MAX_WAIT)
    batch = [pending(batching, item) for item in (1, 2, 3)]
    batch[1].future.cancel()  # that client went away
    try:
        await asyncio.wait_for(batcher.run_batch(batch), 5)
    except asyncio.InvalidStateError:
        pytest.fail(
            "run_batch raised InvalidStateError setting the result of a cancelled request: skip futures "
            "that are already done."
        )
    assert batch[0].future.result() == 10 and batch[2].future.result() == 30, (
        "with the middle request cancelled, the other two should still get their results."
    )


@pytest.mark.task("9.5", points=1)
async def test_any_model_error_fails_only_its_batch(batching):
    class ModelCrashed(Exception):
        pass

    for error in (
        RuntimeError("the model crashed"),
        KeyError("petal_width"),
        ZeroDivisionError("division by zero"),
        ModelCrashed("a library's own error class"),
    ):

        def predict(items, error=error):
            raise error

        batcher = batching.MicroBatcher(predict, max_size=64, max_wait=MAX_WAIT)
        batch = [pending(batching, item) for item in (1, 2)]
        try:
            await asyncio.wait_for(batcher.run_batch(batch), 5)
        except Exception as exc:
            pytest.fail(
                f"predict_batch raised {type(error).__name__}, and run_batch let {type(exc).__name__} escape: "
                "the worker dies with it and every later request fails. Catch any Exception, not only "
                "the types you expect, and set a BatchError on this batch's futures."
            )
        outcomes = [type(p.future.exception()).__name__ if p.future.done() else "waiting" for p in batch]
        assert all(p.future.done() and isinstance(p.future.exception(), batching.BatchError) for p in batch), (
            f"predict_batch raised {type(error).__name__}; the batch's requests ended as {outcomes}, expected "
            "BatchError for each."
        )


@pytest.mark.task("9.5", points=1)
async def test_a_failed_batch_skips_cancelled_requests(batching):
    batcher = batching.MicroBatcher(CountingPredict(fail_on="bad"), max_size=64, max_wait=MAX_WAIT)
    batch = [pending(batching, item) for item in ("bad", 2, 3)]
    batch[1].future.cancel()  # that client went away
    try:
        await asyncio.wait_for(batcher.run_batch(batch), 5)
    except asyncio.InvalidStateError:
        pytest.fail(
            "run_batch raised InvalidStateError setting the error of a cancelled request when the batch "
            "failed: skip futures that are already done when setting errors too, not only results."
        )
    outcomes = [
        type(p.future.exception()).__name__
        if p.future.done() and not p.future.cancelled()
        else ("cancelled" if p.future.cancelled() else "waiting")
        for p in (batch[0], batch[2])
    ]
    assert outcomes == ["BatchError", "BatchError"], (
        f"the failed batch's requests that were still waiting ended as {outcomes}; expected BatchError for both."
    )
