"""Given: the service's settings, read from the environment or a ``.env`` file (lab 4).

Every field can be set by an environment variable of the same name in capitals: ``MODEL_DIR=models``,
``API_KEY=...`` (make one with ``python -c "import secrets; print(secrets.token_urlsafe(32))"``) and
``CORS_ORIGINS='["http://localhost:5173"]'`` (a list is written as JSON). Keep the key in ``.env`` or the
environment, never in the code or the repository: ``.env`` is in ``.gitignore``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the models are, the API key clients must send, and the web origins that may call the API."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Path("models")
    # SecretStr prints as '**********' (in logs, reprs, tracebacks); .get_secret_value() gives the key.
    # No usable default on purpose: the app refuses to start until API_KEY is set.
    api_key: SecretStr = Field(default=SecretStr(""), description="the key clients send in X-API-Key")
    cors_origins: list[str] = Field(default=[], description="origins of web pages allowed to call the API")


settings = Settings()
