"""Counting model calls: how checks prove "no model ran" (a cache hit) or "one call per batch" without timing.

``count_pipeline_calls(monkeypatch, ("predict",))`` wraps those scikit-learn ``Pipeline`` methods for the
rest of the check and returns a counter; calls from any thread count, so threadpool routes are seen too.
"""

from __future__ import annotations

import threading

from sklearn.pipeline import Pipeline


class ModelCalls:
    """How many times the wrapped pipeline methods ran, from any thread."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


def count_pipeline_calls(monkeypatch, methods: tuple[str, ...]) -> ModelCalls:
    """Wrap each of ``Pipeline``'s ``methods`` with a counter until the check ends; return the counter."""
    calls = ModelCalls()
    for method in methods:
        original = getattr(Pipeline, method)

        def counted(self, *args, _original=original, **kwargs):
            calls.add()
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Pipeline, method, counted)
    return calls


def slow_pipelines(monkeypatch, seconds: float) -> None:
    """Every ``Pipeline.predict`` / ``predict_proba`` blocks ``seconds`` first, for the rest of the check: a heavy
    model, so a check can see the event loop blocked, or get a lower bound on a latency no machine undercuts."""
    import time

    for method in ("predict", "predict_proba"):
        original = getattr(Pipeline, method)

        def slow(self, *args, _original=original, **kwargs):
            time.sleep(seconds)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Pipeline, method, slow)
