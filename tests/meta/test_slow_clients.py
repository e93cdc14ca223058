"""Slow clients are timed out: a body that stalls mid-way gets a 408 (or the connection closed) within the bound.

uvicorn times out neither slow headers nor a slow body (it starts no timer when a connection opens and
cancels its keep-alive timer as soon as a byte arrives), so the solution apps bound the time to receive a
whole body themselves: ``labkit.validation_errors.BodyLimitMiddleware``, ``BODY_TIMEOUT_SECONDS``.
Each case runs a real server (``workbook.checkkit.server``) and talks to it over a raw socket: headers and part of a
body, then silence. Meanwhile another client must be served at once: a stalled body holds no worker.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx2
import pytest

from labkit.models import write_reference_models
from workbook.checkkit.server import HOST, serve, uvicorn_command

ROOT = Path(__file__).resolve().parents[2]
BODY_TIMEOUT = 1.5  # seconds, set through BODY_TIMEOUT_SECONDS for the server
MARGIN = 20.0  # a busy 2-core machine: the answer may come this much later than the bound, never earlier
API_KEY = "slow-client-test-key-0123456789abcdef"
FLOWER_START = b'{"sepal_length": 5.1, "sepal_wid'  # a third of the body, then nothing

CASES = {
    "lab5": ("/predictions", {}),
    "lab7": ("/predict/random_forest", {"API_KEY": API_KEY}),  # behind BaseHTTPMiddleware layers
    "lab9": ("/predict/random_forest", {"CACHE_SIZE": "128"}),  # the response cache reads the body itself
    "lab10": ("/predict/random_forest", {"JWT_SECRET": "j" * 40}),  # the body is read before the token is checked
    "lab12": ("/predict/random_forest", {}),  # lab 9's service as Ray Serve's replicas build it, served by uvicorn
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    write_reference_models(folder)
    return folder


def stalled_request(path: str, declared: int = 96) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {API_KEY}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode() + FLOWER_START


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything the server sends until it closes the connection, or ``limit`` seconds pass."""
    sock.settimeout(limit)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        pass
    except ConnectionResetError:
        pass
    return b"".join(chunks)


@pytest.mark.parametrize("lab", sorted(CASES))
def test_a_stalled_body_gets_a_408_and_others_are_served_meanwhile(lab, model_dir):
    path, env = CASES[lab]
    env = {"MODEL_DIR": str(model_dir), "BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT), **env}
    command = lambda port: uvicorn_command(f"{lab}.app:app", port, app_dir=ROOT / "solutions")  # noqa: E731
    with serve(command, env=env) as server:
        with socket.create_connection((HOST, server.port), timeout=10) as slow:
            slow.sendall(stalled_request(path))
            began = time.monotonic()
            # Another client while the body is stalled: served at once, the event loop is free.
            health = httpx2.get(f"{server.url}/health", timeout=10)
            assert health.status_code == 200, f"/health answered {health.status_code} beside a stalled body"
            served_meanwhile = time.monotonic() - began
            answer = read_until_closed(slow, BODY_TIMEOUT + MARGIN)
            waited = time.monotonic() - began
        assert served_meanwhile < BODY_TIMEOUT, (
            f"/health took {served_meanwhile:.2f} s beside a stalled body: it waited for the stalled request"
        )
        assert answer.startswith(b"HTTP/1.1 408"), f"expected a 408 for the stalled body, got {answer[:300]!r}"
        assert BODY_TIMEOUT * 0.9 <= waited < BODY_TIMEOUT + MARGIN, (
            f"the 408 came after {waited:.2f} s; the bound is {BODY_TIMEOUT} s"
        )
        assert b"connection: close" in answer.lower(), f"the 408 should close the connection: {answer[:300]!r}"
        # The server is still healthy after it, and logged no crash.
        assert httpx2.get(f"{server.url}/health", timeout=10).status_code == 200
    assert not server.has_traceback, f"the server logged a traceback:\n{server.output[-3000:]}"


def test_a_whole_body_sent_in_time_is_not_refused(model_dir):
    """A body sent in pieces but within the bound is answered as usual (the deadline is for the whole body)."""
    env = {"MODEL_DIR": str(model_dir), "BODY_TIMEOUT_SECONDS": "30"}
    command = lambda port: uvicorn_command("lab5.app:app", port, app_dir=ROOT / "solutions")  # noqa: E731
    body = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    with serve(command, env=env) as server:
        with socket.create_connection((HOST, server.port), timeout=10) as client:
            client.sendall(
                f"POST /predictions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            )
            for start in range(0, len(body), 20):
                client.sendall(body[start : start + 20])
                time.sleep(0.05)
            answer = read_until_closed(client, 20)
    assert answer.startswith(b"HTTP/1.1 200"), f"a body sent in pieces in time was refused: {answer[:300]!r}"


# --- the middleware alone, in-process (no server, no clock but asyncio's) ---------------------------------


def stalled_call(app, chunk: bytes = b'{"a": ') -> tuple[int, dict[bytes, bytes], bytes]:
    """Call ``app`` with a POST whose body stops after ``chunk``; return status, headers and body sent."""
    import asyncio

    sent: list[dict] = []

    async def receive():
        if not getattr(receive, "gave", False):
            receive.gave = True
            return {"type": "http.request", "body": chunk, "more_body": True}
        await asyncio.sleep(3600)  # the rest of the body never comes

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=20))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def echo_app():
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/echo")
    def echo(payload: dict) -> dict:
        return payload

    return app


def test_a_stalled_body_is_a_408_through_fastapi():
    from labkit.validation_errors import limit_request_body

    app = limit_request_body(echo_app(), body_timeout=0.2)
    began = time.monotonic()
    status, headers, body = stalled_call(app)
    assert (status, headers.get(b"connection")) == (408, b"close"), (status, headers, body)
    assert b"0.2 seconds" in body and time.monotonic() - began >= 0.18


def test_a_stalled_body_read_by_an_asgi_middleware_is_a_408_not_a_500():
    """Lab 9's response cache reads the body itself, outside FastAPI's handlers: the 408 still comes out."""
    from labkit.validation_errors import limit_body_read_time

    app = echo_app()

    class ReadsTheBody:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await self.app(scope, receive, send)

    app.add_middleware(ReadsTheBody)
    limit_body_read_time(app, body_timeout=0.2)
    status, headers, body = stalled_call(app)
    assert status == 408, (status, body)


def test_the_default_bound_comes_from_the_environment(monkeypatch):
    from labkit.validation_errors import BODY_TIMEOUT, default_body_timeout

    monkeypatch.setenv("BODY_TIMEOUT_SECONDS", "2.5")
    assert default_body_timeout() == 2.5
    for odd in ("soon", "0", "-1", "nan", "inf"):
        monkeypatch.setenv("BODY_TIMEOUT_SECONDS", odd)
        assert default_body_timeout() == BODY_TIMEOUT, odd
    monkeypatch.delenv("BODY_TIMEOUT_SECONDS")
    assert default_body_timeout() == BODY_TIMEOUT
