"""The conformance run: every solution app answers only what its own OpenAPI document says.

Schemathesis reads each app's ``/openapi.json``, generates requests from it — valid ones (positive) and
ones the schema forbids (negative) — sends them in-process, and checks every answer:

* ``not_a_server_error``: never a 5xx;
* ``status_code_conformance``: the status is one the operation documents (a 401, 404, 413 or 503 included);
* ``content_type_conformance`` and ``response_schema_conformance``: the body is the documented type and
  validates against the documented schema (the 422s against ``HTTPValidationError`` or the lab's own error);
* ``response_headers_conformance``: documented headers are there and valid;
* ``negative_data_rejection``: a request the schema forbids is refused (JSON ``true`` or ``"5.1"`` is not a
  measurement), so the documented schema is as strict as the app.

Routes behind a key or a token run twice: with the credential (the routes themselves) and without (the
401s); a ``{model_name}`` in a path is as often a served model as a generated name. Generation is
derandomized and bounded (``EXAMPLES``), offline, and nothing is shrunk: each app runs a fixed list of
cases, and a failure lists every distinct problem found, each with a request that shows it (curl).

``test_hand_made_nasty_requests`` sends what random generation may miss: booleans and numeric strings as
measurements, a 20 MiB body, and a body whose 422 would echo it many times.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labkit.models import write_reference_models
from workbook.checkkit.clients import sync_client
from workbook.paths import SOLUTIONS
from workbook.target import activate

pytestmark = pytest.mark.conformance

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 8}  # per operation, per mode, per credential
API_KEY = "conformance-run-key"
JWT_SECRET = "conformance-run-secret-of-at-least-32-chars"
USERNAME, PASSWORD = "alice", "wonderland"
MODELS = ("logistic_regression", "random_forest", "newsgroups")  # written by write_reference_models


@dataclass
class Service:
    """An app under test, and the credentials its secured operations are also tried with."""

    app: object
    credentials: dict[str, str] | None = None


def lab_module(name: str):
    """A module of the reference solutions (``lab7.app``)."""
    activate(SOLUTIONS)
    return importlib.import_module(name)


async def no_wait(seconds: float) -> None:
    pass


def lab2(tmp_path, models, monkeypatch) -> Service:
    """Lab 2's slow routes really sleep ``delay`` seconds (up to 5): here they only say they did."""
    module = lab_module("lab2.app")
    monkeypatch.setattr(module, "time", SimpleNamespace(sleep=lambda seconds: None))
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=no_wait))
    return Service(module.app)


