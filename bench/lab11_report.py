"""Turn ``python -m bench.lab11``'s parts into bench/LAB11.md and bench/lab11.json."""

from __future__ import annotations

import json
from pathlib import Path

SEARCH_SPEEDUP, SEARCH_RECALL, EMBED_SPEEDUP = 5, 0.95, 20

WHY = [
    "* **Exact search grows with the documents; the graph barely does.** The exact index multiplies the query "
    "with every row (100,000 × 32 numbers at the largest size) and partitions every score; HNSW walks a few "
    "hundred rows of its graph whatever the size. At these sizes and 32 dimensions either index costs no more "
    "than the rest of a request (the HTTP exchange, validation, the thread-pool hop, embedding the query), so "
    "through the server most of the graph's gain disappears; in one process, where the index is all there is, "
    "the exact index's cost grows with the documents and the graph's far more slowly (see the p50 column).",
    "* **One BLAS thread.** numpy's OpenBLAS starts a thread per core for the exact index's matrix product; in a "
    "worker that shares two cores with the load generator and everything else, those threads wait for each "
    "other, and the product is many times slower than on one thread (compare the two exact rows at the largest "
    "size). The solution gives faiss one thread for the same reason; the servers here give numpy one too "
    "(`OPENBLAS_NUM_THREADS=1`).",
    "* **Batch embedding.** A request of one text pays the whole HTTP exchange, one validation and one "
    "`encode` call for one row; a request of 64 texts pays them once for 64 rows. What is left per text is "
    "model2vec's tokenising and averaging (a fraction of a millisecond) and the JSON of its vector.",
    "* **The ceiling** is `GET /health` on the same server, measured in the same rounds: a ratio to it says how "
    "much of the HTTP stack's capacity a route leaves, on this machine or any other. The load generator runs "
    "on the same two cores, so the absolute requests/s are lower than on a machine with cores to spare; the "
    "ratios move less.",
]


WHY_MISSED = {
    "search": "With one BLAS thread an exact scan of 100,000 × 32 numbers costs about a millisecond of one core "
    "(see the in-process rows below), about as much as the rest of a /search request here (the HTTP exchange, "
    "validation, the thread-pool hop, embedding the query): an index can only remove the scan, so even one that "
    "cost nothing would make the route about 2× faster at this size, not 5×. The in-process part compares the "
    "indexes alone. It would show through the server with more work per scan: a pretrained model's 256 "
    "(potion-base-8M) or 384 (all-MiniLM-L6-v2) dimensions make each exact scan 8 to 12 times dearer, a million "
    "documents 10 times. The workbook's model cannot have more dimensions than its corpus has words (about 200).",
    "embed": "A request of one text costs this server about a millisecond in all, while model2vec's `encode` "
    "of 64 texts alone costs about two (nearly half of it tokenising): so 64 texts in one "
    "request can carry at most about 64 × 1 / (1 + 2) ≈ 20 times the rows of one text per request, the target's "
    "edge. The ratio falls as the HTTP exchange gets cheaper (wrk on a quiet machine) and rises as it gets "
    "dearer (a Python load generator on a busy one). The cost left is the student's one `encode` call "
    "(Task 11.1), not the route's JSON: FastAPI writes a declared response model's JSON with pydantic directly.",
}


def missed_note(key: str, text: str, met: bool, every_round: bool) -> list[str]:
    """Why a target was missed, or met only in some rounds."""
    if met and every_round:
        return []
    how = "missed" if not met else "at the edge: met by the best rounds, not in every round"
    return [f"* **{text}** — {how}. {WHY_MISSED[key]}"]


def load_line(part: dict) -> str:
    return (
        f"Produced by `{part['command']}` on {part['when']} ({part['seconds']:.0f} s). Load average (1 min) at the "
        f"start {part['load'][0]:.2f}, at the end {part['load'][1]:.2f}: the machine is shared, and other work on "
        "it makes every number noisier and lower."
    )


def verdict(met: bool, every_round: bool = True) -> str:
    if met and not every_round:
        return "met by the best rounds, not in every round"
    return "met" if met else "**missed**"


