"""Given: everything the routes need, built once in the lifespan (``app.state.service``).

``build_service(settings, model)`` embeds the corpus's documents (``labkit.datasets``), puts them in the index
the settings name, trains the classifier on the train split's embeddings, and adds the documents kept in
``settings.data_dir`` (Task 11.5's store) after them — re-embedded if the model changed since they were saved.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from labkit.datasets import load_corpus

from .embedding import EmbeddingCache, embed, model_version
from .index import ApproximateIndex, ExactIndex, make_index
from .settings import Settings
from .store import Document, load_store

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
SNIPPET_CHARS = 80


@dataclass
class Job:
    """Given: one add-documents job: ``pending`` -> ``running`` -> ``done`` (or ``failed`` with ``error``)."""

    job_id: str
    ids: list[str]
    status: str = PENDING
    error: str | None = None


class JobStore:
    """Given: jobs by id, changed and read under one lock (the jobs run in worker threads)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, ids: list[str]) -> Job:
        job = Job(job_id=uuid.uuid4().hex, ids=list(ids))
        with self._lock:
            self._jobs[job.job_id] = job
            return dataclasses.replace(job)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job) if job else None

    def update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for name, value in changes.items():
                setattr(job, name, value)


@dataclass
class Service:
    """Given: the loaded model and what was built from it. ``documents[i]`` is row ``i`` of ``index``."""

    settings: Settings
    model: Any
    version: str
    cache: EmbeddingCache
    index: ExactIndex | ApproximateIndex
    documents: list[Document]
    classifier: LogisticRegression
    added: list[Document] = field(default_factory=list)  # the documents clients added (what the store keeps)
    added_vectors: np.ndarray | None = None
    jobs: JobStore = field(default_factory=JobStore)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one writer of index, documents and store

    @property
    def model_name(self) -> str:
        return self.settings.embedding_model

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.cache.embed(texts)

    def search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        vector = self.embed([query])[0]
        with self.lock:  # a job adding documents must not change the index under the search
            positions, scores = self.index.search(vector, top_k)
            documents = [self.documents[int(p)] for p in positions]
        return [{"id": d.id, "category": d.category, "score": float(s), "snippet": d.text[:SNIPPET_CHARS]}
                for d, s in zip(documents, scores)]

    def classify(self, text: str) -> tuple[str, dict[str, float]]:
        probabilities = self.classifier.predict_proba(self.embed([text]))[0]
        classes = [str(c) for c in self.classifier.classes_]
        best = classes[int(np.argmax(probabilities))]
        return best, {c: round(float(p), 6) for c, p in zip(classes, probabilities)}


def build_service(settings: Settings, model: Any) -> Service:
    """Given: index the corpus and the stored documents, train the classifier (seconds, once per start)."""
    version = model_version(model)
    train_texts, train_categories = load_corpus("train")
    test_texts, test_categories = load_corpus("test")
    texts, categories = train_texts + test_texts, train_categories + test_categories
    vectors = embed(model, texts)
    classifier = LogisticRegression(max_iter=1000).fit(vectors[: len(train_texts)], train_categories)
    index = make_index(settings.index_kind, vectors.shape[1])
    index.add(vectors)
    documents = [Document(f"corpus-{i:04d}", text, category)
                 for i, (text, category) in enumerate(zip(texts, categories))]
    service = Service(settings, model, version, EmbeddingCache(model, settings.embedding_model, version,
                                                               settings.cache_size),
                      index, documents, classifier)
    stored = load_store(settings.data_dir)
    if stored.documents:
        added_vectors = stored.vectors
        if stored.model_version != version or added_vectors.shape != (len(stored.documents), vectors.shape[1]):
            added_vectors = embed(model, [d.text for d in stored.documents])  # saved by another model
        index.add(added_vectors)
        service.documents.extend(stored.documents)
        service.added, service.added_vectors = list(stored.documents), added_vectors
    return service

