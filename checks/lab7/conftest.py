import asyncio

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request

from labkit.docs import serve_docs_offline
from labkit.models import write_reference_models
from workbook.checkkit.constant_time import record_compare_digest
from workbook.checkkit.student import import_lab_module, lab_attr

API_KEY = "s3cret-Key_for-the-checks-0123456789"
WRONG_KEY = "s3cret-Key_for-the-checks-0123456788"  # one character off: a typo of the real key
ALLOWED_ORIGIN = "https://dashboard.example.com"
SLOW_ROUTE = 0.25  # seconds GET /slow of the checks' logged app takes


@pytest.fixture
def auth():
    """The student's lab7/auth.py."""
    return import_lab_module("lab7.auth")


@pytest.fixture
def request_log():
    """The student's lab7/request_log.py."""
    return import_lab_module("lab7.request_log")


@pytest.fixture
def settings_class():
    return lab_attr(import_lab_module("lab7.settings"), "Settings")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The three reference models, written once for the session (never the student's own models/)."""
    folder = tmp_path_factory.mktemp("lab7-models")
    write_reference_models(folder)
    return folder


@pytest.fixture
def settings(settings_class, model_dir):
    return settings_class(model_dir=model_dir, api_key=API_KEY, cors_origins=[ALLOWED_ORIGIN])


@pytest.fixture
def app(settings):
    """The student's whole service, made by create_app(settings) from lab7/app.py."""
    return lab_attr(import_lab_module("lab7.app"), "create_app")(settings)


@pytest.fixture
def dependency_app(auth, settings):
    """A small app of the checks' own: GET /secret needs the student's require_api_key, nothing else."""
    small = FastAPI()
    small.state.settings = settings

    @small.get("/secret", dependencies=[Depends(lab_attr(auth, "require_api_key"))])
    async def secret():
        return {"secret": "the cake is in the fridge"}

    return small


def add_service_routes(small: FastAPI) -> FastAPI:
    """/health, /models and /predict/{name} (answers made up: these checks test what wraps the routes)."""

    @small.get("/health")
    async def health():
        return {"status": "ok"}

    @small.get("/models")
    async def models():
        return [{"name": "newsgroups"}]

    @small.post("/predict/{name}")
    async def predict(name: str):
        return {"model": name, "label": "sci.space"}

    return small


@pytest.fixture
def middleware_app(auth, settings):
    """The service's routes and offline /docs, behind the student's ApiKeyMiddleware alone."""
    small = serve_docs_offline(add_service_routes(FastAPI()))
    small.add_middleware(lab_attr(auth, "ApiKeyMiddleware"), api_key=settings.api_key)
    return small


@pytest.fixture
def logged_app(request_log):
    """Routes that answer 200, 403 and crash, behind the student's RequestLogMiddleware alone."""
    small = add_service_routes(FastAPI())

    @small.get("/forbidden")
    async def forbidden():
        raise HTTPException(status_code=403, detail="not for you")

    @small.get("/boom")
    async def boom():
        raise RuntimeError("the model server fell over")

    @small.get("/whoami")
    async def whoami(request: Request):
        return {"request_id": getattr(request.state, "request_id", None)}

    @small.get("/slow")
    async def slow():
        await asyncio.sleep(SLOW_ROUTE)  # a lower bound for X-Process-Time and duration_ms
        return {"status": "ok"}

    small.add_middleware(lab_attr(request_log, "RequestLogMiddleware"))
    return small


@pytest.fixture
def compare_digest_calls(monkeypatch, auth):
    """Every call of compare_digest while the check runs, however auth.py imported it."""
    return record_compare_digest(monkeypatch, auth)


SECRETS = {"the API key": API_KEY, "a wrong key (often a typo of the right one)": WRONG_KEY}


@pytest.fixture
def no_secret_output(capfd):
    """Watch every output stream for the whole check (stdout, stderr at the fd level too, every logging
    record, and responses the check adds with ``client_saw``); a key found anywhere fails the check."""
    from workbook.isolation.output_watch import guard_check

    yield from guard_check(capfd, SECRETS)
