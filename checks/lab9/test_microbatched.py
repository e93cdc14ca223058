"""Lab 9 checks, Task 9.6: the micro-batched route in-process, then the whole app under real servers.

The real-server checks first call the route in-process, so unfinished code reports "not started" instead
of a server error; then they start uvicorn (or gunicorn) in a subprocess on a free 127.0.0.1 port, send a
bounded load (at most a few seconds), and require zero errors and a clean shutdown: the expected exit
code and no traceback in the server's output.
"""

from __future__ import annotations

import asyncio
import time

import httpx2
import numpy as np
import pytest

from labkit.datasets import IRIS_FEATURES, load_corpus
from workbook.checkkit.loadtest import run_load
from workbook.checkkit.server import gunicorn_command, serve, uvicorn_command
from workbook.target import resolve_target

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
CONCURRENT = 64
MOST_CALLS = 16  # 64 concurrent requests in at most 16 predict calls: 4 per batch on average (measured: 1–3 calls)
LONE_LIMIT = 0.5  # seconds; the checks' micro-batch wait is 0.02 s
LOAD_SECONDS = 1.5
SERVER_TIMEOUT = 120


def distinct_rows(count: int) -> list[list[float]]:
    rng = np.random.default_rng(6)
    return np.round(rng.uniform(0.1, 8.0, size=(count, 4)), 2).tolist()


def label_of(app, model: str, item) -> str:
    """The label the model itself gives ``item`` (asked directly, not counted by a spy)."""
    entry = app.state.registry.get(model)
    pipeline = getattr(entry.pipeline, "real", entry.pipeline)
    rows = [item] if isinstance(item, str) else np.asarray([item], dtype=float)
    return entry.classes[int(pipeline.predict(rows)[0])]


@pytest.mark.task("9.6", points=3)
@pytest.mark.needs("9.3", "9.4", "9.5")  # the route hands each input to your micro-batcher
async def test_microbatched_route_batches_concurrent_requests(async_client, app, add_spy):
    spy = add_spy(app)
    rows = distinct_rows(CONCURRENT)
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(async_client.post("/predict/spy_forest/microbatched", json=dict(zip(IRIS_FEATURES, row))) for row in rows)
        ),
        30,
    )
    failed = [r for r in responses if r.status_code != 200]
    assert not failed, (
        f"{len(failed)} of {CONCURRENT} requests failed; the first: {failed[0].status_code} {failed[0].text[:300]}"
    )
    expected = [label_of(app, "spy_forest", row) for row in rows]
    wrong = [i for i, (want, r) in enumerate(zip(expected, responses)) if r.json().get("label") != want]
    assert not wrong, (
        f"{len(wrong)} of {CONCURRENT} concurrent requests got another request's answer (first: request {wrong[0]}, "
        f"got {responses[wrong[0]].json()}, expected {expected[wrong[0]]!r})."
    )
    assert sum(spy.rows) == CONCURRENT and spy.calls <= MOST_CALLS, (
        f"{CONCURRENT} concurrent requests caused {spy.calls} predict calls (rows per call: {spy.rows}); expected "
        f"at most {MOST_CALLS}. Hand each input to `serving.batcher(entry).submit(item)`."
    )
    texts, _ = load_corpus("test")
    answers = await asyncio.gather(
        *(async_client.post("/predict/newsgroups/microbatched", json={"text": t}) for t in texts[:8])
    )
    got = [a.json().get("label") for a in answers]
    assert got == [label_of(app, "newsgroups", t) for t in texts[:8]], f"micro-batched text predictions differ: {got}"


