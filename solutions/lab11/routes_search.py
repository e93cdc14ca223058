"""Given: ``POST /search``: ``{query, top_k}`` -> the ``top_k`` most similar documents, best first."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import BAD_BODY, NOT_LOADED, ServiceDep
from .schemas import Hit, SearchIn, SearchOut

router = APIRouter(tags=["search"], responses=NOT_LOADED)


@router.post("/search", responses=BAD_BODY)
def search(body: SearchIn, service: ServiceDep) -> SearchOut:
    """Semantic search over the corpus and the added documents, with the index ``INDEX_KIND`` names."""
    hits = service.search(body.query, body.top_k)
    return SearchOut(index=service.settings.index_kind, results=[Hit(**hit) for hit in hits])
