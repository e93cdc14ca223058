import os
import sys
from pathlib import Path

import joblib
import pytest

from labkit.models import write_reference_models
from workbook.checkkit.student import import_lab_module, lab_attr
from workbook.target import is_lab_module


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
    """The three reference models (lab 3's format), written once for the checks that only read them."""
    model_dir = tmp_path_factory.mktemp("models")
    write_reference_models(model_dir)
    return model_dir


@pytest.fixture
def model_dir(tmp_path) -> Path:
    """A private copy of the reference models, for checks that tamper with them."""
    write_reference_models(tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture
def settings_module():
    return import_lab_module("lab4.settings")


@pytest.fixture
def registry_module():
    return import_lab_module("lab4.registry")


@pytest.fixture
def predictor_module():
    return import_lab_module("lab4.predictor")


@pytest.fixture
def schemas_module():
    return import_lab_module("lab4.schemas")


@pytest.fixture
def app_module():
    return import_lab_module("lab4.app")


@pytest.fixture
def make_settings(settings_module):
    """Settings for a given model folder, built without running your validator (Task 4.1 is graded on its own)."""
    settings_class = lab_attr(settings_module, "Settings")

    def make(model_dir: Path):
        return settings_class.model_construct(model_dir=Path(model_dir))

    return make


@pytest.fixture
def make_app(app_module, make_settings):
    """``make_app(model_dir)``: your create_app with settings pointing at ``model_dir``."""
    create_app = lab_attr(app_module, "create_app")
    return lambda model_dir: create_app(make_settings(model_dir))


@pytest.fixture
def app(make_app, shared_model_dir):
    """Your app, serving the three reference models."""
    return make_app(shared_model_dir)


class LoadRecorder:
    """Every ``joblib.load`` call: the file names, in order."""

    def __init__(self) -> None:
        self.files: list[str] = []

    def __len__(self) -> int:
        return len(self.files)

    def summary(self) -> str:
        return f"{len(self.files)} load(s): {', '.join(self.files) or 'none'}"


@pytest.fixture
def joblib_loads(monkeypatch):
    """Record ``joblib.load`` calls, then import lab 4 afresh so that ``from joblib import load`` is recorded too."""
    recorder = LoadRecorder()
    real_load = joblib.load

    def recording_load(filename, *args, **kwargs):
        recorder.files.append(Path(filename).name if isinstance(filename, (str, os.PathLike)) else repr(filename))
        return real_load(filename, *args, **kwargs)

    monkeypatch.setattr(joblib, "load", recording_load)
    forget_lab4()
    yield recorder
    forget_lab4()


def forget_lab4() -> None:
    """Drop every lab4 module from sys.modules, so the next import runs the module code again."""
    for name in [n for n in sys.modules if is_lab_module(n) and n.split(".")[0] == "lab4"]:
        del sys.modules[name]
