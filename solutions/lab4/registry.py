"""Lab 4, Task 4.2 — a registry of verified models, loaded from one folder.

Read notebooks/04_lifespan_registry.ipynb, section 4.2. The folder holds lab 3's files: ``<name>.joblib``
with the tuple ``(pipeline, target_names)`` and ``<name>.joblib.sha256`` with the SHA-256 of its bytes.
The registry turns each file into a :class:`ModelEntry` and finds entries by name:

* Task 4.2 ``read_model``: verify one file's digest, *then* unpickle it, and describe it as a ``ModelEntry``.
* Task 4.2 ``ModelRegistry.load_dir``: every ``*.joblib`` in a folder, all or nothing.
* Task 4.2 ``ModelRegistry.get``: one entry by name, or ``UnknownModelError`` naming the known ones.

Nothing here knows about FastAPI: the app (app.py) decides when to load and how to answer errors.
Check it: ``pytest checks/lab4 -k "read_model or load_dir"``.
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
    """Given: one loaded model and what the service tells clients about it."""

    name: str  # the file name without .joblib: "newsgroups"
    kind: str  # "text" (takes a string) or "tabular" (takes a row of numbers)
    version: str  # the first VERSION_CHARS hex characters of the file's SHA-256
    classes: tuple[str, ...]  # target_names: the pipeline predicts i, the answer is classes[i]
    pipeline: Any = field(repr=False, compare=False)


class ModelLoadError(Exception):
    """Given: a model folder or file cannot be served. The message says which path and why."""


class UnknownModelError(LookupError):
    """Given: no model of that name is loaded. ``known`` lists the names that are."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(f"unknown model {name!r}; known models: {', '.join(self.known) or 'none'}")


class RegistryUnavailableError(RuntimeError):
    """Given: the models could not be loaded at start-up, so nothing can be predicted. ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def file_sha256(path: Path) -> str:
    """Given (lab 3): the SHA-256 hex digest of the file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_kind(pipeline: Any) -> str:
    """Given: ``"tabular"`` for a pipeline fitted on rows of numbers (it knows ``n_features_in_``), else ``"text"``."""
    return "tabular" if hasattr(pipeline, "n_features_in_") else "text"


def read_model(path: Path) -> ModelEntry:  # Task 4.2
    """Load one model file, but only if its recorded digest matches, and describe it.

    1. ``<path>.sha256`` must exist and hold the SHA-256 of the file's bytes; otherwise raise
       ``ModelLoadError`` *before* ``joblib.load`` (unpickling an unknown file can run its code).
    2. Load it with ``joblib.load``. It must be a 2-tuple ``(pipeline, target_names)``: something with a
       ``predict`` method and a non-empty list of strings; otherwise raise ``ModelLoadError``.
    3. Return ``ModelEntry(name=<file name without .joblib>, kind=model_kind(pipeline),
       version=<first 12 characters of the digest>, classes=tuple(target_names), pipeline=pipeline)``.

    Every ``ModelLoadError`` message names the file and says what is wrong with it.
    """
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
    """The loaded models, by name. Created empty: loading is a separate step (see app.py's lifespan)."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def load_dir(self, model_dir: Path) -> list[str]:  # Task 4.2
        """Load every ``*.joblib`` file in ``model_dir`` with :func:`read_model`; return the names, sorted.

        All or nothing: if the folder is missing, holds no ``*.joblib`` file, or any file fails to load,
        raise ``ModelLoadError`` (naming the folder or the file) and leave the registry as it was.
        On success the registry holds exactly the models of this folder.
        """
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelLoadError(f"model folder {model_dir} does not exist")
        paths = sorted(model_dir.glob(f"*{MODEL_SUFFIX}"))
        if not paths:
            raise ModelLoadError(f"model folder {model_dir} holds no *{MODEL_SUFFIX} files")
        loaded = {entry.name: entry for entry in map(read_model, paths)}
        self._entries = loaded
        return self.names()

    def get(self, name: str) -> ModelEntry:  # Task 4.2
        """The entry called ``name``; raise ``UnknownModelError(name, self.names())`` if there is none."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownModelError(name, self.names()) from None

    def names(self) -> list[str]:
        """Given: the names of the loaded models, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        """Given: the loaded entries, sorted by name."""
        return [self._entries[name] for name in self.names()]

    def clear(self) -> None:
        """Given: forget every model (the app calls this at shutdown, releasing their memory)."""
        self._entries.clear()
