"""Given: ``POST /embed`` and ``POST /classify``. Plain ``def`` routes: FastAPI runs them in the thread pool."""

from __future__ import annotations

from fastapi import APIRouter

from .deps import BAD_BODY, NOT_LOADED, ServiceDep
from .schemas import ClassifyIn, ClassifyOut, EmbedIn, EmbedOut

router = APIRouter(tags=["embeddings"], responses=NOT_LOADED)


@router.post("/embed", responses=BAD_BODY)
def embed_texts(body: EmbedIn, service: ServiceDep) -> EmbedOut:
    """One text or a batch of texts -> their L2-normalised embeddings, from one ``encode`` call (or the cache)."""
    vectors = service.embed(body.all_texts())
    return EmbedOut(model=service.model_name, version=service.version, dim=int(vectors.shape[1]),
                    vectors=vectors.tolist())


@router.post("/classify", responses=BAD_BODY)
def classify(body: ClassifyIn, service: ServiceDep) -> ClassifyOut:
    """The category of a text: a logistic regression trained on the corpus's embeddings at start-up."""
    category, probabilities = service.classify(body.text)
    return ClassifyOut(category=category, probabilities=probabilities)
