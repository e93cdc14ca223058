"""Lab 11, Tasks 11.1 and 11.2 — sentence embeddings, normalised, and a cache for repeated texts.

Read notebooks/11_embeddings.ipynb, sections 11.1 and 11.2. The model is a model2vec ``StaticModel``
(``load_model``, given): ``model.encode(list_of_texts)`` answers a numpy array with one row per text, the
mean of its words' vectors. A text with no word the model knows gets a row of zeros.

* Task 11.1 ``embed``: every row scaled to length 1 (L2), so that the dot product of two rows is their
  cosine similarity — the score search sorts by.
* Task 11.2 ``EmbeddingCache.embed``: the same, but a text embedded before comes from the cache, and the
  cache key holds the model's name and version (lab 8's lesson: a new model must never answer from the
  old model's cache).

Check your work with ``pytest checks/lab11 -k "embed or cache"``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np


class ModelLoadError(RuntimeError):
    """Given: the embedding model could not be loaded; the message says why."""


def load_model(name_or_path: str, allow_download: bool = False) -> Any:
    """Given: the model2vec ``StaticModel`` in a local folder, or (``allow_download``) of a hub name.

    model2vec's ``from_pretrained`` downloads whatever is not a local folder, so a name that is not a folder
    is refused here unless downloads are allowed: the workbook never touches the network.
    """
    from model2vec import StaticModel  # imported when a model is loaded, never at import time

    if not Path(name_or_path).is_dir() and not allow_download:
        raise ModelLoadError(f"no model folder at {name_or_path!r} (and ALLOW_DOWNLOAD is off)")
    try:
        return StaticModel.from_pretrained(name_or_path)
    except Exception as exc:  # a broken folder: missing file, bad safetensors, bad tokenizer.json
        raise ModelLoadError(f"cannot load the model {name_or_path!r}: {exc}") from exc


def model_version(model: Any) -> str:
    """Given: a short fingerprint of the model's vectors: it changes whenever the model does."""
    vectors = np.ascontiguousarray(np.asarray(model.embedding))
    return hashlib.sha256(vectors.tobytes()).hexdigest()[:12]


def embed(model: Any, texts: list[str]) -> np.ndarray:  # Task 11.1
    """The embeddings of ``texts`` as a float32 array of shape ``(len(texts), dim)``, each row of length 1.

    Call ``model.encode(texts)`` ONCE for the whole list (never once per text), then divide each row by
    its own L2 norm (``np.linalg.norm(..., axis=1, keepdims=True)``). A row of zeros (no known word) stays
    zeros: never divide by zero, never return NaN. The same text gives the same vector alone or in a batch.
    """
    vectors = np.asarray(model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


class EmbeddingCache:
    """Normalised embeddings of one model, with the texts seen before answered from memory.

    ``model_name`` and ``version`` identify the model (``model_version(model)``); ``max_size`` bounds the
    entries kept (the least recently used go first; 0 keeps nothing).
    """

    def __init__(self, model: Any, model_name: str, version: str, max_size: int = 10_000) -> None:
        self.model = model
        self.model_name = model_name
        self.version = version
        self.max_size = max_size
        self.entries: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        self.lock = threading.Lock()  # routes run in the thread pool: one change of the entries at a time

    def key(self, text: str) -> tuple[str, str, str]:
        """Given: the cache key of a text: the model's name and version, and the text."""
        return (self.model_name, self.version, text)

    def embed(self, texts: list[str]) -> np.ndarray:  # Task 11.2
        """Like ``embed(self.model, texts)``, but texts already in the cache are not encoded again.

        Look each text up by ``self.key(text)``; embed the texts that were missing with ONE call of
        ``embed`` (each distinct text once, even if it appears twice), store them, and answer the rows in
        the order of ``texts``. Keep at most ``max_size`` entries, dropping the least recently used.
        """
        with self.lock:
            found = {text: self.entries[self.key(text)] for text in texts if self.key(text) in self.entries}
            for text in found:
                self.entries.move_to_end(self.key(text))
        missing = list(dict.fromkeys(text for text in texts if text not in found))
        if missing:
            fresh = embed(self.model, missing)
            with self.lock:
                for text, vector in zip(missing, fresh):
                    found[text] = vector
                    if self.max_size > 0:
                        self.entries[self.key(text)] = vector
                        self.entries.move_to_end(self.key(text))
                while len(self.entries) > self.max_size:
                    self.entries.popitem(last=False)
        if not texts:
            return np.zeros((0, self.model.dim), dtype=np.float32)
        return np.stack([found[text] for text in texts])
