"""Given: the service's settings, read from the environment (and a ``.env`` file) by pydantic-settings.

Every field is an environment variable of the same name in upper case::

    EMBEDDING_MODEL=minishlab/potion-base-8M ALLOW_DOWNLOAD=true INDEX_KIND=approximate uvicorn lab11.app:app

``EMBEDDING_MODEL`` is a model folder (the default: the workbook's own model in ``data/embedding_model/``) or,
with ``ALLOW_DOWNLOAD=true`` on a machine that reaches the Hugging Face hub, a model's name there. Without it,
nothing is ever downloaded: a name that is not a folder is a load failure (503), not a network call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from labkit.datasets import DATA


class Settings(BaseSettings):
    """Given: which model, which index, where the added documents are kept."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    embedding_model: str = Field(str(DATA / "embedding_model"), description="a model2vec folder, or a hub name")
    allow_download: bool = Field(False, description="may a hub name be downloaded? (never in the workbook)")
    index_kind: Literal["exact", "approximate"] = Field("exact", description="the vector index searches use")
    data_dir: Path = Field(Path("lab11_store"), description="where added documents persist across restarts")
    cache_size: int = Field(10_000, ge=0, description="embeddings kept by the cache (0: no cache)")


settings = Settings()
