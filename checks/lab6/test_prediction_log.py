"""Lab 6 checks, Tasks 6.1 and 6.2: the prediction log, and writing it after the response has left.

TestClient and httpx's ASGITransport return a response only after the app's background tasks have run,
so they cannot tell "answered, then logged" from "logged, then answered". These checks call the app the
way a server does, with ``workbook.checkkit.asgi_recorder``: it looks at the log file at the instant the response
is complete, before the app gets control back. Ordering is observed, not timed; the only clock readings
are lower bounds (a slow write takes at least its delay), which a busy machine cannot make fail.
"""

import asyncio
import inspect
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from workbook.checkkit.asgi_recorder import recording
from workbook.checkkit.clients import async_client as start_async_client
from workbook.checkkit.event_loop import on_an_event_loop
from workbook.checkkit.model_calls import slow_pipelines

TEXT = "the rocket reached orbit and the satellite deployed its antenna"
IRIS = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}
LOG_DELAY = 0.6  # the slow log write in the ordering checks; /health answers in milliseconds
EARLY = 0.9  # sleeps may end a hair early: nothing waits less than 90 % of its delay
RECORD_KEYS = {"request_id", "model", "version", "input", "label", "latency_ms"}


def read_log(path) -> list[str]:
    """The log's lines; none if the file does not exist yet."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def parse_lines(lines: list[str]) -> list[dict]:
    """Each line as a JSON object, or a failure that quotes the first line that is not one."""
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            pytest.fail(
                f"line {number} of the log is not JSON ({exc.msg}): {line[:100]!r}… Lines from different "
                "writers got mixed, or one record was written in pieces: write the whole line at once, "
                "under the lock."
            )
        if not isinstance(record, dict):
            pytest.fail(f"line {number} of the log is JSON but not an object: {line[:100]!r}")
        records.append(record)
    return records


def lines_with(lines: list[str], request_id: str) -> list[str]:
    return [line for line in lines if request_id in line]


def write(prediction_log, path, record: dict, delay: float) -> None:
    """Call the student's write_prediction_log; an ``async def`` one is refused with a clear message."""
    returned = prediction_log.write_prediction_log(path, record, delay)
    if inspect.iscoroutine(returned):
        returned.close()
        pytest.fail(
            "write_prediction_log is an `async def`: calling it only made a coroutine. Keep it a plain "
            "`def` — as a background task Starlette runs it in a worker thread, where time.sleep is fine."
        )


LONGEST_TEXT = 10_000  # the longest text the service accepts (TextInput.text)
ROUNDS, WRITES_PER_ROUND, WRITERS = 8, 200, 32


def record(i: int) -> dict:
    # As long as the service allows, with a line break inside: a line written in pieces, or not escaped,
    # shows up. At 10,000 characters a line is longer than a file's 8 KiB buffer, so a writer that hands it
    # over in more than one write (json.dump, print, a separate "\n") reaches the OS in several pieces, and
    # without the lock another thread's line lands between them.
    text = f"post {i}\nsecond line "
    return {
        "request_id": f"check-{i:04d}",
        "input": {"text": text + "x" * (LONGEST_TEXT - len(text))},
        "label": "sci.space",
        "latency_ms": 1.5,
    }


# --- Task 6.1: the writer ------------------------------------------------------------------------------


