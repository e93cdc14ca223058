"""Lab 9 — an async micro-batcher: many concurrent single requests, one ``predict`` call.

Read notebooks/09_serving_at_scale.ipynb, sections 9.3 to 9.5, first. A model predicts 64 rows almost as
fast as one, but a service receives one row per request. The micro-batcher sits between the two: each
request hands its input to :meth:`MicroBatcher.submit` and waits on a future; one background task
gathers whatever has arrived — until ``max_size`` inputs, or ``max_wait`` seconds after the first —
calls ``predict_batch`` once for all of them and gives every waiting request its own result. It is
the idea behind BentoML's adaptive batching and Ray Serve's ``@serve.batch``.

Given: the :class:`Pending` pair, and the worker's life — :meth:`start`, :meth:`stop`, :meth:`_run`.
If the worker ever dies, every waiting request (and every later one) fails with its error at once,
instead of waiting forever for an answer that will not come.

* Task 9.3 :meth:`MicroBatcher.submit`: queue one input with a future, wait for its own result.
* Task 9.4 :meth:`MicroBatcher.next_batch`: gather up to ``max_size`` inputs, waiting at most ``max_wait``.
* Task 9.5 :meth:`MicroBatcher.run_batch`: one ``predict_batch`` call, each future its own result;
  an error fails that batch only.

Check your work with ``pytest checks/lab9 -k batcher``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class BatchError(RuntimeError):
    """Given: the batch this request was part of failed (``__cause__`` holds the original error)."""


@dataclass
class Pending:
    """Given: one submitted input and the future its request waits on."""

    item: Any
    future: asyncio.Future


class MicroBatcher:
    """Gathers concurrent single inputs into batches for one ``predict_batch(items) -> results`` call each.

    ``predict_batch`` takes a list of inputs and returns one result per input, in the same order; it is a
    plain (blocking) function and runs in a worker thread. Given: ``batches`` and ``items`` count what the
    worker has done, for the notebook's charts and for monitoring.
    """

    def __init__(self, predict_batch: Callable[[list[Any]], Sequence[Any]], *, max_size: int = 64,
                 max_wait: float = 0.002, name: str = "micro-batcher"):
        if max_size < 1 or max_wait < 0:
            raise ValueError(f"max_size must be >= 1 and max_wait >= 0, got {max_size} and {max_wait}")
        self.predict_batch = predict_batch
        self.max_size = max_size
        self.max_wait = max_wait
        self.name = name
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.batches = 0
        self.items = 0
        self.failure: BaseException | None = None  # why the worker died, if it did
        self._worker: asyncio.Task | None = None
        self._current: list[Pending] = []

    # --- given: the worker's life ----------------------------------------------------------------------

    def start(self) -> None:
        """Given: start the background worker on the running event loop."""
        if self._worker is not None:
            raise RuntimeError(f"{self.name} is already started")
        self._worker = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        self._worker.add_done_callback(self._worker_done)

    async def stop(self) -> None:
        """Given: stop the worker; every request still waiting fails with a clear error."""
        if self._worker is not None:
            self._worker.cancel()
            # A worker that had died already holds its error in self.failure: do not raise it again here.
            await asyncio.gather(self._worker, return_exceptions=True)
        self._fail_waiting(BatchError(f"{self.name} stopped: the service is shutting down"))

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def _run(self) -> None:
        """Given: forever, take the next batch and answer it."""
        while True:
            batch = await self.next_batch()
            self._current = batch
            await self.run_batch(batch)
            self._current = []
            self.batches += 1
            self.items += len(batch)

    def _worker_done(self, worker: asyncio.Task) -> None:
        if worker.cancelled():
            return
        error = worker.exception()
        if error is not None:
            self.failure = error
            self._fail_waiting(error)

    def _fail_waiting(self, error: BaseException) -> None:
        waiting = list(self._current)
        while not self.queue.empty():
            waiting.append(self.queue.get_nowait())
        self._current = []
        for pending in waiting:
            if not pending.future.done():
                pending.future.set_exception(error)

    # --- the tasks ----------------------------------------------------------------------------------------

    async def submit(self, item: Any) -> Any:  # Task 9.3
        """Queue one input and return its own result, once the batch it joins has been predicted.

        Create a future on the running loop (``asyncio.get_running_loop().create_future()``), put
        ``Pending(item, future)`` on ``self.queue`` and await the future: the worker sets its result (or
        its exception, which then reaches the caller). If the worker has died (``self.failure`` is not
        None), raise ``self.failure`` at once: nobody would ever answer.
        """
        if self.failure is not None:
            raise self.failure
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Pending(item, future))
        return await future

    async def next_batch(self) -> list[Pending]:  # Task 9.4
        """Wait for the next batch and return it: between 1 and ``max_size`` pending inputs, in arrival order.

        Wait as long as it takes for the first one. Then keep taking more until the batch holds
        ``max_size`` inputs or ``max_wait`` seconds have passed *since the first one was taken* —
        whichever comes first. Inputs already queued join at once. A lone request must never wait for
        company that does not come: it leaves after ``max_wait`` at the latest.
        """
        batch = [await self.queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        try:
            async with asyncio.timeout_at(deadline):
                while len(batch) < self.max_size:
                    batch.append(await self.queue.get())
        except TimeoutError:
            pass  # max_wait is over: go with what there is
        return batch

    async def run_batch(self, batch: list[Pending]) -> None:  # Task 9.5
        """Answer every input of ``batch`` from ONE call of ``predict_batch``.

        * Call ``self.predict_batch([p.item for p in batch])`` in a worker thread
          (``await asyncio.to_thread(...)``), so the event loop keeps taking requests while the model works.
        * ``results[i]`` belongs to ``batch[i]``: set it as the result of that one future.
        * If ``predict_batch`` raises, or returns a different number of results than inputs, set a
          ``BatchError`` (raised ``from`` the original error) on every future of *this* batch, and return
          normally: the worker must go on to serve the next batch.
        * Skip futures that are already done: a client that went away cancelled its own.
        """
        try:
            results = await asyncio.to_thread(self.predict_batch, [pending.item for pending in batch])
            if len(results) != len(batch):
                raise ValueError(f"predict_batch returned {len(results)} results for {len(batch)} inputs")
        except Exception as exc:
            for pending in batch:
                if not pending.future.done():
                    error = BatchError(f"the batch of {len(batch)} inputs failed: {exc!r}")
                    error.__cause__ = exc
                    pending.future.set_exception(error)
            return
        for pending, result in zip(batch, results):
            if not pending.future.done():
                pending.future.set_result(result)
