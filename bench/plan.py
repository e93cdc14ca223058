"""What the benchmark measures: which servers, which requests, how hard.

Every server runs on 127.0.0.1 in a subprocess (``workbook.checkkit.server``); every load is bounded
(``workbook.checkkit.loadtest``). Single requests to lab 9's ``/predict/{name}`` carry ``Cache-Control: no-cache``
except in the cache-hit rows, so they measure the model path, not the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from workbook.checkkit.server import gunicorn_command, uvicorn_command
from workbook.paths import SOLUTIONS

FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
TEXT = {"text": "the rocket reached orbit after the launch was delayed by the weather"}
BATCH_ROWS = 1000
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5], [6.3, 2.5, 5.0, 1.9]] * (BATCH_ROWS // 4)
COLUMNS = {name: [row[i] for row in ROWS] for i, name in enumerate(FLOWER)}
BIG = 10
BIG_COLUMNS = {name: values * BIG for name, values in COLUMNS.items()}  # 10,000 rows
NO_CACHE = {"Cache-Control": "no-cache"}
QUERY = "sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2"

CEILING = "hello"


@dataclass(frozen=True)
class Load:
    """One row of the results: one request, sent over and over."""

    key: str
    label: str
    group: str
    path: str
    method: str = "GET"
    json: object | None = None
    headers: dict[str, str] = field(default_factory=dict)
    concurrency: int = 32
    rows: int = 1  # predictions per request


@dataclass(frozen=True)
class Server:
    key: str
    label: str
    command: Callable[[int], list[str]]
    loads: tuple[Load, ...]
    ready_path: str = "/health"
    env: dict[str, str] = field(default_factory=dict)


def lab9(port: int, workers: int = 1) -> list[str]:
    return uvicorn_command("lab9.app:app", port, app_dir=SOLUTIONS, workers=workers)


def single(model: str, body=FLOWER, route: str = "/predict/{}", **extra) -> dict:
    return {"path": route.format(model), "method": "POST", "json": body, **extra}


G_CEILING = "ceiling"
G_PLACE = "def vs async def (tutorial code)"
G_FAST = "closing the gap (lab 9)"
G_BATCH = "single vs micro-batched vs batch"
G_CACHE = "cache hit"
G_WORKERS = "1 vs 2 workers"
G_FLASK = "Flask vs FastAPI"

SERVERS: tuple[Server, ...] = (
    Server(
        "lab9",
        "lab 9 solution, uvicorn, 1 worker",
        lab9,
        (
            Load(CEILING, "hello world (the ceiling)", G_CEILING, "/hello"),
            Load(
                "lab9-lr",
                "lab 9 /predict/logistic_regression",
                G_FAST,
                **single("logistic_regression", headers=NO_CACHE),
            ),
            Load("lab9-rf", "lab 9 /predict/random_forest", G_FAST, **single("random_forest", headers=NO_CACHE)),
            Load(
                "lab9-text",
                "lab 9 /predict/newsgroups, no cache",
                G_FAST,
                **single("newsgroups", TEXT, headers=NO_CACHE),
            ),
            Load("lab9-text-hit", "lab 9 /predict/newsgroups, cache hit", G_CACHE, **single("newsgroups", TEXT)),
            Load(
                "lab9-lr-hit", "lab 9 /predict/logistic_regression, cache hit", G_CACHE, **single("logistic_regression")
            ),
            Load(
                "lab9-rf-64",
                "random forest, single, 64 clients",
                G_BATCH,
                concurrency=64,
                **single("random_forest", headers=NO_CACHE),
            ),
            Load(
                "lab9-rf-micro-64",
                "random forest, micro-batched, 64 clients",
                G_BATCH,
                concurrency=64,
                **single("random_forest", route="/predict/{}/microbatched"),
            ),
            Load(
                "lab9-lr-micro-64",
                "logistic regression, micro-batched, 64 clients",
                G_BATCH,
                concurrency=64,
                **single("logistic_regression", route="/predict/{}/microbatched"),
            ),
            Load(
                "lab9-lr-batch",
                f"lab 9 batch of {BATCH_ROWS} rows (logistic regression)",
                G_BATCH,
                concurrency=8,
                rows=BATCH_ROWS,
                **single("logistic_regression", {"rows": ROWS}, route="/predict/{}/batch"),
            ),
            Load(
                "lab9-lr-columns",
                f"lab 9 batch of {BATCH_ROWS} rows as columns (logistic regression)",
                G_BATCH,
                concurrency=8,
                rows=BATCH_ROWS,
                **single("logistic_regression", {"columns": COLUMNS}, route="/predict/{}/batch"),
            ),
            Load(
                "lab9-lr-columns-10k",
                f"lab 9 batch of {BATCH_ROWS * BIG} rows as columns (logistic regression)",
                G_BATCH,
                concurrency=4,
                rows=BATCH_ROWS * BIG,
                **single("logistic_regression", {"columns": BIG_COLUMNS}, route="/predict/{}/batch"),
            ),
            Load(
                "lab9-rf-batch",
                f"lab 9 batch of {BATCH_ROWS} rows (random forest)",
                G_BATCH,
                concurrency=8,
                rows=BATCH_ROWS,
                **single("random_forest", {"rows": ROWS}, route="/predict/{}/batch"),
            ),
        ),
    ),
    Server(
        "baseline",
        "tutorial baseline, uvicorn, 1 worker",
        lambda port: uvicorn_command("bench.baseline_service:app", port),
        (
            Load("base-hello", "tutorial hello world", G_CEILING, "/hello"),
            Load(
                "base-lr-def",
                "tutorial def route, logistic regression",
                G_PLACE,
                **single("logistic_regression", route="/predict-def/{}"),
            ),
            Load(
                "base-lr-async",
                "tutorial async def route, logistic regression",
                G_PLACE,
                **single("logistic_regression", route="/predict-async/{}"),
            ),
            Load(
                "base-lr-pool",
                "tutorial async def + run_in_threadpool, logistic regression",
                G_PLACE,
                **single("logistic_regression", route="/predict-threadpool/{}"),
            ),
            Load(
                "base-rf-def",
                "tutorial def route, random forest",
                G_PLACE,
                **single("random_forest", route="/predict-def/{}"),
            ),
            Load(
                "base-rf-async",
                "tutorial async def route, random forest",
                G_PLACE,
                **single("random_forest", route="/predict-async/{}"),
            ),
            Load(
                "base-text-hit",
                "tutorial lru_cache hit, newsgroups",
                G_CACHE,
                **single("newsgroups", TEXT, route="/predict-text/{}"),
            ),
            Load(
                "base-lr-batch",
                f"tutorial batch of {BATCH_ROWS} objects (logistic regression)",
                G_BATCH,
                concurrency=8,
                rows=BATCH_ROWS,
                **single("logistic_regression", [dict(zip(FLOWER, r)) for r in ROWS], route="/predict-batch/{}"),
            ),
        ),
    ),
    Server(
        "lab9-2w",
        "lab 9 solution, uvicorn, 2 workers",
        lambda port: lab9(port, workers=2),
        (
            Load("2w-hello", "hello world, 2 workers", G_WORKERS, "/hello"),
            Load(
                "2w-lr",
                "lab 9 /predict/logistic_regression, 2 workers",
                G_WORKERS,
                **single("logistic_regression", headers=NO_CACHE),
            ),
            Load(
                "2w-rf",
                "lab 9 /predict/random_forest, 2 workers",
                G_WORKERS,
                **single("random_forest", headers=NO_CACHE),
            ),
        ),
    ),
    Server(
        "gunicorn-uvicorn",
        "lab 9 solution, gunicorn + uvicorn_worker.UvicornWorker, 2 workers",
        lambda port: gunicorn_command(
            "lab9.app:app", port, pythonpath=SOLUTIONS, workers=2, worker_class="uvicorn_worker.UvicornWorker"
        ),
        (
            Load(
                "gu-lr",
                "lab 9 /predict/logistic_regression, gunicorn 2 workers",
                G_WORKERS,
                **single("logistic_regression", headers=NO_CACHE),
            ),
        ),
    ),
    Server(
        "flask",
        "Flask, gunicorn sync worker, 1 worker",
        lambda port: gunicorn_command("lab9.flask_app:create_flask_app()", port, pythonpath=SOLUTIONS),
        (
            Load("flask-get", "Flask GET /predictions (logistic regression)", G_FLASK, f"/predictions?{QUERY}"),
            Load(
                "flask-post",
                "Flask POST /predictions (logistic regression)",
                G_FLASK,
                "/predictions",
                method="POST",
                json=FLOWER,
            ),
        ),
    ),
    Server(
        "flask-2w",
        "Flask, gunicorn sync worker, 2 workers",
        lambda port: gunicorn_command("lab9.flask_app:create_flask_app()", port, pythonpath=SOLUTIONS, workers=2),
        (
            Load(
                "flask-2w-post",
                "Flask POST /predictions, 2 workers",
                G_FLASK,
                "/predictions",
                method="POST",
                json=FLOWER,
            ),
        ),
    ),
)

GROUP_ORDER = (G_CEILING, G_PLACE, G_FAST, G_CACHE, G_BATCH, G_WORKERS, G_FLASK)  # the chart's order


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    value: Callable[[dict[str, float]], float]  # from {load key: requests/s}
    threshold: float
    unit: str


def ratio(key: str) -> Callable[[dict[str, float]], float]:
    return lambda rps: rps[key] / rps[CEILING]


TARGETS = (
    Target("single-lr", "single-row logistic regression ≥ 0.6 of the ceiling", ratio("lab9-lr"), 0.6, "× ceiling"),
    Target(
        "cache-hit", "in-memory cache hit (text model) ≥ 0.8 of the ceiling", ratio("lab9-text-hit"), 0.8, "× ceiling"
    ),
    Target(
        "micro-rf",
        "micro-batched random forest ≥ 10× the unbatched route at 64 clients",
        lambda rps: rps["lab9-rf-micro-64"] / rps["lab9-rf-64"],
        10,
        "×",
    ),
    Target(
        "batch-rows",
        f"batch route ≥ 500,000 logistic-regression rows/s, JSON in and out "
        f"({BATCH_ROWS:,}-row requests, the better of rows and columns)",
        lambda rps: max(rps["lab9-lr-batch"], rps.get("lab9-lr-columns", 0)) * BATCH_ROWS,
        500_000,
        "rows/s",
    ),
)
