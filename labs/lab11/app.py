"""Lab 11 — embeddings and semantic search: the service.

Read notebooks/11_embeddings.ipynb first. The routes are given (routes_*.py, thin); the work is in plain
functions you write: embedding.py (Tasks 11.1, 11.2), index.py (11.3, 11.4), store.py (11.5),
documents.py (11.6) and the lifespan below (11.7).

* ``POST /embed`` — ``{"text": ...}`` or ``{"texts": [...]}`` (1–64) -> ``{"model", "version", "dim", "vectors"}``.
* ``POST /classify`` — ``{"text": ...}`` -> ``{"category", "probabilities"}``.
* ``POST /search`` — ``{"query": ..., "top_k": 1–50}`` -> ``{"index", "results": [{"id", "category", "score",
  "snippet"}]}``, best first.
* ``POST /documents`` — ``{"documents": [{"text", "category"?}]}`` -> 202 ``{"job_id", "status", "ids"}``;
  ``GET /jobs/{job_id}`` says when they are searchable (``done``).
* ``GET /health`` — ``{"status": "ok", "model_loaded": true|false}``.

Bad input gets a 4xx, never a 500: an empty or over-long text, ``top_k`` out of range, too many texts
(422), a body that is not JSON (400), a body over 1 MiB (413); a model that failed to load is a 503 with the reason.

Run it: ``uvicorn lab11.app:app --app-dir labs`` (from the repository root; ``INDEX_KIND=approximate`` for
faiss). Check it: ``pytest checks/lab11``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from labkit.docs import serve_docs_offline
from labkit.validation_errors import install_safe_validation_handler, limit_request_body

from . import routes_documents, routes_embed, routes_search
from .embedding import ModelLoadError, load_model
from .service import build_service
from .settings import Settings
from .store import CorruptStoreError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:  # Task 11.7
    """Load the model ONCE, at start-up, and build the service from it: never at import, never per request.

    ``settings = app.state.settings``; ``model = load_model(settings.embedding_model, settings.allow_download)``;
    ``app.state.service = build_service(settings, model)``; then ``yield`` (the app serves); then
    ``app.state.service = None``. If loading fails (``ModelLoadError``) or the store is refused
    (``CorruptStoreError``), do not crash: set ``app.state.service = None`` and ``app.state.load_error`` to
    the reason (``str(exc)``), and yield all the same — every route then answers 503 with that reason.
    """
    raise NotImplementedError("Task 11.7: Load the model once, in the lifespan")
    yield  # unreachable: keeps this function a generator, as in the finished version


def health(app: FastAPI) -> None:
    """Given: ``GET /health``, which answers even when the model did not load."""

    @app.get("/health")
    async def health_route() -> dict[str, object]:
        return {"status": "ok", "model_loaded": getattr(app.state, "service", None) is not None}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Given: wiring only. Importing this module loads no model and touches no file."""
    app = FastAPI(title="Lab 11 — embeddings and semantic search", lifespan=lifespan)
    app.state.settings = settings or Settings()
    app.state.service, app.state.load_error = None, None
    for module in (routes_embed, routes_search, routes_documents):
        app.include_router(module.router)
    health(app)
    install_safe_validation_handler(app)
    limit_request_body(app)  # 413 past 1 MiB, 408 for a body that takes over 30 s to arrive
    return serve_docs_offline(app)


app = create_app()
