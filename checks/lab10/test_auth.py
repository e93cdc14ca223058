"""Lab 10 checks, Task 10.3: password hashes, the token endpoint, and tokens that must be refused.

Tokens are made here with PyJWT and the settings' secret, so an expired or forged one is exact, and no
check has to wait for a token to expire.
"""

import time

import jwt
import pytest

from checks.lab10.common import JWT_SECRET, PASSWORD, TOKEN_TTL, USERNAME
from workbook.checkkit.clients import sync_client
from workbook.checkkit.constant_time import record_compare_digest


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(claims: dict, secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


@pytest.fixture
def direct_login(auth, settings):
    """Your login and current_user called directly first, so an unfinished Task 10.3 reports as such
    (over HTTP, the request would stop at whichever unfinished handler it reaches first)."""
    token = auth.login(USERNAME, PASSWORD, settings).access_token
    assert auth.current_user(token, settings) == USERNAME, (
        "current_user(token, settings) should return the username of a token that login made."
    )
    return token


def assert_refused(response, what: str) -> None:
    assert response.status_code == 401, (
        f"{what} should be refused with 401; got {response.status_code}: {response.text[:300]}"
    )
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer"), (
        f"{what}: a 401 must carry 'WWW-Authenticate: Bearer' (it tells the client how to authenticate); "
        f"the headers were {dict(response.headers)}"
    )
    body = response.json()
    assert body.get("status") == 401 and body.get("error") == "not_authenticated", (
        f"{what}: expected the error body with 'error': 'not_authenticated'; got {body!r}"
    )


@pytest.mark.task("10.3", points=1)
def test_passwords_are_verified_against_their_hash(auth):
    stored = auth.hash_password("s3cret-Passw0rd", iterations=1_000)
    assert auth.verify_password("s3cret-Passw0rd", stored) is True, (
        "verify_password(password, hash_password(password)) should be True."
    )
    for wrong in ("s3cret-passw0rd", "", "s3cret-Passw0rd "):
        assert auth.verify_password(wrong, stored) is False, f"verify_password({wrong!r}, ...) should be False."
    for malformed in ("", "not-a-hash", "pbkdf2_sha256$x$00$00", stored.replace("pbkdf2_sha256", "md5")):
        assert auth.verify_password("s3cret-Passw0rd", malformed) is False, (
            f"verify_password(..., {malformed!r}) should be False for a malformed stored hash, not raise."
        )


