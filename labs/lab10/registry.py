"""Given: the model registry from lab 4, made resilient for production.

``ModelRegistry.load_dir`` loads every ``<name>.joblib`` in a folder with ``labkit.registry.read_model`` —
the SHA-256 checked against ``<name>.joblib.sha256`` (lab 3's format) before unpickling, the
``(pipeline, target_names)`` shape checked, the ``kind`` given by labkit's one rule — exactly as labs 5–9 load
theirs. Why not labkit's ``ModelRegistry`` itself: it is all or nothing (one bad file and the service does not
start), and in production one bad file must not take the whole service down. So a model that fails to load
is *recorded* instead of raised: ``get`` then raises :class:`ModelNotLoadedError` for it (the service answers
503) and ``failed`` says why (the readiness probe reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from labkit.registry import MODEL_SUFFIX, UnknownModelError, read_model
from labkit.registry import ModelEntry as LabkitEntry

__all__ = ["ModelEntry", "ModelNotLoadedError", "ModelRegistry", "UnknownModelError", "load_entry"]


class ModelNotLoadedError(RuntimeError):
    """The model's file exists but could not be loaded (tampered, corrupt, wrong format)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name!r} is not loaded: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class ModelEntry(LabkitEntry):
    """labkit's entry (``name``, ``kind`` "text" or "tabular", ``version``, ``classes``, ``pipeline``), plus
    :meth:`predict_labels`."""

    def predict_labels(self, inputs: list) -> list[str]:
        """Class names for a list of inputs (texts, or rows of features)."""
        return [self.classes[int(index)] for index in self.pipeline.predict(inputs)]


def load_entry(path: Path) -> ModelEntry:
    """``read_model(path)`` (digest *before* unpickling, then the tuple's shape), as this lab's entry."""
    entry = read_model(path)
    return ModelEntry(**{field.name: getattr(entry, field.name) for field in fields(entry)})


class ModelRegistry:
    """The models the service serves, by name, plus the ones that failed to load and why."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self.failed: dict[str, str] = {}

    def load_dir(self, model_dir: Path) -> None:
        """Load every ``*.joblib`` in ``model_dir``; record (not raise) each one that fails."""
        for path in sorted(Path(model_dir).glob(f"*{MODEL_SUFFIX}")):
            name = path.name.removesuffix(MODEL_SUFFIX)
            try:
                self._entries[name] = load_entry(path)
            except Exception as exc:  # any unreadable file: keep serving the others
                # The reason goes to clients (/ready, the 503): the file's name, not where the server keeps it.
                reason = str(exc).removeprefix(f"{path}: ") or type(exc).__name__
                self.failed[name] = f"{path.name}: {reason}"

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
