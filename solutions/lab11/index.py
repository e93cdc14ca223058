"""Lab 11, Tasks 11.3 and 11.4 — two vector indexes behind one interface: exact and approximate.

Read notebooks/11_embeddings.ipynb, sections 11.3 and 11.4. An index holds normalised vectors, one row per
document, in the order they were added: row ``i`` is the ``i``-th vector ever added. Both indexes have

* ``add(vectors)`` — append the rows of a float32 array of shape ``(n, dim)``;
* ``search(query, top_k)`` — the rows most similar to ``query`` (shape ``(dim,)``), as two arrays
  ``(positions, scores)``: the row numbers and their dot products with the query (the cosine similarity:
  every vector is normalised), **highest score first**, at most ``top_k`` of them (fewer when the index
  holds fewer rows; none when it is empty);
* ``len(index)`` — the number of rows.

* Task 11.3 ``ExactIndex``: all rows in one matrix; a search is ONE matrix product with every row.
* Task 11.4 ``ApproximateIndex``: faiss's HNSW graph (``faiss.IndexHNSWFlat`` with
  ``faiss.METRIC_INNER_PRODUCT``), which visits a small part of the rows. It must find at least 95 % of
  the exact top 10 (recall@10 >= 0.95) and report the same scores for the rows it finds.

Check your work with ``pytest checks/lab11 -k index``.
"""

from __future__ import annotations

import numpy as np

HNSW_NEIGHBOURS = 32  # M: the links per node of the HNSW graph
HNSW_EF_CONSTRUCTION = 80  # how widely the graph is searched while a row is added
HNSW_EF_SEARCH = 64  # how widely it is searched per query: higher is slower and finds more of the true top k


class ExactIndex:
    """Every row compared with the query: exact, and its cost grows with the number of rows."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.vectors = np.zeros((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, vectors: np.ndarray) -> None:  # Task 11.3
        """Append the rows of ``vectors`` (shape ``(n, dim)``) to ``self.vectors``, as float32."""
        rows = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self.vectors = np.vstack([self.vectors, rows])

    def search(self, query: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:  # Task 11.3
        """``(positions, scores)`` of the ``top_k`` rows with the highest dot product, best first.

        ONE matrix product scores every row (``self.vectors @ query``); ``np.argpartition`` finds the
        top k without sorting them all, then sort those k by score, descending.
        """
        scores = self.vectors @ np.asarray(query, dtype=np.float32).reshape(self.dim)
        k = min(top_k, len(scores))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        order = top[np.argsort(-scores[top], kind="stable")]
        return order.astype(np.int64), scores[order]


class ApproximateIndex:
    """faiss's HNSW graph: a search visits a few hundred rows, whatever the size of the index."""

    def __init__(self, dim: int) -> None:
        import faiss  # imported when an index is made, not when the lab is imported

        faiss.omp_set_num_threads(1)  # a web worker is one process among many: no thread pool of its own
        self.dim = dim
        self.index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        self.index.hnsw.efSearch = HNSW_EF_SEARCH

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:  # Task 11.4
        """Add the rows of ``vectors`` to ``self.index`` (faiss wants a C-contiguous float32 array)."""
        rows = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim))
        if len(rows):
            self.index.add(rows)

    def search(self, query: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:  # Task 11.4
        """``(positions, scores)`` of up to ``top_k`` rows found by the graph, best first.

        ``self.index.search(queries, k)`` takes a 2-D array of queries and answers ``(scores, positions)``
        arrays of shape ``(1, k)``; where it found fewer than k rows the position is -1: leave those out.
        """
        k = min(top_k, len(self))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        row = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, self.dim))
        scores, positions = self.index.search(row, k)
        found = positions[0] >= 0
        return positions[0][found].astype(np.int64), scores[0][found]


def make_index(kind: str, dim: int) -> ExactIndex | ApproximateIndex:
    """Given: the index a setting names: ``"exact"`` or ``"approximate"``."""
    if kind == "exact":
        return ExactIndex(dim)
    if kind == "approximate":
        return ApproximateIndex(dim)
    raise ValueError(f"unknown index kind {kind!r}: 'exact' or 'approximate'")
