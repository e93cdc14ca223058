"""Turn a benchmark run into bench/RESULTS.md, bench/results.png and bench/results.json."""

from __future__ import annotations

import json
import os
import platform
from importlib.metadata import version
from pathlib import Path

from .plan import CEILING, GROUP_ORDER, TARGETS

PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvicorn-worker",
    "gunicorn",
    "flask",
    "scikit-learn",
    "numpy",
    "orjson",
    "uvloop",
    "httptools",
)
WHY_MISSED = {
    "single-lr": "The route still pays for FastAPI's routing and one dependency, reading a request body (a POST "
    "costs more than the GET of hello world), one pydantic validation and a handful of numpy calls on "
    "a one-row array. What would close the rest: drop the dependency on the hot path "
    "(`request.app.state` instead; it costs tens of microseconds), or answer /predict from a pure "
    "ASGI route as the cache middleware does.",
    "cache-hit": "A hit still costs the HTTP round trip, a body read and a dictionary lookup, against a "
    "hello-world route that reads no body at all.",
    "micro-rf": "Each micro-batch still pays the HTTP cost of every request it answers; with the forest's "
    "batch predict costing about as much as a single one, the HTTP layer becomes the limit.",
    "batch-rows": "Per 1,000-row request the server still spends about 0.3 ms turning JSON into numpy (0.15 ms as "
    "columns) plus the HTTP exchange of ~16 KB each way, on a core it shares with the load "
    "generator and with whatever else runs. Larger requests (see the 10,000-row row) or a binary "
    "format (numpy bytes, Arrow) instead of JSON would close it.",
}


READING = [
    "* **Where the tutorial's time goes.** Its logistic-regression route spends most of each request in "
    "scikit-learn's per-call input checks and the pipeline walk (see the profile in notebook 09, section 9.7), "
    "then in `response_model` validation and `jsonable_encoder`; `predict`'s arithmetic is a few microseconds. "
    "Lab 9's route computes the same prediction with numpy from the fitted arrays (identical answers, checked "
    "by Task 9.7), parses the raw body with `model_validate_json`, answers pre-serialised orjson bytes, and "
    "resolves one `async def` dependency (a plain `def` dependency costs a thread-pool hop per request).",
    "* **async def vs def.** For a 0.1 ms model the thread-pool hop costs more than the model, so the "
    "tutorial's `async def` route is faster than its `def` route; for the random forest (milliseconds) the "
    "`async def` route blocks the event loop while it predicts (see its p99).",
    "* **Random forest, single requests.** 32–64 concurrent requests mean as many thread-pool threads running "
    "`predict` at once, sharing one core through the GIL: throughput drops below what one thread would do, "
    "and latency explodes. Micro-batching turns 30-odd of those requests into one `predict` call.",
    "* **2 workers on 2 cores.** wrk runs on the same 2 cores, so a second worker competes with the load "
    "generator (and with whatever else runs): the 1-vs-2-worker rows are the noisiest here (see the spread of "
    "their runs). On a machine with cores to spare, a second worker roughly doubles CPU-bound throughput.",
    "* **Flask.** gunicorn's `sync` worker serves one request at a time and closes the connection after each; "
    "its throughput is bounded by processes, and a second worker has no spare core here either.",
    "* **Cache hits** are answered by a pure ASGI middleware before routing, so they beat the hello-world route, "
    "which goes through routing and `jsonable_encoder`.",
]


OTHER_LABS = [
    "Lab 11's search and embedding costs (exact vs approximate search at 1,000 to 100,000 documents, /embed single "
    "vs batch, by the same method: ratios to a ceiling on the same server, compared loads taking turns) are in "
    "[LAB11.md](LAB11.md), written by `python -m bench.lab11`.",
]


