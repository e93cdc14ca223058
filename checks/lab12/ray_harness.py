"""Deploy a target's lab 12 on a local Ray, send it the checks' requests over HTTP, write what happened as JSON.

Run by the checks' session fixture (conftest.py) inside a network namespace of its own with only loopback
(``workbook.checkkit.ray_sandbox``), so Ray binds 127.0.0.1 and nothing else; in its own PID namespace too, so that every
Ray process ends with it. ``python -m checks.lab12.ray_harness CONFIG.json``: the config names the model
folder, the settings and the report file. The report is rewritten after each phase (``phase``), so a run cut
short still says how far it got; ``error`` holds the traceback of what failed.

One Ray serves every check, and the run is kept short (the checks share two cores with everything else): Ray
starts without the processes nothing here uses (dashboard, autoscaler monitor, log monitor, Ray client server),
while the harness imports the lab; the two applications deploy together — ``build(settings)`` (Tasks 12.1–12.3)
and the autoscaled one (Task 12.4, :func:`autoscaled_application`) — and the run ends without Ray's graceful
shutdown, since the PID namespace ends every Ray process with the harness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PORT = 8000  # free for sure: the namespace is new
GCS_PORT = 6379
FIXED_PORTS = {
    "node-manager-port": 6380,
    "object-manager-port": 6381,
    "metrics-export-port": 6382,
    "dashboard-agent-listen-port": 6383,
    "dashboard-agent-grpc-port": 6384,
    "runtime-env-agent-port": 6385,
}
OBJECT_STORE_BYTES = 100 * 2**20  # Ray's object store (why so small: where it is passed to ray start)
FOREST_ROUNDS = 3  # rounds of concurrent single random-forest requests
FOREST_CONCURRENCY = 16
SPREAD_REQUESTS = 24  # concurrent single logistic-regression requests, to see them spread over the replicas

AUTOSCALED_APP, AUTOSCALED_PREFIX = "autoscaled", "/autoscaled"
AUTOSCALED_BOUNDS = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 2.0}  # its settings
# Ray's reaction times, added to the student's bounds: by default Ray waits 30 s before it adds a replica and 600 s
# before it removes one, and averages the load over 30 s; here it reacts within a second or two, so that growth and
# shrinking take seconds. The bounds themselves (min, max, target) are the student's.
# How often the proxy's handle reports its requests in flight is the config's metrics_interval_s in Ray 2.60 (10 s by
# default; deprecated in favour of the variables below, which this version does not read yet): both are set.
REACTION = {"upscale_delay_s": 0.0, "downscale_delay_s": 1.0, "look_back_period_s": 1.0, "metrics_interval_s": 0.25}
# ... and how often the replicas and the proxy report their requests in flight to Ray's controller (default 10 s)
SERVE_ENV = {
    "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.25",
    "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "0.25",
}
AUTOSCALE_CLIENTS = 8  # the bounded load: this many clients, each sending one request after the other ...
GROW_DEADLINE = 120.0  # ... until the replicas reach max_replicas, or this many seconds have passed
SHRINK_DEADLINE = 120.0  # seconds, after the load, for the replicas to come back to min_replicas
SAMPLE_EVERY = 0.25  # seconds between two counts of the replicas


# `ray start`, without what nothing here uses, each a Python process that takes seconds of CPU to start on a busy
# machine: the dashboard agent in its minimal form (no HTTP server), no dashboard (`--include-dashboard=false` still
# starts its API server, and `ray start` waits for it), no Ray client server, no autoscaler monitor (one node, no
# cluster to scale), no log monitor (the driver shows no worker logs).
START_HEAD = (
    "import sys, ray._private.utils as utils, ray._private.node as node, ray.scripts.scripts as scripts; "
    "utils.get_dashboard_dependency_error = lambda: 'lab 12 runs the minimal dashboard agent'; "
    "scripts.get_ray_client_dependency_error = lambda: 'lab 12 connects no Ray client'; "
    "node.Node.start_api_server = lambda self, **options: None; "
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
        # The object store is a file of this size in /dev/shm: a few dozen small requests need little, and class
        # grading's sandbox allows no file over 256 MB (by default Ray takes 30 % of the memory, and its raylet dies).
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--include-dashboard=false",
        "--no-monitor",
        "--include-log-monitor=false",
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


def autoscaled_application(serving: Any, settings: Any) -> tuple[Any, dict]:
    """(the application, its autoscaling config): the student's ``PredictionDeployment`` scaled within the student's
    ``autoscaling_config(settings)``, with :data:`REACTION` added. Its replicas reserve no CPU: the two CPUs of this
    Ray are reserved by ``build(settings)``'s replicas, and a replica it could not place would never start."""
    from ray.serve.config import AutoscalingConfig

    config = {**serving.autoscaling_config(settings), **REACTION}
    AutoscalingConfig(**config)  # refused here, the error is the autoscaling's alone
    deployment = serving.PredictionDeployment.options(autoscaling_config=config, ray_actor_options={"num_cpus": 0})
    return deployment.bind(settings), config


# The check counts a replica Ray is starting: the autoscaler's decision is what Task 12.4 configures; how long a new
# replica process takes to start (10-20 s on two busy cores) is Ray's, and waiting for it made the lab's checks twice
# as long. The notebook's experiment (bench/ray_serve.py) counts running replicas only: it shows them serve.
KEPT = frozenset({"STARTING", "UPDATING", "RECOVERING", "RUNNING"})
RUNNING = frozenset({"RUNNING"})


