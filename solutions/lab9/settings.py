"""Given: the service's settings, read from the environment or a ``.env`` file (``MODEL_DIR=...``).

The micro-batcher's two knobs are settings so that a deployment can trade latency for throughput
without a code change: ``MICROBATCH_MAX_SIZE=128 MICROBATCH_MAX_WAIT=0.005 uvicorn lab9.app:app``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Given: where the models are, and how the scale techniques are tuned."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Path("models")
    batch_max_rows: int = Field(10_000, ge=1, description="the most rows (or texts) one batch request may send")
    microbatch_max_size: int = Field(64, ge=1, description="the most single requests one micro-batch gathers")
    microbatch_max_wait: float = Field(0.002, ge=0, le=1,
                                       description="seconds a micro-batch waits for company after its first request")
    cache_size: int = Field(4096, ge=0, description="answers kept by the in-memory response cache (0: no cache)")


settings = Settings()
