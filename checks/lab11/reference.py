"""Reference pieces the lab 11 checks build around the one task they grade (never the student's other tasks).

``SpyModel`` wraps the real model2vec model and counts its ``encode`` calls; ``reference_embed``,
``ReferenceIndex`` and ``ReferenceCache`` are the reference's Tasks 11.1, 11.3 and 11.2, so that a check of
Task 11.6 goes through the student's job and store, not their embedding or index.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from labkit.datasets import DATA

MODEL_DIR = DATA / "embedding_model"


@cache
def real_model() -> Any:
    """The workbook's model2vec model, loaded once per process by model2vec's own loader (offline)."""
    from model2vec import StaticModel

    return StaticModel.from_pretrained(str(MODEL_DIR))


class SpyModel:
    """The real model, with every ``encode`` call recorded (``calls``: the list of texts of each call)."""

    def __init__(self, real: Any | None = None) -> None:
        self.real = real if real is not None else real_model()
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def encode(self, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.calls.append([sentences] if isinstance(sentences, str) else list(sentences))
        return self.real.encode(sentences, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def reference_embed(texts: list[str], model: Any | None = None) -> np.ndarray:
    vectors = np.asarray((model or real_model()).encode(list(texts)), dtype=np.float64).reshape(len(texts), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class ReferenceIndex:
    """An exact index: the reference's Task 11.3."""

    def __init__(self, dim: int) -> None:
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype=np.float32)])

    def search(self, query: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self.vectors @ np.asarray(query, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:top_k]
        return order, scores[order]


class ReferenceCache:
    """No cache at all: every call embeds (the reference's Task 11.1), counted by its spy model."""

    def __init__(self, model: SpyModel) -> None:
        self.model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        return reference_embed(texts, self.model)


def clustered_vectors(count: int, dim: int = 32, clusters: int = 40, seed: int = 11) -> np.ndarray:
    """``count`` normalised vectors around ``clusters`` centres: like embeddings, neighbours are close."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    rows = centres[rng.integers(0, clusters, count)] + rng.normal(scale=0.35, size=(count, dim))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors.astype(np.float64) @ query.astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]
