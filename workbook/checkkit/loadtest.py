"""A small, bounded HTTP load test for servers on this machine: requests/s and p50/p99 latency.

::

    from workbook.checkkit.loadtest import run_load

    result = run_load("http://127.0.0.1:8000/predict/logistic_regression", method="POST",
                      json={"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
                      concurrency=32, seconds=3)
    print(result)   # 5,120 req/s  p50 5.9 ms  p99 11.2 ms  (15,360 requests, 0 errors, wrk, 32 connections)

Every run is bounded: at most ``seconds`` (never more than ``MAX_SECONDS``) and ``max_requests`` (never more
than ``MAX_REQUESTS``), with at most ``MAX_CONCURRENCY`` connections, and it is only ever aimed at
127.0.0.1: any other host is refused. Load tests are for your own machine.

Two generators, same result type:

* ``wrk`` (written in C; ``apt-get install wrk``), used when it is installed: far faster than the Python
  servers it measures.
* a Python generator (asyncio + uvloop, raw HTTP/1.1 keep-alive connections, one request in flight per
  connection), used otherwise. It is much faster than a client library, and :func:`generator_ceiling`
  measures its own ceiling against a server that does nothing, so you can see it is not the bottleneck.

A response with a status other than 2xx, a broken connection or a timeout counts as an error.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

HOST = "127.0.0.1"
MAX_SECONDS = 30.0
MAX_REQUESTS = 2_000_000
MAX_CONCURRENCY = 256
REQUEST_TIMEOUT = 10.0


class LoadTestRefused(ValueError):
    """The load test was asked to do something it never does (another host, unbounded load)."""


@dataclass(frozen=True)
class LoadResult:
    """What one load test measured."""

    url: str
    method: str
    tool: str  # "wrk" or "python"
    concurrency: int
    seconds: float  # measured wall time of the run
    requests: int  # completed responses, errors included
    errors: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.requests > 0

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.requests_per_s:>9,.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"({self.requests:,} requests, {self.errors} errors, {self.tool}, {self.concurrency} connections)"
        )


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str  # with the query string


def check_target(url: str) -> Target:
    """Parse ``url``; refuse anything but ``http://127.0.0.1:PORT/...``."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise LoadTestRefused(f"{url!r}: only plain http:// URLs are load-tested")
    if parts.hostname != HOST:
        raise LoadTestRefused(
            f"{url!r}: load tests only ever go to {HOST}, a server on this machine (got host {parts.hostname!r})"
        )
    if parts.port is None:
        raise LoadTestRefused(f"{url!r}: give the port explicitly, e.g. http://{HOST}:8000/health")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(HOST, parts.port, path)


def check_bounds(seconds: float, max_requests: int, concurrency: int) -> None:
    if not 0 < seconds <= MAX_SECONDS:
        raise LoadTestRefused(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not 0 < max_requests <= MAX_REQUESTS:
        raise LoadTestRefused(f"max_requests must be in (0, {MAX_REQUESTS:,}], got {max_requests}")
    if not 0 < concurrency <= MAX_CONCURRENCY:
        raise LoadTestRefused(f"concurrency must be in (0, {MAX_CONCURRENCY}], got {concurrency}")


def encode_body(body: bytes | str | None, json: object | None) -> tuple[bytes, dict[str, str]]:
    if json is not None:
        if body is not None:
            raise ValueError("pass body or json, not both")
        return jsonlib.dumps(json).encode(), {"Content-Type": "application/json"}
    if isinstance(body, str):
        body = body.encode()
    return body or b"", {}


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, nearest rank; 0 for no values."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def run_load(
    url: str,
    *,
    method: str = "GET",
    body: bytes | str | None = None,
    json: object | None = None,
    headers: dict[str, str] | None = None,
    concurrency: int = 32,
    seconds: float = 3.0,
    max_requests: int = 500_000,
    warmup: float = 0.5,
    tool: str = "auto",
) -> LoadResult:
    """Load ``url`` with ``concurrency`` connections for ``seconds`` (after ``warmup`` seconds not counted).

    ``tool`` is ``"wrk"``, ``"python"`` or ``"auto"`` (wrk when installed). Safe to call from a notebook:
    the Python generator runs on its own event loop in its own thread.
    """
    target = check_target(url)
    check_bounds(seconds, max_requests, concurrency)
    if warmup:
        check_bounds(warmup, max_requests, concurrency)
    payload, content_headers = encode_body(body, json)
    all_headers = {**content_headers, **(headers or {})}
    if tool == "auto":
        tool = "wrk" if wrk_available() else "python"
    if tool == "wrk":
        if not wrk_available():
            raise FileNotFoundError("wrk is not installed (apt-get install wrk); use tool='python'")
        runner = _run_wrk
    elif tool == "python":
        runner = _run_python
    else:
        raise ValueError(f"tool must be 'auto', 'wrk' or 'python', not {tool!r}")
    if warmup:
        runner(url, target, method, payload, all_headers, concurrency, warmup, max_requests)
    return runner(url, target, method, payload, all_headers, concurrency, seconds, max_requests)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


