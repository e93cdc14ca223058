"""The finished model registry of lab 4 (Task 4.2), given to labs 5 onwards, with a lock and ``reload``.

Labs from 5 on build on a registry that works, so they import this one instead of carrying a copy (lab 10
keeps its own ``ModelRegistry``, which records a file that fails instead of refusing them all, but reads
each file with :func:`read_model`):
``ModelRegistry().load_dir(folder)`` reads every ``<name>.joblib`` whose ``<name>.joblib.sha256`` matches,
all or nothing; ``get(name)`` returns a :class:`ModelEntry` or raises :class:`UnknownModelError`.
``version`` is the first 12 hex characters of the file's SHA-256: retrain or replace the file and the
version changes — which is what lets a cache (lab 8) tell an old model's answers from a new one's.
``reload(name)`` reads one model's file again while requests keep being served, hence the lock.

A model's ``kind`` follows one rule, :func:`model_kind`, the one notebook 4 explains and lab 4's given
``model_kind`` repeats: ``"tabular"`` when the fitted pipeline knows ``n_features_in_`` (it was fitted on
rows of numbers), else ``"text"`` (it starts with a vectorizer, which takes strings).
See notebooks/04_lifespan_registry.ipynb, section 4.2.
"""

from __future__ import annotations

import hashlib
import threading
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
    """``"tabular"`` for a pipeline fitted on rows of numbers (it knows ``n_features_in_``), else ``"text"``.

    The workbook's one rule for a model's kind: every registry (lab 4's given ``model_kind`` too) uses it.
    """
    return "tabular" if hasattr(pipeline, "n_features_in_") else "text"


def read_model(path: Path) -> ModelEntry:
    """One model file, unpickled only after its recorded SHA-256 matched; ``ModelLoadError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file")
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
    try:
        loaded = joblib.load(path)
    except Exception as exc:  # a truncated or foreign file that happens to carry its digest
        raise ModelLoadError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if not (isinstance(loaded, tuple) and len(loaded) == 2):
        raise ModelLoadError(f"{path}: expected a (pipeline, target_names) tuple, found {type(loaded).__name__}")
    pipeline, target_names = loaded
    if not callable(getattr(pipeline, "predict", None)):
        raise ModelLoadError(f"{path}: the first item has no predict method ({type(pipeline).__name__})")
    if not (
        isinstance(target_names, (list, tuple)) and target_names and all(isinstance(name, str) for name in target_names)
    ):
        raise ModelLoadError(f"{path}: the second item must be a non-empty list of class names")
    return ModelEntry(
        name=path.name[: -len(MODEL_SUFFIX)],
        kind=model_kind(pipeline),
        version=actual[:VERSION_CHARS],
        classes=tuple(target_names),
        pipeline=pipeline,
    )


class ModelRegistry:
    """The loaded models, by name. Created empty; the app's lifespan calls ``load_dir``. Thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._model_dir = Path()
        self._lock = threading.Lock()

    def load_dir(self, model_dir: Path) -> list[str]:
        """Every ``*.joblib`` in ``model_dir``, all or nothing; returns the names, sorted."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder {model_dir} does not exist")
        paths = sorted(model_dir.glob(f"*{MODEL_SUFFIX}"))
        if not paths:
            raise ModelLoadError(f"model folder {model_dir} holds no *{MODEL_SUFFIX} files")
        loaded = {entry.name: entry for entry in map(read_model, paths)}
        with self._lock:
            self._entries, self._model_dir = loaded, model_dir
        return self.names()

    def add(self, entry: ModelEntry) -> None:
        """Serve ``entry`` under ``entry.name`` (a model built in this process, a test's spy), replacing any."""
        with self._lock:
            self._entries[entry.name] = entry

    def reload(self, name: str) -> ModelEntry:
        """Read ``name``'s file again (a retrained model gets a new version); return the new entry.

        ``UnknownModelError`` for a name that is not loaded; ``ModelLoadError`` if the file cannot be
        loaded — and then the old entry stays in service.
        """
        self.get(name)
        entry = read_model(self._model_dir / f"{name}{MODEL_SUFFIX}")
        with self._lock:
            self._entries[name] = entry
        return entry

    def get(self, name: str) -> ModelEntry:
        with self._lock:
            entry = self._entries.get(name)
        if entry is None:
            raise UnknownModelError(name, self.names())
        return entry

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        with self._lock:
            return [self._entries[name] for name in sorted(self._entries)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
