"""Lab 5 — the model registry (given: Lab 4, Task 4.2).

``ModelRegistry().load_dir(folder)`` reads every ``<name>.joblib`` whose ``<name>.joblib.sha256`` matches,
all or nothing; ``get(name)`` returns a :class:`ModelEntry` or raises :class:`UnknownModelError`.
See notebooks/04_lifespan_registry.ipynb, section 4.2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib

MODEL_SUFFIX = ".joblib"
DIGEST_SUFFIX = ".sha256"
VERSION_CHARS = 12


@dataclass(frozen=True)
class ModelEntry:
    """One loaded model: ``kind`` is "text" or "tabular"; ``version`` is the start of the file's SHA-256."""

    name: str
    kind: str
    version: str
    classes: tuple[str, ...]
    pipeline: Any = field(repr=False, compare=False)


class ModelLoadError(Exception):
    """A model folder or file cannot be served. The message says which path and why."""


class UnknownModelError(LookupError):
    """No model of that name is loaded. ``known`` lists the names that are."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(f"unknown model {name!r}; known models: {', '.join(self.known) or 'none'}")


class RegistryUnavailableError(RuntimeError):
    """The models could not be loaded at start-up. ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_kind(pipeline: Any) -> str:
    """``"tabular"`` for a pipeline fitted on rows of numbers (it knows ``n_features_in_``), else ``"text"``."""
    return "tabular" if hasattr(pipeline, "n_features_in_") else "text"


def read_model(path: Path) -> ModelEntry:
    """One model file, unpickled only after its recorded SHA-256 matched; ``ModelLoadError`` otherwise."""
    path = Path(path)
    recorded_at = path.with_name(path.name + DIGEST_SUFFIX)
    if not recorded_at.is_file():
        raise ModelLoadError(f"{path}: no recorded digest at {recorded_at.name}; refusing to unpickle it")
    recorded = recorded_at.read_text(encoding="utf-8").strip()
    actual = file_sha256(path)
    if actual != recorded:
        raise ModelLoadError(
            f"{path}: SHA-256 {actual[:VERSION_CHARS]}… does not match the recorded "
            f"{recorded[:VERSION_CHARS]}…; refusing to unpickle it"
        )
    loaded = joblib.load(path)
    if not (isinstance(loaded, tuple) and len(loaded) == 2):
        raise ModelLoadError(f"{path}: expected a (pipeline, target_names) tuple, found {type(loaded).__name__}")
    pipeline, target_names = loaded
    if not callable(getattr(pipeline, "predict", None)):
        raise ModelLoadError(f"{path}: the first item has no predict method ({type(pipeline).__name__})")
    if not (isinstance(target_names, (list, tuple)) and target_names
            and all(isinstance(name, str) for name in target_names)):
        raise ModelLoadError(f"{path}: the second item must be a non-empty list of class names")
    return ModelEntry(name=path.name[: -len(MODEL_SUFFIX)], kind=model_kind(pipeline),
                      version=actual[:VERSION_CHARS], classes=tuple(target_names), pipeline=pipeline)


class ModelRegistry:
    """The loaded models, by name. Created empty; the app's lifespan calls ``load_dir``."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def load_dir(self, model_dir: Path) -> list[str]:
        """Every ``*.joblib`` in ``model_dir``, all or nothing; returns the names, sorted."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder {model_dir} does not exist")
        paths = sorted(model_dir.glob(f"*{MODEL_SUFFIX}"))
        if not paths:
            raise ModelLoadError(f"model folder {model_dir} holds no *{MODEL_SUFFIX} files")
        self._entries = {entry.name: entry for entry in map(read_model, paths)}
        return self.names()

    def get(self, name: str) -> ModelEntry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModelError(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        return [self._entries[name] for name in self.names()]

    def clear(self) -> None:
        self._entries.clear()
