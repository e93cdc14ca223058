"""Lab 7 checks, Task 7.4: the whole service — CORS, and the middlewares in the right order.

Order shows in behaviour: a refusal of the key check carries X-Process-Time only if the request log
wraps the key check; a browser's preflight (which carries no key) is answered only if CORS wraps it too.
"""

import json
import logging

import pytest

API_KEY = "s3cret-Key_for-the-checks-0123456789"
WRONG_KEY = "s3cret-Key_for-the-checks-0123456788"
ALLOWED_ORIGIN = "https://dashboard.example.com"
OTHER_ORIGIN = "https://evil.example.net"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key, content-type"}


def request_lines(caplog) -> list[dict]:
    lines = []
    for record in caplog.records:
        try:
            data = json.loads(record.getMessage())
        except (ValueError, TypeError):
            continue
        if isinstance(data, dict) and "request_id" in data:
            lines.append(data)
    return lines


def everything_logged(caplog) -> str:
    return caplog.text + "\n".join(repr(vars(record)) for record in caplog.records)


@pytest.mark.task("7.4", points=2)
@pytest.mark.needs("7.1", "7.2", "7.3")  # the service assembles your key check, middleware and log
def test_refusals_are_timed_and_logged(client, caplog):
    caplog.set_level(logging.INFO)
    missing = client.get("/models", headers={"X-Request-ID": "no-key-1"})
    wrong = client.get("/models", headers={"X-API-Key": WRONG_KEY, "X-Request-ID": "wrong-key-1"})
    assert missing.status_code == 401 and missing.headers.get("www-authenticate") == "APIKey", (
        f"GET /models without a key answered {missing.status_code}; expected 401 with WWW-Authenticate: APIKey."
    )
    assert wrong.status_code == 403, f"GET /models with a wrong key answered {wrong.status_code}; expected 403."
    for response, request_id in ((missing, "no-key-1"), (wrong, "wrong-key-1")):
        status = response.status_code
        assert "x-process-time" in response.headers and response.headers.get("x-request-id") == request_id, (
            f"the {status} of the key check has X-Process-Time {response.headers.get('x-process-time')!r} and "
            f"X-Request-ID {response.headers.get('x-request-id')!r}: the key check answered before the request "
            "log saw the request. RequestLogMiddleware must be the outermost middleware (added last)."
        )
        logged = [line for line in request_lines(caplog) if line.get("request_id") == request_id]
        assert len(logged) == 1 and logged[0].get("status") == status, (
            f"the {status} of the key check left the log lines {logged}; expected one, with status {status}."
        )


@pytest.mark.task("7.4", points=2)
@pytest.mark.needs("7.1", "7.2", "7.3")  # the service assembles your key check, middleware and log
def test_cors_preflight_is_answered_before_the_key_check(client):
    allowed = client.options("/predict/newsgroups", headers={"Origin": ALLOWED_ORIGIN, **PREFLIGHT})
    assert allowed.status_code != 401, (
        "a browser's preflight (OPTIONS, never with a key) from an allowed origin was refused with 401: the key "
        "check runs before CORS can answer it. CORSMiddleware must sit outside ApiKeyMiddleware (added after it)."
    )
    assert allowed.status_code == 200 and allowed.headers.get("access-control-allow-origin") == ALLOWED_ORIGIN, (
        f"the preflight from {ALLOWED_ORIGIN} answered {allowed.status_code} with Access-Control-Allow-Origin "
        f"{allowed.headers.get('access-control-allow-origin')!r}; expected 200 allowing that origin "
        "(allow_origins=settings.cors_origins)."
    )
    allowed_headers = allowed.headers.get("access-control-allow-headers", "").lower()
    assert "x-api-key" in allowed_headers and "content-type" in allowed_headers, (
        f"the preflight allows the headers {allowed_headers!r}; a page must be allowed to send X-API-Key and "
        "Content-Type (allow_headers=CORS_ALLOW_HEADERS)."
    )
    assert "x-process-time" in allowed.headers, (
        "the preflight's answer has no X-Process-Time: the request log must wrap CORS too (outermost)."
    )
    denied = client.options("/predict/newsgroups", headers={"Origin": OTHER_ORIGIN, **PREFLIGHT})
    assert denied.status_code == 400 and "access-control-allow-origin" not in denied.headers, (
        f"the preflight from {OTHER_ORIGIN}, which is not in cors_origins, answered {denied.status_code} with "
        f"Access-Control-Allow-Origin {denied.headers.get('access-control-allow-origin')!r}; expected 400 without it."
    )


