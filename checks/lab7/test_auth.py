"""Lab 7 checks, Tasks 7.1 and 7.2: the API key as a dependency, and as a middleware with a whitelist.

Each is checked in a small app of the checks' own, so that 7.1 and 7.2 can be graded before the whole
service is assembled (Task 7.4). The whitelist is probed with ``workbook.checkkit.asgi_recorder``, which sends a
path exactly as a client may write it (``/health/../models``, ``/%68ealth``) — httpx would tidy it first.
"""

import pytest
from pydantic import SecretStr
from starlette.exceptions import HTTPException

from workbook.checkkit.asgi_recorder import recording
from workbook.checkkit.clients import sync_client

API_KEY = "s3cret-Key_for-the-checks-0123456789"
WRONG_KEY = "s3cret-Key_for-the-checks-0123456788"
WITH_KEY = {"X-API-Key": API_KEY}

PUBLIC = [
    "/health",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/docs-assets/swagger-ui.css",
    "/docs-assets/swagger-ui-bundle.js",
]
NOT_PUBLIC = [
    "/models",
    "/predict/newsgroups",
    "/healthz",
    "/health/",
    "/Health",
    "/HEALTH",
    "/health/../models",
    "//health",
    "/docs/",
    "/docs/../models",
    "/openapi.json/",
    "/redoc/x",
    "/",
    "",
    "/docs-assets",
    "/docs-assets/",
    "/docs-assets/../models",
    "/docs-assets/./swagger-ui.css",
    "/docs-assets//x.css",
    "/docs-assets/..",
    "/docs-assets\\..\\models",
    "/docs-assets/..\\models",
    "/docs-assets/x\\..\\..\\models",
]

# Request targets as a client sends them, and what the service must answer without a key.
OPEN_TARGETS = [
    "/health",
    "/%68ealth",
    "/health?verbose=1",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/docs-assets/swagger-ui.css",
]
CLOSED_TARGETS = [
    ("GET", "/models"),
    ("POST", "/predict/newsgroups"),
    ("GET", "/healthz"),
    ("GET", "/health/"),
    ("GET", "/HEALTH"),
    ("GET", "/health/../models"),
    ("POST", "/health/../predict/newsgroups"),
    ("GET", "/health%2F..%2Fmodels"),
    ("GET", "//health"),
    ("GET", "/docs/"),
    ("GET", "/openapi.json/"),
    ("GET", "/docs-assets"),
    ("GET", "/docs-assets/../models"),
    ("GET", "/docs-assets/%2e%2e/models"),
    ("POST", "/docs-assets/%2E%2E/predict/newsgroups"),
    ("GET", "/docs-assets/./swagger-ui.css"),
]


def refusal(auth, presented):
    """The HTTPException check_api_key raises for ``presented``, or None if it accepts it."""
    try:
        auth.check_api_key(presented, SecretStr(API_KEY))
    except HTTPException as exc:
        return exc
    return None


# --- Task 7.1: the dependency ----------------------------------------------------------------------------


@pytest.mark.task("7.1", points=1)
def test_missing_key_is_a_401_with_a_challenge(auth, dependency_app):
    for presented in (None, ""):
        exc = refusal(auth, presented)
        assert exc is not None, f"check_api_key({presented!r}, key) accepted a missing key; it should raise a 401."
        challenge = (exc.headers or {}).get("WWW-Authenticate")
        assert exc.status_code == 401 and challenge == "APIKey", (
            f"a missing key ({presented!r}) raised HTTPException({exc.status_code}) with WWW-Authenticate "
            f"{challenge!r}; expected 401 with the header WWW-Authenticate: APIKey."
        )
    with sync_client(dependency_app) as client:
        response = client.get("/secret")
    assert response.status_code == 401 and response.headers.get("www-authenticate") == "APIKey", (
        f"GET /secret without a key answered {response.status_code} {dict(response.headers)}; expected 401 with "
        "WWW-Authenticate: APIKey."
    )
    detail = str(response.json().get("detail") or "")
    assert detail and "x-api-key" in detail.lower(), (
        f"the 401's detail is {detail!r}: it should say the key is missing and which header carries it (X-API-Key)."
    )


@pytest.mark.task("7.1", points=2)
def test_wrong_key_is_a_403_and_the_right_key_passes(no_secret_output, dependency_app):
    with sync_client(dependency_app) as client:
        right = client.get("/secret", headers=WITH_KEY)
        wrong = client.get("/secret", headers={"X-API-Key": WRONG_KEY})
    no_secret_output.client_saw(right, wrong)
    assert right.status_code == 200, f"GET /secret with the right key answered {right.status_code}: {right.text[:200]}"
    assert wrong.status_code == 403, (
        f"GET /secret with a wrong key answered {wrong.status_code}; expected 403 (a missing key is the 401)."
    )
    detail = str(wrong.json().get("detail") or "")
    assert detail and "key" in detail.lower(), (
        f"the 403's detail is {detail!r}: it should say the key is not valid (without repeating it)."
    )
    assert API_KEY not in wrong.text and WRONG_KEY not in wrong.text, (
        f"the 403's body repeats a key: {wrong.text}. Never echo keys, not even wrong ones."
    )


