"""Fixtures of the lab 10 checks: the student's service on the reference models, a fake clock, a user.

Each task's checks exercise that task's code: the rate limiter (Task 10.4) is switched off with
``app.dependency_overrides`` except in its own checks, and the batch checks log in the same way, so a
task you have not done yet does not fail another task's checks. Every error still goes through your
Task 10.1 handlers: do 10.1 first.
"""

import shutil

import pytest

from checks.lab10.common import (
    CHUNK_ROWS,
    JWT_SECRET,
    MAX_UPLOAD_BYTES,
    PASSWORD,
    SETTINGS_ENV,
    TOKEN_TTL,
    USERNAME,
    FakeClock,
)
from labkit.models import write_reference_models
from workbook.checkkit.model_calls import count_pipeline_calls
from workbook.checkkit.student import import_lab_module, lab_attr


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """Each check runs in an empty working directory without the service's variables: your .env and
    shell cannot change what the checks see."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    return workdir


@pytest.fixture(scope="session")
def shared_model_dir(tmp_path_factory):
    """The three reference models, written once for the checks that only read them."""
    model_dir = tmp_path_factory.mktemp("models")
    write_reference_models(model_dir)
    return model_dir


@pytest.fixture
def model_dir(shared_model_dir, tmp_path):
    """A private copy of the reference models, for checks that break one."""
    return shutil.copytree(shared_model_dir, tmp_path / "models")


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def auth():
    return import_lab_module("lab10.auth")


@pytest.fixture
def errors():
    return import_lab_module("lab10.errors")


@pytest.fixture
def make_settings(shared_model_dir, auth):
    """Settings(...) for the service under test: the reference models, one user, generous limits."""
    settings_class = lab_attr(import_lab_module("lab10.settings"), "Settings")

    def make(**overrides):
        values = dict(
            model_dir=shared_model_dir,
            jwt_secret=JWT_SECRET,
            token_ttl_seconds=TOKEN_TTL,
            users={USERNAME: auth.hash_password(PASSWORD, iterations=1_000)},
            max_upload_bytes=MAX_UPLOAD_BYTES,
            batch_chunk_rows=CHUNK_ROWS,
            rate_limit=1_000,
            rate_period=1.0,
        )
        return settings_class(**{**values, **overrides})

    return make


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def make_app(clock):
    """create_app(settings, clock=clock) from the student's lab10/app.py.

    ``rate_limited=False`` replaces the rate limit dependency by one that lets everything through;
    ``logged_in_as="alice"`` replaces ``current_user`` by one that returns that name.
    """
    create_app = lab_attr(import_lab_module("lab10.app"), "create_app")
    enforce_rate_limit = lab_attr(import_lab_module("lab10.ratelimit"), "enforce_rate_limit")
    current_user = lab_attr(import_lab_module("lab10.auth"), "current_user")

    def make(settings, *, rate_limited=False, logged_in_as=None):
        app = create_app(settings, clock=clock)
        if not rate_limited:
            app.dependency_overrides[enforce_rate_limit] = lambda: None
        if logged_in_as is not None:
            app.dependency_overrides[current_user] = lambda: logged_in_as
        return app

    return make


@pytest.fixture
def app(make_app, settings):
    return make_app(settings)


@pytest.fixture
def model_calls(monkeypatch):
    """Count every Pipeline.predict call while the check runs."""
    return count_pipeline_calls(monkeypatch, ("predict",))


@pytest.fixture
def no_secret_output(capfd):
    """Watch every output stream for the whole check (stdout, stderr at the fd level too, every logging
    record, responses the check adds with ``client_saw``): the password or the JWT secret found anywhere
    fails the check. Under uvicorn or in a container stdout and stderr are the log."""
    from checks.lab10.common import JWT_SECRET, PASSWORD
    from workbook.isolation.output_watch import guard_check

    yield from guard_check(
        capfd,
        {
            "the password": PASSWORD,
            "a wrong password (often a typo of the right one)": PASSWORD + "!",
            "the JWT secret": JWT_SECRET,
        },
    )
