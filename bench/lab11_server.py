"""Lab 11's service on a real server, by lab 9's method: each number a ratio to a ceiling measured beside it.

Part ``server`` of ``python -m bench.lab11``. Every configuration is the reference solution (``solutions/lab11``)
in one uvicorn worker on 127.0.0.1 (``workbook.checkkit.server``), loaded by ``workbook.checkkit.loadtest`` (wrk
when installed, else the workbook's own generator, whose ceiling is measured too). The ceiling is the
service's do-nothing route, ``GET /health``, on the same server in the same rounds: a ratio to it means the
same on any machine, busy or not, where requests/s alone do not.

Compared loads take turns (notebook 9's ``measure_taking_turns``): each round runs every load of the
comparison once, one after the other, for ``rounds`` rounds, and each load keeps its best round. Load from
elsewhere on the machine only ever slows a run down, and taking turns gives each load the same chances.

* **search**: at each size the service indexes that many documents: its corpus (1,200 posts; the service
  always indexes it) plus synthetic posts from the corpus generator, put in its store (Task 11.5's folder,
  vectors included) before it starts, so it loads them as it would after a restart. Two servers at once over
  the same store, ``INDEX_KIND=exact`` and ``INDEX_KIND=approximate``, take turns: ``POST /search`` with
  ``top_k`` 10 and the embedding cache off (``CACHE_SIZE=0``: every request embeds its query, as distinct
  queries would). Recall@10 of the approximate server against the exact one is measured through the two
  services first, with the corpus's test posts as queries.
* **/embed**: one server (the corpus only, the cache off), ``POST /embed`` with one text per request and with
  64: texts embedded per second, single vs batch.

Every server runs with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), as the solution gives faiss one OpenMP
thread: a worker shares the machine, and OpenBLAS's thread per core turns the exact index's 1 ms matrix product
into tens of ms on a busy one. At the largest size an exact server with OpenBLAS's own threads takes turns
with the other two, to show it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx2
import numpy as np

from workbook.checkkit.loadtest import LoadResult, generator_ceiling, run_load, wrk_available
from workbook.checkkit.server import serve, uvicorn_command
from workbook.paths import ROOT, SOLUTIONS

from .plan import Load
from .runner import check_answers

CEILING = "health"
QUERY = "the rocket reached orbit after the launch"
SEARCH_CLIENTS = 32  # as lab 9's single requests
BATCH_CLIENTS = 8  # as lab 9's batch requests
RECALL_QUERIES = 100
STARTUP_TIMEOUT = 900.0  # an HNSW graph of 100,000 documents is built at start-up: minutes on a busy machine


def write_store(folder: Path, documents: int, texts: list[str], categories: list[str]) -> int:
    """Task 11.5's store holding the synthetic posts that bring the service to ``documents``; their count."""
    from lab11.embedding import embed, load_model, model_version
    from lab11.store import Document, save_store

    from labkit.datasets import DATA, load_corpus

    corpus = sum(len(load_corpus(split)[0]) for split in ("train", "test"))
    extra = max(0, documents - corpus)
    if not extra:
        return corpus  # no store: the service starts with its corpus alone
    model = load_model(str(DATA / "embedding_model"))
    posts = [Document(f"bench-{i:06d}", texts[i], categories[i]) for i in range(extra)]
    save_store(folder, posts, embed(model, [post.text for post in posts]), model_version(model))
    return corpus + extra


@dataclass(frozen=True)
class Config:
    """One server of a search comparison: its index, and the BLAS threads numpy may use in it."""

    key: str
    label: str
    index: str
    env: dict[str, str]


# A web worker is one process among others (the load generator, other workers): one BLAS thread, as the
# solution gives faiss one OpenMP thread. OpenBLAS's default (a thread per core) is measured beside it once.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
EXACT = Config("exact", "exact", "exact", ONE_THREAD)
APPROXIMATE = Config("approximate", "approximate (faiss HNSW)", "approximate", ONE_THREAD)
EXACT_BLAS_THREADS = Config("exact-blas-threads", "exact, OpenBLAS's own threads", "exact", {})