@pytest.mark.task("10.3", points=2)
def test_login_gives_a_signed_token_that_opens_me(no_secret_output, client, auth, settings):
    token = auth.create_access_token(USERNAME, settings, now=time.time())
    assert isinstance(token, str) and token.count(".") == 2, f"create_access_token should return a JWT; got {token!r}"
    response = client.post("/token", data={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, (
        f"POST /token with the right password answered {response.status_code}: {response.text[:300]}"
    )
    body = response.json()
    assert body.get("token_type") == "bearer" and body.get("expires_in") == TOKEN_TTL, (
        f"POST /token should answer token_type 'bearer' and expires_in {TOKEN_TTL}; got {body!r}"
    )
    try:
        claims = jwt.decode(body["access_token"], JWT_SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError as exc:
        raise AssertionError(f"the access token is not an HS256 JWT signed with JWT_SECRET: {exc}") from None
    assert claims.get("sub") == USERNAME, f"the token's 'sub' claim should be {USERNAME!r}; got {claims!r}"
    assert abs(claims["exp"] - (time.time() + TOKEN_TTL)) < 120 and claims["exp"] - claims.get("iat", 0) == TOKEN_TTL, (
        f"the token should expire token_ttl_seconds ({TOKEN_TTL}) after it was issued ('iat'); got {claims!r}"
    )
    me = client.get("/me", headers=bearer(body["access_token"]))
    no_secret_output.client_saw(response, me)
    assert me.status_code == 200 and me.json() == {"username": USERNAME}, (
        f"GET /me with the token should answer {{'username': '{USERNAME}'}}; got {me.status_code}: {me.text[:300]}"
    )


@pytest.mark.task("10.3", points=1)
def test_tokens_follow_the_settings_algorithm_and_clock(auth, make_settings):
    settings = make_settings(jwt_algorithm="HS512")
    issued = int(time.time()) - 100
    token = auth.create_access_token(USERNAME, settings, now=issued)
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except (jwt.InvalidTokenError, TypeError, ValueError) as exc:
        raise AssertionError(f"create_access_token should return a JWT; got {token!r} ({exc})") from None
    assert algorithm == "HS512", (
        f"with jwt_algorithm='HS512' in the settings the token's header should say alg 'HS512'; got {algorithm!r}. "
        "Sign with settings.jwt_algorithm, not a fixed 'HS256'."
    )
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS512"])
    except jwt.InvalidTokenError as exc:
        raise AssertionError(f"the HS512 token does not verify with JWT_SECRET: {exc}") from None
    assert claims.get("iat") == issued and claims.get("exp") == issued + TOKEN_TTL, (
        f"create_access_token(..., now={issued}) should give 'iat': {issued} and 'exp': {issued + TOKEN_TTL} "
        f"(now + token_ttl_seconds); got {claims!r}"
    )
    assert auth.current_user(token, settings) == USERNAME, (
        "current_user should accept a valid token signed with the settings' jwt_algorithm ('HS512')."
    )


@pytest.mark.task("10.3", points=1)
@pytest.mark.needs("10.1")  # the refusal's headers reach the client through your HTTP error handler
def test_wrong_password_and_unknown_user_look_the_same(no_secret_output, client, direct_login):
    wrong = client.post("/token", data={"username": USERNAME, "password": PASSWORD + "!"})
    assert_refused(wrong, "POST /token with a wrong password")
    unknown = client.post("/token", data={"username": "mallory", "password": PASSWORD})
    no_secret_output.client_saw(wrong, unknown)
    assert_refused(unknown, "POST /token for a user that does not exist")
    assert wrong.json()["detail"] == unknown.json()["detail"], (
        "a wrong password and an unknown user should get the same detail, or an attacker learns which "
        f"usernames exist: {wrong.json()['detail']!r} vs {unknown.json()['detail']!r}"
    )


@pytest.mark.task("10.3", points=2)
@pytest.mark.needs("10.1")  # the refusal's headers reach the client through your HTTP error handler
def test_expired_forged_or_missing_tokens_are_refused(client, direct_login):
    now = int(time.time())
    valid_claims = {"sub": USERNAME, "iat": now, "exp": now + 300}
    good = signed(valid_claims)
    header, payload, signature = good.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    cases = {
        "an expired token (signed correctly, exp a minute ago)": signed(
            {"sub": USERNAME, "iat": now - 900, "exp": now - 60}
        ),
        "a token whose signature was changed": f"{header}.{payload}.{flipped}",
        "a token signed with another secret": signed(valid_claims, secret="another-secret-0123456789abcdef-0123"),
        "a token with alg 'none' (no signature at all)": signed(valid_claims, secret=None, algorithm="none"),
        "a token without 'exp'": signed({"sub": USERNAME, "iat": now}),
        "a token for a user who is not in the settings": signed({"sub": "mallory", "iat": now, "exp": now + 300}),
        "a token that is not a JWT": "not-a-jwt",
    }
    for what, token in cases.items():
        assert_refused(client.get("/me", headers=bearer(token)), f"GET /me with {what}")
    assert_refused(client.get("/me"), "GET /me without a token")
    me = client.get("/me", headers=bearer(good))
    assert me.status_code == 200, f"GET /me with a valid token answered {me.status_code}: {me.text[:300]}"


@pytest.mark.task("10.3", points=1)
@pytest.mark.needs("10.1")  # the refusal's headers reach the client through your HTTP error handler
def test_batch_upload_needs_a_token(make_app, settings, direct_login):
    with sync_client(make_app(settings)) as client:
        csv = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
        files = {"file": ("flowers.csv", csv, "text/csv")}
        assert_refused(client.post("/predict/random_forest/batch", files=files), "a batch upload without a token")
        expired = signed({"sub": USERNAME, "exp": int(time.time()) - 60})
        assert_refused(
            client.post("/predict/random_forest/batch", files=files, headers=bearer(expired)),
            "a batch upload with an expired token",
        )


@pytest.fixture
def compare_digest_calls(monkeypatch, auth):
    """Every call of compare_digest while the check runs, however auth.py imported it."""
    return record_compare_digest(monkeypatch, auth)


@pytest.fixture
def hash_calls(monkeypatch, auth):
    """Every PBKDF2 computation while the check runs, however auth.py imported it."""
    import hashlib

    calls = []
    real = hashlib.pbkdf2_hmac

    def spy(*args, **kwargs):
        calls.append(args[:1])
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "pbkdf2_hmac", spy)
    if hasattr(auth, "pbkdf2_hmac"):  # from hashlib import pbkdf2_hmac
        monkeypatch.setattr(auth, "pbkdf2_hmac", spy)
    return calls


@pytest.mark.task("10.3", points=1)
def test_password_hashes_are_compared_in_constant_time(auth, compare_digest_calls):
    stored = auth.hash_password("s3cret-Passw0rd", iterations=1_000)
    assert auth.verify_password("s3cret-Passw0rd", stored) is True, "verify_password should accept the right password."
    assert auth.verify_password("s3cret-Passw0rd!", stored) is False, "verify_password should refuse a wrong password."
    assert len(compare_digest_calls) >= 2, (
        f"verify_password compared the hashes without hmac.compare_digest (it was called {len(compare_digest_calls)} "
        "times for 2 passwords). `==` stops at the first differing byte, and the time that takes tells an "
        "attacker how much of the hash matched."
    )


@pytest.mark.task("10.3", points=1)
def test_an_unknown_user_costs_a_hash_like_a_wrong_password(auth, settings, hash_calls):
    def attempt(username: str, password: str) -> int:
        before = len(hash_calls)
        try:
            auth.login(username, password, settings)
        except NotImplementedError:
            raise
        except Exception:  # noqa: BLE001 - the refusal itself is checked over HTTP elsewhere
            pass
        return len(hash_calls) - before

    wrong_password, unknown_user = attempt(USERNAME, PASSWORD + "!"), attempt("mallory", PASSWORD)
    assert wrong_password >= 1, "login with a wrong password computed no PBKDF2 hash: verify the password."
    assert unknown_user >= wrong_password, (
        f"login for an unknown user computed {unknown_user} PBKDF2 hashes, a wrong password {wrong_password}: an "
        "unknown user is answered faster, and the time tells an attacker which usernames exist. Check the "
        "password against UNKNOWN_USER_HASH when the user is unknown, so both take as long."
    )
