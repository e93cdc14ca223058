"""Lab 11, Task 11.5 — added documents kept on disk, each file verified by its SHA-256 when loaded.

Read notebooks/11_embeddings.ipynb, section 11.5. The documents a client added must survive a restart, and
a file that changed on disk (a half-written save, a disk error, someone's edit) must be refused, never
served: lab 3's rule. A store is a folder of three files::

    documents.json   [{"id": ..., "text": ..., "category": ...}, ...]
    vectors.npy      float32, one row per document, in the same order (np.save)
    manifest.json    {"model_version": ..., "sha256": {"documents.json": <hex>, "vectors.npy": <hex>}}

* Task 11.5 ``save_store`` and ``load_store``.

Check your work with ``pytest checks/lab11 -k store``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

DOCUMENTS = "documents.json"
VECTORS = "vectors.npy"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Document:
    """Given: one searchable document."""

    id: str
    text: str
    category: str | None = None


@dataclass(frozen=True)
class Stored:
    """Given: what a store holds. An empty store: no documents, a ``(0, 0)`` array, ``model_version`` None."""

    documents: list[Document]
    vectors: np.ndarray
    model_version: str | None


class CorruptStoreError(RuntimeError):
    """Given: a store file is missing or its SHA-256 is not the one in the manifest; the message names it."""


def write_atomically(path: Path, data: bytes) -> None:
    """Given: write ``data`` to ``path`` so that a crash leaves either the old file or the new one, never half."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def save_store(folder: Path, documents: list[Document], vectors: np.ndarray, model_version: str) -> None:  # Task 11.5
    """Save ``documents`` and their ``vectors`` (one row each) into ``folder`` (create it if needed).

    Write ``documents.json`` and ``vectors.npy`` (``np.save`` into a ``io.BytesIO``), then ``manifest.json``
    with the model version and the SHA-256 (``hashlib.sha256(data).hexdigest()``) of the two files' bytes.
    Write every file with ``write_atomically``, and the manifest last: a crash mid-save leaves the old
    manifest, which then refuses the new files rather than serving a mix.
    """
    raise NotImplementedError("Task 11.5: Persist documents with a SHA-256 verified on load")


def load_store(folder: Path) -> Stored:  # Task 11.5
    """What ``save_store`` saved into ``folder``; an empty ``Stored`` if there is no ``manifest.json`` yet.

    Read each file's bytes and compare their SHA-256 with the manifest's BEFORE using them; a missing file
    or a different digest raises ``CorruptStoreError`` naming the file. Load the vectors with
    ``np.load(io.BytesIO(data), allow_pickle=False)``.
    """
    raise NotImplementedError("Task 11.5: Persist documents with a SHA-256 verified on load")