def lab11_server(index: str, store: Path, env: dict[str, str]) -> tuple[Callable[[int], list[str]], dict[str, str]]:
    env = {"INDEX_KIND": index, "DATA_DIR": str(store), "CACHE_SIZE": "0", **env}
    return (lambda port: uvicorn_command("lab11.app:app", port, app_dir=SOLUTIONS)), env


def taking_turns(
    runs: dict[str, tuple[str, Load]], *, rounds: int, seconds: float, warmup: float, tool: str, log
) -> dict[str, dict]:
    """Each of ``runs`` (key -> (server url, load)) once per round, in turn; each keeps its best round."""
    every: dict[str, list[LoadResult]] = {key: [] for key in runs}
    load_average: dict[str, list[float]] = {key: [] for key in runs}
    for number in range(rounds):
        for key, (url, load) in runs.items():
            load_average[key].append(os.getloadavg()[0])
            result = run_load(
                url + load.path,
                method=load.method,
                json=load.json,
                concurrency=load.concurrency,
                seconds=seconds,
                warmup=warmup if number == 0 else 0,
                tool=tool,
            )
            every[key].append(result)
            log(f"  [{number + 1}/{rounds}] {load.label:<44} {result}")
    return {
        key: {
            "label": runs[key][1].label,
            "rows": runs[key][1].rows,
            "concurrency": runs[key][1].concurrency,
            "best": max(results, key=lambda r: r.requests_per_s).as_dict(),
            "rounds_requests_per_s": [round(r.requests_per_s, 1) for r in results],
            "errors": sum(r.errors for r in results),
            "load_average": round(float(np.mean(load_average[key])), 2),
        }
        for key, results in every.items()
    }


def search_ids(url: str, queries: list[str]) -> list[list[tuple[str, float]]]:
    with httpx2.Client(base_url=url, timeout=30, trust_env=False) as http:
        answers = []
        for query in queries:
            response = http.post("/search", json={"query": query, "top_k": 10})
            response.raise_for_status()
            answers.append([(hit["id"], hit["score"]) for hit in response.json()["results"]])
    return answers


def recall_at_10(exact: list[list[tuple[str, float]]], approximate: list[list[tuple[str, float]]]) -> float:
    """Share of the exact top 10 the approximate server found; a result tied with the exact 10th counts (the
    corpus repeats bags of words, so equal scores are common and either document is a right answer)."""
    shares = []
    for truth, found in zip(exact, approximate):
        tenth = min(score for _, score in truth)
        shares.append(sum(score >= tenth - 1e-6 for _, score in found[: len(truth)]) / len(truth))
    return float(np.mean(shares))


def search_loads(config: Config, documents: int) -> tuple[Load, Load]:
    body = {"query": QUERY, "top_k": 10}
    return (
        Load(f"{config.key}-{CEILING}", f"{config.key}, {documents:,}: GET /health (ceiling)", "ceiling", "/health"),
        Load(
            f"{config.key}-search",
            f"{config.key}, {documents:,}: POST /search",
            "search",
            "/search",
            method="POST",
            json=body,
            concurrency=SEARCH_CLIENTS,
        ),
    )


