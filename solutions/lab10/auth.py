"""Lab 10, Task 10.3 — log in once with a password, then send a signed, expiring token (a JWT).

Read notebooks/10_production.ipynb, section 10.3. The OAuth2 *password flow*, as FastAPI supports it:

1. ``POST /token`` with a form (``username``, ``password``; ``application/x-www-form-urlencoded``)
   answers ``{"access_token": "<jwt>", "token_type": "bearer", "expires_in": <seconds>}``.
2. Later requests send ``Authorization: Bearer <jwt>``; ``current_user`` checks the token and gives
   the route the username. ``GET /me`` answers ``{"username": ...}``.

Passwords are never stored: ``settings.users`` maps each username to ``hash_password(password)`` (given;
PBKDF2-HMAC-SHA256 from the standard library, format ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``).
Make one with ``python -m lab10.auth`` (it asks for the password).

* ``verify_password``: recompute the hash with the stored salt and iterations; compare with
  ``hmac.compare_digest`` (a plain ``==`` leaks, through timing, how much of the hash matched).
  A malformed stored hash is ``False``, not an exception.
* ``create_access_token``: claims ``sub`` (the username), ``iat`` (now, epoch seconds) and ``exp``
  (now + ``settings.token_ttl_seconds``), signed with ``signing_key(settings)`` and
  ``settings.jwt_algorithm``.
* ``login``: the token response for a correct username and password; otherwise ``credentials_error``
  with the *same* detail whether the user is unknown or the password wrong (do not tell an attacker
  which usernames exist).
* ``current_user``: decode the token with the key and **an explicit list of allowed algorithms**,
  requiring ``exp`` and ``sub``; the signature and the expiry must be verified. Any invalid token — bad
  signature, expired, malformed, a user no longer in ``settings.users`` — is ``credentials_error``:
  401 with ``WWW-Authenticate: Bearer``.

Check your work with ``pytest checks/lab10 -k "token or login or me"``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from typing import Annotated

import jwt
from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from .deps import get_settings
from .errors import ServiceError
from .schemas import Token
from .settings import Settings

PBKDF2_ITERATIONS = 600_000  # OWASP's 2023 advice for PBKDF2-HMAC-SHA256
SCHEME = "pbkdf2_sha256"
# Checked against when the username is unknown, so that answering takes as long as for a wrong password.
UNKNOWN_USER_HASH = f"{SCHEME}${PBKDF2_ITERATIONS}${'00' * 16}${'00' * 32}"

# Reads "Authorization: Bearer <token>"; a request without one gets FastAPI's 401 (WWW-Authenticate: Bearer).
# tokenUrl tells /docs where to log in.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """Given: ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` with a fresh random 16-byte salt."""
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def signing_key(settings: Settings) -> str:
    """Given: the JWT key from the settings, or a 503 when ``JWT_SECRET`` is not set (login is off)."""
    if settings.jwt_secret is None:
        raise ServiceError(503, "login_not_configured", "login is switched off: set JWT_SECRET and USERS")
    return settings.jwt_secret.get_secret_value()


def credentials_error(detail: str) -> ServiceError:
    """Given: the 401 for a failed login or a bad token. ``WWW-Authenticate`` is required with 401."""
    return ServiceError(401, "not_authenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def verify_password(password: str, stored: str) -> bool:  # Task 10.3
    """True when ``password`` hashes to ``stored`` (made by ``hash_password``); constant-time compare."""
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
        return hmac.compare_digest(digest, bytes.fromhex(expected))
    except ValueError:  # wrong number of parts, not hex, not a number
        return False


def create_access_token(username: str, settings: Settings, *, now: float | None = None) -> str:  # Task 10.3
    """A JWT with ``sub``, ``iat`` and ``exp`` (``now`` defaults to ``time.time()``), signed per the settings."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": username, "iat": issued, "exp": issued + settings.token_ttl_seconds}
    return jwt.encode(claims, signing_key(settings), algorithm=settings.jwt_algorithm)


def login(username: str, password: str, settings: Settings) -> Token:  # Task 10.3
    """The ``Token`` for valid credentials: ``create_access_token``'s token, ``expires_in`` the settings' TTL.

    Otherwise ``credentials_error``, with one detail for an unknown user and a wrong password; check an
    unknown user's password against ``UNKNOWN_USER_HASH``, so that both answers take as long.
    """
    signing_key(settings)  # login switched off: a 503 before anything else
    stored = settings.users.get(username)
    valid = verify_password(password, stored if stored is not None else UNKNOWN_USER_HASH)
    if stored is None or not valid:
        raise credentials_error("incorrect username or password")
    return Token(access_token=create_access_token(username, settings), expires_in=settings.token_ttl_seconds)


def current_user(token: Annotated[str, Depends(oauth2_scheme)],
                 settings: Annotated[Settings, Depends(get_settings)]) -> str:  # Task 10.3
    """The username in a valid token; 401 (``credentials_error``) for any invalid or expired one."""
    try:
        claims = jwt.decode(token, signing_key(settings), algorithms=[settings.jwt_algorithm],
                            options={"require": ["exp", "sub"]})
    except jwt.InvalidTokenError:  # bad signature, expired, malformed, missing claims, wrong algorithm
        raise credentials_error("the token is invalid or has expired; log in again at /token") from None
    username = claims["sub"]
    if username not in settings.users:
        raise credentials_error("the token's user no longer exists")
    return username


if __name__ == "__main__":
    import getpass

    print(hash_password(getpass.getpass("password to hash: ")))
