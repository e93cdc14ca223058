"""``python -m bench.lab11``: lab 11's search and embedding costs -> bench/LAB11.md and bench/lab11.json.

.venv/bin/python -m bench.lab11                       # 1,000, 10,000 and 100,000 documents (a few minutes)
.venv/bin/python -m bench.lab11 --sizes 1000 --out /tmp/lab11-bench   # seconds: checks the code path

What it measures, with the reference solution (``solutions/lab11``), in one process:

* **search**: documents made by the corpus generator (``data/make_corpus.py`` with other seeds), embedded by
  the workbook's model, in the exact index (one matrix product) and the approximate one (faiss HNSW); then
  queries from the corpus's test split, one at a time: p50 and p99 latency, queries/s, recall@10 against exact;
* **/embed**: the service's route in-process (Starlette's TestClient, the cache off and every text new), one
  text per request vs 64 texts per request: texts embedded per second.

It is not the server benchmark of lab 9 (``python -m bench``: a real uvicorn worker, a load generator, ratios
to a hello-world ceiling): these are the costs of the index and the route themselves, which is what the two
targets compare. Numbers depend on the machine and on what else runs on it: the load average is recorded.
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


def synthetic_texts(count: int) -> list[str]:
    """``count`` posts from the corpus generator, with other seeds than the committed corpus."""
    sys.path.insert(0, str(ROOT / "data"))
    from make_corpus import make_posts

    texts: list[str] = []
    seed = 1
    while len(texts) < count:
        texts.extend(text for text, _, _ in make_posts(seed=seed))
        seed += 1
    return texts[:count]


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
    texts = synthetic_texts(max(sizes))
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

    texts = synthetic_texts(EMBED_REQUESTS * BATCH)
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


def write_report(result: dict, out: Path, command: str) -> None:
    search, embed_rows = result["search"], result["embed"]
    lines = [
        "# Lab 11: search and embedding costs",
        "",
        f"Produced by `{command}` on {result['when']} ({result['seconds']:.0f} s). Machine: {result['machine']}. "
        f"Load average (1 min) at the start {result['load'][0]:.2f}, at the end {result['load'][1]:.2f}: "
        "other work on the machine makes every number noisier and lower.",
        "",
        "One process, the reference solution, one query at a time (no HTTP for search; the /embed rows go "
        "through the route in-process). See `bench/lab11.py` for what is measured and how.",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    by = {(r["documents"], r["index"]): r for r in search}
    largest = max(r["documents"] for r in search)
    ratio = by[(largest, "approximate")]["per_second"] / by[(largest, "exact")]["per_second"]
    recall = by[(largest, "approximate")]["recall_at_10"]
    met = ratio >= 5 and recall >= 0.95
    lines.append(
        f"| approximate search at {largest:,} documents ≥ 5× exact throughput at recall@10 ≥ 0.95 | "
        f"{ratio:.1f}×, recall@10 {recall:.3f} | {'met' if met else 'missed'} |"
    )
    single = next(r for r in embed_rows if r["mode"] == "single")["texts_per_second"]
    batch = next(r for r in embed_rows if r["mode"] == "batch")["texts_per_second"]
    lines.append(
        f"| /embed batch ≥ 20× the single-text rows/s | {batch / single:.1f}× | "
        f"{'met' if batch >= 20 * single else 'missed'} |"
    )
    lines += [
        "",
        "## Search",
        "",
        "| documents | index | queries/s | p50 ms | p99 ms | recall@10 | build s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in search:
        lines.append(
            f"| {r['documents']:,} | {r['index']} | {r['per_second']:,.0f} | {r['p50_ms']:.3f} | "
            f"{r['p99_ms']:.3f} | {r['recall_at_10']:.3f} | {r['build_s']:.1f} |"
        )
    lines += [
        "",
        "## /embed",
        "",
        "| mode | texts per request | requests/s | texts/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in embed_rows:
        lines.append(
            f"| {r['mode']} | {r['texts_per_request']} | {r['per_second']:,.0f} | "
            f"{r['texts_per_second']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "LAB11.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "lab11.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.lab11", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    from workbook.target import activate, resolve_target

    activate(resolve_target("solutions"))
    random.seed(0)
    started, load = time.time(), [os.getloadavg()[0]]
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}",
        "search": bench_search(sorted(args.sizes)),
        "embed": bench_embed(),
    }
    load.append(os.getloadavg()[0])
    result.update(seconds=time.time() - started, load=load)
    command = "python -m bench.lab11" + ("" if argv is None and len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
    write_report(result, args.out, command)
    print(f"wrote {args.out / 'LAB11.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
