from pathlib import Path

import pytest

from workbook.models import write_reference_models
from workbook.student import import_lab_module, lab_attr


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """Each check runs in an empty working directory with no MODEL_DIR: your own .env cannot interfere."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MODEL_DIR", raising=False)
    return workdir


@pytest.fixture(scope="session")
def shared_model_dir(tmp_path_factory) -> Path:
    """The three reference models (lab 3's format), written once."""
    model_dir = tmp_path_factory.mktemp("models")
    write_reference_models(model_dir)
    return model_dir


@pytest.fixture
def schemas():
    """The student's lab5/schemas.py (importing it runs Task 5.1's functions)."""
    return import_lab_module("lab5.schemas")


@pytest.fixture
def scoring():
    return import_lab_module("lab5.scoring")


@pytest.fixture
def app_module():
    return import_lab_module("lab5.app")


@pytest.fixture
def app(app_module, shared_model_dir):
    """Your app, serving the three reference models."""
    settings_class = lab_attr(import_lab_module("lab5.settings"), "Settings")
    return lab_attr(app_module, "create_app")(settings_class(model_dir=shared_model_dir))


@pytest.fixture
def limits(schemas):
    """The limits the schemas promise: MAX_CM, MAX_TEXT_CHARS, MAX_BATCH."""
    return {name: lab_attr(schemas, name) for name in ("MAX_CM", "MAX_TEXT_CHARS", "MAX_BATCH")}
