"""Given: ``POST /documents`` (202 and a job) and ``GET /jobs/{job_id}`` (the job's status)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, HTTPException

from .deps import BAD_BODY, NOT_LOADED, ServiceDep
from .documents import add_documents
from .schemas import DocumentsIn, ErrorMessage, JobOut
from .store import Document

router = APIRouter(tags=["documents"], responses=NOT_LOADED)


@router.post("/documents", status_code=202, responses=BAD_BODY)
def post_documents(body: DocumentsIn, background: BackgroundTasks, service: ServiceDep) -> JobOut:
    """Accept documents: 202 with their ids and a job; they are searchable once ``GET /jobs/{job_id}`` says done."""
    documents = [Document(f"doc-{uuid.uuid4().hex[:12]}", item.text, item.category) for item in body.documents]
    job = service.jobs.create([document.id for document in documents])
    background.add_task(add_documents, service, job.job_id, documents)
    return JobOut(job_id=job.job_id, status=job.status, ids=job.ids)


@router.get("/jobs/{job_id}", responses={404: {"model": ErrorMessage, "description": "No job with this id"}})
def get_job(job_id: str, service: ServiceDep) -> JobOut:
    """The job's status: pending, running, done (its documents are searchable and saved) or failed (error)."""
    job = service.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job with id {job_id!r}")
    return JobOut(job_id=job.job_id, status=job.status, ids=job.ids, error=job.error)