# --- the Python generator ------------------------------------------------------------------------------

HEADER_END = b"\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CHUNKED = re.compile(rb"\r\ntransfer-encoding:\s*chunked", re.IGNORECASE)
CONNECTION_CLOSE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


def build_request(target: Target, method: str, payload: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host}:{target.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if payload or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


class _Connection(asyncio.Protocol):
    """One keep-alive connection that sends the same request again as soon as the response is complete."""

    def __init__(self, run: _PythonRun):
        self.run = run
        self.transport: asyncio.Transport  # set by connection_made, which asyncio calls before anything else
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.in_flight = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        if not self.run.may_send():
            self.transport.close()
            return
        self.in_flight = True
        self.sent_at = time.perf_counter()
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.in_flight:
            end = self.buffer.find(HEADER_END)
            if end < 0:
                return
            head = bytes(self.buffer[: end + 2])
            length = CONTENT_LENGTH.search(head)
            if length is not None:
                total = end + 4 + int(length.group(1))
                if len(self.buffer) < total:
                    return
            elif CHUNKED.search(head):
                last = self.buffer.find(b"\r\n0\r\n\r\n", end)
                if last < 0:
                    return
                total = last + 7
            else:
                total = end + 4  # no body (204, 304)
            status = int(head[9:12])
            del self.buffer[:total]
            self.in_flight = False
            self.run.record(time.perf_counter() - self.sent_at, ok=200 <= status < 300)
            if CONNECTION_CLOSE.search(head):
                self.transport.close()  # a server without keep-alive (gunicorn's sync worker): reconnect
                return
            self.send()

    def connection_lost(self, exc) -> None:
        if self.in_flight:
            self.run.errors += 1  # the connection broke before the response was complete
            self.in_flight = False
        if not self.closed.done():
            self.closed.set_result(None)


class _PythonRun:
    def __init__(self, request: bytes, seconds: float, max_requests: int):
        self.request = request
        self.seconds = seconds
        self.max_requests = max_requests
        self.sent = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.deadline = 0.0

    def may_send(self) -> bool:
        if self.sent >= self.max_requests or time.perf_counter() >= self.deadline:
            return False
        self.sent += 1
        return True

    def record(self, latency: float, ok: bool) -> None:
        self.latencies.append(latency)
        if not ok:
            self.errors += 1

    def finished(self) -> bool:
        return self.sent >= self.max_requests or time.perf_counter() >= self.deadline


async def _drive(target: Target, run: _PythonRun, concurrency: int) -> float:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run.deadline = start + run.seconds

    async def connection_loop() -> None:
        while not run.finished():
            try:
                _, protocol = await loop.create_connection(lambda: _Connection(run), target.host, target.port)
            except OSError:
                run.errors += 1
                await asyncio.sleep(0.05)
                continue
            try:
                # A hung server is given REQUEST_TIMEOUT after the deadline, never more.
                await asyncio.wait_for(
                    asyncio.shield(protocol.closed), run.deadline + REQUEST_TIMEOUT - time.perf_counter()
                )
            except TimeoutError:
                protocol.transport.abort()  # counts the request in flight as an error
                return

    await asyncio.gather(*(connection_loop() for _ in range(concurrency)))
    return time.perf_counter() - start


def _run_python(
    url: str,
    target: Target,
    method: str,
    payload: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    max_requests: int,
) -> LoadResult:
    run = _PythonRun(build_request(target, method, payload, headers), seconds, max_requests)
    elapsed = _run_in_own_loop(_drive(target, run, concurrency))
    latencies = sorted(run.latencies)
    completed = len(latencies)
    return LoadResult(
        url=url,
        method=method,
        tool="python",
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        requests=completed,
        errors=run.errors,
        requests_per_s=completed / elapsed if elapsed else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # installed with uvicorn[standard]; about twice as fast as asyncio's own loop here

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt
        return asyncio.new_event_loop()


def _run_in_own_loop(coro):
    """Run ``coro`` to completion on a fresh loop in a new thread (works inside Jupyter's running loop)."""
    outcome: dict = {}

    def target() -> None:
        loop = _new_loop()
        try:
            outcome["value"] = loop.run_until_complete(coro)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
        finally:
            loop.close()

    thread = threading.Thread(target=target, name="workbook-loadtest", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# --- wrk ------------------------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = {method}
wrk.body = {body}
{headers}
local limit = {limit}
local count = 0
function response(status, headers, body)
  count = count + 1
  if count >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WORKBOOK {{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return "[==[" + value + "]==]" if value else '""'


def wrk_script(method: str, payload: bytes, headers: dict[str, str], limit: int) -> str:
    header_lines = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in headers.items())
    return WRK_SCRIPT.format(
        method=_lua_string(method), body=_lua_string(payload) if payload else "nil", headers=header_lines, limit=limit
    )


def _run_wrk(
    url: str,
    target: Target,
    method: str,
    payload: bytes,
    headers: dict[str, str],
    concurrency: int,
    seconds: float,
    max_requests: int,
) -> LoadResult:
    threads = 1  # one core for the generator, the other for the server
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(wrk_script(method, payload, headers, max(1, max_requests // threads)))
    try:
        # wrk takes whole seconds; its request limit is the script's `limit` (it stops each thread there).
        command = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(concurrency),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            f"{REQUEST_TIMEOUT:g}s",
            "-s",
            script.name,
            f"http://{target.host}:{target.port}{target.path}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 10)
    finally:
        os.unlink(script.name)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WORKBOOK ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    stats = jsonlib.loads(line.removeprefix("WORKBOOK "))
    elapsed = stats["duration_us"] / 1e6
    return LoadResult(
        url=url,
        method=method,
        tool="wrk",
        concurrency=concurrency,
        seconds=round(elapsed, 3),
        requests=stats["requests"],
        errors=stats["errors"],
        requests_per_s=stats["requests"] / elapsed if elapsed else 0.0,
        p50_ms=stats["p50_us"] / 1000,
        p99_ms=stats["p99_us"] / 1000,
    )


# --- the generator's own ceiling ----------------------------------------------------------------------------

FIXED_RESPONSE = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'


class _FixedResponder(asyncio.Protocol):
    """Answers every request that arrives with the same bytes: the fastest server there can be."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        # Requests to this server carry no body: one header block, one response.
        while (end := self.buffer.find(HEADER_END)) >= 0:
            del self.buffer[: end + 4]
            self.transport.write(FIXED_RESPONSE)


def serve_fixed_response(port: int) -> None:
    """Serve :data:`FIXED_RESPONSE` on 127.0.0.1:``port`` until SIGTERM (``python -m workbook.checkkit.loadtest``)."""
    import signal

    loop = _new_loop()
    server = loop.run_until_complete(loop.create_server(_FixedResponder, HOST, port))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.close()


def generator_ceiling(tool: str = "auto", concurrency: int = 32, seconds: float = 3.0) -> LoadResult:
    """The generator's own ceiling: the rate it reaches against a server that does no work at all.

    If a server under test gets anywhere near this number, the generator (not the server) is the limit.
    """
    import sys

    from workbook.checkkit.server import serve

    with serve(
        lambda port: [sys.executable, "-m", "workbook.checkkit.loadtest", "serve-fixed", str(port)],
        ready_path="/health",
        startup_timeout=30,
    ) as server:
        return run_load(f"{server.url}/health", concurrency=concurrency, seconds=seconds, tool=tool)


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "serve-fixed":
        serve_fixed_response(int(sys.argv[2]))
    else:
        print("usage: python -m workbook.checkkit.loadtest serve-fixed PORT", file=sys.stderr)
        sys.exit(2)
