"""workbook.validation_errors: refused input stays a 422 whatever it echoes (labs 4 onwards install it)."""

import math

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from workbook.clients import sync_client
from workbook.validation_errors import install_safe_validation_handler, json_safe


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
