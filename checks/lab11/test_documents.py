"""Lab 11 checks, Task 11.6: the add-documents job, and added documents found after a restart.

The job's checks run it on a service built from reference pieces (an exact index, an uncached embedding),
so they grade your job and your store (Task 11.5), not your other tasks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from checks.lab11.reference import ReferenceCache, ReferenceIndex, SpyModel, real_model, reference_embed
from workbook.checkkit.student import import_lab_module, lab_attr

NEW = [("quasar pulsar nebula orbit", "sci.space"), ("clutch gearbox diesel torque", None)]


def reference_service(tmp_path, documents_module):
    """A Service of the student's lab, with the reference's index and embedding around the job."""
    service_module = import_lab_module("lab11.service")
    settings = lab_attr(import_lab_module("lab11.settings"), "Settings")(data_dir=tmp_path / "store")
    model = SpyModel(real_model())
    service = lab_attr(service_module, "Service")(
        settings=settings,
        model=model,
        version="v-check",
        cache=ReferenceCache(model),
        index=ReferenceIndex(32),
        documents=[],
        classifier=None,
    )
    return service, model


def new_documents():
    store = import_lab_module("lab11.store")
    return [store.Document(f"new-{i}", text, category) for i, (text, category) in enumerate(NEW)]


def job_status(service, job_id: str):
    job = service.jobs.get(job_id)
    return job.status, job.error


@pytest.mark.task("11.6", points=2)
@pytest.mark.needs("11.5")
def test_the_job_makes_documents_searchable_and_saved_then_done(tmp_path, documents_module):
    service, model = reference_service(tmp_path, documents_module)
    documents = new_documents()
    job = service.jobs.create([d.id for d in documents])
    documents_module.add_documents(service, job.job_id, documents)
    status, error = job_status(service, job.job_id)
    assert status == "done", f"after add_documents the job should be 'done'; it is {status!r} (error: {error})."
    assert len(model.calls) == 1, f"the job should embed its documents with one call; it made {len(model.calls)}."
    assert [d.id for d in service.documents] == ["new-0", "new-1"], (
        f"service.documents should end with the new documents, in order; it is {[d.id for d in service.documents]}."
    )
    assert len(service.index) == 2 and np.allclose(
        service.index.vectors, reference_embed([t for t, _ in NEW]), atol=1e-5
    ), "the job should add the new documents' vectors to service.index, in the documents' order."
    saved = tmp_path / "store" / "documents.json"
    assert saved.exists(), "the job should save the store (save_store into settings.data_dir) before it is done."
    ids = [item.get("id") for item in json.loads(saved.read_text(encoding="utf-8"))]
    assert ids == ["new-0", "new-1"], f"the saved documents.json should hold the new documents; it holds {ids}."
    saved_vectors = np.load(tmp_path / "store" / "vectors.npy", allow_pickle=False)
    assert saved_vectors.shape == (2, 32) and np.allclose(saved_vectors, service.index.vectors, atol=1e-5), (
        f"the saved vectors.npy should hold one vector per saved document (2, 32); it holds {saved_vectors.shape}."
    )
    second = [import_lab_module("lab11.store").Document("new-2", "hospital insulin", "sci.med")]
    job2 = service.jobs.create(["new-2"])
    documents_module.add_documents(service, job2.job_id, second)
    ids = [item.get("id") for item in json.loads(saved.read_text(encoding="utf-8"))]
    assert ids == ["new-0", "new-1", "new-2"], (
        f"a second job should save the documents of both jobs (service.added + the new ones); the store holds {ids}."
    )


@pytest.mark.task("11.6", points=1)
@pytest.mark.needs("11.5")
def test_the_job_is_not_done_before_its_documents_are_searchable(tmp_path, documents_module):
    service, _ = reference_service(tmp_path, documents_module)
    seen: list[tuple[int, str]] = []
    real_add = service.index.add
    real_update = service.jobs.update

    def add(vectors):
        real_add(vectors)
        seen.append((len(service.index), "added"))

    def update(job_id, **changes):
        if "status" in changes:
            seen.append((len(service.index), changes["status"]))
        real_update(job_id, **changes)

    service.index.add = add
    service.jobs.update = update
    documents = new_documents()
    job = service.jobs.create([d.id for d in documents])
    documents_module.add_documents(service, job.job_id, documents)
    statuses = [status for _, status in seen if status != "added"]
    assert statuses[:1] == ["running"] and statuses[-1:] == ["done"], (
        f"the job should go 'running' first and 'done' last; its statuses were {statuses}."
    )
    done_at = next(size for size, status in seen if status == "done")
    assert done_at == 2, "the job said 'done' before its documents were in the index: a search then misses them."


@pytest.mark.task("11.6", points=1)
@pytest.mark.needs("11.5")
def test_a_failed_job_says_failed_and_adds_nothing(tmp_path, documents_module):
    service, _ = reference_service(tmp_path, documents_module)
    (tmp_path / "store").write_text("a file where the store folder should be")  # saving must fail
    documents = new_documents()
    job = service.jobs.create([d.id for d in documents])
    try:
        documents_module.add_documents(service, job.job_id, documents)
    except Exception as exc:  # noqa: BLE001 - a job that raises is the mistake this check reports
        pytest.fail(f"add_documents raised {exc!r}: a background job must catch the error and mark itself failed.")
    status, error = job_status(service, job.job_id)
    assert status == "failed" and error, (
        f"a job whose save fails should be 'failed' with an error; it is {status!r}, {error!r}."
    )
    assert len(service.index) == 0 and service.documents == [], (
        "a failed job should add nothing: its documents were not saved, so they must not be searchable either."
    )


@pytest.mark.task("11.6", points=2)
@pytest.mark.timeout(30)
@pytest.mark.needs("11.1", "11.2", "11.3", "11.5", "11.7")  # the app starts, embeds and searches through them
def test_added_documents_are_found_after_the_job_and_after_a_restart(make_app, client_for):
    text = "pixel brakes vaccine orbit shader clutch"
    with client_for(make_app()) as client:
        response = client.post("/documents", json={"documents": [{"text": text, "category": "sci.space"}]})
        assert response.status_code == 202, f"POST /documents answered {response.status_code}: {response.text[:300]}"
        body = response.json()
        job = client.get(f"/jobs/{body['job_id']}").json()
        assert job["status"] == "done", f"GET /jobs/{{job_id}} after the job ran should say done; it says {job}."
        hits = client.post("/search", json={"query": text, "top_k": 3}).json()["results"]
        assert hits and hits[0]["id"] == body["ids"][0], (
            f"once its job is done, the added document should be the best hit for its own text; hits: {hits}."
        )
    with client_for(make_app()) as client:  # a restart: a new app on the same store
        hits = client.post("/search", json={"query": text, "top_k": 3}).json()["results"]
        assert hits and hits[0]["id"] == body["ids"][0], (
            f"after a restart the added document should still be found (the store is loaded at start-up); hits: {hits}."
        )