def replicas(app: str, states: frozenset[str] = KEPT) -> int:
    """How many replicas of ``app``'s deployment are in one of ``states`` now (Ray Serve's own count)."""
    from ray import serve

    application = serve.status().applications.get(app)
    if application is None:
        return 0
    return sum(
        count
        for deployment in application.deployments.values()
        for state, count in deployment.replica_states.items()
        if str(getattr(state, "value", state)) in states
    )


def scale_under_load(
    url: str, bodies: list[dict], app: str, low: int, high: int, states: frozenset[str] = KEPT
) -> dict:
    """Count ``app``'s replicas in ``states`` (:func:`replicas`), then put a bounded load on it
    (``AUTOSCALE_CLIENTS`` clients POSTing ``bodies`` to ``url``) until it has ``high`` replicas or ``GROW_DEADLINE``
    passes, then none until it is back to ``low`` or ``SHRINK_DEADLINE`` passes. Returns the counts seen, in order,
    with the second of each (``samples``: [s, phase, count]), the count before the load (``started_with``), the
    most seen under load (``grew_to``), the last (``shrank_to``) and the answers' statuses."""
    import threading

    import httpx

    stop = threading.Event()
    statuses: Counter = Counter()
    lock = threading.Lock()

    def client(index: int) -> None:
        sent = index
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                try:
                    status: Any = http.post(url, json=bodies[sent % len(bodies)]).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                sent += AUTOSCALE_CLIENTS
                with lock:
                    statuses[str(status)] += 1

    began = time.monotonic()
    samples: list[list] = []

    def sample(phase: str) -> int:
        count = replicas(app, states)
        samples.append([round(time.monotonic() - began, 2), phase, count])
        return count

    sample("before")
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(AUTOSCALE_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        while sample("load") < high and time.monotonic() - began < GROW_DEADLINE:
            time.sleep(SAMPLE_EVERY)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    quiet = time.monotonic()
    while sample("after") > low and time.monotonic() - quiet < SHRINK_DEADLINE:
        time.sleep(SAMPLE_EVERY)
    under_load = [count for _, phase, count in samples if phase == "load"]
    return {
        "samples": samples,
        "started_with": samples[0][2],
        "grew_to": max(under_load),
        "shrank_to": samples[-1][2],
        "statuses": dict(statuses),
        "load_seconds": round(quiet - began, 1),
        "shrink_seconds": round(time.monotonic() - quiet, 1),
    }


def run(config: dict, report: dict, save) -> None:
    os.environ.update(SERVE_ENV)  # before Ray starts: every Ray process inherits them
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as starter:
        head = starter.submit(start_head, config["ray_temp_dir"])  # Ray starts while the lab is imported
        import httpx
        import lab12.serving as serving
        import ray
        from lab12.settings import Settings
        from ray import serve

        settings = Settings(**config["settings"])
        head.result()
    ray.init(address=f"127.0.0.1:{GCS_PORT}", log_to_driver=False)
    report["timings"]["ray_init"] = round(time.monotonic() - started, 1)
    report["phase"] = "deploy"
    save()
    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    scaling: dict = {}
    report["autoscaling"] = scaling
    auto_settings = Settings(**{**config["settings"], **AUTOSCALED_BOUNDS, "model_dir": config["autoscaled_model_dir"]})
    try:  # deployed first, not waited for: its replica starts while build(settings)'s do
        application, scaling["config"] = autoscaled_application(serving, auto_settings)
        serve.run_many(
            [serve.RunTarget(application, name=AUTOSCALED_APP, route_prefix=AUTOSCALED_PREFIX)],
            wait_for_applications_running=False,
        )
    except Exception:  # noqa: BLE001 - Task 12.4's alone: build(settings) is still deployed and checked
        scaling["error"] = traceback.format_exc(limit=8)
    serve.run(serving.build(settings), name="lab12", route_prefix="/")
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
        for name in ("logistic_regression", "random_forest"):
            answers[name] = list(pool.map(lambda row, name=name: post(f"/predict/{name}", features(row)), rows))
        answers["newsgroups"] = list(pool.map(lambda text: post("/predict/newsgroups", {"text": text}), some_texts))
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

    if "error" not in scaling:
        report["phase"] = "autoscaling"
        save()
        try:
            wait_running(AUTOSCALED_APP, GROW_DEADLINE)
            bodies = [features(row) for row in rows]
            url = f"{base}{AUTOSCALED_PREFIX}/predict/logistic_regression"
            scaling.update(
                scale_under_load(
                    url, bodies, AUTOSCALED_APP, AUTOSCALED_BOUNDS["min_replicas"], AUTOSCALED_BOUNDS["max_replicas"]
                )
            )
        except Exception:  # noqa: BLE001 - Task 12.4's alone
            scaling["error"] = traceback.format_exc(limit=8)
        report["timings"]["autoscaling_done"] = round(time.monotonic() - started, 1)
    # No serve.shutdown(): it takes seconds, and the PID namespace ends every Ray process when the harness exits.
    report["phase"] = "done"


def wait_running(app: str, timeout: float) -> None:
    """Wait until ``app`` is RUNNING; raise with Ray's message if it failed, or after ``timeout`` seconds."""
    from ray import serve

    deadline = time.monotonic() + timeout
    while True:
        application = serve.status().applications.get(app)
        status = str(getattr(application.status, "value", application.status)) if application else "MISSING"
        if status == "RUNNING":
            return
        if status.startswith("DEPLOY_FAILED") or time.monotonic() > deadline:
            raise RuntimeError(f"the autoscaled application is {status}: {application.message if application else ''}")
        time.sleep(SAMPLE_EVERY)


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
    main(sys.argv[1])
    os._exit(0)  # not Ray's exit hooks (a shutdown that waits on Ray): the namespace ends Ray with this process
