"""Given: the model registry (lab 4) — every model in a folder, loaded once and looked up by name.

A model file is lab 3's ``<name>.joblib`` holding ``(pipeline, target_names)``, with its SHA-256 in
``<name>.joblib.sha256``. The registry refuses a file whose digest is missing or different *before*
unpickling it, and describes each model as a :class:`ModelEntry`; ``version`` is the first 12 hex
characters of the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import joblib
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer

DIGEST_SUFFIX = ".sha256"
VERSION_LENGTH = 12
TEXT_VECTORIZERS = (CountVectorizer, HashingVectorizer)  # TfidfVectorizer is a CountVectorizer

Kind = Literal["text", "tabular"]


class ModelLoadError(Exception):
    """A model file that cannot be served: missing, untrusted or not a ``(pipeline, target_names)`` tuple."""


class UnknownModelError(LookupError):
    """No model of that name is loaded; ``known`` lists the names that are."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown model {name!r}; known models: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


@dataclass(frozen=True)
class ModelEntry:
    """One loaded model: what the service needs to run it and to describe it."""

    name: str
    kind: Kind
    version: str
    classes: tuple[str, ...]
    pipeline: Any


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_entry(path: Path) -> ModelEntry:
    """Verify the digest, then load ``path`` and describe it; :class:`ModelLoadError` says what is wrong."""
    path = Path(path)
    recorded = path.with_name(path.name + DIGEST_SUFFIX)
    if not recorded.is_file():
        raise ModelLoadError(f"{path}: no recorded digest at {recorded.name}; refusing to unpickle it")
    digest = file_sha256(path)
    if digest != recorded.read_text(encoding="utf-8").strip():
        raise ModelLoadError(f"{path}: the file does not match its recorded SHA-256; refusing to unpickle it")
    loaded = joblib.load(path)
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and callable(getattr(loaded[0], "predict", None))):
        raise ModelLoadError(f"{path}: expected a (pipeline, target_names) tuple, found {type(loaded).__name__}")
    pipeline, classes = loaded
    steps = getattr(pipeline, "steps", [(None, pipeline)])
    kind: Kind = "text" if isinstance(steps[0][1], TEXT_VECTORIZERS) else "tabular"
    return ModelEntry(name=path.name.removesuffix(".joblib"), kind=kind, version=digest[:VERSION_LENGTH],
                      classes=tuple(str(c) for c in classes), pipeline=pipeline)


class ModelRegistry:
    """Loaded models by name; safe to read from many threads."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._lock = threading.Lock()

    def load_dir(self, model_dir: Path) -> list[str]:
        """Load every ``*.joblib`` in ``model_dir`` (digests verified); return the names loaded."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder {model_dir} does not exist: save the models first (lab 3)")
        entries = [load_entry(path) for path in sorted(model_dir.glob("*.joblib"))]
        with self._lock:
            self._entries.update({entry.name: entry for entry in entries})
        return [entry.name for entry in entries]

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
