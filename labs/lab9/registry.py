"""Given: the model registry taught in lab 4, lean — load every verified model of a folder once, look up by name.

A model file is lab 3's ``(pipeline, target_names)`` tuple with its SHA-256 in ``<file>.sha256``; a file
whose digest is missing or different is refused before it is unpickled (unpickling runs code).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib


class UnknownModelError(LookupError):
    """Given: no model of that name; ``known`` lists the names there are."""

    def __init__(self, name: str, known: list[str]):
        super().__init__(f"no model named {name!r}; known models: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class UntrustedModelError(ValueError):
    """Given: the file's recorded SHA-256 is missing or does not match its bytes."""


@dataclass(frozen=True)
class ModelEntry:
    """Given: one loaded model. ``version`` is the first 12 hex characters of the file's SHA-256."""

    name: str
    kind: str  # "text" or "tabular"
    version: str
    classes: tuple[str, ...]
    pipeline: Any


def model_kind(pipeline: Any) -> str:
    """Given: "text" when the pipeline starts with a text vectorizer (it takes strings), else "tabular"."""
    steps = getattr(pipeline, "steps", None)
    first = steps[0][1] if steps else pipeline
    return "text" if hasattr(first, "build_analyzer") else "tabular"


def load_entry(path: Path) -> ModelEntry:
    """Given: verify the digest, then load one model file."""
    path = Path(path)
    recorded = path.with_name(path.name + ".sha256")
    if not recorded.exists():
        raise UntrustedModelError(f"{path}: no recorded digest at {recorded.name}; refusing to unpickle it")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != recorded.read_text(encoding="utf-8").strip():
        raise UntrustedModelError(f"{path}: SHA-256 does not match {recorded.name}; refusing to unpickle it")
    pipeline, target_names = joblib.load(path)
    return ModelEntry(name=path.stem, kind=model_kind(pipeline), version=digest[:12],
                      classes=tuple(target_names), pipeline=pipeline)


class ModelRegistry:
    """Given: the models the service serves, by name."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def load_dir(self, model_dir: Path) -> list[str]:
        """Load every ``*.joblib`` in ``model_dir`` (digests verified); return the names loaded."""
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise FileNotFoundError(f"model folder {model_dir} does not exist; set MODEL_DIR")
        for path in sorted(model_dir.glob("*.joblib")):
            self.add(load_entry(path))
        return self.names()

    def add(self, entry: ModelEntry) -> None:
        self._entries[entry.name] = entry

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
