"""Given: the service's settings, read from the environment or a ``.env`` file (``MODEL_DIR=...``).

Everything a deployment may want to change without a code change is here: where the models are, how many
replicas serve them, how ``@serve.batch`` gathers the random forest's requests, and the autoscaling bounds.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Given: where the models are, and how the deployment is scaled."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Path("models")
    batched_model: str = Field("random_forest", description="the model whose single predictions go through @serve.batch")
    batch_max_rows: int = Field(10_000, ge=1, description="the most rows (or texts) one batch request may send")
    num_replicas: int = Field(2, ge=1, le=64, description="replicas of the deployment (each a process of its own)")
    max_batch_size: int = Field(16, ge=1, le=1024, description="the most requests one @serve.batch call gathers")
    batch_wait_timeout_s: float = Field(0.05, ge=0, le=1,
                                        description="seconds a @serve.batch call waits for company after its first request")
    min_replicas: int = Field(1, ge=0, le=64, description="autoscaling: the fewest replicas kept")
    max_replicas: int = Field(4, ge=1, le=64, description="autoscaling: the most replicas started")
    target_ongoing_requests: float = Field(2.0, gt=0, le=1000,
                                           description="autoscaling: the requests in flight per replica it aims for")


settings = Settings()