@pytest.mark.task("9.6", points=1)
@pytest.mark.needs("9.3", "9.4", "9.5")
async def test_lone_microbatched_request_is_not_held(async_client):
    waits = []
    for _ in range(3):
        start = time.perf_counter()
        try:
            response = await asyncio.wait_for(async_client.post("/predict/random_forest/microbatched", json=FLOWER), 5)
        except TimeoutError:
            pytest.fail(
                "a lone request to /predict/random_forest/microbatched was not answered within 5 s: the "
                "micro-batcher waits for a full batch (or never answers)."
            )
        waits.append(time.perf_counter() - start)
        assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    assert min(waits) < LONE_LIMIT, (
        f"lone requests took {', '.join(f'{w:.2f}' for w in waits)} s; with a micro-batch wait of 0.02 s each "
        f"should be answered well under {LONE_LIMIT} s."
    )


def exercise_in_process(client, path: str) -> None:
    response = client.post(path, json=FLOWER)
    assert response.status_code == 200, (
        f"in-process, POST {path} answered {response.status_code}: {response.text[:300]}"
    )


def assert_served_cleanly(server, result, what: str) -> None:
    assert result.requests > 0 and result.errors == 0, (
        f"under {what}, {result.errors} of {result.requests} requests failed ({result}).\n"
        f"Server output (end):\n{server.output[-1500:]}"
    )
    assert server.stopped_cleanly, (
        f"{what} did not shut down cleanly after SIGTERM: exit code {server.returncode}"
        f"{', killed after hanging' if server.killed else ''}"
        f"{', a traceback in its output' if server.has_traceback else ''}.\nServer output (end):\n{server.output[-2500:]}"
    )


def check_answers(base_url: str) -> None:
    with httpx2.Client(base_url=base_url, timeout=10, trust_env=False) as http:
        for path in ("/predict/random_forest/microbatched", "/predict/logistic_regression"):
            answer = http.post(path, json=FLOWER)
            assert answer.status_code == 200 and answer.json().get("label") == "setosa", (
                f"the real server answered POST {path} with {answer.status_code} {answer.text[:200]}; expected setosa."
            )


@pytest.mark.task("9.6", points=2)
@pytest.mark.needs("9.1", "9.3", "9.4", "9.5", "9.7")  # the real server answers your single route and micro-batcher
@pytest.mark.timeout(SERVER_TIMEOUT)
def test_uvicorn_with_two_workers_serves_and_stops_cleanly(client, model_dir):
    exercise_in_process(client, "/predict/random_forest/microbatched")
    command = lambda port: uvicorn_command("lab9.app:app", port, app_dir=resolve_target(), workers=2)  # noqa: E731
    with serve(command, env={"MODEL_DIR": str(model_dir)}, startup_timeout=90) as server:
        check_answers(server.url)
        result = run_load(
            f"{server.url}/predict/random_forest/microbatched",
            method="POST",
            json=FLOWER,
            concurrency=16,
            seconds=LOAD_SECONDS,
            warmup=0,
            max_requests=20_000,
            tool="python",
        )
    assert_served_cleanly(server, result, "uvicorn --workers 2")


@pytest.mark.task("9.6", points=1)
@pytest.mark.needs("9.1", "9.3", "9.4", "9.5", "9.7")
@pytest.mark.timeout(SERVER_TIMEOUT)
def test_gunicorn_with_uvicorn_workers_serves_and_stops_cleanly(client, model_dir):
    exercise_in_process(client, "/predict/random_forest/microbatched")
    command = lambda port: gunicorn_command(  # noqa: E731 -- a server factory, read as one expression
        "lab9.app:app",
        port,
        pythonpath=resolve_target(),
        workers=1,
        worker_class="uvicorn_worker.UvicornWorker",
    )
    with serve(command, env={"MODEL_DIR": str(model_dir)}, startup_timeout=90) as server:
        check_answers(server.url)
        result = run_load(
            f"{server.url}/predict/random_forest/microbatched",
            method="POST",
            json=FLOWER,
            concurrency=16,
            seconds=LOAD_SECONDS,
            warmup=0,
            max_requests=20_000,
            tool="python",
        )
    assert_served_cleanly(server, result, "gunicorn with uvicorn_worker.UvicornWorker")
