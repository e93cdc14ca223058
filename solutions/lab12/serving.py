"""Lab 12 — past one machine: the prediction service deployed on Ray Serve, without rewriting it.

Read notebooks/12_ray_serve.ipynb first. The routes (routes.py) and the app (app.py) are lab 9's service,
given. You make it a Ray Serve deployment:

* Task 12.1 ``PredictionService.__init__``: one replica's set-up — its models, loaded once, in its own process.
* Task 12.2 ``PredictionService.predict_forest``: the ``@serve.batch`` method that answers the random forest's
  single predictions, gathered from concurrent requests, with one ``predict`` call.
* Task 12.3 :func:`build`: the deployment, bound to its settings, with ``settings.num_replicas`` replicas.
* Task 12.4 :func:`autoscaling_config`: the autoscaling bounds Ray Serve scales the replicas within.

Given: the deployment's wiring. ``serve.ingress()`` without an app makes Ray call
``__serve_build_asgi_app__`` in each replica after the constructor: it builds the given FastAPI app around the
replica itself, so the routes call this replica's ``predict`` and ``predict_many``.

Run it for real (from the repository root; ``MODEL_DIR`` defaults to ``models``)::

    PYTHONPATH=solutions:. serve run lab12.serving:app_builder     # or labs:.

Check it: ``pytest checks/lab12``. The checks start a local Ray (two CPUs, no dashboard) in a network namespace
of their own, deploy ``build(settings)`` and, scaled within your ``autoscaling_config``, the same service again, send
them requests over HTTP, count the autoscaled replicas under a load and after it, and end Ray.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from ray import serve
from ray.serve import Application

from labkit.registry import ModelEntry, ModelRegistry

from .app import create_app
from .predicting import predict_indices
from .service import Service
from .settings import Settings

MAX_BATCH_SIZE = 16  # the most single predictions one @serve.batch call gathers (settings.max_batch_size)
BATCH_WAIT_TIMEOUT_S = 0.05  # ... and how long it waits for company after the first (settings.batch_wait_timeout_s)


class PredictionService(Service):
    """One replica of the prediction service: Ray Serve starts ``num_replicas`` of them, each a process.

    The routes call ``predict`` and ``predict_many`` (given): ``predict`` sends the batched model
    (``settings.batched_model``, the random forest) through ``predict_forest``, every other model straight to
    the thread pool.
    """

    def __init__(self, settings: Settings) -> None:  # Task 12.1
        """Set the replica up: keep ``settings`` as ``self.settings`` and load the models, once.

        ``self.registry`` must be a ``labkit.registry.ModelRegistry`` holding every model of
        ``settings.model_dir`` (``registry.load_dir(settings.model_dir)``) by the time the constructor returns.
        Ray runs the constructor once in each replica's process: this is the lifespan of lab 4, per replica.
        Load nothing anywhere else — not at import (the driver that deploys would load models it never serves),
        not per request (every prediction would read and unpickle the file again).
        """
        self.settings = settings
        self.registry = ModelRegistry()
        self.registry.load_dir(settings.model_dir)

    def __serve_build_asgi_app__(self) -> FastAPI:
        """Given: Ray calls this in the replica after the constructor; the routes then call this replica."""
        return create_app(self.settings, service=self)

    async def predict(self, entry: ModelEntry, item: Any) -> int:
        """Given: one input's class index; the batched model's single predictions go through ``predict_forest``."""
        if entry.name == self.settings.batched_model:
            return int(await self.predict_forest(item))
        return await super().predict(entry, item)

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_TIMEOUT_S)
    async def predict_forest(self, rows: list[list[float]]) -> list[int]:  # Task 12.2
        """The class indices of ``rows``, in order, from ONE ``predict`` call of the batched model.

        ``@serve.batch`` (given above) changes how this method is called: each request calls
        ``await self.predict_forest(row)`` with ONE row and gets ONE class index back, but Ray gathers the rows
        of concurrent calls — up to ``max_batch_size`` of them, waiting at most ``batch_wait_timeout_s`` after
        the first — and calls the body below once with the list. So the body receives a list of rows (each the
        four measurements) and must return a list of the same length, in the same order: one ``int`` class index
        per row. Find the model with ``self.registry.get(self.settings.batched_model)``, and predict every row in
        one call off the event loop: ``await run_in_threadpool(predict_indices, entry, rows)`` — never a loop of
        one-row predictions, which would throw the batch away.
        """
        entry = self.registry.get(self.settings.batched_model)
        indices = await run_in_threadpool(predict_indices, entry, rows)
        return [int(index) for index in indices]


# Given: the Ray Serve deployment of the class above. serve.ingress() without an app defers the app to each
# replica (``__serve_build_asgi_app__``); the class itself stays a plain class you can also try without Ray.
PredictionDeployment = serve.deployment(name="PredictionService")(serve.ingress()(PredictionService))


def build(settings: Settings) -> Application:  # Task 12.3
    """The application to deploy: ``PredictionDeployment`` with ``settings.num_replicas`` replicas, bound to
    ``settings``.

    ``PredictionDeployment.options(num_replicas=...)`` sets how many replicas Ray Serve starts (each one a
    process that runs the constructor); ``.bind(settings)`` passes ``settings`` to every replica's constructor.
    ``serve.run(build(settings))`` then deploys it and routes the HTTP requests over the replicas.
    """
    return PredictionDeployment.options(num_replicas=settings.num_replicas).bind(settings)


def autoscaling_config(settings: Settings) -> dict[str, Any]:  # Task 12.4
    """The autoscaling bounds of the deployment, from ``settings``, as the dict Ray Serve takes.

    Return ``{"min_replicas": ..., "max_replicas": ..., "target_ongoing_requests": ...}`` with the values of
    ``settings.min_replicas``, ``settings.max_replicas`` and ``settings.target_ongoing_requests``: Ray Serve
    keeps between ``min_replicas`` and ``max_replicas`` replicas and adds one when the requests in flight per
    replica stay above ``target_ongoing_requests``. Bounds that make no sense (a minimum above the maximum)
    must not reach Ray: raise ``ValueError`` saying which.
    """
    low, high = settings.min_replicas, settings.max_replicas
    if low > high:
        raise ValueError(f"min_replicas ({low}) is above max_replicas ({high})")
    return {"min_replicas": low, "max_replicas": high, "target_ongoing_requests": settings.target_ongoing_requests}


def build_autoscaled(settings: Settings) -> Application:
    """Given: the same application, scaled by Ray Serve within :func:`autoscaling_config`'s bounds."""
    return PredictionDeployment.options(autoscaling_config=autoscaling_config(settings)).bind(settings)


def app_builder(args: dict[str, str]) -> Application:
    """Given: for ``serve run lab12.serving:app_builder model_dir=models``; binding loads nothing (replicas do)."""
    return build(Settings(**args))