@pytest.mark.task("6.1", points=2)
def test_concurrent_writes_leave_one_whole_line_each(prediction_log, tmp_path):
    path = tmp_path / "logs" / "today" / "predictions.jsonl"  # neither folder exists yet
    try:
        write(prediction_log, path, record(0), 0.0)
    except FileNotFoundError as exc:
        pytest.fail(
            f"write_prediction_log to logs/today/predictions.jsonl, where neither folder exists yet, raised "
            f"FileNotFoundError: {exc}. Create the parent folder if it is missing, with its own missing "
            "parents (path.parent.mkdir(parents=True, exist_ok=True))."
        )
    assert path.exists(), f"write_prediction_log wrote nothing to {path.name} (create the parent folder if missing)."
    first = parse_lines(read_log(path))
    assert first == [record(0)], (
        f"after one write the log holds {len(first)} records; expected exactly the one written."
    )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: write(prediction_log, path, record(i), 0.0), range(1, 101)))
    lines = read_log(path)
    assert len(lines) == 101, f"1 write, then 100 writes from 16 threads left {len(lines)} lines; expected 101. " + (
        "Lines were lost: open the file in append mode ('a'); 'w' empties it on every write."
        if len(lines) < 101
        else "Some records span several lines: write json.dumps(record) + '\\n'."
    )
    ids = sorted(r.get("request_id") for r in parse_lines(lines))
    assert ids == sorted(f"check-{i:04d}" for i in range(101)), (
        "the log's request ids are not exactly the 101 written: some lines were lost or written twice."
    )

    lock = getattr(prediction_log, "_WRITE_LOCK", None)
    assert hasattr(lock, "acquire") and hasattr(lock, "release"), (
        f"prediction_log._WRITE_LOCK is {lock!r}; it should stay the given threading.Lock() every writer holds."
    )
    held = tmp_path / "held" / "predictions.jsonl"
    writer = threading.Thread(target=prediction_log.write_prediction_log, args=(held, record(101), 0.0), daemon=True)
    with lock:  # while the check holds _WRITE_LOCK, a writer that takes it cannot write
        writer.start()
        writer.join(1.0)
        written_while_held = read_log(held)
    writer.join(5.0)
    assert not written_while_held, (
        "write_prediction_log appended its line while another thread held _WRITE_LOCK: open and write the file "
        "while holding `with _WRITE_LOCK:`, so no other thread's line can land in the middle of it."
    )
    assert len(read_log(held)) == 1, (
        f"once _WRITE_LOCK was free again, write_prediction_log left {len(read_log(held))} lines; expected 1."
    )


@pytest.mark.task("6.1", points=2)
@pytest.mark.timeout(60)
def test_long_lines_from_many_threads_never_tear(prediction_log, tmp_path):
    """Lines longer than the file buffer, from many threads: without the lock some tear (not every time,
    so several rounds); with the lock and one write per line, none ever does."""
    path = tmp_path / "predictions.jsonl"
    written = 0
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            list(
                pool.map(
                    lambda i: write(prediction_log, path, record(i), 0.0), range(written, written + WRITES_PER_ROUND)
                )
            )
        written += WRITES_PER_ROUND
        lines = read_log(path)
        torn = []
        for number, line in enumerate(lines, 1):
            try:
                json.loads(line)
            except json.JSONDecodeError:
                torn.append(number)
        assert not torn, (
            f"{written} records with {LONGEST_TEXT:,}-character texts (the longest the service accepts), written "
            f"by {WRITERS} threads at once, left {len(torn)} torn lines (line {torn[0]} is not JSON: "
            f"{lines[torn[0] - 1][:80]!r}…). A line this long is longer than the file's buffer, so it reaches "
            "the disk in pieces unless it is one write, and another thread's line lands between the pieces. "
            "Hold _WRITE_LOCK while you open, write and close, and write json.dumps(record) + '\\n' in one "
            "write call."
        )
        assert len(lines) == written, f"{written} writes of long records left {len(lines)} lines; expected {written}."


@pytest.mark.task("6.1", points=1)
def test_slow_writes_wait_side_by_side(prediction_log, tmp_path):
    delay, writers = 0.3, 8
    path = tmp_path / "predictions.jsonl"
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(lambda i: write(prediction_log, path, record(i), delay), range(writers)))
    elapsed = time.perf_counter() - start
    assert elapsed >= delay * EARLY, (
        f"{writers} writes with delay={delay} took {elapsed:.2f} s: each write should wait `delay` seconds "
        "first (the slow storage)."
    )
    serial = writers * delay
    assert elapsed < serial / 2, (
        f"{writers} writes with delay={delay} from {writers} threads took {elapsed:.2f} s: they waited one "
        f"after another ({serial:.1f} s) instead of side by side (about {delay} s). Sleep before taking the "
        "lock; hold it only for the write itself."
    )
    assert len(read_log(path)) == writers, f"{writers} writes left {len(read_log(path))} lines."


# --- Task 6.2: the route schedules the write -----------------------------------------------------------


