"""Lab 5 — the service's settings (given: Lab 4, Task 4.1).

Each field comes from a keyword argument, else an environment variable (``MODEL_DIR``), else a line in
``.env`` in the working directory, else the default. See notebooks/04_lifespan_registry.ipynb, section 4.1.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Given: the settings of the prediction service."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Field(
        default=Path("models"), validate_default=True,
        description="Folder holding <name>.joblib files and their .sha256 digests (env: MODEL_DIR).",
    )

    @field_validator("model_dir")
    @classmethod
    def resolve_model_dir(cls, value: Path) -> Path:
        """An absolute path: ``~`` expanded, a relative path resolved against the working directory."""
        return value.expanduser().resolve()
