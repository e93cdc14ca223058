"""Given: the model registry from lab 4, made resilient for production.

``ModelRegistry.load_dir`` loads every ``<name>.joblib`` in a folder after checking its SHA-256 against
``<name>.joblib.sha256`` (lab 3's format). One bad file must not take the whole service down, so a model
that fails to load is *recorded* instead of raised: ``get`` then raises :class:`ModelNotLoadedError`
for it (the service answers 503) and ``failed`` says why (the readiness probe reports it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib

DIGEST_SUFFIX = ".sha256"


class UnknownModelError(LookupError):
    """No model of that name was ever found in the model folder."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no model named {name!r}; known models: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class ModelNotLoadedError(RuntimeError):
    """The model's file exists but could not be loaded (tampered, corrupt, wrong format)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name!r} is not loaded: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class ModelEntry:
    """One loaded model: ``kind`` is "text" or "tabular"; ``version`` is 12 hex chars of its SHA-256."""

    name: str
    kind: str
    version: str
    classes: tuple[str, ...]
    pipeline: Any

    def predict_labels(self, inputs: list) -> list[str]:
        """Class names for a list of inputs (texts, or rows of features)."""
        return [self.classes[int(index)] for index in self.pipeline.predict(inputs)]


def load_entry(path: Path) -> ModelEntry:
    """Verify the digest *before* unpickling, then check the ``(pipeline, target_names)`` shape."""
    recorded = path.with_name(path.name + DIGEST_SUFFIX)
    if not recorded.exists():
        raise ValueError(f"no recorded digest {recorded.name}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != recorded.read_text(encoding="utf-8").strip():
        raise ValueError(f"SHA-256 {digest[:12]} does not match {recorded.name}")
    loaded = joblib.load(path)
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and hasattr(loaded[0], "predict")):
        raise ValueError(f"expected a (pipeline, target_names) tuple, found {type(loaded).__name__}")
    pipeline, target_names = loaded
    first_step = pipeline.steps[0][1] if hasattr(pipeline, "steps") else pipeline
    # A fitted text vectorizer has a vocabulary; iris pipelines start with a scaler or a forest.
    kind = "text" if hasattr(first_step, "vocabulary_") else "tabular"
    return ModelEntry(path.name.removesuffix(".joblib"), kind, digest[:12], tuple(target_names), pipeline)


class ModelRegistry:
    """The models the service serves, by name, plus the ones that failed to load and why."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.failed: dict[str, str] = {}

    def load_dir(self, model_dir: Path) -> None:
        """Load every ``*.joblib`` in ``model_dir``; record (not raise) each one that fails."""
        for path in sorted(Path(model_dir).glob("*.joblib")):
            name = path.name.removesuffix(".joblib")
            try:
                self._entries[name] = load_entry(path)
            except Exception as exc:  # any unreadable file: keep serving the others
                self.failed[name] = str(exc) or type(exc).__name__

    def get(self, name: str) -> ModelEntry:
        if name in self._entries:
            return self._entries[name]
        if name in self.failed:
            raise ModelNotLoadedError(name, self.failed[name])
        raise UnknownModelError(name, self.names())

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        return [self._entries[name] for name in self.names()]

    def clear(self) -> None:
        self._entries.clear()
        self.failed.clear()
