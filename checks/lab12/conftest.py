"""Fixtures for the lab 12 checks: the student's deployment, run once per session on a local Ray.

Student code is imported only inside fixtures. The checks that need Ray share one run (:func:`ray_run`): a
subprocess (``checks/lab12/ray_harness.py``) started in network and PID namespaces of its own
(``workbook.checkkit.ray_sandbox``) starts Ray on 127.0.0.1 with two CPUs, deploys ``build(settings)`` of the active
target and, beside it, the autoscaled service (Task 12.4), sends them the checks' requests over HTTP, counts the
autoscaled replicas under a bounded load and after it, and writes what happened as JSON. Ray never
binds anything but loopback, and every Ray process ends with the run, even when the student's code fails or
hangs. The models it serves are the reference models wrapped in ``checks.lab12.spy.SpyModel``: every load and
every ``predict`` call, in whichever replica, is written to a log with its pid — counted, never timed.

Before Ray starts, the fixture builds the application locally (Task 12.3) and constructs one replica in this
process (Task 12.1): if either is not written yet, no Ray is started and the checks say so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import ray.serve  # noqa: F401 - imported at collection, outside every check's timeout: it takes seconds on a busy machine
import ray.serve.config  # noqa: F401

from checks.lab12.runs import NUM_REPLICAS, RAY_RUN_TIMEOUT, RayRun
from checks.lab12.spy import Events, write_spy_models
from labkit.models import write_reference_models
from workbook.checkkit.ray_sandbox import SandboxUnavailable, run_isolated
from workbook.checkkit.student import import_lab_module, lab_attr
from workbook.paths import ROOT


def short_temp_dir() -> Path:
    """A folder for Ray's session. Its socket paths add about 80 bytes to the folder and must stay under 108: a
    grading run's TMPDIR (a scratch folder per run) can be too deep for that, so /tmp is used then."""
    base = tempfile.gettempdir()
    if len(base) > 20 and os.access("/tmp", os.W_OK):
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="lab12-ray-", dir=base))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """The plain reference models (for the checks that run in this process)."""
    folder = tmp_path_factory.mktemp("models")
    write_reference_models(folder)
    return folder


@pytest.fixture
def settings_class():
    return lab_attr(import_lab_module("lab12.settings"), "Settings")


@pytest.fixture
def serving():
    """The student's lab12/serving.py."""
    return import_lab_module("lab12.serving")


def run_settings(model_dir: Path) -> dict:
    return {
        "model_dir": str(model_dir),
        "num_replicas": NUM_REPLICAS,
        "max_batch_size": 16,
        "batch_wait_timeout_s": 0.05,
    }


@pytest.fixture(scope="session")
def ray_run(tmp_path_factory) -> RayRun:
    """The student's deployment, run once on a local Ray in its own namespaces (see the module docstring)."""
    run = RayRun()
    folder = tmp_path_factory.mktemp("ray_run")
    models, logs = folder / "models", folder / "logs"
    autoscaled_models, autoscaled_logs = folder / "autoscaled_models", folder / "autoscaled_logs"
    logs.mkdir()
    autoscaled_logs.mkdir()
    write_spy_models(models, logs)
    write_spy_models(autoscaled_models, autoscaled_logs)  # the autoscaled application's replicas log apart
    settings = run_settings(models)
    try:
        serving = import_lab_module("lab12.serving")
        settings_class = lab_attr(import_lab_module("lab12.settings"), "Settings")
        lab_attr(serving, "build")(settings_class(**settings))
        local_models = folder / "local_models"
        write_reference_models(local_models)
        lab_attr(serving, "PredictionService")(settings_class(**{**settings, "model_dir": local_models}))
    except Exception as exc:  # reported by each check that needs the run, with its own task's words
        run.not_built = exc
        return run
    target = Path(import_lab_module("lab12").__file__).resolve().parent.parent
    ray_temp = short_temp_dir()
    config = {
        "settings": settings,
        "log_dir": str(logs),
        "autoscaled_model_dir": str(autoscaled_models),
        "report": str(folder / "report.json"),
        "ray_temp_dir": str(ray_temp),
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    python_path = os.pathsep.join([str(target), str(ROOT), os.environ.get("PYTHONPATH", "")])
    try:
        finished = run_isolated(
            [sys.executable, "-m", "checks.lab12.ray_harness", str(folder / "config.json")],
            env={"PYTHONPATH": python_path},
            timeout=RAY_RUN_TIMEOUT,
            cwd=str(ROOT),
        )
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    finally:
        shutil.rmtree(ray_temp, ignore_errors=True)
    run.output = finished.stdout or ""
    report_path = folder / "report.json"
    run.report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    run.events = Events.read(logs)
    run.autoscaled_events = Events.read(autoscaled_logs)
    run.log_dir = logs
    return run
