"""The tools lab 9 and the benchmark stand on: the bounded load test, the server runner, the bench command."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from workbook.checkkit import loadtest
from workbook.checkkit.loadtest import LoadTestRefused, check_bounds, check_target, percentile, run_load
from workbook.checkkit.server import ServerError, free_port, serve, start
from workbook.paths import ROOT


def fixed_server_command(port: int) -> list[str]:
    return [sys.executable, "-m", "workbook.checkkit.loadtest", "serve-fixed", str(port)]


@pytest.fixture(scope="module")
def fixed_server():
    with serve(fixed_server_command, startup_timeout=30) as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/",
        "http://10.0.0.1:8000/",
        "http://example.com:80/",
        "https://127.0.0.1:8443/",
        "http://127.0.0.2:8000/",
        "http://[::1]:8000/",
        "http://127.0.0.1/no-port",
    ],
)
def test_load_test_refuses_anything_but_127_0_0_1_with_a_port(url):
    with pytest.raises(LoadTestRefused):
        check_target(url)


def test_load_test_accepts_a_local_url_with_query():
    target = check_target("http://127.0.0.1:8123/predictions?a=1&b=2")
    assert (target.host, target.port, target.path) == ("127.0.0.1", 8123, "/predictions?a=1&b=2")


@pytest.mark.parametrize(
    "seconds, max_requests, concurrency",
    [
        (0, 10, 1),
        (loadtest.MAX_SECONDS + 1, 10, 1),
        (1, 0, 1),
        (1, loadtest.MAX_REQUESTS + 1, 1),
        (1, 10, 0),
        (1, 10, loadtest.MAX_CONCURRENCY + 1),
    ],
)
def test_load_test_refuses_unbounded_load(seconds, max_requests, concurrency):
    with pytest.raises(LoadTestRefused):
        check_bounds(seconds, max_requests, concurrency)


def test_refused_before_any_connection():
    with pytest.raises(LoadTestRefused):
        run_load("http://192.168.1.1:80/", seconds=1)


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([], 50) == 0.0 and percentile([3.0], 99) == 3.0


def test_request_bytes_carry_body_and_length():
    target = check_target("http://127.0.0.1:9/predict")
    raw = loadtest.build_request(target, "POST", b'{"a": 1}', {"Content-Type": "application/json"})
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:9") and b"Content-Length: 8" in head
    assert body == b'{"a": 1}'


def test_wrk_script_is_valid_lua_shape():
    script = loadtest.wrk_script("POST", b'{"x": [1, 2]}', {"Content-Type": "application/json"}, 100)
    assert "wrk.headers[ [==[Content-Type]==] ] = [==[application/json]==]" in script
    assert 'wrk.body = [==[{"x": [1, 2]}]==]' in script and "local limit = 100" in script


def test_python_generator_stops_at_max_requests(fixed_server):
    result = run_load(f"{fixed_server.url}/health", concurrency=4, seconds=5, max_requests=300, warmup=0, tool="python")
    assert result.requests == 300 and result.errors == 0 and result.tool == "python"
    assert result.p50_ms > 0 and result.p99_ms >= result.p50_ms


def test_python_generator_stops_at_its_time_limit(fixed_server):
    start_time = time.perf_counter()
    result = run_load(f"{fixed_server.url}/health", concurrency=8, seconds=0.5, warmup=0, tool="python")
    elapsed = time.perf_counter() - start_time
    assert result.requests > 100 and result.errors == 0
    assert elapsed < 5, f"a 0.5 s load test ran {elapsed:.1f} s"


def test_python_generator_counts_refused_connections_as_errors():
    port = free_port()  # nothing listens there
    result = run_load(f"http://127.0.0.1:{port}/", concurrency=2, seconds=0.3, warmup=0, tool="python")
    assert result.errors > 0 and result.requests == 0 and not result.ok


def test_python_generator_counts_error_statuses(tmp_path):
    app_file = tmp_path / "teapot.py"
    app_file.write_text(
        "from fastapi import FastAPI, Response\napp = FastAPI()\n"
        "@app.get('/health')\nasync def health():\n    return {'status': 'ok'}\n"
        "@app.get('/teapot')\nasync def teapot():\n    return Response(status_code=418)\n"
    )
    from workbook.checkkit.server import uvicorn_command

    with serve(lambda port: uvicorn_command("teapot:app", port, app_dir=tmp_path)) as server:
        result = run_load(f"{server.url}/teapot", concurrency=2, seconds=0.3, max_requests=50, warmup=0, tool="python")
    assert result.requests == 50 and result.errors == 50
    assert server.stopped_cleanly, server.output[-2000:]


@pytest.mark.skipif(not loadtest.wrk_available(), reason="wrk is not installed")
def test_wrk_reports_the_same_shape(fixed_server):
    result = run_load(f"{fixed_server.url}/health", concurrency=4, seconds=1, warmup=0, tool="wrk")
    assert result.tool == "wrk" and result.requests > 100 and result.errors == 0 and result.p50_ms > 0


def test_generator_ceiling_is_far_above_a_python_web_server():
    ceiling = loadtest.generator_ceiling("python", concurrency=16, seconds=1)
    # uvicorn's hello world reaches about 8,500 req/s on this kind of machine; the generator must not be the limit.
    assert ceiling.ok and ceiling.requests_per_s > 10_000, str(ceiling)


def test_server_that_exits_at_once_is_reported_with_its_output():
    with pytest.raises(ServerError, match="exited with code 3") as caught:
        start(lambda port: [sys.executable, "-c", "import sys; print('cannot start'); sys.exit(3)"], startup_timeout=20)
    assert "cannot start" in str(caught.value)


def test_server_that_never_gets_ready_is_stopped():
    began = time.perf_counter()
    with pytest.raises(ServerError, match="did not answer"):
        start(lambda port: [sys.executable, "-c", "import time; time.sleep(60)"], startup_timeout=1.5)
    assert time.perf_counter() - began < 30


def test_serve_stops_the_server_cleanly():
    with serve(fixed_server_command, startup_timeout=30) as server:
        assert server.alive() and server.url.startswith("http://127.0.0.1:")
    assert not server.alive() and server.returncode in (0, -15) and not server.killed


@pytest.mark.timeout(180)
def test_bench_smoke_writes_table_and_chart(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    table = (tmp_path / "RESULTS.md").read_text()
    assert "hello world (the ceiling)" in table and "## Targets" in table and "rows/s" in table
    assert (tmp_path / "results.png").stat().st_size > 5_000
    assert (tmp_path / "results.json").exists()
