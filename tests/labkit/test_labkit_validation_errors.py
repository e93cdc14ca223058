"""labkit.validation_errors: refused input stays a 422 whatever it echoes (labs 4 onwards install it)."""

import math

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from labkit.validation_errors import install_safe_validation_handler, json_safe
from workbook.checkkit.clients import sync_client


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    value: float = Field(gt=0, le=10)
    note: str = Field(default="", max_length=5)


def make_app(safe: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/readings")
    def add(reading: Reading) -> Reading:
        return reading

    return install_safe_validation_handler(app) if safe else app


BAD_BODIES = {
    "NaN": ('{"value": NaN}', "application/json"),
    "Infinity": ('{"value": Infinity}', "application/json"),
    "1e999": ('{"value": 1e999}', "application/json"),
    "binary body": (b"\x89PNG\r\n\x1a\n\x00", "image/png"),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_default_handler_turns_these_into_500s(name):
    """The reason the helper exists: if FastAPI fixes this, the helper (and notebook 5's story) can go."""
    content, content_type = BAD_BODIES[name]
    with sync_client(make_app(safe=False), raise_server_exceptions=False) as client:
        response = client.post("/readings", content=content, headers={"content-type": content_type})
    assert response.status_code == 500, f"{name}: FastAPI's default handler answered {response.status_code} now"


@pytest.mark.parametrize("name", BAD_BODIES)
def test_safe_handler_answers_422_with_the_field(name):
    content, content_type = BAD_BODIES[name]
    with sync_client(make_app(safe=True)) as client:
        response = client.post("/readings", content=content, headers={"content-type": content_type})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all({"type", "loc", "msg"} <= set(error) for error in detail), detail
    if content_type == "application/json":
        assert detail[0]["loc"] == ["body", "value"] and detail[0]["type"] == "finite_number", detail


def test_ordinary_errors_keep_fastapis_shape():
    with sync_client(make_app(safe=True)) as client:
        safe = client.post("/readings", json={"value": 11, "note": "too long", "extra": 1}).json()
    with sync_client(make_app(safe=False)) as client:
        default = client.post("/readings", json={"value": 11, "note": "too long", "extra": 1}).json()
    assert safe == default


def test_json_safe_replaces_only_what_json_cannot_carry():
    value = {"a": [1, 2.5, math.nan, -math.inf, None, True], b"k": "\ud800x", "e": ValueError("bad")}
    assert json_safe(value) == {"a": [1, 2.5, "nan", "-inf", None, True], "k": "?x", "e": "bad"}


# --- short 422s, bounded bodies, strict numbers (issue 9) ----------------------------------------------

from labkit.models import write_reference_models  # noqa: E402
from labkit.validation_errors import MAX_ECHO_CHARS, MAX_ERRORS, limit_request_body  # noqa: E402
from workbook.paths import SOLUTIONS  # noqa: E402
from workbook.target import activate  # noqa: E402

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


class Readings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[Reading]


def test_a_large_refused_input_is_echoed_short():
    app = make_app(safe=True)

    @app.post("/many")
    def many(readings: Readings) -> int:
        return len(readings.values)

    huge_note = "x" * 200_000
    with sync_client(app) as client:
        one = client.post("/readings", json={"value": 1, "note": huge_note})
        several = client.post("/many", json={"values": [{"value": -1, "note": huge_note}] * 60})
    assert one.status_code == 422 and len(one.content) < 2_000, (one.status_code, len(one.content))
    echoed = one.json()["detail"][0]["input"]
    assert echoed.startswith('"xxx') and len(echoed) < MAX_ECHO_CHARS + 60 and "characters in all" in echoed
    assert several.status_code == 422 and len(several.json()["detail"]) == MAX_ERRORS
    assert len(several.content) < 20_000, len(several.content)


def limited_app(max_bytes: int) -> FastAPI:
    return limit_request_body(make_app(safe=True), max_bytes)


def test_a_declared_body_over_the_limit_is_a_413():
    with sync_client(limited_app(1_000)) as client:
        small = client.post("/readings", json={"value": 1, "note": "ok"})
        big = client.post(
            "/readings",
            content=b'{"value": 1, "note": "' + b"x" * 2_000 + b'"}',
            headers={"content-type": "application/json"},
        )
    assert small.status_code == 200, small.text
    assert big.status_code == 413 and "1000 bytes" in big.json()["detail"], big.text


def test_a_streamed_body_over_the_limit_is_a_413():
    def chunks():
        yield b'{"value": 1, "note": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    with sync_client(limited_app(1_000)) as client:
        response = client.post("/readings", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text


@pytest.fixture(scope="module", params=["lab4", "lab5"])
def solution_client(request, tmp_path_factory):
    activate(SOLUTIONS)
    import importlib

    create_app = importlib.import_module(f"{request.param}.app").create_app
    settings_class = importlib.import_module(f"{request.param}.settings").Settings
    folder = tmp_path_factory.mktemp(f"{request.param}-solution")
    write_reference_models(folder)
    with sync_client(create_app(settings_class(model_dir=folder))) as client:
        yield client


@pytest.mark.parametrize("value", [True, False])
def test_solutions_refuse_a_boolean_measurement(solution_client, value):
    response = solution_client.post("/predict/random_forest", json={**FLOWER, "petal_width": value})
    assert response.status_code == 422, response.text
    assert "petal_width" in [error["loc"][-1] for error in response.json()["detail"]], response.text


def test_solutions_bound_bodies_and_keep_422s_short(solution_client):
    big = solution_client.post("/predict/newsgroups", json={"text": "word " * 500_000})  # 2.5 MB
    assert big.status_code == 413, big.text[:300]
    bad = solution_client.post("/predict/random_forest", json={"padding": "y" * 900_000})
    assert bad.status_code == 422 and len(bad.content) < 10_000, (bad.status_code, len(bad.content))
    fine = solution_client.post("/predict/random_forest", json=FLOWER)
    assert fine.status_code == 200, fine.text


NASTY = [
    ("/predict/random_forest", b"not json", "application/json"),
    ("/predict/random_forest", b"[1, 2, 3, 4]", "application/json"),
    (
        "/predict/random_forest",
        b'{"sepal_length": 1' + b"0" * 400 + b', "sepal_width": 3, "petal_length": 1, "petal_width": 1}',
        "application/json",
    ),
    (
        "/predict/random_forest",
        b'{"sepal_length": "5", "sepal_width": [3], "petal_length": {}, "petal_width": null}',
        "application/json",
    ),
    ("/predict/newsgroups", b'{"text": 42}', "application/json"),
    ("/predict/newsgroups", b'{"text": "\\ud800"}', "application/json"),
    ("/predict/newsgroups", b"\x89PNG\r\n\x1a\n\x00", "image/png"),
    ("/predict/newsgroups", b'{"text": "' + b"[" * 5000 + b'"}', "application/json"),
    ("/predict/newsgroups", b"[" * 5000 + b"]" * 5000, "application/json"),
]


@pytest.mark.parametrize("path, body, content_type", NASTY, ids=[f"nasty{i}" for i in range(len(NASTY))])
def test_solutions_answer_nasty_bodies_without_a_500(solution_client, path, body, content_type):
    response = solution_client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert len(response.content) < 10_000, len(response.content)
