"""Lab 6 checks, Tasks 6.3 and 6.4: the job store, and the routes that accept work and report on it.

A job that fails is made the way it happens in real life: a model file saved with the wrong class names
loads fine and fails only when it predicts (see ``model_dir_with_broken_model`` in conftest.py).
"""

import json
import logging
import threading

import pytest

from labkit.models import reference_model
from workbook.checkkit.asgi_recorder import recording

BROKEN_MODEL = "mislabelled_iris"
SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VERSICOLOR = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
VIRGINICA = {"sepal_length": 7.2, "sepal_width": 3.2, "petal_length": 6.0, "petal_width": 1.8}
FLOWERS = [SETOSA, VERSICOLOR, VIRGINICA]
FIELDS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def expected_labels(model: str, flowers: list[dict]) -> list[str]:
    pipeline, names = reference_model(model)
    return [names[int(i)] for i in pipeline.predict([[f[name] for name in FIELDS] for f in flowers])]


def job_status_now(app, exchange):
    """At the instant the 202 is complete: the job's status in the app's store (None if not a job answer)."""
    try:
        job_id = json.loads(exchange.body)["job_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return app.state.jobs.get(job_id).status


async def submit(recorder, model: str, items: list[dict], **kwargs):
    accepted = await recorder.request("POST", "/jobs", json={"model": model, "items": items}, **kwargs)
    assert accepted.status == 202, f"POST /jobs should answer 202 Accepted: {accepted.describe()}"
    job_id = accepted.json().get("job_id")
    assert isinstance(job_id, str) and job_id, f"the 202 answer {accepted.json()} has no job_id."
    return accepted, job_id


async def poll(recorder, job_id: str) -> dict:
    polled = await recorder.request("GET", f"/jobs/{job_id}")
    assert polled.status == 200, f"expected 200 from {polled.describe()}"
    return polled.json()


# --- Task 6.3: the store ---------------------------------------------------------------------------------


@pytest.mark.task("6.3", points=2)
@pytest.mark.timeout(5)
def test_job_goes_from_pending_to_running_to_done(jobs_module):
    store = jobs_module.JobStore()
    job = store.create()
    assert job.status == "pending" and isinstance(job.job_id, str) and job.job_id, (
        f"create() returned {job}; expected a Job with a job_id string and status 'pending'."
    )
    other = store.create()
    assert other.job_id != job.job_id, "two jobs got the same id: make a new uuid4 for every job."
    assert store.get(job.job_id).status == "pending", "get() of a new job should say 'pending'."

    seen_while_running = []

    def work(a, b):
        seen_while_running.append(store.get(job.job_id).status)
        return [a, b]

    returned = store.run(job.job_id, work, "x", "y")
    assert returned is None, f"run() returned {returned!r}; it records the result in the job and returns None."
    assert seen_while_running == ["running"], (
        f"while the work ran, get() said {seen_while_running}; expected ['running']: mark the job running "
        "before calling func."
    )
    done = store.get(job.job_id)
    assert (done.status, done.result, done.error) == ("done", ["x", "y"], None), (
        f"after run(), the job is {done}; expected status 'done' and the work's return value as result."
    )
    assert store.get(other.job_id).status == "pending", "running one job changed another one."
    done.status = "changed by a reader"
    assert store.get(job.job_id).status == "done", (
        "changing the Job that get() returned changed the store's job: return a copy (dataclasses.replace)."
    )

    seen: list = []
    reader = threading.Thread(target=lambda: seen.append(store.get(job.job_id)), daemon=True)
    with store._lock:  # while the check holds the store's lock (a writer mid-update), get() must wait for it
        reader.start()
        reader.join(1.0)
        read_while_held = list(seen)
    reader.join(5.0)
    assert not read_while_held, (
        "store.get() read the job while another thread held the store's lock (as _update does mid-change): "
        "read under `with self._lock:` too, or a reader can see a job half-updated."
    )
    assert seen and seen[0].status == "done", f"once the lock was free again, get() returned {seen}; expected the job."


@pytest.mark.task("6.3", points=2)
@pytest.mark.timeout(5)
def test_failing_job_is_recorded_and_the_store_keeps_working(jobs_module):
    store = jobs_module.JobStore()
    job = store.create()

    def explode():
        raise ValueError("the model file is corrupt")

    logged: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = logged.append
    logger = getattr(jobs_module, "logger", None) or logging.getLogger(jobs_module.__name__)
    logger.addHandler(handler)
    try:
        store.run(job.job_id, explode)
    except ValueError:
        pytest.fail(
            "JobStore.run let the job's ValueError escape: catch it and record the job as failed. "
            "In a background task an escaping error is lost, and the job would say 'running' forever."
        )
    finally:
        logger.removeHandler(handler)
    with_traceback = [r for r in logged if r.levelno >= logging.ERROR and r.exc_info and r.exc_info[0] is ValueError]
    assert with_traceback, (
        f"a job whose work raised ValueError left {len(logged)} log records and none at level ERROR with the "
        "exception's traceback: log it with logger.exception(...) inside the except block (the job records only "
        "one line; the traceback is what an operator needs)."
    )
    failed = store.get(job.job_id)
    assert failed.status == "failed", f"a job whose work raised is {failed}; expected status 'failed'."
    assert failed.error and "ValueError" in failed.error and "the model file is corrupt" in failed.error, (
        f"the failed job's error is {failed.error!r}; expected 'ValueError: the model file is corrupt'."
    )
    after = store.create()
    store.run(after.job_id, lambda: 42)
    assert store.get(after.job_id).status == "done", "after a failed job, the next job should still run."
    try:
        missing = store.get("no-such-job")
    except jobs_module.UnknownJobError:
        return
    pytest.fail(f"store.get('no-such-job') returned {missing!r}; it should raise UnknownJobError.")


# --- Task 6.4: the routes ----------------------------------------------------------------------------------


@pytest.mark.task("6.4", points=2)
async def test_job_is_accepted_with_202_and_done_later(create_app, settings):
    app = create_app(settings)
    async with recording(app) as recorder:
        accepted, job_id = await submit(
            recorder, "random_forest", FLOWERS, on_response_complete=lambda exchange: job_status_now(app, exchange)
        )
        result = await poll(recorder, job_id)
    assert accepted.json().get("status") == "pending", (
        f"the 202 answer is {accepted.json()}; its status should be 'pending': the work has not started."
    )
    assert accepted.header("location") == f"/jobs/{job_id}", (
        f"the 202 answer's Location header is {accepted.header('location')!r}; expected '/jobs/{job_id}'."
    )
    assert accepted.at_response_complete == "pending", (
        f"when the 202 was sent, the job was already {accepted.at_response_complete!r}: the batch ran before the "
        "answer. Schedule jobs.run with background_tasks.add_task; the client should not wait for the work."
    )
    expected = {"job_id": job_id, "status": "done", "result": expected_labels("random_forest", FLOWERS), "error": None}
    assert result == expected, f"GET /jobs/{job_id} after the work answered {result}; expected {expected}."


@pytest.mark.task("6.4", points=1)
async def test_unknown_job_is_a_404(app):
    async with recording(app) as recorder:
        _, job_id = await submit(recorder, "logistic_regression", [SETOSA])
        await poll(recorder, job_id)
        unknown = await recorder.request("GET", "/jobs/no-such-job", raise_app_exceptions=False)
    raised = f" (the app raised {type(unknown.app_error).__name__}: {unknown.app_error})" if unknown.app_error else ""
    assert unknown.status == 404, (
        f"GET /jobs/no-such-job answered {unknown.status}{raised}; expected 404: catch UnknownJobError and "
        "raise HTTPException(404)."
    )
    detail = unknown.json().get("detail", "")
    assert "no-such-job" in str(detail), f"the 404's detail {detail!r} should name the unknown id."


@pytest.mark.task("6.4", points=2)
async def test_failing_job_is_reported_and_the_service_keeps_serving(
    create_app, make_settings, model_dir_with_broken_model
):
    app = create_app(make_settings(models=model_dir_with_broken_model))
    async with recording(app) as recorder:
        _, good_id = await submit(recorder, "logistic_regression", FLOWERS)
        assert (await poll(recorder, good_id)).get("status") == "done", "a job over a working model should be done."

        bad, bad_id = await submit(recorder, BROKEN_MODEL, [VERSICOLOR], raise_app_exceptions=False)
        escaped = bad.app_error
        assert escaped is None, (
            f"the failing job's {type(escaped).__name__} escaped from the background task: JobStore.run (Task 6.3) must "
            "catch it and record the job as failed."
        )
        report = await poll(recorder, bad_id)
        health = await recorder.request("GET", "/health")
        _, next_id = await submit(recorder, "logistic_regression", [SETOSA])
        after = await poll(recorder, next_id)
    assert report.get("status") == "failed" and "IndexError" in str(report.get("error")), (
        f"a job over {BROKEN_MODEL} (saved with one class name; its prediction raises IndexError) is reported as "
        f"{report}; expected status 'failed' and the error 'IndexError: …'."
    )
    assert health.status == 200, f"after a failed job, {health.describe()}"
    assert after.get("status") == "done", f"after a failed job, a new job ended as {after}; expected done."


@pytest.mark.task("6.4", points=1)
def test_batches_that_cannot_work_are_refused_before_accepting(client):
    unknown = client.post("/jobs", json={"model": "no_such_model", "items": [SETOSA]})
    assert unknown.status_code == 404, (
        f"POST /jobs for an unknown model answered {unknown.status_code}; expected 404 before accepting it."
    )
    assert "newsgroups" in unknown.text, f"the 404 should list the known models: {unknown.text[:200]}"
    for body, why in [
        ({"model": "random_forest", "items": [{"text": "a post"}]}, "a text for an iris model"),
        ({"model": "newsgroups", "items": [SETOSA]}, "measurements for the text model"),
        ({"model": "random_forest", "items": []}, "no items"),
    ]:
        response = client.post("/jobs", json=body)
        assert response.status_code == 422, (
            f"POST /jobs with {why} answered {response.status_code}; expected 422: refuse it before the 202."
        )
