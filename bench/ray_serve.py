"""Lab 12's Ray Serve experiments: @serve.batch beside lab 9's micro-batcher, and a replica killed under load.

``python -m bench.ray_serve [--target solutions|labs|DIR] [--out FILE.json]`` runs, inside network and PID
namespaces of its own (``workbook.checkkit.ray_sandbox``; Ray binds 127.0.0.1 only and every Ray process ends with it):

1. lab 9's micro-batched route (``POST /predict/random_forest/microbatched``, uvicorn, one worker) and lab 12's
   ``@serve.batch`` route (``POST /predict/random_forest``, two replicas), each under the same bounded load:
   ``CLIENTS`` threads sending single random-forest predictions for ``SECONDS`` seconds. Counted: requests
   answered, and the rows of every ``predict`` call the model made (the spy models of checks/lab12/spy.py).
2. The replica kill: the same load on lab 12; after ``KILL_AFTER`` seconds one replica's process is killed
   (SIGKILL). Every request is counted: answered 200, answered with an error (a clean 5xx, or a refused
   connection), or hung (no answer within ``REQUEST_TIMEOUT``). Then: does Ray start a new replica?
3. ``--autoscaling`` (alone, on a Ray of its own): the service deployed with ``autoscaling_config(settings)``
   (min 1, max 2 replicas, target 2 requests in flight; Ray's reaction delays shortened to a second), a bounded
   load put on it until it runs its maximum, then none until it is back to its minimum; the running replicas are
   counted all along (the same code as Task 12.4's check, ``checks.lab12.ray_harness.scale_under_load``, which also
   counts the replicas Ray is starting).

The notebook (12_ray_serve.ipynb) runs it with ``--quick``; the numbers in bench/RESULTS.md come from a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 16
REQUEST_TIMEOUT = 20.0


def bounded_load(url: str, bodies: list[dict], seconds: float, clients: int, during=None) -> dict:
    """``clients`` threads POST ``bodies`` round-robin to ``url`` for ``seconds``; every outcome counted."""
    import httpx

    outcomes: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            sent = index
            while time.monotonic() < stop:
                body = bodies[sent % len(bodies)]
                sent += clients
                began = time.monotonic()
                try:
                    status = http.post(url, json=body).status_code
                    outcome = "ok" if status == 200 else f"http {status}"
                except httpx.TimeoutException:
                    outcome = "hung"
                except httpx.HTTPError as exc:
                    outcome = f"error {type(exc).__name__}"
                with lock:
                    outcomes[outcome] += 1
                    if outcome == "ok":
                        latencies.append(time.monotonic() - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    extra = during() if during else None
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "outcomes": dict(outcomes),
        "requests": sum(outcomes.values()),
        "seconds": round(elapsed, 2),
        "ok_per_s": round(outcomes["ok"] / elapsed, 1),
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1) if latencies else None,
        "during": extra,
    }


def batch_sizes(log_dir: Path, start: int) -> dict:
    from checks.lab12.spy import Events

    sizes = [rows for _, rows in Events.read(log_dir, start).predicts["random_forest"]]
    return {
        "calls": len(sizes),
        "rows": sum(sizes),
        "largest": max(sizes, default=0),
        "rows_per_call": round(sum(sizes) / len(sizes), 2) if sizes else 0,
    }


def event_count(log_dir: Path) -> int:
    path = log_dir / "events.log"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def inside(config: dict, result: dict) -> dict:
    """Runs in the namespaces: experiments 1 and 2, one Ray."""
    import httpx
    import ray
    from lab12.serving import build
    from lab12.settings import Settings
    from ray import serve

    from checks.lab12.ray_harness import GCS_PORT, PORT, features, iris_rows, start_head

    seconds, kill_after = config["seconds"], config["kill_after"]
    log_dir, model_dir = Path(config["log_dir"]), Path(config["model_dir"])
    bodies = [features(row) for row in iris_rows(30)]
    result.update({"clients": CLIENTS, "seconds": seconds})

    # lab 9's micro-batcher, uvicorn, one worker (the same spy models)
    env = {**os.environ, "MODEL_DIR": str(model_dir), "CACHE_SIZE": "0"}
    lab9_dir = config["lab9_target"]
    uvicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "lab9.app:app",
            "--app-dir",
            lab9_dir,
            "--host",
            "127.0.0.1",
            "--port",
            "8100",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get("http://127.0.0.1:8100/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        mark = event_count(log_dir)
        load = bounded_load("http://127.0.0.1:8100/predict/random_forest/microbatched", bodies, seconds, CLIENTS)
        result["lab9_microbatcher"] = {**load, "batches": batch_sizes(log_dir, mark)}
    finally:
        uvicorn.terminate()
        uvicorn.wait(30)

    began = time.monotonic()
    ray_mark = event_count(log_dir)  # the replicas' loads come after this line; lab 9's came before
    start_head(config["ray_temp_dir"])
    ray.init(address=f"127.0.0.1:{GCS_PORT}", log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(build(Settings(model_dir=model_dir, num_replicas=2)), name="lab12", route_prefix="/")
    result["ray_ready_s"] = round(time.monotonic() - began, 1)
    url = f"http://127.0.0.1:{PORT}/predict/random_forest"
    httpx.post(url, json=bodies[0], timeout=REQUEST_TIMEOUT)  # each replica warms on its first request
    mark = event_count(log_dir)
    load = bounded_load(url, bodies, seconds, CLIENTS)
    result["serve_batch"] = {**load, "batches": batch_sizes(log_dir, mark)}

    def pids() -> set[int]:
        from checks.lab12.spy import Events

        return Events.read(log_dir, ray_mark).load_pids()

    before = pids()

    def kill_one() -> dict:
        time.sleep(kill_after)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        return {"killed_pid": victim, "killed_at_s": kill_after}

    load = bounded_load(url, bodies, seconds + kill_after, CLIENTS, during=kill_one)
    restarted_in = None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if len(pids() - before) >= 1:
            restarted_in = round(time.monotonic() - began, 1)
            break
        time.sleep(0.5)
    after = bounded_load(url, bodies, 2.0, CLIENTS)
    result["replica_kill"] = {
        **load,
        "replicas_before": sorted(before),
        "new_replicas": sorted(pids() - before),
        "a_new_replica_loaded": restarted_in is not None,
        "after_restart": after,
    }

    serve.shutdown()
    ray.shutdown()
    return result


def autoscaling(config: dict, result: dict) -> dict:
    """Runs in the namespaces: experiment 3 alone, on a Ray of its own (``--autoscaling``: a notebook cell of its own)."""
    import lab12.serving as serving
    import ray
    from lab12.settings import Settings
    from ray import serve

    from checks.lab12.ray_harness import (
        AUTOSCALED_APP,
        AUTOSCALED_BOUNDS,
        AUTOSCALED_PREFIX,
        GCS_PORT,
        PORT,
        RUNNING,
        SERVE_ENV,
        autoscaled_application,
        features,
        iris_rows,
        scale_under_load,
        start_head,
        wait_running,
    )

    os.environ.update(SERVE_ENV)  # autoscaling's metrics every quarter second: every Ray process inherits it
    start_head(config["ray_temp_dir"])
    ray.init(address=f"127.0.0.1:{GCS_PORT}", log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    settings = Settings(model_dir=Path(config["model_dir"]), **AUTOSCALED_BOUNDS)
    application, config_used = autoscaled_application(serving, settings)
    serve.run(application, name=AUTOSCALED_APP, route_prefix=AUTOSCALED_PREFIX)
    wait_running(AUTOSCALED_APP, 120)
    scaling = scale_under_load(
        f"http://127.0.0.1:{PORT}{AUTOSCALED_PREFIX}/predict/logistic_regression",
        [features(row) for row in iris_rows(30)],
        AUTOSCALED_APP,
        AUTOSCALED_BOUNDS["min_replicas"],
        AUTOSCALED_BOUNDS["max_replicas"],
        states=RUNNING,  # replicas that serve, not only the autoscaler's decision (what the check counts)
    )
    result["autoscaling"] = {"config": config_used, **scaling}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ray_serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", default=os.environ.get("WORKBOOK_TARGET", "solutions"))
    parser.add_argument("--seconds", type=float, default=6.0, help="each bounded load (default 6)")
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds into the load the replica dies")
    parser.add_argument("--quick", action="store_true", help="3 s loads (the notebook)")
    parser.add_argument("--autoscaling", action="store_true", help="experiment 3 alone, on a Ray of its own")
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inside:
        config = json.loads(args.inside.read_text(encoding="utf-8"))
        result: dict = {}
        try:
            (autoscaling if config.get("autoscaling") else inside)(config, result)
        except BaseException as exc:  # noqa: BLE001 - say what failed, as JSON, whatever it was; keep what was measured
            result["error"] = f"{type(exc).__name__}: {exc}"
        Path(config["out"]).write_text(json.dumps(result), encoding="utf-8")
        return 0

    from checks.lab12.spy import write_spy_models
    from workbook.checkkit.ray_sandbox import run_isolated
    from workbook.target import resolve_target

    target = resolve_target(args.target)
    folder = Path(tempfile.mkdtemp(prefix="lab12-bench-"))
    (folder / "logs").mkdir()
    write_spy_models(folder / "models", folder / "logs")
    config = {
        "seconds": 3.0 if args.quick else args.seconds,
        "kill_after": args.kill_after,
        "log_dir": str(folder / "logs"),
        "model_dir": str(folder / "models"),
        "out": str(folder / "out.json"),
        "ray_temp_dir": tempfile.mkdtemp(prefix="lab12-ray-"),
        "lab9_target": str(ROOT / "solutions"),
        "autoscaling": args.autoscaling,
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    python_path = os.pathsep.join([str(target), str(ROOT), os.environ.get("PYTHONPATH", "")])
    began = time.monotonic()
    try:
        finished = run_isolated(
            [sys.executable, "-m", "bench.ray_serve", "--inside", str(folder / "config.json")],
            env={"PYTHONPATH": python_path},
            timeout=600,
            cwd=str(ROOT),
        )
        out = folder / "out.json"
        result = (
            json.loads(out.read_text(encoding="utf-8"))
            if out.exists()
            else {"error": f"no result; the run printed:\n{(finished.stdout or '')[-2000:]}"}
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(config["ray_temp_dir"], ignore_errors=True)
    result["wall_s"] = round(time.monotonic() - began, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    raise SystemExit(main())
