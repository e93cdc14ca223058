"""Given: the service the routes call — the models, and how a prediction is made.

:class:`Service` is the contract: ``registry`` (a ``labkit.registry.ModelRegistry``), ``settings`` and two
coroutines, ``predict(entry, item)`` for one input and ``predict_many(entry, items)`` for a batch, both
giving class indices. :class:`LocalService` is lab 9's way (one process, the model in the thread pool);
``serving.PredictionService`` is the Ray Serve replica, which sends the batched model through
``@serve.batch``.
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool

from labkit.registry import ModelEntry, ModelRegistry

from .predicting import predict_indices
from .settings import Settings


class Service:
    """Given: the models and the predictions, as the routes see them."""

    settings: Settings
    registry: ModelRegistry

    async def predict(self, entry: ModelEntry, item: Any) -> int:
        """One input's class index (the model runs in the thread pool, never on the event loop)."""
        return int((await run_in_threadpool(predict_indices, entry, [item]))[0])

    async def predict_many(self, entry: ModelEntry, items: list[Any]) -> list[int]:
        """Many inputs' class indices from ONE ``predict`` call."""
        return [int(index) for index in await run_in_threadpool(predict_indices, entry, items)]


class LocalService(Service):
    """Given: lab 9's service in one process (uvicorn): the lifespan loads the models once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = ModelRegistry()

    def load(self) -> None:
        self.registry.load_dir(self.settings.model_dir)
