"""Lab 7 checks, Task 7.3: request ids, X-Process-Time and one JSON log line per request, secrets kept out.

The middleware is checked in a small app of the checks' own whose routes answer 200, 404, 403 and crash.
Log lines are read with pytest's ``caplog``: whatever logger you use, its records reach the root logger.
"""

import json
import logging
import re

import pytest
from starlette.datastructures import Headers

from workbook.checkkit.asgi_recorder import recording
from workbook.checkkit.clients import sync_client

API_KEY = "s3cret-Key_for-the-checks-0123456789"
SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
LINE_KEYS = {"method", "path", "status", "duration_ms", "request_id"}


def request_lines(caplog) -> list[dict]:
    """The log records whose message is a JSON object with a request_id."""
    lines = []
    for record in caplog.records:
        try:
            data = json.loads(record.getMessage())
        except (ValueError, TypeError):
            continue
        if isinstance(data, dict) and "request_id" in data:
            lines.append(data)
    return lines


def lines_for(caplog, request_id: str) -> list[dict]:
    return [line for line in request_lines(caplog) if line.get("request_id") == request_id]


def everything_logged(caplog) -> str:
    """Every record as text: message, arguments, traceback and extra fields (log shippers send those too)."""
    return caplog.text + "\n".join(repr(vars(record)) for record in caplog.records)


def assert_stamped(headers, what: str, request_id: str | None = None) -> None:
    """X-Request-ID (the given one, or a sane new one) and X-Process-Time (seconds) on a response."""
    got = headers.get("x-request-id")
    if request_id is not None:
        assert got == request_id, f"{what}: X-Request-ID is {got!r}; the client sent the sane id {request_id!r}."
    assert got and SANE.fullmatch(got), f"{what}: X-Request-ID is {got!r}; expected an id (uuid4 hex)."
    seconds = headers.get("x-process-time")
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        pytest.fail(f"{what}: X-Process-Time is {seconds!r}; expected the seconds taken, e.g. '0.004213'.")
    assert 0 <= value < 60, f"{what}: X-Process-Time is {seconds!r}; expected seconds, a small number."


def assert_logged_once(caplog, request_id: str, method: str, path: str, status: int) -> None:
    found = lines_for(caplog, request_id)
    assert len(found) == 1, (
        f"{method} {path} (request id {request_id}) left {len(found)} JSON log lines; expected exactly 1, "
        f"a JSON object with {sorted(LINE_KEYS)}."
    )
    line = found[0]
    expected = {"method": method, "path": path, "status": status}
    wrong = {key: line.get(key) for key, value in expected.items() if line.get(key) != value}
    assert not wrong, f"the log line of {method} {path} has {wrong}; expected {expected}. The line: {line}"
    assert isinstance(line.get("duration_ms"), (int, float)) and line["duration_ms"] >= 0, (
        f"the log line's duration_ms is {line.get('duration_ms')!r}; expected milliseconds, a number."
    )


@pytest.mark.task("7.3", points=1)
def test_request_id_is_echoed_when_sane_and_made_otherwise(request_log):
    request_id_for = request_log.request_id_for
    for sane in ["abc-123", "7f3e2a9c.retry_2", "A" * 64]:
        got = request_id_for(Headers({"x-request-id": sane}))
        assert got == sane, f"request_id_for with X-Request-ID {sane!r} returned {got!r}; a sane id is kept."
    made = [request_id_for(Headers({})), request_id_for(Headers({}))]
    assert made[0] != made[1] and all(SANE.fullmatch(m or "") for m in made), (
        f"without X-Request-ID, two requests got the ids {made}; expected two different new ids (uuid4 hex)."
    )
    for insane in ["", "A" * 65, "has space", 'quote"d', "semi;colon", "line\nbreak", "<script>", "ünïcode"]:
        got = request_id_for(Headers({"x-request-id": insane}))
        assert got != insane and SANE.fullmatch(got or ""), (
            f"request_id_for with X-Request-ID {insane!r} returned {got!r}: an id that is not 1 to 64 letters, "
            "digits, '.', '_' or '-' must be replaced by a new one, never echoed."
        )


@pytest.mark.task("7.3", points=2)
def test_every_response_is_timed_and_logged_once(logged_app, caplog):
    caplog.set_level(logging.INFO)
    cases = [("/health", 200), ("/no-such-page", 404), ("/forbidden", 403)]
    with sync_client(logged_app) as client:
        responses = [client.get(path, headers={"X-Request-ID": f"check-{i}"}) for i, (path, _) in enumerate(cases)]
        anonymous = client.get("/models")
    for i, ((path, status), response) in enumerate(zip(cases, responses)):
        assert response.status_code == status, f"GET {path} answered {response.status_code}; expected {status}."
        assert_stamped(response.headers, f"the {status} of GET {path}", f"check-{i}")
        assert_logged_once(caplog, f"check-{i}", "GET", path, status)
    assert_stamped(anonymous.headers, "GET /models without X-Request-ID")
    assert_logged_once(caplog, anonymous.headers["x-request-id"], "GET", "/models", 200)


