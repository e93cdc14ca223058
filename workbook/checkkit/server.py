"""Run a real server — uvicorn, gunicorn — in a subprocess on a free 127.0.0.1 port, and stop it cleanly.

The one way the workbook (checks, notebooks, the benchmark) runs a real server::

    from workbook.checkkit.server import serve, uvicorn_command

    with serve(lambda port: uvicorn_command("lab9.app:app", port, app_dir="labs")) as server:
        httpx2.get(f"{server.url}/health")
    print(server.returncode, server.has_traceback)   # 0 False after a clean shutdown

``serve`` picks a free port, starts the command, waits until ``GET ready_path`` answers 200 (or the process
dies, or ``startup_timeout`` passes: then it raises :class:`ServerError` with the server's output), and on
leaving sends SIGTERM — uvicorn and gunicorn both shut down gracefully on it, running the app's lifespan
shutdown — and waits for the exit code. Only a server that ignores SIGTERM is killed (and then
``returncode`` is negative). The server's output goes to a file, never a pipe: a chatty server cannot
block on a full pipe while nobody reads it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

HOST = "127.0.0.1"
TRACEBACK = "Traceback (most recent call last)"
ADDRESS_IN_USE = "address already in use"
CLEAN_EXIT_CODES = (0, -signal.SIGTERM)


class ServerError(RuntimeError):
    """The server did not start (its output is in the message), or did not stop."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def uvicorn_command(
    app: str,
    port: int,
    *,
    app_dir: str | Path | None = None,
    workers: int = 1,
    factory: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """``python -m uvicorn APP`` on 127.0.0.1:``port``, access log off (it would cost more than the app)."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "10",
    ]
    if app_dir is not None:
        command += ["--app-dir", str(app_dir)]
    if factory:
        command.append("--factory")
    return command + list(extra)


def gunicorn_command(
    app: str,
    port: int,
    *,
    pythonpath: str | Path | None = None,
    workers: int = 1,
    worker_class: str = "sync",
    threads: int = 1,
    extra: Sequence[str] = (),
) -> list[str]:
    """``python -m gunicorn APP`` on 127.0.0.1:``port``.

    ``worker_class="uvicorn_worker.UvicornWorker"`` serves an ASGI app (FastAPI): the worker class lives in
    the ``uvicorn-worker`` package now; ``uvicorn.workers`` is deprecated. The default ``sync`` class serves
    a WSGI app (Flask), one request at a time per worker.
    """
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    if pythonpath is not None:
        command += ["--pythonpath", str(pythonpath)]
    return command + list(extra)


@dataclass
class ServerProcess:
    """A running (or finished) server started by :func:`serve`."""

    command: list[str]
    port: int
    process: subprocess.Popen
    log_path: Path
    returncode: int | None = None
    startup_seconds: float = 0.0
    killed: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        """Everything the server printed so far (stdout and stderr together)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def has_traceback(self) -> bool:
        return TRACEBACK in self.output

    @property
    def stopped_cleanly(self) -> bool:
        """Stopped by SIGTERM without being killed, with a clean exit code and no traceback in the output.

        A clean exit code is 0, or -SIGTERM: a single uvicorn process shuts down gracefully and then
        re-raises the signal it caught, on purpose, so that its parent sees why it ended.
        """
        return self.returncode in CLEAN_EXIT_CODES and not self.killed and not self.has_traceback

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then wait up to ``timeout`` s for the exit code; kill the process group only if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                _kill_group(self.process)
                self.process.wait(5)
        # Workers of a supervisor that was itself killed could outlive it: end the group we started.
        _kill_group(self.process)
        self.returncode = self.process.returncode
        return self.returncode


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the session started for this server only
    except (ProcessLookupError, PermissionError):
        pass


def wait_until_ready(server: ServerProcess, ready_path: str, timeout: float) -> None:
    """Poll ``GET ready_path`` until it answers 200; raise ServerError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    with httpx2.Client(base_url=server.url, timeout=2.0, trust_env=False) as client:
        while True:
            if not server.alive():
                raise ServerError(
                    f"the server exited with code {server.process.returncode} before it was "
                    f"ready:\n$ {' '.join(server.command)}\n{server.output[-3000:]}"
                )
            try:
                if client.get(ready_path).status_code == 200:
                    return
            except httpx2.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the server did not answer GET {ready_path} with 200 within {timeout:g} s:"
                    f"\n$ {' '.join(server.command)}\n{server.output[-3000:]}"
                )
            time.sleep(0.1)


def start(
    command_for_port: Callable[[int], list[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    ready_path: str = "/health",
    startup_timeout: float = 60.0,
    log_dir: str | Path | None = None,
    attempts: int = 3,
) -> ServerProcess:
    """Start the server and wait until it is ready; the caller must :meth:`ServerProcess.stop` it.

    Another process can take the free port between the probe and the server's bind; then the server
    reports "address already in use" and a new port is tried, up to ``attempts`` times.
    """
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="workbook-server-"))
    for attempt in range(1, attempts + 1):
        port = free_port()
        command = command_for_port(port)
        log_path = log_dir / f"server-{port}.log"
        began = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        server = ServerProcess(command=command, port=port, process=process, log_path=log_path)
        try:
            wait_until_ready(server, ready_path, startup_timeout)
        except ServerError:
            server.stop()
            if attempt < attempts and ADDRESS_IN_USE in server.output.lower():
                continue
            raise
        server.startup_seconds = time.monotonic() - began
        return server
    raise AssertionError("unreachable")


@contextmanager
def serve(command_for_port: Callable[[int], list[str]], **kwargs) -> Iterator[ServerProcess]:
    """:func:`start` the server for the ``with`` block and stop it at the end, even on an error."""
    server = start(command_for_port, **kwargs)
    try:
        yield server
    finally:
        server.stop()
