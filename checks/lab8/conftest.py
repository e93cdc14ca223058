import pytest

from labkit.models import write_reference_models
from labkit.registry import ModelEntry
from workbook.checkkit.clients import async_client as start_async_client
from workbook.checkkit.clients import sync_client
from workbook.checkkit.model_calls import count_pipeline_calls
from workbook.checkkit.student import import_lab_module, lab_attr

CACHE_SIZE = 4  # small, so the checks' inputs evict each other
API_KEY = "lab8-checks-key-0123456789abcdef"


@pytest.fixture
def disk_cache():
    """The student's lab8/disk_cache.py."""
    return import_lab_module("lab8.disk_cache")


@pytest.fixture
def memory_cache():
    """The student's lab8/memory_cache.py."""
    return import_lab_module("lab8.memory_cache")


@pytest.fixture
def model_entry():
    """The registry's ModelEntry (given, from labkit.registry), to describe the checks' fake models."""
    return ModelEntry


@pytest.fixture
def model_dir(tmp_path):
    """The three reference models, written fresh for this check (never the student's own models/)."""
    write_reference_models(tmp_path / "models")
    return tmp_path / "models"


@pytest.fixture
def settings(model_dir, tmp_path):
    """Settings for the app under test: the reference models and a fresh cache folder."""
    settings_class = lab_attr(import_lab_module("lab8.settings"), "Settings")
    return settings_class(
        model_dir=model_dir,
        cache_dir=tmp_path / "cache",
        cache_size=CACHE_SIZE,
        prediction_log=tmp_path / "logs" / "predictions.jsonl",
        api_key=API_KEY,
    )


@pytest.fixture
def app(settings):
    """The student's service, made by create_app(settings) from lab8/app.py."""
    return lab_attr(import_lab_module("lab8.app"), "create_app")(settings)


@pytest.fixture
def client(app):
    """The grader's sync client, sending the API key."""
    with sync_client(app, headers={"X-API-Key": API_KEY}) as test_client:
        yield test_client


@pytest.fixture
async def async_client(app):
    """The grader's async client, sending the API key."""
    async with start_async_client(app, headers={"X-API-Key": API_KEY}) as http:
        yield http


@pytest.fixture
def model_calls(monkeypatch):
    """Count every Pipeline.predict / predict_proba call while the check runs.

    Counting calls proves a cache hit without timing anything: a hit is an answer for which no model ran.
    """
    return count_pipeline_calls(monkeypatch, ("predict", "predict_proba"))


@pytest.fixture
def no_secret_output(capfd):
    """Watch every output stream for the whole check (stdout, stderr at the fd level too, every logging
    record, responses the check adds with ``client_saw``): the API key found anywhere fails the check."""
    from workbook.isolation.output_watch import guard_check

    yield from guard_check(capfd, {"the API key": API_KEY})
