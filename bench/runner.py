"""Run the plan: start each server, check each request answers 200, load it in interleaved rounds.

Each load runs ``rounds`` times, round-robin across the server's loads (so a burst of outside load
spreads over all of them instead of spoiling one), and the median round is kept.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx2

from labkit.models import write_reference_models
from workbook.checkkit.loadtest import LoadResult, generator_ceiling, run_load, wrk_available
from workbook.checkkit.server import serve
from workbook.paths import ROOT

from .plan import SERVERS, Load, Server


def check_answers(url: str, loads: Iterable[Load]) -> dict[str, str]:
    """One request per load before measuring: a load of errors would measure nothing."""
    samples = {}
    with httpx2.Client(base_url=url, timeout=30, trust_env=False) as http:
        for load in loads:
            response = http.request(load.method, load.path, json=load.json, headers=load.headers)
            if response.status_code != 200:
                raise RuntimeError(f"{load.method} {load.path} answered {response.status_code}: {response.text[:300]}")
            samples[load.key] = response.text[:160]
    return samples


def median_result(results: list[LoadResult]) -> LoadResult:
    ranked = sorted(results, key=lambda r: r.requests_per_s)
    return ranked[(len(ranked) - 1) // 2]


def measure_server(
    server: Server,
    model_dir: Path,
    *,
    seconds: float,
    warmup: float,
    rounds: int,
    tool: str,
    log: Callable[[str], None],
) -> dict:
    env = {"MODEL_DIR": str(model_dir), **server.env}
    runs: dict[str, list[LoadResult]] = {load.key: [] for load in server.loads}
    loads_seen: dict[str, list[float]] = {load.key: [] for load in server.loads}
    with serve(server.command, env=env, cwd=ROOT, ready_path=server.ready_path, startup_timeout=120) as running:
        log(f"  started in {running.startup_seconds:.1f} s: {' '.join(running.command[2:])}")
        samples = check_answers(running.url, server.loads)
        for round_number in range(rounds):
            for load in server.loads:
                loads_seen[load.key].append(os.getloadavg()[0])
                result = run_load(
                    running.url + load.path,
                    method=load.method,
                    json=load.json,
                    headers=load.headers,
                    concurrency=load.concurrency,
                    seconds=seconds,
                    warmup=warmup if round_number == 0 else 0,
                    tool=tool,
                )
                runs[load.key].append(result)
                log(f"  [{round_number + 1}/{rounds}] {load.label:<62} {result}")
        stats = stats_of(running.url)
    rows = {}
    for load in server.loads:
        chosen = median_result(runs[load.key])
        rows[load.key] = {
            "label": load.label,
            "group": load.group,
            "server": server.label,
            "rows": load.rows,
            "concurrency": load.concurrency,
            "result": chosen.as_dict(),
            "all_requests_per_s": [round(r.requests_per_s, 1) for r in runs[load.key]],
            "load_average": round(statistics.mean(loads_seen[load.key]), 2),
            "sample": samples[load.key],
        }
    return {
        "label": server.label,
        "command": " ".join(running.command[2:]),
        "returncode": running.returncode,
        "stopped_cleanly": running.returncode in (0, -15) and not running.killed,
        "startup_seconds": round(running.startup_seconds, 2),
        "stats": stats,
        "loads": rows,
    }


def stats_of(url: str) -> dict | None:
    try:
        response = httpx2.get(f"{url}/stats", timeout=5, trust_env=False)
    except httpx2.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def run(
    *,
    seconds: float,
    warmup: float,
    rounds: int,
    tool: str,
    only: set[str] | None = None,
    loads: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    tool = ("wrk" if wrk_available() else "python") if tool == "auto" else tool
    began = time.time()
    report = {
        "tool": tool,
        "seconds": seconds,
        "warmup": warmup,
        "rounds": rounds,
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_average_start": os.getloadavg(),
        "generator_ceiling": {},
        "servers": {},
    }
    log(f"generator: {tool}; its own ceiling against a server that does nothing:")
    for candidate in [tool, "python"] if tool == "wrk" else [tool]:
        ceiling = generator_ceiling(candidate, seconds=max(1.0, seconds))
        report["generator_ceiling"][candidate] = ceiling.as_dict()
        log(f"  {candidate:<6} {ceiling}")
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = Path(scratch) / "models"
        write_reference_models(model_dir)
        for server in SERVERS:
            if only and server.key not in only:
                continue
            chosen = tuple(load for load in server.loads if not loads or load.key in loads)
            if not chosen:
                continue
            log(f"{server.label}:")
            server = Server(server.key, server.label, server.command, chosen, server.ready_path, server.env)
            report["servers"][server.key] = measure_server(
                server, model_dir, seconds=seconds, warmup=warmup, rounds=rounds, tool=tool, log=log
            )
    report["load_average_end"] = os.getloadavg()
    report["wall_seconds"] = round(time.time() - began, 1)
    return report
