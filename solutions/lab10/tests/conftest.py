"""Given: fixtures for your tests of the service (Task 10.6). Read test_service.py first.

The service under test is the ``lab10`` package of the active target: your own (labs/) when you run
``pytest labs/lab10/tests``, and, when the checks run your tests, the reference service and copies of it
with one bug each. So test what a client sees over HTTP — status codes, headers, bodies — not the
functions inside.
"""

from typing import NamedTuple

import pytest
from starlette.testclient import TestClient

from labkit.datasets import IRIS_FEATURES, load_iris
from labkit.models import write_reference_models

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
JWT_SECRET = "tests-only-secret-0123456789abcdef-0123456789"  # HS256: sign your own tokens with it
RATE_LIMIT, RATE_PERIOD = 5, 10.0  # 5 predictions, then one more every 2 s (on the fake clock)
MAX_UPLOAD_BYTES = 50_000


class Credentials(NamedTuple):
    username: str
    password: str


class FakeClock:
    """The rate limiter's clock in your tests: ``clock.advance(seconds)`` instead of sleeping."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """The three reference models: newsgroups (text), logistic_regression and random_forest (iris)."""
    directory = tmp_path_factory.mktemp("models")
    write_reference_models(directory)
    return directory


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def user() -> Credentials:
    """The one user the service knows: ``user.username``, ``user.password``."""
    return Credentials(USERNAME, PASSWORD)


@pytest.fixture
def settings(model_dir):
    """The service's settings: the reference models, one user, small limits. Read them in your tests:
    ``settings.jwt_secret.get_secret_value()`` signs tokens (HS256), ``settings.rate_limit`` predictions are
    allowed per ``settings.rate_period`` seconds, ``settings.max_upload_bytes`` is the largest CSV."""
    from lab10.auth import hash_password
    from lab10.settings import Settings

    return Settings(model_dir=model_dir, jwt_secret=JWT_SECRET, token_ttl_seconds=600,
                    users={USERNAME: hash_password(PASSWORD, iterations=1_000)},
                    rate_limit=RATE_LIMIT, rate_period=RATE_PERIOD,
                    max_upload_bytes=MAX_UPLOAD_BYTES, batch_chunk_rows=50)


@pytest.fixture
def client(settings, clock):
    """A TestClient around a fresh service (its lifespan runs: the models are loaded)."""
    from lab10.app import create_app

    with TestClient(create_app(settings, clock=clock)) as test_client:
        yield test_client


@pytest.fixture
def auth_headers(client):
    """``{"Authorization": "Bearer <token>"}`` for USERNAME, from POST /token."""
    response = client.post("/token", data={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, f"logging in failed: {response.status_code} {response.text[:200]}"
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def iris_csv() -> bytes:
    """The 150 iris flowers as a CSV file with the header the service expects."""
    features, _, _ = load_iris()
    lines = [",".join(IRIS_FEATURES)] + [",".join(f"{value:g}" for value in row) for row in features]
    return ("\n".join(lines) + "\n").encode()