@pytest.mark.task("6.2", points=2)
@pytest.mark.needs("6.1")  # the app writes its log lines with your write_prediction_log
async def test_response_is_sent_before_the_log_line_is_written(create_app, make_settings):
    settings = make_settings(log_delay=LOG_DELAY)
    log = settings.prediction_log
    async with recording(create_app(settings)) as recorder:
        exchange = await recorder.request(
            "POST", "/predict/newsgroups", json={"text": TEXT}, on_response_complete=lambda _: read_log(log)
        )
    assert exchange.status == 200, f"expected 200 from {exchange.describe()}"
    request_id = exchange.json().get("request_id")
    assert isinstance(request_id, str) and request_id, (
        f"the answer {exchange.json()} has no request_id: make one with uuid.uuid4().hex and return it."
    )
    assert not lines_with(exchange.at_response_complete, request_id), (
        "the prediction's log line was already in the file when the response was sent: the client waited for "
        "the slow log write. Schedule it with background_tasks.add_task(write_prediction_log, ...) instead "
        "of calling it."
    )
    logged = lines_with(read_log(log), request_id)
    assert len(logged) == 1, (
        f"once the request was over (background tasks included) the log held {len(logged)} lines with its "
        f"request_id; expected exactly 1, written by a background task of that request."
    )
    waited = exchange.returned_at - exchange.response_complete_at
    assert waited >= LOG_DELAY * EARLY, (
        f"the log line was written {waited:.2f} s after the response; with log_delay={LOG_DELAY} the write "
        "should wait that long first. Pass settings.log_delay to write_prediction_log."
    )


@pytest.mark.task("6.2", points=2)
@pytest.mark.needs("6.1")  # the app writes its log lines with your write_prediction_log
async def test_slow_log_write_does_not_hold_up_other_requests(create_app, make_settings):
    settings = make_settings(log_delay=LOG_DELAY)
    log = settings.prediction_log
    async with recording(create_app(settings)) as recorder:
        first = recorder.start(
            "POST", "/predict/newsgroups", json={"text": TEXT}, on_response_complete=lambda _: read_log(log)
        )
        await first.response_complete()
        assert first.exchange.status == 200, f"expected 200 from {first.exchange.describe()}"
        request_id = first.exchange.json()["request_id"]
        assert not lines_with(first.exchange.at_response_complete, request_id), (
            "the log line was written before the response was sent: schedule the write as a background task."
        )
        # The first request's log write is now waiting LOG_DELAY s. A free event loop answers this at once.
        health = await recorder.request("GET", "/health", on_response_complete=lambda _: read_log(log))
        await first.done()
    assert health.status == 200, f"expected 200 from {health.describe()}"
    assert not lines_with(health.at_response_complete, request_id), (
        f"GET /health, sent while the first request's log write was waiting its {LOG_DELAY} s, was answered only "
        "after that write had finished: the background task blocks the event loop. Keep write_prediction_log "
        "a plain `def` (Starlette runs it in a worker thread); an `async def` task must never call time.sleep."
    )


@pytest.mark.task("6.2", points=2)
@pytest.mark.needs("6.1")  # the app writes its log lines with your write_prediction_log
@pytest.mark.timeout(60)
async def test_200_concurrent_predictions_leave_200_lines(create_app, make_settings):
    settings = make_settings(log_delay=0.02)  # a short wait, so that many writers are busy at once
    calls = [
        ("/predict/newsgroups", {"text": f"{TEXT} (post {i})"}) if i % 2 else ("/predict/logistic_regression", IRIS)
        for i in range(200)
    ]
    async with start_async_client(create_app(settings)) as client:
        responses = await asyncio.gather(*(client.post(path, json=body) for path, body in calls))
    failed = [f"{r.status_code} {r.text[:100]}" for r in responses if r.status_code != 200]
    assert not failed, f"{len(failed)} of 200 predictions failed, e.g. {failed[0]}"
    answered = [r.json().get("request_id") for r in responses]
    assert len(set(answered)) == 200, (
        f"200 answers carried {len(set(answered))} distinct request ids; every request needs a new one."
    )
    records = parse_lines(read_log(settings.prediction_log))
    assert len(records) == 200, f"200 concurrent predictions left {len(records)} log lines; expected exactly 200."
    incomplete = [r for r in records if not RECORD_KEYS <= set(r)]
    assert not incomplete, (
        f"a log line lacks {sorted(RECORD_KEYS - set(incomplete[0]))}: {json.dumps(incomplete[0])[:200]}"
    )
    logged = [r["request_id"] for r in records]
    assert sorted(logged) == sorted(answered), (
        f"the log's request ids are not those of the 200 answers: {len(set(answered) - set(logged))} answers "
        "have no line, some lines belong to no answer."
    )