def lab4(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab4.settings").Settings(model_dir=models)
    return Service(lab_module("lab4.app").create_app(settings))


def lab5(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab5.settings").Settings(model_dir=models)
    return Service(lab_module("lab5.app").create_app(settings))


def lab6(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab6.settings").Settings(
        model_dir=models, prediction_log=tmp_path / "logs" / "predictions.jsonl"
    )
    return Service(lab_module("lab6.app").create_app(settings))


def lab7(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab7.settings").Settings(
        model_dir=models, api_key=API_KEY, cors_origins=["http://localhost:5173"]
    )
    return Service(lab_module("lab7.app").create_app(settings), credentials={"X-API-Key": API_KEY})


def lab8(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab8.settings").Settings(
        model_dir=models,
        api_key=API_KEY,
        cache_dir=tmp_path / "cache",
        prediction_log=tmp_path / "logs" / "predictions.jsonl",
    )
    return Service(lab_module("lab8.app").create_app(settings), credentials={"X-API-Key": API_KEY})


def lab9(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab9.settings").Settings(model_dir=models, microbatch_max_wait=0.0)
    return Service(lab_module("lab9.app").create_app(settings))


def lab10(tmp_path, models, monkeypatch) -> Service:
    auth = lab_module("lab10.auth")
    # A failed login checks a dummy hash of 600,000 PBKDF2 rounds (so unknown users take as long): cheap here.
    monkeypatch.setattr(auth, "UNKNOWN_USER_HASH", auth.hash_password("nobody", iterations=1_000))
    settings = lab_module("lab10.settings").Settings(
        model_dir=models,
        jwt_secret=JWT_SECRET,
        users={USERNAME: auth.hash_password(PASSWORD, iterations=1_000)},
        rate_limit=1_000_000,
    )
    token = auth.create_access_token(USERNAME, settings)
    return Service(lab_module("lab10.app").create_app(settings), credentials={"Authorization": f"Bearer {token}"})


def lab11(tmp_path, models, monkeypatch) -> Service:
    settings = lab_module("lab11.settings").Settings(data_dir=tmp_path / "store")
    return Service(lab_module("lab11.app").create_app(settings))


def lab12(tmp_path, models, monkeypatch) -> Service:
    # Lab 12 is lab 9's service deployed on Ray Serve: each replica builds this same app around itself
    # (create_app(settings, service=replica)), so the app served locally is the schema Ray serves too.
    settings = lab_module("lab12.settings").Settings(model_dir=models)
    return Service(lab_module("lab12.app").create_app(settings))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The reference models, written once for every app of this file (no app changes its model files)."""
    folder = tmp_path_factory.mktemp("models")
    write_reference_models(folder)
    return folder


SERVICES = {
    "lab2": lab2,
    "lab4": lab4,
    "lab5": lab5,
    "lab6": lab6,
    "lab7": lab7,
    "lab8": lab8,
    "lab9": lab9,
    "lab10": lab10,
    "lab11": lab11,
    "lab12": lab12,
}


def strategy(operation, mode: GenerationMode):
    """The operation's cases; a ``{model_name}`` in the path is as often a served model as a generated name."""
    names = {parameter.name for parameter in operation.path_parameters}
    if "model_name" not in names:
        return operation.as_strategy(generation_mode=mode)
    return st.one_of(
        operation.as_strategy(generation_mode=mode),
        *(operation.as_strategy(generation_mode=mode, path_parameters={"model_name": name}) for name in MODELS),
    )


def run_operation(
    operation, service: Service, headers: dict[str, str] | None, mode: GenerationMode, problems: dict[str, str]
) -> int:
    """Send ``EXAMPLES[mode]`` generated cases to one operation; record each new problem; return the count."""
    sent = 0

    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy(operation, mode))
    def send(case) -> None:
        nonlocal sent
        sent += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (FailureGroup, Exception) as exc:  # the checks that failed, or the app's own exception
            failures = getattr(exc, "exceptions", [exc])
            for failure in failures:
                title = getattr(failure, "title", type(failure).__name__)
                key = f"{operation.label} [{mode.value}, {'with' if headers else 'without'} credentials]: {title}"
                problems.setdefault(key, f"{exc}"[:3000])

    try:
        send()
    except Unsatisfiable:  # nothing to negate: an operation without parameters or body has no negative case
        if mode is GenerationMode.POSITIVE:
            raise
    return sent


@pytest.mark.parametrize("lab", SERVICES)
def test_every_answer_is_documented(lab, tmp_path, models, monkeypatch):
    service = SERVICES[lab](tmp_path, models, monkeypatch)
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    problems: dict[str, str] = {}
    counts = {}
    started = time.perf_counter()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            # Without credentials every operation; with them again the secured ones (a key or a token).
            secured = bool(operation.definition.raw.get("security")) and service.credentials is not None
            for headers in [None, service.credentials] if secured else [None]:
                for mode in EXAMPLES:
                    counts[operation.label] = counts.get(operation.label, 0) + run_operation(
                        operation, service, headers, mode, problems
                    )
    finally:
        asgi.shutdown_lifespans()
    elapsed = time.perf_counter() - started
    print(f"{lab}: {sum(counts.values())} cases in {elapsed:.1f} s: {counts}")
    assert not problems, f"{lab}: {len(problems)} problems:\n\n" + "\n\n".join(
        f"== {key}\n{text}" for key, text in problems.items()
    )


SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
NOT_NUMBERS = {"JSON true": True, "JSON false": False, 'the string "5.1"': "5.1"}
MODEL_LABS = [lab for lab in SERVICES if lab not in ("lab2", "lab11")]  # lab 11 serves no /predict route


@pytest.mark.parametrize("lab", MODEL_LABS)
def test_hand_made_nasty_requests(lab, tmp_path, models, monkeypatch):
    """What random generation may miss: booleans and strings as measurements, a huge body, a huge 422."""
    service = SERVICES[lab](tmp_path, models, monkeypatch)
    with sync_client(service.app, raise_server_exceptions=False, headers=service.credentials or {}) as client:
        for what, value in NOT_NUMBERS.items():
            if lab == "lab5" and isinstance(value, str):
                continue  # lab 5's IrisFeatures also reads GET /predictions' query string, where "5.1" is a number
            response = client.post("/predict/random_forest", json={**SETOSA, "petal_width": value})
            assert response.status_code == 422, f"{lab}: {what} as a measurement answered {response.status_code}"
        assert client.post("/predict/random_forest", json=SETOSA).status_code == 200, f"{lab}: a good body failed"
        huge = b'{"text": "' + b"x" * (20 << 20) + b'"}'
        response = client.post("/predict/newsgroups", content=huge, headers={"content-type": "application/json"})
        assert response.status_code == 413, f"{lab}: a 20 MiB body answered {response.status_code}"
        # Just under every limit, with many wrong fields: the 422 must not echo the body again and again.
        wrong = {f"field_{n}": "y" * 20_000 for n in range(40)}
        response = client.post("/predict/newsgroups", json=wrong)
        assert response.status_code == 422, f"{lab}: 40 unknown fields answered {response.status_code}"
        assert len(response.content) < 20_000, f"{lab}: a 422 of {len(response.content)} bytes for an 800 kB body"
