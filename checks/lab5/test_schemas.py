"""Lab 5 checks, Task 5.1: every limit of the request schemas, at its boundary, over HTTP and in /docs.

Refusals are checked over HTTP, because the 422 must name the field, through reference routes around your
schemas (fixture ``schema_client``); acceptances on the schema classes themselves. So Task 5.1 is graded
before the routes of Tasks 5.3–5.4 exist, and a wrong route never costs Task 5.1 points.
"""

import json
import math

import pytest

from workbook.checkkit.student import lab_attr

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
FLOWER = {"sepal_length": 5.9, "sepal_width": 3.0, "petal_length": 4.2, "petal_width": 1.5}


def error_fields(response) -> list:
    """The field each 422 error points at (the last element of its ``loc``)."""
    try:
        return [error["loc"][-1] for error in response.json()["detail"]]
    except (ValueError, KeyError, TypeError, IndexError):
        return []


def error_messages(response) -> str:
    try:
        return " | ".join(str(error.get("msg", "")) for error in response.json()["detail"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""


def assert_refused(response, field, what: str) -> None:
    assert response.status_code == 422, (
        f"{what} should be refused with 422, got {response.status_code}: {response.text[:300]}"
    )
    assert field in error_fields(response), (
        f"{what} was refused, but the 422 should name the field {field!r}; its errors point at "
        f"{error_fields(response)}: {response.text[:300]}"
    )


def post_raw_json(client, url: str, body: dict):
    """POST ``body`` as JSON text, NaN and Infinity included (as Python's json module writes them)."""
    return client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.task("5.1", points=1)
def test_schema_measurements_accept_their_boundaries(schemas, limits):
    IrisFeatures = lab_attr(schemas, "IrisFeatures")
    for field in FEATURES:
        for value in (0.001, limits["MAX_CM"]):
            try:
                features = IrisFeatures(**{**FLOWER, field: value})
            except ValueError as exc:
                pytest.fail(
                    f"IrisFeatures with {field}={value} should be valid (more than 0, at most MAX_CM="
                    f"{limits['MAX_CM']}), but it was refused: {exc}"
                )
            assert getattr(features, field) == value, (
                f"IrisFeatures({field}={value}) holds {getattr(features, field)!r}; the value should be kept as given."
            )


@pytest.mark.task("5.1", points=2)
def test_schema_measurements_refuse_out_of_range_values(schema_client, limits):
    over = math.nextafter(limits["MAX_CM"], math.inf)  # the first float above the limit
    for field in FEATURES:
        for value in (0, -1.5, over, 1000):
            body = {**FLOWER, field: value}
            assert_refused(
                schema_client.post("/predictions", json=body), field, f"POST /predictions with {field}={value!r}"
            )
    assert_refused(
        schema_client.get("/predictions", params={**FLOWER, "petal_width": 0}),
        "petal_width",
        "GET /predictions?petal_width=0",
    )
    assert_refused(
        schema_client.get("/predictions", params={**FLOWER, "sepal_width": "wide"}),
        "sepal_width",
        "GET /predictions?sepal_width=wide",
    )


@pytest.mark.task("5.1", points=1)
def test_schema_refuses_nan_and_infinity_as_not_finite(schema_client):
    attempts = [
        (
            f"POST /predictions with sepal_length={text}",
            "sepal_length",
            post_raw_json(schema_client, "/predictions", {**FLOWER, "sepal_length": value}),
        )
        for text, value in [("NaN", math.nan), ("Infinity", math.inf), ("-Infinity", -math.inf)]
    ]
    attempts.append(
        (
            "POST /predictions with petal_length=1e999 (too big for a float: infinity)",
            "petal_length",
            schema_client.post(
                "/predictions",
                headers={"content-type": "application/json"},
                content=json.dumps(FLOWER).replace("4.2", "1e999"),
            ),
        )
    )
    attempts.append(
        (
            "GET /predictions?petal_length=nan",
            "petal_length",
            schema_client.get("/predictions", params={**FLOWER, "petal_length": "nan"}),
        )
    )
    for what, field, response in attempts:
        assert_refused(response, field, what)
        assert "finite" in error_messages(response).lower(), (
            f"{what} was refused, but the message should say the input must be a finite number (the schema "
            f"refuses NaN and infinity as such: allow_inf_nan=False); it says: {error_messages(response)!r}"
        )


@pytest.mark.task("5.1", points=1)
def test_schema_refuses_unknown_fields(schema_client):
    assert_refused(
        schema_client.post("/predictions", json={**FLOWER, "colour": "blue"}),
        "colour",
        "POST /predictions with an extra field 'colour'",
    )
    misspelt = {**{k: v for k, v in FLOWER.items() if k != "sepal_length"}, "sepal_lenght": 5.9}
    response = schema_client.post("/predictions", json=misspelt)
    assert response.status_code == 422 and "sepal_lenght" in error_fields(response), (
        f"POST /predictions with the typo 'sepal_lenght' should be a 422 naming the unknown field 'sepal_lenght' "
        f"(not just the missing one), got {response.status_code}: {response.text[:300]}"
    )
    assert_refused(
        schema_client.get("/predictions", params={**FLOWER, "colour": "blue"}),
        "colour",
        "GET /predictions with an extra query parameter 'colour'",
    )
    assert_refused(
        schema_client.post("/predict/newsgroups", json={"text": "orbit", "language": "en"}),
        "language",
        "POST /predict/newsgroups with an extra field 'language'",
    )


@pytest.mark.task("5.1", points=2)
def test_schema_text_is_stripped_non_empty_and_bounded(schema_client, schemas, limits):
    longest = limits["MAX_TEXT_CHARS"]
    for text, what in [
        ("", "an empty text"),
        ("  \n\t ", "a text of whitespace only"),
        ("x" * (longest + 1), f"a text of {longest + 1} characters"),
    ]:
        assert_refused(
            schema_client.post("/predict/newsgroups", json={"text": text}),
            "text",
            f"POST /predict/newsgroups with {what}",
        )
    TextInput = lab_attr(schemas, "TextInput")
    for text, expected in [
        ("a", "a"),
        ("  the rocket  ", "the rocket"),
        ("x" * longest, "x" * longest),
        ("  " + "y" * longest + "\n", "y" * longest),
    ]:
        try:
            got = TextInput(text=text).text
        except ValueError as exc:
            pytest.fail(
                f"TextInput(text={text[:20]!r}… ({len(text)} characters)) should be valid: surrounding "
                f"whitespace is stripped first, then 1 to {longest} characters remain. It was refused: {exc}"
            )
        assert got == expected, f"TextInput(text={text[:20]!r}…).text is {got[:20]!r}…; expected it stripped."


@pytest.mark.task("5.1", points=1)
def test_schema_docs_show_limits_descriptions_and_examples(schema_app, limits):
    openapi = schema_app.openapi()
    schemas = openapi["components"]["schemas"]
    assert "IrisFeatures" in schemas and "TextInput" in schemas, (
        f"the OpenAPI schema should describe IrisFeatures and TextInput; it has {sorted(schemas)}."
    )
    iris = schemas["IrisFeatures"]
    assert iris.get("additionalProperties") is False, "IrisFeatures in the OpenAPI schema should forbid extra fields."
    for field in FEATURES:
        spec = iris["properties"].get(field, {})
        assert spec.get("exclusiveMinimum") == 0 and spec.get("maximum") == limits["MAX_CM"], (
            f"IrisFeatures.{field} in /docs should show its limits (exclusiveMinimum 0, maximum "
            f"{limits['MAX_CM']}); it shows {spec}."
        )
        assert spec.get("description") and spec.get("examples"), (
            f"IrisFeatures.{field} in /docs should have a description and examples; it has {spec}."
        )
    text = schemas["TextInput"]["properties"].get("text", {})
    assert text.get("minLength") == 1 and text.get("maxLength") == limits["MAX_TEXT_CHARS"], (
        f"TextInput.text in /docs should show minLength 1 and maxLength {limits['MAX_TEXT_CHARS']}; it shows {text}."
    )
    parameters = {p["name"]: p for p in openapi["paths"]["/predictions"]["get"].get("parameters", [])}
    for field in FEATURES:
        parameter = parameters.get(field, {})
        assert parameter.get("in") == "query" and parameter.get("description"), (
            f"GET /predictions should document the query parameter {field} with its description; found {parameter}."
        )