@pytest.mark.task("6.2", points=1)
@pytest.mark.needs("6.1")  # the app writes its log lines with your write_prediction_log
def test_log_line_describes_the_prediction(client, settings):
    sent = [("newsgroups", {"text": TEXT}), ("random_forest", IRIS)]
    answers = []
    for model, body in sent:
        response = client.post(f"/predict/{model}", json=body)
        assert response.status_code == 200, (
            f"POST /predict/{model} answered {response.status_code}: {response.text[:200]}"
        )
        answers.append(response.json())
    records = {r.get("request_id"): r for r in parse_lines(read_log(settings.prediction_log))}
    for (model, body), answer in zip(sent, answers):
        logged = records.get(answer.get("request_id"))
        assert logged is not None, (
            f"no log line has the request_id {answer.get('request_id')!r} of the answer {answer}."
        )
        expected = {"model": model, "version": answer["version"], "input": body, "label": answer["label"]}
        wrong = {key: logged.get(key) for key, value in expected.items() if logged.get(key) != value}
        assert not wrong, (
            f"the log line of POST /predict/{model} has {wrong}; expected {expected} (built by prediction_record)."
        )
        latency = logged.get("latency_ms")
        assert isinstance(latency, (int, float)) and 0 <= latency < 60_000, (
            f"latency_ms is {latency!r}: the prediction's duration in milliseconds, a number."
        )


SLOW_MODEL = 0.25  # seconds each prediction takes in the units check: a lower bound no machine can undercut


def slow_models(monkeypatch) -> None:
    """Every Pipeline.predict / predict_proba takes at least SLOW_MODEL seconds while the check runs."""
    slow_pipelines(monkeypatch, SLOW_MODEL)


@pytest.mark.task("6.2", points=1)
def test_latency_is_in_milliseconds(client, settings, monkeypatch):
    slow_models(monkeypatch)
    response = client.post("/predict/random_forest", json=IRIS)
    assert response.status_code == 200, (
        f"POST /predict/random_forest answered {response.status_code}: {response.text[:200]}"
    )
    records = {r.get("request_id"): r for r in parse_lines(read_log(settings.prediction_log))}
    logged = records.get(response.json().get("request_id"))
    assert logged is not None, f"no log line has the request_id of the answer {response.json()}."
    latency = logged.get("latency_ms")
    assert isinstance(latency, (int, float)) and latency >= SLOW_MODEL * 1000 * EARLY, (
        f"the model took at least {SLOW_MODEL} s (made slow on purpose), but latency_ms is {latency!r}: "
        f"expected milliseconds, at least {SLOW_MODEL * 1000:g}. Multiply the seconds of time.perf_counter() by 1000."
    )
    assert latency < 60_000, (
        f"latency_ms is {latency!r} for a prediction of about {SLOW_MODEL} s: milliseconds, not microseconds."
    )


@pytest.mark.task("6.2", points=1)
@pytest.mark.needs("6.1")  # the app writes its log lines with your write_prediction_log
def test_prediction_route_never_runs_the_model_on_the_event_loop(client, monkeypatch):
    from sklearn.pipeline import Pipeline

    on_loop: list[bool] = []  # one entry per model call: did it run on the event loop's thread?
    for method in ("predict", "predict_proba"):
        original = getattr(Pipeline, method)

        def spy(self, *args, _original=original, **kwargs):
            on_loop.append(on_an_event_loop())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Pipeline, method, spy)
    for path, body in [("/predict/random_forest", IRIS), ("/predict/newsgroups", {"text": TEXT})]:
        on_loop.clear()
        response = client.post(path, json=body)
        assert response.status_code == 200, f"POST {path} answered {response.status_code}: {response.text[:200]}"
        assert on_loop, f"POST {path} answered {response.json()} without running the model (no predict call)."
        assert not any(on_loop), (
            f"POST {path} ran the model on the event loop (the route is `async def` and calls it directly): "
            "while it predicts, every other request waits. Make the route a plain `def` (FastAPI runs it in a "
            "thread), or `await run_in_threadpool(...)` the model call. See notebook 2."
        )
