"""No input gives a 500: a fixed set of hostile requests for every operation of an app's own OpenAPI document.

A lesson of lab 5 that every later service is graded on too (like "the model never runs on the event
loop", ``workbook.checkkit.model_calls``, and "no secret reaches any output stream", ``workbook.isolation.output_watch``).
Used by checks only::

    from workbook.checkkit.bad_input import requests_that_break, describe

    broken = requests_that_break(client, headers={"X-API-Key": key})
    assert not broken, describe(broken)

:func:`hostile_requests` reads the document (``app.openapi()``) and builds, for each operation, a
deterministic list: each body field given a string, ``true``, ``null``, a list, an object, ``NaN``,
``Infinity``, ``-Infinity``, ``1e999``, a 400-digit integer, a lone surrogate and a very long string;
an empty body, a non-JSON body, a non-UTF-8 body, wrong top-level JSON types, JSON nested 5,000 deep, an
extra field, a wrong or missing ``Content-Type``; path parameters that are unknown, too long, not UTF-8
or try to climb out of the path; query parameters missing, not numbers, non-finite or huge.
:func:`requests_that_break` sends them through a client of the app (``workbook.checkkit.clients.sync_client`` or the
grader's ``client`` fixture, whose lifespan has run) and returns those answered with a status >= 500 or
that raised. A starter's ``NotImplementedError`` is never swallowed: it goes up to the grader ("not
started").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LONG_TEXT = "a" * 20_000
UNKNOWN_MODEL = "no_such_model"
SENTINEL = "__workbook_hostile_value__"

# (what it is, the raw JSON text put in place of one field's value)
FIELD_VALUES: tuple[tuple[str, str], ...] = (
    ("a string", '"not a number"'),
    ("true", "true"),
    ("null", "null"),
    ("a list", "[1, 2]"),
    ("an object", '{"a": 1}'),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"),
    ("1e999", "1e999"),
    ("a 400-digit integer", "1" + "0" * 399),
    ("a lone surrogate", '"\\ud800"'),
    ("a 20,000-character string", json.dumps(LONG_TEXT)),
)

# (what it is, the raw path segment put in place of a path parameter)
PATH_VALUES: tuple[tuple[str, str], ...] = (
    ("an unknown name", UNKNOWN_MODEL),
    ("a 5,000-character name", "m" * 5_000),
    ("bytes that are not UTF-8", "%FF%FE"),
    ("an encoded lone surrogate", "%ED%A0%80"),
    ("an escape from the path", "..%2F..%2Fetc%2Fpasswd"),
    ("NaN", "NaN"),
    ("an empty-looking name", "%20"),
)

# (what it is, the raw query value given to one parameter)
QUERY_VALUES: tuple[tuple[str, str], ...] = (
    ("a word", "abc"),
    ("an empty value", ""),
    ("nan", "nan"),
    ("inf", "inf"),
    ("1e999", "1e999"),
    ("a 400-digit integer", "1" + "0" * 399),
    ("bytes that are not UTF-8", "%FF%FE"),
    ("a 5,000-character value", "9" * 5_000),
)

JSON = "application/json"


@dataclass(frozen=True)
class HostileRequest:
    """One request: method, raw path (with its query string), headers and body, and what is odd about it."""

    method: str
    path: str
    what: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.method} {shorten(self.path, 80)} with {self.what}"


@dataclass(frozen=True)
class Broken:
    """A hostile request answered with a status >= 500 (``status``), or that raised (``status`` is None)."""

    request: HostileRequest
    status: int | None
    answer: str

    def __str__(self) -> str:
        got = f"answered {self.status}: {self.answer}" if self.status is not None else f"raised {self.answer}"
        return f"{self.request.describe()} -> {got}"


def shorten(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def describe(broken: list[Broken], limit: int = 5) -> str:
    """A sentence for a student: how many requests broke, and the first ``limit`` of them."""
    shown = "; ".join(str(item) for item in broken[:limit])
    more = f" (and {len(broken) - limit} more)" if len(broken) > limit else ""
    return (
        f"bad input must get a 4xx (422, 400, 404, 413, 415...) with a useful body, never a 500 and never "
        f"an exception: {len(broken)} hostile request(s) broke the service: {shown}{more}"
    )


# --- reading the OpenAPI document ------------------------------------------------------------------


def _resolve(document: Mapping, schema: Any, depth: int = 0) -> dict:
    if not isinstance(schema, Mapping) or depth > 20:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = document
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return _resolve(document, node, depth + 1)
    return dict(schema)


def _alternatives(document: Mapping, schema: Any) -> list[dict]:
    """The object schemas a body may be: each branch of anyOf/oneOf, or the schema itself."""
    schema = _resolve(document, schema)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        found = []
        for branch in branches:
            found.extend(_alternatives(document, branch))
        return found
    return [schema] if schema else []


def _sample(document: Mapping, schema: Any, depth: int = 0) -> Any:
    """A plausible valid value for ``schema``: its example or default, else one of its type."""
    schema = _resolve(document, schema)
    for key in ("examples", "example", "default"):
        if key in schema:
            value = schema[key]
            if key == "examples" and isinstance(value, list) and value:
                return value[0]
            if key != "examples":
                return value
    branches = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if branches:
        return _sample(document, branches[0], depth + 1)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 5:
            return {}
        return {name: _sample(document, sub, depth + 1) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_sample(document, schema.get("items", {}), depth + 1)] if depth <= 5 else []
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    return "hello"


def _with_value(base: dict, name: str, raw: str) -> bytes:
    text = json.dumps({**base, name: SENTINEL})
    return text.replace(json.dumps(SENTINEL), raw, 1).encode("utf-8", errors="surrogatepass")


def _body_requests(document: Mapping, method: str, path: str, content: Mapping) -> list[HostileRequest]:
    requests: list[HostileRequest] = []

    def add(what: str, body: bytes, content_type: str | None = JSON) -> None:
        headers = (("content-type", content_type),) if content_type else ()
        requests.append(HostileRequest(method, path, what, body, headers))

    if JSON in content:
        media = content[JSON] or {}
        schema = media.get("schema", {})
        bases: list[Any] = [
            example.get("value") for example in (media.get("examples") or {}).values() if isinstance(example, Mapping)
        ]
        if "example" in media:
            bases.append(media["example"])
        bases += [_sample(document, alternative) for alternative in _alternatives(document, schema)]
        objects: list[dict] = [base for base in bases if isinstance(base, dict)] or [{}]
        for base in objects:
            for name in base:
                for what, raw in FIELD_VALUES:
                    add(f'"{name}" set to {what}', _with_value(base, name, raw))
                rest = {key: value for key, value in base.items() if key != name}
                add(f'"{name}" missing', json.dumps(rest).encode())
        base = objects[0]
        add("an extra field", json.dumps({**base, "unexpected_field": 1}).encode())
        add("the right JSON sent as text/plain", json.dumps(base).encode(), "text/plain")
        add("the right JSON and no Content-Type", json.dumps(base).encode(), None)
        add("the right JSON as a form's Content-Type", json.dumps(base).encode(), "application/x-www-form-urlencoded")
    for what, body in (
        ("an empty body", b""),
        ("a body that is not JSON", b"this is not json"),
        ("a body that is not UTF-8", b"\xff\xfe\x00\x81{"),
        ("a JSON list", b"[1, 2, 3]"),
        ("a JSON string", b'"text"'),
        ("a JSON number", b"NaN"),
        ("JSON null", b"null"),
        ("JSON nested 5,000 deep", b"[" * 5_000 + b"]" * 5_000),
        ("a lone surrogate as the body", b'"\\udc80"'),
    ):
        add(what, body)
    form = "application/x-www-form-urlencoded"
    if form in content:
        fields = _sample(document, (content[form] or {}).get("schema", {}))
        fields = fields if isinstance(fields, dict) else {}
        for name in fields:
            for what, raw in (
                ("empty", ""),
                ("not UTF-8", "%FF%FE"),
                ("20,000 characters long", "a" * 20_000),
                ("given twice", f"x&{name}=y"),
            ):
                values = {**{key: str(value) for key, value in fields.items()}, name: raw}
                add(f"form field {name} {what}", _query(values)[1:].encode(), form)
            rest = {key: str(value) for key, value in fields.items() if key != name}
            add(f"form field {name} missing", _query(rest)[1:].encode(), form)
    for kind in content:
        if kind != JSON:
            for what, body in (
                ("an empty body", b""),
                ("a body that is not UTF-8", b"\xff\xfe\x00\x81"),
                ("a body of garbage", b"a=%FF&&=&b" + b"x" * 2_000),
            ):
                add(f"{what} as {kind}", body, kind)
    if "multipart/form-data" in content:
        add("a multipart type without a boundary", b"--x\r\n\r\n", "multipart/form-data")
        add(
            "a multipart body cut short",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nab',
            "multipart/form-data; boundary=b",
        )
    return requests


def hostile_requests(document: Mapping) -> list[HostileRequest]:
    """The fixed, deterministic hostile requests for every operation of an OpenAPI ``document``."""
    requests: list[HostileRequest] = []
    for template, operations in sorted((document.get("paths") or {}).items()):
        for method, operation in sorted(operations.items()):
            if method not in ("get", "post", "put", "patch", "delete") or not isinstance(operation, Mapping):
                continue
            method = method.upper()
            parameters = [p for p in operation.get("parameters") or [] if isinstance(p, Mapping)]
            path_names = [p["name"] for p in parameters if p.get("in") == "path"]
            query = [p for p in parameters if p.get("in") == "query"]

            good_path = template
            for name in path_names:
                good_path = good_path.replace("{" + name + "}", _path_default(name))
            good_query = {p["name"]: str(_sample(document, p.get("schema", {}))) for p in query}
            for name in path_names:
                for what, raw in PATH_VALUES:
                    path = template
                    for other in path_names:
                        path = path.replace("{" + other + "}", raw if other == name else _path_default(other))
                    requests.append(HostileRequest(method, path + _query(good_query), f"{{{name}}} as {what}"))
            if query:
                requests.append(HostileRequest(method, good_path, "no query parameters"))
                for parameter in query:
                    name = parameter["name"]
                    for what, raw in QUERY_VALUES:
                        requests.append(
                            HostileRequest(method, good_path + _query({**good_query, name: raw}), f"?{name}= {what}")
                        )
                    requests.append(
                        HostileRequest(
                            method,
                            good_path + _query({k: v for k, v in good_query.items() if k != name}),
                            f"?{name} missing",
                        )
                    )
            requests.append(
                HostileRequest(method, good_path + "?%FF=%FE&unexpected=1e999", "an unexpected query string")
            )
            content = (operation.get("requestBody") or {}).get("content") or {}
            if content:
                requests.extend(_body_requests(document, method, good_path + _query(good_query), content))
            elif method in ("POST", "PUT", "PATCH"):
                requests.append(
                    HostileRequest(
                        method, good_path, "a body that is not UTF-8", b"\xff\xfe\x00\x81{", (("content-type", JSON),)
                    )
                )
    return requests


def _path_default(name: str) -> str:
    return UNKNOWN_MODEL if "model" in name else "1"


def _query(values: Mapping[str, str]) -> str:
    # values are put in raw: a hostile one may already be percent-encoded on purpose
    return ("?" + "&".join(f"{key}={value}" for key, value in values.items())) if values else ""


# --- sending them ------------------------------------------------------------------------------------


def requests_that_break(
    client,
    document: Mapping | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    model_names: Iterable[str] = (),
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[Broken]:
    """Send every hostile request through ``client`` (a TestClient of the app, lifespan running); return
    those answered >= 500 or that raised. ``document`` defaults to ``client.app.openapi()``.

    ``model_names``: names the app serves; the body and query requests of a ``{model_name}`` route are sent
    with each of them (rather than an unknown name), so bodies reach real models. ``only``: the paths (templates, e.g. ``"/predict/{model_name}"``) to attack,
    if not all; ``skip``: paths left out. ``headers`` go with
    every request (an API key, a bearer token). A ``NotImplementedError`` (an untouched starter) is re-raised.
    """
    if document is None:
        document = client.app.openapi()
    skipped, wanted = set(skip), set(only)
    kept_paths = {
        path: ops
        for path, ops in (document.get("paths") or {}).items()
        if path not in skipped and (not wanted or path in wanted)
    }
    if wanted - set(kept_paths):
        raise ValueError(f"no such paths in the OpenAPI document: {sorted(wanted - set(kept_paths))}")
    document = {**document, "paths": kept_paths}
    requests = hostile_requests(document)
    names = list(model_names)
    if names:  # bodies and queries go to the real models instead (an unknown name is one of PATH_VALUES)
        aimed = [r for r in requests if UNKNOWN_MODEL in r.path and "{" not in r.what]
        requests = [r for r in requests if r not in aimed] + [
            HostileRequest(r.method, r.path.replace(UNKNOWN_MODEL, name), f"{r.what} (model {name})", r.body, r.headers)
            for name in names
            for r in aimed
        ]
    broken: list[Broken] = []
    for request in requests:
        sent = dict(headers or {})
        sent.update(request.headers)
        try:
            response = client.request(request.method, request.path, content=request.body, headers=sent)
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - any crash is what this reports
            if any(isinstance(link, NotImplementedError) for link in _chain(exc)):
                raise
            broken.append(Broken(request, None, shorten(f"{type(exc).__name__}: {exc}")))
            continue
        if response.status_code >= 500:
            broken.append(Broken(request, response.status_code, shorten(response.text or "(empty body)")))
    return broken


def _chain(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo += [link.__cause__, link.__context__]
        todo += list(getattr(link, "exceptions", ()))
