"""Fixtures for the lab 11 checks.

Student code is imported only inside fixtures. The model is the workbook's own model2vec folder, loaded by
model2vec's loader, offline; ``spy_loads`` replaces ``StaticModel.from_pretrained`` by a counter that hands
out :class:`checks.lab11.reference.SpyModel`, so loads and ``encode`` calls are counted, never timed.
"""

from __future__ import annotations

import pytest

from checks.lab11.reference import SpyModel, real_model
from workbook.checkkit.student import import_lab_module, lab_attr


@pytest.fixture
def embedding():
    """The student's lab11/embedding.py."""
    return import_lab_module("lab11.embedding")


@pytest.fixture
def index_module():
    """The student's lab11/index.py."""
    return import_lab_module("lab11.index")


@pytest.fixture
def store():
    """The student's lab11/store.py."""
    return import_lab_module("lab11.store")


@pytest.fixture
def documents_module():
    """The student's lab11/documents.py."""
    return import_lab_module("lab11.documents")


@pytest.fixture
def spy_model():
    return SpyModel(real_model())


class LoadCounter:
    """``StaticModel.from_pretrained`` replaced: each call counted, answered with a fresh SpyModel."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.models: list[SpyModel] = []

    def __call__(self, path, *args, **kwargs):
        self.loads.append(str(path))
        model = SpyModel(real_model())
        self.models.append(model)
        return model

    @property
    def encode_calls(self) -> int:
        return sum(len(model.calls) for model in self.models)


@pytest.fixture
def spy_loads(monkeypatch):
    from model2vec import StaticModel

    real_model()  # loaded by model2vec's own loader before it is replaced (else the counter would recurse into it)
    counter = LoadCounter()
    monkeypatch.setattr(StaticModel, "from_pretrained", counter)
    return counter


@pytest.fixture
def make_app(tmp_path):
    """``make_app(**settings)``: the student's app with its store in a temporary folder."""

    def make(**overrides):
        settings_class = lab_attr(import_lab_module("lab11.settings"), "Settings")
        values = {"data_dir": tmp_path / "store", **overrides}
        return lab_attr(import_lab_module("lab11.app"), "create_app")(settings_class(**values))

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client_for():
    """``with client_for(app) as client:`` — a TestClient with the app's lifespan running (a restart: a new app)."""
    from workbook.checkkit.clients import sync_client

    return sync_client