@pytest.mark.task("7.1", points=1)
def test_keys_are_compared_in_constant_time(no_secret_output, auth, compare_digest_calls):
    assert refusal(auth, API_KEY) is None, "check_api_key refused the right key."
    wrong = refusal(auth, WRONG_KEY)
    assert wrong is not None and wrong.status_code == 403, "check_api_key should refuse a wrong key with a 403."
    assert len(compare_digest_calls) >= 2, (
        "check_api_key compared the keys without secrets.compare_digest (it was called "
        f"{len(compare_digest_calls)} times for 2 checks). `==` returns at the first differing character, "
        "and the time that takes tells an attacker how much of a guess is right."
    )


@pytest.mark.task("7.1", points=1)
async def test_a_non_ascii_key_is_refused_not_a_crash(dependency_app):
    odd_key = "clé-".encode() + API_KEY.encode()  # the bytes a client may send
    async with recording(dependency_app) as recorder:
        right = await recorder.request("GET", "/secret", headers=WITH_KEY)
        try:
            odd = await recorder.request("GET", "/secret", headers={"X-API-Key": odd_key})
        except TypeError as exc:
            pytest.fail(
                f"a key with a non-ASCII character crashed the check ({exc}): secrets.compare_digest "
                "refuses str that is not ASCII. Compare bytes."
            )
    assert right.status == 200, f"with the right key: {right.describe()}"
    assert odd.status == 403, f"a wrong key with a non-ASCII character should be a 403: {odd.describe()}"


# --- Task 7.2: the middleware and its whitelist ----------------------------------------------------------


@pytest.mark.task("7.2", points=1)
def test_is_public_matches_the_whitelist_exactly(auth):
    wrongly_private = [path for path in PUBLIC if not auth.is_public(path)]
    assert not wrongly_private, f"is_public refused {wrongly_private}; these are public: /docs needs them all."
    wrongly_public = [path for path in NOT_PUBLIC if auth.is_public(path)]
    assert not wrongly_public, (
        f"is_public let through {wrongly_public}. Only the exact PUBLIC_PATHS are public, and plain files under "
        "PUBLIC_PREFIX (no empty, '.' or '..' segment, no backslash): a prefix match lets /healthz and "
        "/health/../models pass, and a server that reads a backslash as a slash turns '..\\' into '../'."
    )


@pytest.mark.task("7.2", points=2)
@pytest.mark.needs("7.1")  # the middleware checks the key with your check_api_key
def test_middleware_answers_401_and_403_instead_of_raising(no_secret_output, middleware_app):
    with sync_client(middleware_app) as client:
        try:
            right = client.get("/models", headers=WITH_KEY)
            missing = client.get("/models")
            wrong = client.get("/models", headers={"X-API-Key": WRONG_KEY})
            public = client.get("/health")
        except HTTPException as exc:
            pytest.fail(
                f"the middleware raised HTTPException({exc.status_code}). A middleware runs outside "
                "FastAPI's exception handlers, so a client gets a 500, not the 401/403: catch it and "
                "return a JSONResponse."
            )
    assert right.status_code == 200, f"GET /models with the right key answered {right.status_code}: {right.text[:200]}"
    assert missing.status_code == 401 and missing.headers.get("www-authenticate") == "APIKey", (
        f"GET /models without a key answered {missing.status_code} {missing.text[:100]}; expected 401 with "
        "WWW-Authenticate: APIKey (pass exc.headers on)."
    )
    assert wrong.status_code == 403, f"GET /models with a wrong key answered {wrong.status_code}; expected 403."
    for response in (missing, wrong):
        assert response.headers.get("content-type", "").startswith("application/json") and response.json().get(
            "detail"
        ), f"a refusal should be JSON with a detail: {response.text[:200]}"
    assert public.status_code == 200, f"GET /health (public) without a key answered {public.status_code}."


@pytest.mark.task("7.2", points=2)
async def test_whitelist_lets_nothing_else_through(middleware_app):
    async with recording(middleware_app) as recorder:
        right = await recorder.request("GET", "/models", headers=WITH_KEY)
        assert right.status == 200, f"with the right key: {right.describe()}"
        opened = [await recorder.request("GET", target) for target in OPEN_TARGETS]
        closed = [await recorder.request(method, target) for method, target in CLOSED_TARGETS]
    refused = [e.describe()[:90] for e in opened if e.status != 200]
    assert not refused, (
        f"without a key, these public requests were not answered: {refused}. (/%68ealth is /health once the "
        "server has decoded it, and the router serves it as /health: decide on route_path(request.scope).)"
    )
    slipped = [f"{e.method} {e.target} -> {e.status}" for e in closed if e.status != 401]
    assert not slipped, (
        f"without a key, these requests got past the key check: {slipped}; every one should be a 401. Public "
        "means exactly a whitelisted path, or a plain file path under the docs assets — not a path that starts "
        "like one (/healthz), ends like one (/health/), or walks out of one (/health/../models)."
    )
