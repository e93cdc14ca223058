"""Lab 4, Task 4.1 — the service's settings, read from the environment and a ``.env`` file.

Read notebooks/04_lifespan_registry.ipynb, section 4.1. ``Settings`` is a pydantic-settings class: each
field is filled from, in this order of precedence,

1. the keyword arguments you pass (``Settings(model_dir=Path("/tmp/models"))``: tests and notebooks do),
2. an environment variable of the same name in capitals (``MODEL_DIR=/srv/models uvicorn ...``),
3. a line in the file ``.env`` in the working directory (``MODEL_DIR=models``; see ``.env.example``),
4. the default written here.

Values arrive as text and are converted to the field's type (``Path`` here). Unknown variables in ``.env``
are ignored, so one ``.env`` can serve every lab.

* Task 4.1 ``Settings.resolve_model_dir``: make ``model_dir`` an absolute path when the settings are read.

Check it: ``pytest checks/lab4 -k settings``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Given: the settings of the prediction service (labs 5 onwards add fields)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    model_dir: Path = Field(
        default=Path("models"), validate_default=True,
        description="Folder holding <name>.joblib files and their .sha256 digests (env: MODEL_DIR).",
    )

    @field_validator("model_dir")
    @classmethod
    def resolve_model_dir(cls, value: Path) -> Path:  # Task 4.1
        """Return ``value`` as an absolute path: ``~`` expanded, then resolved against the working directory.

        A relative ``MODEL_DIR`` means "relative to where the service was started". Resolving it once,
        when the settings are read, keeps that meaning even if the working directory changes later (a
        notebook, a test, a reloader), and makes error messages show the full path. The folder does not
        have to exist: a missing folder is reported when the models are loaded, not here.
        """
        raise NotImplementedError("Task 4.1: Resolve the model folder in the settings")