@pytest.mark.task("7.3", points=1)
async def test_a_crash_is_answered_timed_and_logged(logged_app, caplog):
    caplog.set_level(logging.INFO)
    async with recording(logged_app) as recorder:
        await recorder.request("GET", "/health")
        crash = await recorder.request("GET", "/boom", headers={"X-Request-ID": "crash-1"}, raise_app_exceptions=False)
    assert crash.app_error is None, (
        f"the route's {type(crash.app_error).__name__} went straight through the middleware, so the 500 came from "
        "Starlette's last-resort handler, without X-Process-Time or a log line. Catch Exception around "
        "call_next and answer the 500 yourself."
    )
    assert crash.status == 500, f"a crashing route should be a 500: {crash.describe()}"
    try:
        body = json.loads(crash.body)
    except ValueError:
        body = crash.body[:200]
    expected = {"detail": "Internal Server Error", "request_id": "crash-1"}
    assert body == expected, (
        f"the 500 of GET /boom should answer {expected} (its request id, for support), got {body!r}"
    )
    assert_stamped(dict(crash.headers), "the 500 of GET /boom", "crash-1")
    assert_logged_once(caplog, "crash-1", "GET", "/boom", 500)
    traced = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert traced, (
        "the crash of GET /boom left no ERROR record with its traceback: call logger.exception(...) in the "
        "except block, so whoever reads the log can see what broke"
    )


@pytest.mark.task("7.3", points=1)
async def test_routes_find_the_request_id_on_request_state(logged_app):
    async with recording(logged_app) as recorder:
        answer = await recorder.request("GET", "/whoami", headers={"X-Request-ID": "state-1"})
    try:
        seen = json.loads(answer.body).get("request_id")
    except (ValueError, AttributeError):
        seen = answer.body[:200]
    assert seen == "state-1", (
        f"a route read request.state.request_id and found {seen!r}, not the request's id 'state-1': keep the id "
        "in request.state.request_id before calling call_next, so routes (and error handlers) can log it too"
    )


@pytest.mark.task("7.3", points=1)
async def test_the_api_key_never_reaches_the_log(no_secret_output, logged_app, caplog):
    caplog.set_level(logging.DEBUG)
    key = {"X-API-Key": API_KEY}
    async with recording(logged_app) as recorder:
        await recorder.request("GET", "/health", headers=key)
        for target in ("/forbidden", "/boom", "/health?api_key=" + API_KEY):
            await recorder.request("GET", target, headers=key, raise_app_exceptions=False)
    assert len(request_lines(caplog)) >= 4, "each of the 4 requests should leave a JSON log line."
    assert API_KEY not in everything_logged(caplog), (
        "the API key appears in the log. Log the fields you choose (method, path, status, duration_ms, "
        "request_id), never request.headers, the query string or the whole URL."
    )


@pytest.mark.task("7.3", points=1)
def test_process_time_is_in_seconds_and_duration_in_milliseconds(logged_app, caplog):
    from checks.lab7.conftest import SLOW_ROUTE

    caplog.set_level(logging.INFO)
    with sync_client(logged_app) as client:
        response = client.get("/slow", headers={"X-Request-ID": "slow-1"})
    assert response.status_code == 200, f"GET /slow answered {response.status_code}: {response.text[:200]}"
    raw = response.headers.get("x-process-time")
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        pytest.fail(f"X-Process-Time is {raw!r}; expected the seconds taken, e.g. '0.004213'.")
    assert SLOW_ROUTE * 0.9 <= seconds < 20, (
        f"GET /slow takes at least {SLOW_ROUTE} s (it sleeps on purpose), and its X-Process-Time is {raw!r}: "
        f'expected seconds, about {SLOW_ROUTE} (f"{{seconds:.6f}}" of time.perf_counter() differences).'
    )
    lines = lines_for(caplog, "slow-1")
    assert len(lines) == 1, f"GET /slow left {len(lines)} log lines with its request id; expected 1."
    duration = lines[0].get("duration_ms")
    assert isinstance(duration, (int, float)) and SLOW_ROUTE * 1000 * 0.9 <= duration < 60_000, (
        f"GET /slow takes at least {SLOW_ROUTE} s, and its log line says duration_ms {duration!r}: expected "
        f"milliseconds, at least {SLOW_ROUTE * 1000:g} (seconds * 1000)."
    )
