from pathlib import Path
from typing import Annotated

import pytest
from fastapi import FastAPI, Query

from labkit.models import write_reference_models
from labkit.validation_errors import install_safe_validation_handler
from workbook.checkkit.clients import sync_client
from workbook.checkkit.student import import_lab_module, lab_attr


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


def reference_routes_for(schemas) -> FastAPI:
    """The routes of Tasks 5.3-5.4 done the reference way around *your* schemas (Task 5.1's checks).

    Task 5.1 is graded over HTTP, because a 422 must name the field; going through these routes instead of
    yours means a wrong route of Task 5.3 never costs Task 5.1 points.
    """
    IrisFeatures = lab_attr(schemas, "IrisFeatures")
    PredictionInput = lab_attr(schemas, "PredictionInput")
    app = FastAPI(title="Task 5.1: your schemas behind the reference routes")
    install_safe_validation_handler(app)

    def from_query(features: Annotated[IrisFeatures, Query()]) -> dict:
        return {"accepted": features.model_dump()}

    def from_body(features: IrisFeatures) -> dict:
        return {"accepted": features.model_dump()}

    def predict(model_name: str, payload: PredictionInput) -> dict:
        return {"accepted": payload.model_dump()}

    app.get("/predictions")(from_query)
    app.post("/predictions")(from_body)
    app.post("/predict/{model_name}")(predict)
    return app


@pytest.fixture
def schema_app(schemas):
    return reference_routes_for(schemas)


@pytest.fixture
def schema_client(schema_app):
    """A client of the reference routes around your schemas."""
    with sync_client(schema_app) as client:
        yield client