def measure_search(sizes: list[int], *, rounds: int, seconds: float, warmup: float, tool: str, log) -> list[dict]:
    from labkit.datasets import load_corpus

    from .lab11 import synthetic_posts

    texts, categories = synthetic_posts(max(sizes))
    queries = load_corpus("test")[0][:RECALL_QUERIES]
    rows = []
    for size in sizes:
        configs = [EXACT, APPROXIMATE] + ([EXACT_BLAS_THREADS] if size == max(sizes) else [])
        with tempfile.TemporaryDirectory() as scratch, ExitStack() as servers:
            store = Path(scratch) / "store"
            documents = write_store(store, size, texts, categories)
            log(f"{documents:,} documents:")
            urls, startup = {}, {}
            for config in configs:
                command, env = lab11_server(config.index, store, config.env)
                running = servers.enter_context(
                    serve(command, env=env, cwd=ROOT, ready_path="/health", startup_timeout=STARTUP_TIMEOUT)
                )
                urls[config.key], startup[config.key] = running.url, round(running.startup_seconds, 1)
                check_answers(running.url, search_loads(config, documents))
                log(f"  {config.label} server ready in {running.startup_seconds:.1f} s")
            recall = recall_at_10(search_ids(urls[EXACT.key], queries), search_ids(urls[APPROXIMATE.key], queries))
            log(f"  recall@10 of the approximate server against the exact one: {recall:.3f}")
            runs = {
                load.key: (urls[config.key], load) for config in configs for load in search_loads(config, documents)
            }
            measured = taking_turns(runs, rounds=rounds, seconds=seconds, warmup=warmup, tool=tool, log=log)
        for config in configs:
            rows.append(
                {
                    "documents": documents,
                    "index": config.key,
                    "label": config.label,
                    "blas_threads": config.env.get("OPENBLAS_NUM_THREADS", "OpenBLAS's default"),
                    "startup_s": startup[config.key],
                    "recall_at_10": recall if config is APPROXIMATE else 1.0,
                    "ceiling": measured[f"{config.key}-{CEILING}"],
                    "search": measured[f"{config.key}-search"],
                }
            )
    return rows


def measure_embed(*, rounds: int, seconds: float, warmup: float, tool: str, log, batch: int) -> dict:
    from .lab11 import synthetic_posts

    texts, _ = synthetic_posts(batch)
    loads = (
        Load(CEILING, "GET /health (ceiling)", "ceiling", "/health"),
        Load("single", "POST /embed, 1 text", "embed", "/embed", method="POST", json={"text": texts[0]}),
        Load(
            "batch",
            f"POST /embed, {batch} texts",
            "embed",
            "/embed",
            method="POST",
            json={"texts": texts},
            concurrency=BATCH_CLIENTS,
            rows=batch,
        ),
    )
    with tempfile.TemporaryDirectory() as scratch:
        command, env = lab11_server("exact", Path(scratch) / "store", ONE_THREAD)
        with serve(command, env=env, cwd=ROOT, ready_path="/health", startup_timeout=STARTUP_TIMEOUT) as running:
            log(f"/embed: server ready in {running.startup_seconds:.1f} s")
            check_answers(running.url, loads)
            runs = {load.key: (running.url, load) for load in loads}
            return taking_turns(runs, rounds=rounds, seconds=seconds, warmup=warmup, tool=tool, log=log)


def measure(
    sizes: list[int], *, rounds: int = 3, seconds: float = 3.0, warmup: float = 0.5, tool: str = "auto", batch: int
) -> dict:
    """The server part: generator ceiling, search at each size (exact and approximate in turns), /embed."""
    tool = ("wrk" if wrk_available() else "python") if tool == "auto" else tool
    started, load = time.time(), [os.getloadavg()[0]]
    print(f"generator: {tool}", flush=True)
    ceiling = generator_ceiling(tool, seconds=max(1.0, seconds))
    print(f"  its own ceiling against a server that does nothing: {ceiling}", flush=True)

    def log(line: str) -> None:
        print(line, flush=True)

    options = {"rounds": rounds, "seconds": seconds, "warmup": warmup, "tool": tool, "log": log}
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "tool": tool,
        "rounds": rounds,
        "run_seconds": seconds,
        "generator_ceiling": ceiling.as_dict(),
        "search": measure_search(sorted(sizes), **options),
        "embed": measure_embed(batch=batch, **options),
    }
    load.append(os.getloadavg()[0])
    result.update(seconds=round(time.time() - started, 1), load=load)
    return result