def rps_table(report: dict) -> dict[str, float]:
    return {
        key: row["result"]["requests_per_s"]
        for server in report["servers"].values()
        for key, row in server["loads"].items()
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def packages() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except Exception:
            pass
    return ", ".join(found)


def round_tables(report: dict) -> list[dict[str, float]]:
    """{load key: requests/s} for each round on its own (round i of every load)."""
    rows = [row for server in report["servers"].values() for row in server["loads"].items()]
    rounds = min((len(row["all_requests_per_s"]) for _, row in rows), default=0)
    return [{key: row["all_requests_per_s"][i] for key, row in rows} for i in range(rounds)]


def shown(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if unit == "rows/s" else f"{value:.2f} {unit}"


def target_rows(report: dict) -> list[str]:
    rps = rps_table(report)
    per_round = round_tables(report)
    lines = ["| target | measured (medians) | each round | |", "|---|---|---|---|"]
    for target in TARGETS:
        try:
            value = target.value(rps)
            rounds = ", ".join(
                f"{target.value(table):,.0f}" if target.unit == "rows/s" else f"{target.value(table):.2f}"
                for table in per_round
            )
        except KeyError:
            lines.append(f"| {target.text} | not measured in this run | | |")
            continue
        verdict = "met" if value >= target.threshold else "**missed**"
        if value >= target.threshold and min(target.value(table) for table in per_round) < target.threshold:
            verdict = "met by the medians, not in every round"
        lines.append(f"| {target.text} | {shown(value, target.unit)} | {rounds} | {verdict} |")
    return lines


def missed_notes(report: dict) -> list[str]:
    """Why a target was missed — or met only at the edge — and what would close it."""
    rps, per_round = rps_table(report), round_tables(report)
    notes = []
    for target in TARGETS:
        try:
            value, lowest = target.value(rps), min(target.value(table) for table in per_round)
        except (KeyError, ValueError):
            continue
        if value < target.threshold:
            notes.append(f"* **{target.text}** — missed. {WHY_MISSED[target.key]}")
        elif lowest < target.threshold:
            notes.append(
                f"* **{target.text}** — at the edge: met by the medians, missed in a round. {WHY_MISSED[target.key]}"
            )
    return notes


def results_rows(report: dict) -> list[str]:
    rps = rps_table(report)
    ceiling = rps.get(CEILING)
    lines = [
        "| configuration | server | clients | req/s | × ceiling | p50 ms | p99 ms | rows/s | errors | runs (req/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for server in report["servers"].values():
        for row in server["loads"].values():
            result = row["result"]
            share = f"{result['requests_per_s'] / ceiling:.2f}" if ceiling else "–"
            rows_per_s = f"{result['requests_per_s'] * row['rows']:,.0f}" if row["rows"] > 1 else ""
            runs = ", ".join(f"{v:,.0f}" for v in row["all_requests_per_s"])
            lines.append(
                f"| {row['label']} | {server['label']} | {row['concurrency']} | "
                f"{result['requests_per_s']:,.0f} | {share} | {result['p50_ms']:.1f} | "
                f"{result['p99_ms']:.1f} | {rows_per_s} | {result['errors']} | {runs} |"
            )
    return lines


def write_markdown(report: dict, path: Path, command: str) -> None:
    generator = report["generator_ceiling"]
    gen_lines = [
        f"* {tool}: {r['requests_per_s']:,.0f} req/s against a server that does nothing (p50 {r['p50_ms']:.2f} ms)"
        for tool, r in generator.items()
    ]
    ceiling = rps_table(report).get(CEILING)
    micro = []
    for server in report["servers"].values():
        for name, stats in ((server.get("stats") or {}).get("batchers") or {}).items():
            if stats["batches"]:
                micro.append(
                    f"{name}: {stats['items']:,} requests in {stats['batches']:,} batches "
                    f"({stats['items'] / stats['batches']:.1f} per batch)"
                )
    clean = ", ".join(f"{s['label']}: exit {s['returncode']}" for s in report["servers"].values())
    lines = [
        "# Benchmark results",
        "",
        f"Produced by `{command}` on {report['started']} ({report['wall_seconds']:.0f} s). Machine: {machine()}.",
        f"Packages: {packages()}.",
        "",
        f"Load generator: **{report['tool']}**, one thread, on the same machine; each configuration "
        f"{report['rounds']} × {report['seconds']:g} s after a {report['warmup']:g} s warm-up, median round kept. "
        f"Load average (1 min) at the start {report['load_average_start'][0]:.2f}, at the end "
        f"{report['load_average_end'][0]:.2f}: other work on the machine makes every number noisier and lower; "
        "the ratios, measured minutes apart on the same machine, move less than the absolute numbers.",
        "",
        "The generator is not the bottleneck; its own ceiling in this run:",
        *gen_lines,
        "",
        f"Ceiling: hello world on the lab 9 app, one uvicorn worker: **{ceiling:,.0f} req/s**." if ceiling else "",
        "",
        "## Targets",
        "",
        *target_rows(report),
        "",
        *missed_notes(report),
        "",
        "## All configurations",
        "",
        *results_rows(report),
        "",
        "rows/s = req/s × the rows per request. Single requests to lab 9's `/predict/{name}` carry "
        "`Cache-Control: no-cache` except in the cache-hit rows. "
        "Micro-batching: " + ("; ".join(micro) or "no batches recorded") + ".",
        "",
        "## Reading these numbers",
        "",
        *READING,
        "",
        f"Every server shut down on SIGTERM ({clean}; -15 is a single uvicorn process re-raising the "
        "SIGTERM it handled, on purpose).",
        "",
        "![throughput relative to the hello-world ceiling](results.png)",
        "",
        *OTHER_LABS,
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def write_chart(report: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rps = rps_table(report)
    ceiling = rps.get(CEILING)
    singles = sorted(
        (
            (row["group"], row["label"], row["result"]["requests_per_s"])
            for server in report["servers"].values()
            for row in server["loads"].values()
            if row["rows"] == 1
        ),
        key=lambda single: GROUP_ORDER.index(single[0]) if single[0] in GROUP_ORDER else len(GROUP_ORDER),
    )
    batches = [
        (row["label"], row["result"]["requests_per_s"] * row["rows"])
        for server in report["servers"].values()
        for row in server["loads"].values()
        if row["rows"] > 1
    ]
    groups = list(dict.fromkeys(group for group, _, _ in singles))
    colours = dict(zip(groups, plt.get_cmap("tab10").colors))
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(11, 0.34 * len(singles) + 0.5 * len(batches) + 2.5),
        gridspec_kw={"height_ratios": [max(len(singles), 1), max(len(batches), 1) + 1]},
    )
    labels = [label for _, label, _ in singles][::-1]
    values = [(value / ceiling if ceiling else value) for _, _, value in singles][::-1]
    top.barh(labels, values, color=[colours[group] for group, _, _ in singles][::-1])
    for y, value in enumerate(values):
        top.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    top.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    top.set_xlabel("requests/s as a multiple of the hello-world ceiling (one uvicorn worker)")
    top.set_title(f"Throughput on {os.cpu_count()} cores, {report['tool']} as the load generator")
    top.legend(
        handles=[plt.Rectangle((0, 0), 1, 1, color=colours[g]) for g in groups],
        labels=groups,
        fontsize=8,
        loc="lower right",
    )
    top.tick_params(axis="y", labelsize=8)
    if batches:
        bottom.barh([label for label, _ in batches][::-1], [v for _, v in batches][::-1], color="tab:green")
        for y, (_, value) in enumerate(batches[::-1]):
            bottom.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
        bottom.set_xlabel("rows/s through batch routes, JSON in and out")
        bottom.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
        bottom.tick_params(axis="y", labelsize=8)
    else:
        bottom.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(report: dict, out: Path, command: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "RESULTS.md", out / "results.png", out / "results.json"]
    write_markdown(report, paths[0], command)
    write_chart(report, paths[1])
    paths[2].write_text(json.dumps(report, indent=2), encoding="utf-8")
    return paths
