"""Lab 11, Task 11.6 — documents added by a background job, searchable once it is done, kept across restarts.

Read notebooks/11_embeddings.ipynb, section 11.6. ``POST /documents`` (given, in routes_documents.py) gives
each new document an id, records a job (``pending``) and answers 202 at once; then FastAPI runs
``add_documents`` in the background (lab 6), in a worker thread. ``GET /jobs/{job_id}`` shows its status.

"done" is a promise: a document of a finished job is found by ``POST /search``, and it is still found after
the service restarts. So the job saves the store *before* it says done, and a failure says ``failed`` with
the reason (and adds nothing) instead of leaving the job ``running`` for ever.

Check your work with ``pytest checks/lab11 -k documents``.
"""

from __future__ import annotations

import numpy as np

from .service import DONE, FAILED, RUNNING, Service
from .store import Document, save_store


def add_documents(service: Service, job_id: str, documents: list[Document]) -> None:  # Task 11.6
    """The background job: embed ``documents``, save them, make them searchable, then mark the job done.

    1. ``service.jobs.update(job_id, status="running")``.
    2. Embed all their texts with ONE ``service.embed(texts)`` call (the cache of Task 11.2).
    3. Under ``service.lock``: save ``service.added`` + ``documents`` and ``service.added_vectors`` + the new
       rows with ``save_store(service.settings.data_dir, ..., service.version)``; only then add the rows to
       ``service.index``, append the documents to ``service.documents`` (row ``i`` of the index is
       ``documents[i]``), and update ``service.added`` and ``service.added_vectors``.
    4. ``status="done"``. On any exception: ``status="failed"``, ``error=str(exc)``, and nothing is added.
    """
    raise NotImplementedError("Task 11.6: Add documents in a background job")
