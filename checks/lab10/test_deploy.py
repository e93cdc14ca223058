"""Lab 10 checks, Task 10.5: readiness, and the image's command serving your app on this machine.

No Docker engine is needed: the checks read deploy/Dockerfile (its rules below) and run its CMD from the
repository root — the image's /srv mirrors the repository — on a free 127.0.0.1 port, with your lab10 on
PYTHONPATH. They wait for /ready, send requests, then SIGTERM, as `docker stop` would.
"""

import asyncio
import os
import sys
from pathlib import Path

import httpx2
import pytest

from workbook.checkkit import dockerfile
from workbook.checkkit.clients import sync_client
from workbook.checkkit.server import ServerError, start
from workbook.checkkit.student import import_lab_module, lab_attr
from workbook.paths import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
STARTUP_TIMEOUT = 150.0  # two workers importing scikit-learn on a busy two-core machine


def ready_directly(model_dir) -> object:
    """Your /ready route function called directly on a registry loaded from ``model_dir``."""
    ready = lab_attr(import_lab_module("lab10.app"), "ready")
    registry = lab_attr(import_lab_module("lab10.registry"), "ModelRegistry")()
    registry.load_dir(model_dir)
    return asyncio.run(ready(registry))


@pytest.mark.task("10.5", points=1)
def test_ready_when_every_model_loaded(client, shared_model_dir):
    direct = ready_directly(shared_model_dir)
    assert direct.status_code == 200, f"ready(registry) with three loaded models answered {direct.status_code}."
    response = client.get("/ready")
    expected = {"status": "ready", "models": ["logistic_regression", "newsgroups", "random_forest"]}
    assert response.status_code == 200 and response.json() == expected, (
        f"GET /ready with every model loaded should answer 200 {expected}; got {response.status_code}: "
        f"{response.text[:300]}"
    )


@pytest.mark.task("10.5", points=1)
def test_not_ready_without_models_or_with_a_broken_one(make_app, make_settings, model_dir, tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    assert ready_directly(empty).status_code == 503, "ready(registry) with no model loaded should answer 503."
    with sync_client(make_app(make_settings(model_dir=empty))) as client:
        response = client.get("/ready")
        assert response.status_code == 503 and response.json().get("error") == "not_ready", (
            f"GET /ready with no model loaded should answer 503 with 'error': 'not_ready'; got "
            f"{response.status_code}: {response.text[:300]}"
        )
        assert response.json().get("failed") == {}, (
            f"nothing failed to load, so 'failed' should be {{}}; got {response.json()!r}"
        )
        assert client.get("/health").status_code == 200, "/health (liveness) must answer 200 even when not ready."
    (model_dir / "newsgroups.joblib.sha256").write_text("0" * 64 + "\n")
    with sync_client(make_app(make_settings(model_dir=model_dir))) as client:
        response = client.get("/ready")
        body = response.json()
        assert response.status_code == 503 and "newsgroups" in body.get("failed", {}), (
            "GET /ready when newsgroups failed to load (a wrong digest) should answer 503 with 'failed' naming "
            f"it; got {response.status_code}: {body!r}"
        )
        assert "newsgroups" in body.get("detail", ""), f"the detail should name the model that failed; got {body!r}"


def local_command(image_command: list[str], port: int) -> list[str]:
    """The image's CMD as this machine runs it: the venv's Python, and only 127.0.0.1."""
    program, *args = image_command
    if program in {"gunicorn", "uvicorn"}:
        command = [sys.executable, "-m", program, *args]
    else:
        raise AssertionError(f"CMD starts {program!r}; the checks know how to run gunicorn or uvicorn")
    if program == "gunicorn":
        return command + ["--bind", f"127.0.0.1:{port}"]
    return command + ["--host", "127.0.0.1", "--port", str(port)]


@pytest.mark.task("10.5", points=2)
@pytest.mark.timeout(240)
def test_the_image_command_serves_the_app_and_stops_cleanly(shared_model_dir, tmp_path):
    assert ready_directly(shared_model_dir).status_code == 200, "ready(registry) should answer 200 first."
    instructions = dockerfile.parse_file(DOCKERFILE)
    problems = dockerfile.service_image_problems(instructions)
    assert not problems, "deploy/Dockerfile: " + "; ".join(problems)
    image_command = dockerfile.exec_form([i for i in instructions if i.keyword == "CMD"][-1].args)
    target = Path(import_lab_module("lab10").__file__).resolve().parent.parent
    # As in the image: the target's lab10 and the repository (labkit/, deploy/) on the path, two workers.
    env = {
        "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]),
        "MODEL_DIR": str(shared_model_dir),
        "WEB_CONCURRENCY": "2",
    }
    try:
        server = start(
            lambda port: local_command(image_command, port),
            env=env,
            cwd=ROOT,
            ready_path="/ready",
            startup_timeout=STARTUP_TIMEOUT,
            log_dir=tmp_path,
        )
    except ServerError as exc:
        raise AssertionError(f"the image's command did not get ready on this machine: {exc}") from None
    try:
        with httpx2.Client(base_url=server.url, timeout=30.0, trust_env=False) as http:
            health = http.get("/health")
            prediction = http.post("/predict/newsgroups", json={"text": "the rocket reached orbit"})
            missing = http.get("/no/such/route")
    finally:
        server.stop(timeout=60)
    assert health.status_code == 200 and health.json() == {"status": "ok"}, (
        f"GET /health through the real server answered {health.status_code}: {health.text[:200]}"
    )
    assert prediction.status_code == 200 and prediction.json().get("label") == "sci.space", (
        f"POST /predict/newsgroups through the real server answered {prediction.status_code}: {prediction.text[:200]}"
    )
    assert missing.status_code == 404 and missing.json().get("error") == "not_found", (
        "errors through the real server should be the JSON error body; GET /no/such/route answered "
        f"{missing.status_code}: {missing.text[:200]}"
    )
    assert server.stopped_cleanly, (
        f"after SIGTERM the server should finish its requests and exit with code 0 (got {server.returncode}, "
        f"killed: {server.killed}); its output ends with:\n{server.output[-2000:]}"
    )
