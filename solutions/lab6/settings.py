"""Given: the service's settings, read from the environment or a ``.env`` file (lab 4).

Every field can be set by an environment variable of the same name in capitals: ``MODEL_DIR=models``,
``PREDICTION_LOG=logs/predictions.jsonl``, ``LOG_DELAY=0.5``. Apps take a ``Settings`` as an argument, so
checks and notebooks pass their own (a temporary folder, a slow log) without touching the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the models are, where predictions are logged, and how slow the log's storage is."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Path("models")
    prediction_log: Path = Field(default=Path("logs/predictions.jsonl"),
                                 description="JSON Lines file: one line per prediction")
    log_delay: float = Field(default=0.0, ge=0, le=10,
                             description="seconds each log write waits first: stands for slow storage")


settings = Settings()
