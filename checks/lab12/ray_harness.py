"""Deploy a target's lab 12 on a local Ray, send it the checks' requests over HTTP, write what happened as JSON.

Run by the checks' session fixture (conftest.py) inside a network namespace of its own with only loopback
(``workbook.checkkit.ray_sandbox``), so Ray binds 127.0.0.1 and nothing else; in its own PID namespace too, so that every
Ray process ends with it. ``python -m checks.lab12.ray_harness CONFIG.json``: the config names the model
folder, the settings and the report file. The report is rewritten after each phase (``phase``), so a run cut
short still says how far it got; ``error`` holds the traceback of what failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PORT = 8000  # free for sure: the namespace is new
GCS_PORT = 6379
FIXED_PORTS = {
    "node-manager-port": 6380,
    "object-manager-port": 6381,
    "metrics-export-port": 6382,
    "dashboard-agent-listen-port": 6383,
    "dashboard-agent-grpc-port": 6384,
    "runtime-env-agent-port": 6385,
    "ray-client-server-port": 6386,
}
FOREST_ROUNDS = 3  # rounds of concurrent single random-forest requests
FOREST_CONCURRENCY = 16
SPREAD_REQUESTS = 24  # concurrent single logistic-regression requests, to see them spread over the replicas


# `ray start`, with the dashboard agent in its minimal form (no HTTP server, which nothing here uses).
START_HEAD = (
    "import sys, ray._private.utils as utils; "
    "utils.get_dashboard_dependency_error = lambda: 'lab 12 runs the minimal dashboard agent'; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
# The raylet gives its agents 15 s (fixed in Ray 2.60) to write the ports they listen on into the session folder,
# and aborts otherwise; on a busy 2-core machine a Python agent takes longer than that just to import (seen here
# at a load of 18). Every port is fixed above, so the harness writes those files itself as soon as the session
# folder exists, with the values the agents will write (-1: the minimal agent serves no HTTP).
PORT_FILES = {
    "metrics_agent_port": FIXED_PORTS["dashboard-agent-grpc-port"],
    "metrics_export_port": FIXED_PORTS["metrics-export-port"],
    "dashboard_agent_listen_port": -1,
    "runtime_env_agent_port": FIXED_PORTS["runtime-env-agent-port"],
}


def start_head(temp_dir: str, timeout: float = 300) -> None:
    """A one-node Ray on 127.0.0.1 with two CPUs, no dashboard, every port fixed (see PORT_FILES)."""
    command = [
        sys.executable,
        "-c",
        START_HEAD,
        "start",
        "--head",
        "--disable-usage-stats",
        "--node-ip-address=127.0.0.1",
        f"--port={GCS_PORT}",
        "--num-cpus=2",
        "--include-dashboard=false",
        f"--temp-dir={temp_dir}",
        *(f"--{name}={port}" for name, port in FIXED_PORTS.items()),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    done: set[Path] = set()
    while process.poll() is None and time.monotonic() < deadline:
        for gcs_file in Path(temp_dir).glob("session_*/gcs_server_port_*"):
            if gcs_file.parent in done:
                continue
            node_id = gcs_file.name.rsplit("_", 1)[1]
            for name, port in PORT_FILES.items():
                target = gcs_file.parent / f"{name}_{node_id}"
                if not target.exists():
                    partial = target.with_name(target.name + ".lab12")
                    partial.write_text(str(port), encoding="utf-8")
                    os.replace(partial, target)
            done.add(gcs_file.parent)
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
        raise RuntimeError(f"ray start did not finish in {timeout:g} s")
    if process.returncode != 0:
        raise RuntimeError(f"ray start failed: {process.stderr.read()[-2000:] if process.stderr else ''}")


def event_count(config: dict) -> int:
    """How many lines the spy models have logged so far: the checks read each phase's lines apart."""
    path = Path(config["log_dir"]) / "events.log"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def iris_rows(count: int) -> list[list[float]]:
    from labkit.datasets import load_iris

    features = load_iris()[0]
    step = max(1, len(features) // count)
    return [[float(value) for value in row] for row in features[::step][:count]]


def texts(count: int) -> list[str]:
    from labkit.datasets import load_corpus

    return [text[:2000] for text in load_corpus("test")[0][:count]]


def features(row: list[float]) -> dict[str, float]:
    from labkit.datasets import IRIS_FEATURES

    return dict(zip(IRIS_FEATURES, row, strict=True))


def run(config: dict, report: dict, save) -> None:
    import httpx
    import ray
    from lab12.serving import build
    from lab12.settings import Settings
    from ray import serve

    settings = Settings(**config["settings"])
    started = time.monotonic()
    start_head(config["ray_temp_dir"])
    ray.init(address=f"127.0.0.1:{GCS_PORT}", log_to_driver=False)
    report["timings"]["ray_init"] = round(time.monotonic() - started, 1)
    report["phase"] = "deploy"
    save()
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(build(settings), name="lab12", route_prefix="/")
    report["timings"]["deployed"] = round(time.monotonic() - started, 1)
    report["phase"] = "traffic"
    save()

    base = f"http://127.0.0.1:{PORT}"
    with (
        httpx.Client(base_url=base, timeout=config.get("request_timeout", 30)) as client,
        ThreadPoolExecutor(max_workers=FOREST_CONCURRENCY) as pool,
    ):

        def post(path: str, body: dict) -> dict:
            response = client.post(path, json=body)
            try:
                content = response.json()
            except ValueError:
                content = response.text[:500]
            return {"status": response.status_code, "body": content}

        rows, some_texts = iris_rows(12), texts(4)
        report["inputs"] = {"rows": rows, "texts": some_texts}
        answers = report["answers"]
        answers["logistic_regression"] = [post("/predict/logistic_regression", features(row)) for row in rows]
        answers["random_forest"] = [post("/predict/random_forest", features(row)) for row in rows]
        answers["newsgroups"] = [post("/predict/newsgroups", {"text": text}) for text in some_texts]
        answers["random_forest_batch"] = post("/predict/random_forest/batch", {"rows": rows})
        save()

        marks = report["event_marks"] = {"spread": event_count(config)}
        spread = list(
            pool.map(lambda row: post("/predict/logistic_regression", features(row)), (rows * 3)[:SPREAD_REQUESTS])
        )
        report["spread"] = spread
        report["replica_pids"] = [client.get("/replica").json().get("pid") for _ in range(8)]
        save()

        marks["concurrent"] = event_count(config)
        concurrent = []
        for _ in range(FOREST_ROUNDS):
            batch_rows = (rows * 2)[:FOREST_CONCURRENCY]
            answered = list(pool.map(lambda row: post("/predict/random_forest", features(row)), batch_rows))
            concurrent.append({"rows": batch_rows, "answers": answered})
        report["concurrent_forest"] = concurrent
        marks["end"] = event_count(config)
    report["timings"]["traffic_done"] = round(time.monotonic() - started, 1)
    report["phase"] = "shutdown"
    save()
    serve.shutdown()
    ray.shutdown()
    report["timings"]["shut_down"] = round(time.monotonic() - started, 1)
    report["phase"] = "done"


def main(config_path: str) -> int:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    out = Path(config["report"])
    report: dict = {"driver_pid": os.getpid(), "phase": "init", "error": None, "timings": {}, "answers": {}}

    def save() -> None:
        partial = out.with_suffix(".partial")
        partial.write_text(json.dumps(report), encoding="utf-8")
        os.replace(partial, out)

    save()
    try:
        run(config, report, save)
    except BaseException:  # noqa: BLE001 - the report must say what went wrong, whatever it was
        report["error"] = traceback.format_exc(limit=20)
    save()
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    tempfile.tempdir = None
    raise SystemExit(main(sys.argv[1]))
