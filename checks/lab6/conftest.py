import shutil

import pytest

from labkit.models import reference_model, write_model, write_reference_models
from workbook.checkkit.student import import_lab_module, lab_attr

BROKEN_MODEL = "mislabelled_iris"  # an iris model saved with one class name instead of three


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The three reference models, written once for the session (never the student's own models/)."""
    folder = tmp_path_factory.mktemp("lab6-models")
    write_reference_models(folder)
    return folder


@pytest.fixture(scope="session")
def model_dir_with_broken_model(model_dir, tmp_path_factory):
    """The reference models plus one that loads but fails when it predicts anything but class 0.

    Saved with the target names ["setosa"] only, it raises IndexError for a versicolor: a model file
    written with the wrong names, the kind of fault that shows up only while a job runs.
    """
    folder = tmp_path_factory.mktemp("lab6-models-broken")
    for path in model_dir.iterdir():
        shutil.copy(path, folder / path.name)
    pipeline, _ = reference_model("logistic_regression")
    write_model(pipeline, ["setosa"], folder / f"{BROKEN_MODEL}.joblib")
    return folder


@pytest.fixture
def prediction_log():
    """The student's lab6/prediction_log.py."""
    return import_lab_module("lab6.prediction_log")


@pytest.fixture
def jobs_module():
    """The student's lab6/jobs.py."""
    return import_lab_module("lab6.jobs")


@pytest.fixture
def make_settings(tmp_path, model_dir):
    """Settings(model_dir, prediction_log in a folder that does not exist yet, log_delay)."""
    settings_class = lab_attr(import_lab_module("lab6.settings"), "Settings")

    def make(log_delay: float = 0.0, models=None):
        return settings_class(
            model_dir=models or model_dir, log_delay=log_delay, prediction_log=tmp_path / "logs" / "predictions.jsonl"
        )

    return make


@pytest.fixture
def create_app():
    """The student's create_app from lab6/app.py."""
    return lab_attr(import_lab_module("lab6.app"), "create_app")


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def app(create_app, settings):
    """The student's service with the reference models and a fast log (log_delay 0)."""
    return create_app(settings)