def server_lines(part: dict) -> list[str]:
    search, embed = part["search"], part["embed"]
    generator = part["generator_ceiling"]
    by = {(row["documents"], row["index"]): row for row in search}
    largest = max(row["documents"] for row in search)
    exact, approximate = by[(largest, "exact")]["search"], by[(largest, "approximate")]["search"]
    speedup = approximate["best"]["requests_per_s"] / exact["best"]["requests_per_s"]
    per_round = [a / e for a, e in zip(approximate["rounds_requests_per_s"], exact["rounds_requests_per_s"]) if e]
    recall = by[(largest, "approximate")]["recall_at_10"]
    single, batch = embed["single"], embed["batch"]
    texts_per_s = {key: row["best"]["requests_per_s"] * row["rows"] for key, row in embed.items()}
    embed_speedup = texts_per_s["batch"] / texts_per_s["single"]
    embed_rounds = [
        b * batch["rows"] / s for b, s in zip(batch["rounds_requests_per_s"], single["rounds_requests_per_s"]) if s
    ]
    search_met = speedup >= SEARCH_SPEEDUP and recall >= SEARCH_RECALL
    search_target = (
        f"approximate search at {largest:,} documents ≥ {SEARCH_SPEEDUP}× the exact index's throughput at "
        f"recall@10 ≥ {SEARCH_RECALL}"
    )
    embed_target = f"/embed batch ≥ {EMBED_SPEEDUP}× the single-text rows/s"
    search_every = min(per_round, default=0) >= SEARCH_SPEEDUP
    embed_every = min(embed_rounds, default=0) >= EMBED_SPEEDUP
    lines = [
        "## Through the server (lab 9's method)",
        "",
        load_line(part),
        "",
        f"One uvicorn worker of the reference solution per configuration; load generator **{part['tool']}** on the "
        f"same machine ({generator['requests_per_s']:,.0f} req/s against a server that does nothing: not the "
        f"bottleneck). Compared loads take turns, {part['rounds']} rounds of {part['run_seconds']:g} s, and each "
        "keeps its best round (notebook 9's `measure_taking_turns`). The ceiling is `GET /health` on the same "
        "server in the same rounds. Every server has one BLAS thread unless its row says otherwise. See "
        "`bench/lab11_server.py` for what is measured and how.",
        "",
        "| target | measured (best rounds) | each round | |",
        "|---|---|---|---|",
        f"| {search_target} | {speedup:.1f}×, recall@10 {recall:.3f} | "
        f"{', '.join(f'{r:.1f}×' for r in per_round)} | {verdict(search_met, search_every)} |",
        f"| {embed_target} | {embed_speedup:.1f}× | "
        f"{', '.join(f'{r:.1f}×' for r in embed_rounds)} | "
        f"{verdict(embed_speedup >= EMBED_SPEEDUP, embed_every)} |",
        "",
        *missed_note("search", search_target, search_met, search_every),
        *missed_note("embed", embed_target, embed_speedup >= EMBED_SPEEDUP, embed_every),
        "",
        "### POST /search, top_k 10",
        "",
        "| documents | index | req/s | × ceiling | ceiling req/s | p50 ms | p99 ms | recall@10 | start-up s | "
        "rounds (req/s) | errors | load average |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in search:
        found, ceiling = row["search"], row["ceiling"]["best"]
        best = found["best"]
        lines.append(
            f"| {row['documents']:,} | {row.get('label', row['index'])} | {best['requests_per_s']:,.0f} | "
            f"{best['requests_per_s'] / ceiling['requests_per_s']:.2f} | {ceiling['requests_per_s']:,.0f} | "
            f"{best['p50_ms']:.1f} | {best['p99_ms']:.1f} | {row['recall_at_10']:.3f} | {row['startup_s']:.1f} | "
            f"{', '.join(f'{v:,.0f}' for v in found['rounds_requests_per_s'])} | {found['errors']} | "
            f"{found['load_average']:.2f} |"
        )
    ceiling = embed["health"]["best"]["requests_per_s"]
    lines += [
        "",
        f"### POST /embed (the cache off; ceiling `GET /health`: {ceiling:,.0f} req/s)",
        "",
        "| request | clients | req/s | × ceiling | texts/s | p50 ms | p99 ms | rounds (req/s) | errors | load average |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for key in ("single", "batch"):
        row, best = embed[key], embed[key]["best"]
        lines.append(
            f"| {row['label']} | {row['concurrency']} | {best['requests_per_s']:,.0f} | "
            f"{best['requests_per_s'] / ceiling:.2f} | {texts_per_s[key]:,.0f} | {best['p50_ms']:.1f} | "
            f"{best['p99_ms']:.1f} | {', '.join(f'{v:,.0f}' for v in row['rounds_requests_per_s'])} | "
            f"{row['errors']} | {row['load_average']:.2f} |"
        )
    return [*lines, "", "### Reading these numbers", "", *WHY, ""]


def inprocess_lines(part: dict) -> list[str]:
    search, embed_rows = part["search"], part["embed"]
    by = {(r["documents"], r["index"]): r for r in search}
    largest = max(r["documents"] for r in search)
    ratio = by[(largest, "approximate")]["per_second"] / by[(largest, "exact")]["per_second"]
    recall = by[(largest, "approximate")]["recall_at_10"]
    single = next(r for r in embed_rows if r["mode"] == "single")["texts_per_second"]
    batch = next(r for r in embed_rows if r["mode"] == "batch")["texts_per_second"]
    lines = [
        "## In one process (the index and the route alone)",
        "",
        load_line(part),
        "",
        "One process, one query at a time (no HTTP for search; the /embed rows go through the route in-process)"
        + (", one BLAS thread" if part.get("blas_threads") == 1 else ", OpenBLAS's own threads")
        + ". See `bench/lab11.py` for what is measured and how.",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| approximate search at {largest:,} documents ≥ {SEARCH_SPEEDUP}× exact throughput at recall@10 ≥ "
        f"{SEARCH_RECALL} | {ratio:.1f}×, recall@10 {recall:.3f} | "
        f"{verdict(ratio >= SEARCH_SPEEDUP and recall >= SEARCH_RECALL)} |",
        f"| /embed batch ≥ {EMBED_SPEEDUP}× the single-text rows/s | {batch / single:.1f}× | "
        f"{verdict(batch >= EMBED_SPEEDUP * single)} |",
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
        "| /embed | texts per request | requests/s | texts/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in embed_rows:
        lines.append(
            f"| {r['mode']} | {r['texts_per_request']} | {r['per_second']:,.0f} | "
            f"{r['texts_per_second']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    return [*lines, ""]


def write(result: dict, out: Path) -> list[Path]:
    lines = ["# Lab 11: search and embedding costs", "", f"Machine: {result.get('machine') or 'unknown'}.", ""]
    if "server" in result:
        lines += server_lines(result["server"])
    if "inprocess" in result:
        lines += inprocess_lines(result["inprocess"])
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "LAB11.md", out / "lab11.json"]
    paths[0].write_text("\n".join(lines), encoding="utf-8")
    paths[1].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return paths
