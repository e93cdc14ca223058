"""Run the graded checks in a separate pytest process and read back the grader's JSON.

The project's tests never import student or solution code themselves: every verdict comes from the same
grader a student runs, in its own process, so one broken target cannot disturb another.

A run is either a fresh ``python -m pytest`` (what a student runs) or, with ``fork=True``, forked from a warm
process that has already imported pytest, FastAPI and scikit-learn (:mod:`workbook.isolation.fork_server`, how ``grade``
and ``mutate`` grade): the same command in a copy-on-write child, a second or two of start-up cheaper. Either way
no run has a fixed wall-clock budget: it is stopped only when it makes no progress (see :class:`ProgressWatch`), so
a loaded machine makes a run slower, never an error.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.progress import ENV_VAR as PROGRESS_ENV
from workbook.paths import ROOT

# Seconds a run may go without starting or finishing a check (start-up, collection, training the reference
# models, writing the report): far more than any of these takes on a loaded 2-core machine.
IDLE_SECONDS = 240.0
# A check may run this long past its own timeout (STALL_FACTOR × timeout + STALL_GRACE) before the run counts as
# stuck: the grader interrupts it at its timeout and ends the process soon after if it cannot.
STALL_FACTOR, STALL_GRACE = 2.0, 120.0
# pytest-timeout for a test whose runs are watched: a last resort should the watch itself fail, far beyond what a
# run that makes progress takes on a loaded machine (pytest.mark.timeout(runner.BACKSTOP)).
BACKSTOP = 3000
POLL = 0.5
ENV_DROPPED = (
    "WORKBOOK_TARGET",
    "PYTEST_ADDOPTS",
    "PYTEST_CURRENT_TEST",
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
)


@dataclass
class GradeRun:
    returncode: int
    output: str
    grade: dict

    def by_name(self) -> dict[str, dict]:
        return {check["name"]: check for check in self.grade["checks"]}

    def statuses(self) -> dict[str, str]:
        return {check["name"]: check["status"] for check in self.grade["checks"]}


class NoProgress(AssertionError):
    """A run stopped because it made no progress."""


class ProgressWatch:
    """Reads a run's progress file (``tests/support/progress.py``): is the run still getting somewhere?

    Stuck means: the check that is running has outlived ``STALL_FACTOR`` × its own timeout + ``STALL_GRACE``,
    or no check is running and nothing has started or finished for ``idle`` seconds.
    """

    def __init__(self, path: Path, idle: float) -> None:
        self.path, self.idle = path, idle
        self.offset, self.pending = 0, ""
        self.running: tuple[str, float] | None = None  # (nodeid, its timeout)
        self.since = time.monotonic()
        self.done = 0

    def stuck(self) -> str | None:
        try:
            with self.path.open("r", encoding="utf-8") as handle:
                handle.seek(self.offset)
                data = handle.read()
                self.offset = handle.tell()
        except OSError:
            data = ""
        if data:
            complete, _, self.pending = (self.pending + data).rpartition("\n")
            for line in complete.splitlines():
                self._line(line)
        elapsed = time.monotonic() - self.since
        if self.running is not None:
            nodeid, timeout = self.running
            if timeout > 0 and elapsed > STALL_FACTOR * timeout + STALL_GRACE:
                return f"{nodeid} was still running {elapsed:.0f} s after it started (its timeout: {timeout:g} s)"
            return None
        if elapsed > self.idle:
            return f"no check started or finished for {elapsed:.0f} s ({self.done} finished)"
        return None

    def _line(self, line: str) -> None:
        kind, _, rest = line.partition(" ")
        if kind == "start":
            timeout, _, nodeid = rest.partition(" ")
            self.running = (nodeid, float(timeout or 0))
        elif kind == "end":
            self.running = None
            self.done += 1
        self.since = time.monotonic()


# --- the fork server: one per process that grades (each xdist worker has its own) -------------------------

_SERVER = None
_SERVER_LOCK = threading.Lock()


def fork_server():
    """The warm process mistakes are forked from, started on first use; None where there is none (not Linux)."""
    global _SERVER
    from workbook.isolation.fork_server import ForkServer, ForkServerError

    with _SERVER_LOCK:
        if _SERVER is not None and not _SERVER.alive:
            _SERVER.close()
            _SERVER = None
        if _SERVER is None and sys.platform.startswith("linux"):
            try:
                _SERVER = ForkServer(warm=ROOT)  # the reference models trained once, not in every run
            except (OSError, ForkServerError):
                return None
            atexit.register(_SERVER.close)
        return _SERVER


class _Output:
    """Reads a stream to its end in a thread; a process that prints without end cannot fill memory."""

    LIMIT = 4_000_000

    def __init__(self, stream) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        with stream:
            for chunk in iter(lambda: stream.read1(65536), b""):
                if self.size < self.LIMIT:
                    self.chunks.append(chunk)
                    self.size += len(chunk)

    def text(self) -> str:
        self.thread.join(timeout=5)  # something the run detached may still hold the pipe
        return b"".join(self.chunks).decode("utf-8", errors="replace")


def _start(args: list[str], env: dict[str, str], fork: bool):
    """(process, its output stream, a function that kills its process group)."""
    server = fork_server() if fork else None
    if server is not None:
        from workbook.isolation.fork_server import ForkServerError

        read, write = os.pipe()
        try:
            process = server.spawn(args, cwd=ROOT, env=env, output_fd=write, fds=[], fd_env={})
        except ForkServerError:
            os.close(read)
            server = None  # gone: this run starts the ordinary way
        else:
            return process, os.fdopen(read, "rb"), process.kill_all
        finally:
            os.close(write)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def kill() -> None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    return process, process.stdout, kill


def run_checks(
    *paths: str, target: str | Path, extra: tuple[str, ...] = (), fork: bool = False, idle: float = IDLE_SECONDS
) -> GradeRun:
    """``pytest PATHS --target TARGET --grade-json …`` in a process of its own; stopped only when it makes no
    progress (no check started or finished for ``idle`` seconds, or one far past its own timeout)."""
    with tempfile.TemporaryDirectory() as scratch:
        out, progress = Path(scratch) / "grade.json", Path(scratch) / "progress"
        progress.touch()
        args = [
            *paths,
            "--target",
            str(target),
            "--grade-json",
            str(out),
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.support.progress",
            *extra,
        ]
        env = {k: v for k, v in os.environ.items() if k not in ENV_DROPPED}
        env[PROGRESS_ENV] = str(progress)
        process, stream, kill = _start(args, env, fork)
        output = _Output(stream)
        watch = ProgressWatch(progress, idle)
        stuck = None
        try:
            while True:
                try:
                    process.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if (stuck := watch.stuck()) is not None:
                    break
        finally:
            kill()  # whatever the run started and left behind in its process group
            process.wait()
        text = output.text()
        if stuck is not None:
            raise NoProgress(f"the checks' run ({' '.join(paths)} on {target}) was stopped: {stuck}\n{text[-4000:]}")
        if not out.exists():
            raise AssertionError(f"the grader wrote no JSON (exit {process.returncode}):\n{text[-4000:]}")
        return GradeRun(process.returncode, text, json.loads(out.read_text()))


# Seconds a command that reports as it goes (`mutate`: a line per mutant; `grade`: a line per submission) may go
# without printing a line before it counts as stuck.
LINE_IDLE_SECONDS = 600.0


class WatchedCommand:
    """A command whose output lines show its progress: it may take as long as it needs, but is stopped once it has
    printed no line for ``idle`` seconds (``stuck`` then says so). Use as a context manager, then ``result()``."""

    def __init__(
        self, command: list[str], *, env: dict[str, str], idle: float = LINE_IDLE_SECONDS, cwd: Path = ROOT
    ) -> None:
        self.idle = idle
        self.stuck: str | None = None
        self.last = time.monotonic()
        self.streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        self.readers = [
            threading.Thread(target=self._read, args=(stream, self.streams[name]), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self.readers:
            reader.start()

    def _read(self, stream, lines: list[str]) -> None:
        with stream:
            for line in stream:
                lines.append(line)
                self.last = time.monotonic()

    def running(self) -> bool:
        """Still going? Stops the command (SIGTERM, then SIGKILL) once it has been silent for too long."""
        if self.process.poll() is not None:
            return False
        silent = time.monotonic() - self.last
        if silent > self.idle:
            self.stuck = f"it printed nothing for {silent:.0f} s"
            self.process.terminate()  # mutate and grade stop the runs in flight on SIGTERM
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
            return False
        return True

    def result(self) -> subprocess.CompletedProcess:
        while self.running():
            time.sleep(POLL)
        self.process.wait()
        for reader in self.readers:
            reader.join(timeout=5)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, "".join(self.streams["stdout"]), "".join(self.streams["stderr"])
        )

    def __enter__(self) -> WatchedCommand:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run_watched(
    command: list[str], *, env: dict[str, str], idle: float = LINE_IDLE_SECONDS, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run ``command`` to its end, stopping it only when it prints no line for ``idle`` seconds (then the result's
    ``stuck`` attribute says so, and its returncode is not 0)."""
    with WatchedCommand(command, env=env, idle=idle, cwd=cwd) as watched:
        done = watched.result()
    done.stuck = watched.stuck
    return done


@functools.cache
def planned(lab: str) -> dict:
    """The grader's JSON for a lab's checks collected but not run: every check it would grade, with its points."""
    return run_checks(f"checks/{lab}", target="solutions", extra=("--collect-only",), fork=True).grade


def lab_points(lab: str) -> float:
    """The points a lab's checks are worth (as the grader plans them: parametrised checks count once per case), so
    that tests follow the checks as they grow instead of repeating today's totals."""
    return float(planned(lab)["max_points"])
