"""Fixtures and test doubles for the lab 9 checks.

Student code is imported only inside fixtures. The checks count ``predict`` calls with
:class:`SpyPipeline`, which wraps a real pipeline and notes, for every call, how many rows it got and
whether it ran on the event loop's thread; a gated spy also holds ``predict`` until the check releases
it, so "the loop stayed free while the model worked" is observed, not timed.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest

from labkit.models import write_reference_models
from workbook.checkkit.event_loop import on_an_event_loop
from workbook.checkkit.student import import_lab_module, lab_attr

GATE_TIMEOUT = 3.0  # a gated predict gives up waiting after this long, so a blocked loop cannot hang a check
MICROBATCH_WAIT = 0.02  # seconds; the checks' micro-batchers wait this long for company


class SpyPipeline:
    """A real pipeline that records its ``predict`` calls (and, gated, waits to be released)."""

    def __init__(self, real, gated: bool = False):
        self.real = real
        self.gated = gated
        self.calls = 0
        self.rows: list[int] = []
        self.ran_on_loop: list[bool] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def predict(self, rows):
        with self._lock:
            self.calls += 1
            self.rows.append(len(rows))
            self.ran_on_loop.append(on_an_event_loop())
        self.entered.set()
        if self.gated:
            self.release.wait(GATE_TIMEOUT)
        try:
            return self.real.predict(rows)
        finally:
            self.finished.set()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The reference models, written once per module into a temporary folder."""
    folder = tmp_path_factory.mktemp("models")
    write_reference_models(folder)
    return folder


@pytest.fixture
def lab_settings(model_dir):
    """Settings for the checks: the reference models, a 20 ms micro-batch wait, no response cache."""
    settings_class = lab_attr(import_lab_module("lab9.settings"), "Settings")
    return settings_class(
        model_dir=model_dir, microbatch_max_size=64, microbatch_max_wait=MICROBATCH_WAIT, cache_size=0
    )


@pytest.fixture
def app(lab_settings):
    """The student's FastAPI app from lab9/app.py, built with the checks' settings."""
    return lab_attr(import_lab_module("lab9.app"), "create_app")(lab_settings)


@pytest.fixture
def add_spy():
    """``add_spy(app, like="random_forest", name=..., gated=False)``: serve a spy of a loaded model."""

    def add(app, like: str = "random_forest", name: str = "spy_forest", gated: bool = False) -> SpyPipeline:
        registry = app.state.registry
        real = registry.get(like)
        spy = SpyPipeline(real.pipeline, gated=gated)
        registry.add(dataclasses.replace(real, name=name, pipeline=spy))
        return spy

    return add


@pytest.fixture
def batching():
    """The student's lab9/batching.py."""
    return import_lab_module("lab9.batching")


@pytest.fixture
def predicting():
    """The student's lab9/predicting.py."""
    return import_lab_module("lab9.predicting")


@pytest.fixture
def flask_module():
    """The student's lab9/flask_app.py."""
    return import_lab_module("lab9.flask_app")
