"""``python -m bench.lab11``: lab 11's search and embedding costs -> bench/LAB11.md and bench/lab11.json.

.venv/bin/python -m bench.lab11                       # both parts at 1,000, 10,000 and 100,000 documents
.venv/bin/python -m bench.lab11 --parts server        # one part; the other is kept from bench/lab11.json
.venv/bin/python -m bench.lab11 --sizes 1000 --rounds 1 --seconds 1 --out /tmp/lab11-bench   # checks the code path
.venv/bin/python -m bench.lab11 --render              # measure nothing: rewrite LAB11.md from lab11.json

Two parts, both with the reference solution (``solutions/lab11``):

* ``server`` (``bench/lab11_server.py``): the service in a real uvicorn worker under a load generator, by lab
  9's method: every number beside a ceiling measured on the same server (``GET /health``), compared loads taking
  turns, best of ``--rounds``. This is the part the issue's targets are judged on.
* ``inprocess`` (this module): the costs of the index and the route themselves, in one process, one query at a
  time: documents made by the corpus generator (``data/make_corpus.py`` with other seeds), embedded by the
  workbook's model, in the exact index (one matrix product) and the approximate one (faiss HNSW), queried with
  the corpus's test posts (p50 and p99 latency, queries/s, recall@10 against exact); and ``/embed`` through
  Starlette's TestClient (the cache off and every text new), one text per request vs 64. One BLAS thread, as in
  the server part.

Numbers depend on the machine and on what else runs on it: the load average is recorded with each part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUERIES = 200
EMBED_REQUESTS = 300
BATCH = 64


def synthetic_posts(count: int) -> tuple[list[str], list[str]]:
    """``count`` posts (texts, categories) from the corpus generator, with other seeds than the committed corpus."""
    sys.path.insert(0, str(ROOT / "data"))
    from make_corpus import make_posts

    posts: list[tuple[str, str]] = []
    seed = 1
    while len(posts) < count:
        posts.extend((text, category) for text, category, _ in make_posts(seed=seed))
        seed += 1
    return [text for text, _ in posts[:count]], [category for _, category in posts[:count]]


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "per_second": float(len(ms) / (ms.sum() / 1000)),
    }


def bench_search(sizes: list[int]) -> list[dict]:
    from lab11.embedding import embed, load_model
    from lab11.index import ApproximateIndex, ExactIndex

    from labkit.datasets import DATA, load_corpus

    model = load_model(str(DATA / "embedding_model"))
    texts, _ = synthetic_posts(max(sizes))
    vectors = embed(model, texts)
    queries = embed(model, load_corpus("test")[0][:QUERIES])
    rows = []
    for size in sizes:
        exact, approximate = ExactIndex(vectors.shape[1]), ApproximateIndex(vectors.shape[1])
        exact.add(vectors[:size])
        start = time.perf_counter()
        approximate.add(vectors[:size])
        build = time.perf_counter() - start
        found: dict[str, list[np.ndarray]] = {"exact": [], "approximate": []}
        timings: dict[str, list[float]] = {"exact": [], "approximate": []}
        for query in queries:
            for name, index in (("exact", exact), ("approximate", approximate)):
                start = time.perf_counter()
                positions, _ = index.search(query, 10)
                timings[name].append(time.perf_counter() - start)
                found[name].append(positions)
        # Scores tie (the corpus repeats bags of words): recall counts a result whose score reaches the 10th best.
        recall = []
        for query, got, truth in zip(queries, found["approximate"], found["exact"]):
            tenth = float((vectors[truth] @ query).min())
            recall.append(float(np.mean((vectors[got] @ query) >= tenth - 1e-6)) * len(got) / 10)
        for name in ("exact", "approximate"):
            rows.append(
                {
                    "documents": size,
                    "index": name,
                    **percentiles(timings[name]),
                    "recall_at_10": 1.0 if name == "exact" else float(np.mean(recall)),
                    "build_s": build if name == "approximate" else 0.0,
                }
            )
        print(
            f"{size:>7} documents: "
            + ", ".join(
                f"{r['index']} {r['per_second']:,.0f} q/s (p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms)"
                for r in rows[-2:]
            )
            + f", recall@10 {rows[-1]['recall_at_10']:.3f}",
            flush=True,
        )
    return rows


def bench_embed() -> list[dict]:
    from fastapi.testclient import TestClient
    from lab11.app import create_app
    from lab11.settings import Settings

    texts, _ = synthetic_posts(EMBED_REQUESTS * BATCH)
    rows = []
    with (
        tempfile.TemporaryDirectory() as store,
        TestClient(create_app(Settings(data_dir=Path(store), cache_size=0))) as client,
    ):
        for name, per_request in (("single", 1), ("batch", BATCH)):
            timings = []
            for i in range(EMBED_REQUESTS if per_request > 1 else EMBED_REQUESTS * 4):
                chunk = texts[i * per_request : (i + 1) * per_request]
                body = {"text": chunk[0]} if per_request == 1 else {"texts": chunk}
                start = time.perf_counter()
                response = client.post("/embed", json=body)
                timings.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
            stats = percentiles(timings)
            rows.append(
                {
                    "mode": name,
                    "texts_per_request": per_request,
                    **stats,
                    "texts_per_second": stats["per_second"] * per_request,
                }
            )
            print(
                f"/embed {name:>6}: {rows[-1]['texts_per_second']:,.0f} texts/s "
                f"(p50 {stats['p50_ms']:.2f} ms per request)",
                flush=True,
            )
    return rows


def measure_inprocess(sizes: list[int]) -> dict:
    random.seed(0)
    started, load = time.time(), [os.getloadavg()[0]]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # as the server part's workers: see bench/lab11_server.py
        result = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "blas_threads": 1,
            "search": bench_search(sorted(sizes)),
            "embed": bench_embed(),
        }
    load.append(os.getloadavg()[0])
    result.update(seconds=time.time() - started, load=load)
    return result


def previous_parts(path: Path) -> dict:
    """The parts of an earlier run, kept when only one part is measured now (a run before the server part
    existed was the in-process part alone)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if "search" in data and "inprocess" not in data:
        return {"machine": data.get("machine"), "inprocess": {"command": "python -m bench.lab11", **data}}
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lab11", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--parts", nargs="+", choices=("server", "inprocess"), default=["server", "inprocess"])
    parser.add_argument("--rounds", type=int, default=3, help="server part: rounds per load, the best kept (3)")
    parser.add_argument("--seconds", type=float, default=3.0, help="server part: length of each run (3 s)")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto", help="server part: generator")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--render", action="store_true", help="measure nothing: rewrite LAB11.md from lab11.json")
    args = parser.parse_args(argv)
    from workbook.target import activate, resolve_target

    from . import lab11_report, lab11_server

    activate(resolve_target("solutions"))
    result = previous_parts(args.out / "lab11.json")
    command = "python -m bench.lab11" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
    if not args.render:
        result["machine"] = f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
        if "server" in args.parts:
            measured = lab11_server.measure(
                args.sizes, rounds=args.rounds, seconds=args.seconds, tool=args.tool, batch=BATCH
            )
            result["server"] = {"command": command, **measured}
        if "inprocess" in args.parts:
            result["inprocess"] = {"command": command, **measure_inprocess(args.sizes)}
    for path in lab11_report.write(result, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
