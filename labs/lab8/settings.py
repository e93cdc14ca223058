"""Given: the service's settings, read from the environment or a ``.env`` file (labs 4 to 8).

Every field can be set by an environment variable of the same name in capitals: ``MODEL_DIR=models``,
``PREDICTION_LOG=logs/predictions.jsonl``, ``API_KEY=...`` (make one with ``python -c "import secrets;
print(secrets.token_urlsafe(32))"``), ``CORS_ORIGINS='["http://localhost:5173"]'`` (a list is written as
JSON), ``CACHE_DIR=cache``, ``CACHE_SIZE=4096``. Apps take a ``Settings`` as an argument, so checks and
notebooks pass their own (temporary folders, a test key) without touching the environment.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Models, the prediction log, the API key, CORS, and the two caches."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Path("models")
    prediction_log: Path = Field(default=Path("logs/predictions.jsonl"),
                                 description="JSON Lines file: one line per prediction")
    log_delay: float = Field(default=0.0, ge=0, le=10,
                             description="seconds each log write waits first: stands for slow storage")
    # No usable default on purpose: the app refuses to start until API_KEY is set.
    api_key: SecretStr = Field(default=SecretStr(""), description="the key clients send in X-API-Key")
    cors_origins: list[str] = Field(default=[], description="origins of web pages allowed to call the API")
    cache_dir: Path = Field(default=Path("cache"), description="folder of the disk cache (joblib.Memory)")
    cache_size: int = Field(default=1024, ge=1, description="answers kept by the in-memory cache")


async def get_settings(request: Request) -> Settings:
    """A dependency: the app's settings (``create_app`` keeps them in ``app.state.settings``)."""
    return request.app.state.settings


settings = Settings()
