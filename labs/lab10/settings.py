"""Given: the service's settings, read from the environment (and a ``.env`` file) by pydantic-settings.

Every field is an environment variable of the same name in upper case: ``MODEL_DIR=/srv/models``,
``JWT_SECRET=...``, ``USERS='{"alice": "pbkdf2_sha256$..."}'`` (JSON). The defaults are safe: with no
``JWT_SECRET`` login is switched off (503), and with no ``USERS`` nobody can log in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Given: what the lab 10 service needs to know, with the environment variable for each field."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # MODEL_DIR: the folder of <name>.joblib files (and their .sha256 digests) served at start-up.
    model_dir: Path = Path("models")

    # MAX_UPLOAD_BYTES: the largest CSV file /predict/{model}/batch accepts (413 beyond it).
    max_upload_bytes: int = Field(default=1_000_000, gt=0)
    # BATCH_CHUNK_ROWS: rows predicted per call to the model while streaming a batch back.
    batch_chunk_rows: int = Field(default=100, gt=0)

    # JWT_SECRET: the HMAC key that signs access tokens; at least 32 characters. None: login is off.
    jwt_secret: Annotated[SecretStr, Field(min_length=32)] | None = None
    jwt_algorithm: str = "HS256"
    # TOKEN_TTL_SECONDS: how long an access token stays valid.
    token_ttl_seconds: int = Field(default=900, gt=0)
    # USERS: username -> password hash made by lab10.auth.hash_password (never a plain password).
    users: dict[str, str] = {}

    # RATE_LIMIT requests per RATE_PERIOD seconds, per client, on the prediction routes.
    rate_limit: int = Field(default=60, gt=0)
    rate_period: float = Field(default=60.0, gt=0)