@pytest.mark.task("7.4", points=1)
@pytest.mark.needs("7.1", "7.2", "7.3")  # the service assembles your key check, middleware and log
def test_cors_headers_reach_refused_and_accepted_answers(client):
    refused = client.get("/models", headers={"Origin": ALLOWED_ORIGIN})
    assert refused.status_code == 401, f"GET /models without a key answered {refused.status_code}; expected 401."
    assert "access-control-allow-origin" in refused.headers, (
        f"the 401 for a page from {ALLOWED_ORIGIN} has no Access-Control-Allow-Origin: without it the page's "
        "script cannot even read that it was refused. CORS must wrap the key check (added after it)."
    )
    accepted = client.get("/models", headers={"Origin": ALLOWED_ORIGIN, "X-API-Key": API_KEY})
    assert accepted.status_code == 200, f"GET /models with the key answered {accepted.status_code}."
    for response in (refused, accepted):
        allowed = response.headers.get("access-control-allow-origin")
        assert allowed == ALLOWED_ORIGIN, (
            f"the {response.status_code} for a page from {ALLOWED_ORIGIN} has Access-Control-Allow-Origin "
            f"{allowed!r}; expected exactly that origin: allow_origins=settings.cors_origins, never '*'."
        )
    exposed = accepted.headers.get("access-control-expose-headers", "").lower()
    assert "x-process-time" in exposed and "x-request-id" in exposed, (
        f"Access-Control-Expose-Headers is {exposed!r}: a page's script may read X-Process-Time and X-Request-ID "
        "only if they are exposed (expose_headers=CORS_EXPOSE_HEADERS)."
    )
    stranger = client.get("/models", headers={"Origin": OTHER_ORIGIN, "X-API-Key": API_KEY})
    assert "access-control-allow-origin" not in stranger.headers, (
        f"an answer for a page from {OTHER_ORIGIN} allows it: {stranger.headers.get('access-control-allow-origin')!r}."
    )


@pytest.mark.task("7.4", points=1)
@pytest.mark.needs("7.1", "7.2", "7.3")  # the service assembles your key check, middleware and log
def test_the_service_answers_with_the_key_and_never_logs_it(no_secret_output, client, caplog):
    caplog.set_level(logging.DEBUG)
    health = client.get("/health")
    docs = client.get("/docs")
    predicted = client.post(
        "/predict/newsgroups", json={"text": "the rocket reached orbit"}, headers={"X-API-Key": API_KEY}
    )
    refused = client.post(
        "/predict/newsgroups", json={"text": "the rocket reached orbit"}, headers={"X-API-Key": WRONG_KEY}
    )
    assert health.status_code == 200 and docs.status_code == 200, (
        f"without a key, /health answered {health.status_code} and /docs {docs.status_code}; both are public."
    )
    assert predicted.status_code == 200 and predicted.json().get("label") == "sci.space", (
        f"POST /predict/newsgroups with the key answered {predicted.status_code}: {predicted.text[:200]}"
    )
    assert refused.status_code == 403, f"a wrong key answered {refused.status_code}; expected 403."
    no_secret_output.client_saw(health, docs, predicted, refused)
    logged = everything_logged(caplog)
    for name, key in (("the API key", API_KEY), ("a wrong key (often a typo of the right one)", WRONG_KEY)):
        assert key not in logged, f"{name} appears in the log: log only the fields you choose, never headers."


@pytest.mark.task("7.4", points=1)
@pytest.mark.needs("7.1", "7.2")  # the service assembles your key check and middleware
def test_paths_outside_the_routes_need_the_key_too(client):
    for path in ("/admin", "/models/secret-model", "/predict"):
        anonymous = client.get(path)
        assert anonymous.status_code == 401, (
            f"GET {path} (no such route) without a key answered {anonymous.status_code} {anonymous.text[:200]}; "
            "expected 401: ApiKeyMiddleware checks the key of every request that is not public, right before "
            "the routes, so a client without a key cannot even learn which paths exist. Add it in "
            "install_middleware: app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key), first."
        )
        with_key = client.get(path, headers={"X-API-Key": API_KEY})
        assert with_key.status_code in (404, 405), (
            f"GET {path} (no such route) with the right key answered {with_key.status_code} "
            f"{with_key.text[:200]}; expected the router's 404 (or 405), once the key is right."
        )
    health = client.get("/health")
    assert health.status_code == 200, (
        f"GET /health without a key answered {health.status_code} {health.text[:200]}; it is public: expected 200."
    )
