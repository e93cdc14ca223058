"""A fork server for grading: pytest and the heavy libraries imported once, each lab run a copy-on-write fork.

Starting Python and importing pytest, FastAPI, httpx2, numpy and scikit-learn costs one to two seconds of CPU —
more than most labs' checks themselves. ``grade`` runs hundreds of lab runs, so it starts this server once; for
each run the server forks a child that becomes exactly what ``python -m pytest ARGS`` would be: its own session
and process group, the given working folder, environment, ``sys.path`` and standard streams, and only the file
descriptors it is handed. Nothing of the workbook is imported here, so each child imports the grading kit's own
copy, as a fresh interpreter would. A child cannot reach the server: it holds no descriptor to it.

Run as a script (``python workbook/isolation/fork_server.py``), never imported by the child, so ``workbook`` stays out of
``sys.modules``. With ``warm=ROOT`` (the project's own tests and ``mutate``, which grade hundreds of runs of one
repository) the server also imports ``labkit.models`` from ``ROOT`` and trains the reference models once, so that no
lab run trains them again (a second of CPU each); a child whose ``sys.path`` would find another ``labkit`` drops the
warm copy and imports its own. The protocol is on one Unix socket: the client sends a JSON request with the descriptors attached
(SCM_RIGHTS); the server answers ``{"id", "pid"}`` when the child exists and ``{"id", "exit"}`` when it ended.
:class:`ForkServer` is the client side, used by :mod:`workbook.isolation.lab_process`.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: run as a script, this module imports nothing of the workbook
    from workbook.isolation.sandbox import Limits

# Heavy and common to every lab's checks. Not the workbook (each child imports the kit's copy), and not pytest's
# plugins (pytest rewrites their asserts when it loads them, which it cannot do to a module already imported).
PRELOAD = (
    "pytest",
    "_pytest.python",
    "_pytest.fixtures",
    "_pytest.terminal",
    "_pytest.assertion.rewrite",
    "fastapi",
    "starlette.testclient",
    "httpx2",
    "asgi_lifespan",
    "pydantic",
    "pydantic_settings",
    "numpy",
    "joblib",
    "sklearn.pipeline",
    "sklearn.naive_bayes",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.preprocessing",
)
HEADER = struct.Struct("!I")
MAX_FDS = 8


def _send(sock: socket.socket, message: dict, fds: Sequence[int] = ()) -> None:
    data = json.dumps(message).encode()
    socket.send_fds(sock, [HEADER.pack(len(data)) + data], list(fds))


def _receive(sock: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, HEADER.size, MAX_FDS)
    if not data:
        return None, []
    (size,) = HEADER.unpack(data)
    body = b""
    while len(body) < size:
        chunk = sock.recv(size - len(body))
        if not chunk:
            return None, fds
        body += chunk
    return json.loads(body), fds


# --- the server --------------------------------------------------------------------------------------


def _become_pytest(request: dict, fds: list[int], server: socket.socket) -> None:
    """In the forked child: turn into ``python -m pytest ARGS`` and never return."""
    code = 1
    try:
        server.close()
        os.setsid()
        output, *passed = fds
        os.dup2(output, 1)
        os.dup2(output, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        # Descriptor numbers in the environment must be the ones this child holds.
        env = dict(request["env"])
        for name, numbers in request.get("fd_env", {}).items():
            env[name] = ":".join(str(passed[i]) for i in numbers)
        if output not in passed:
            os.close(output)
        low = 3  # close every descriptor but 0-2 and the ones passed: the server's socket above all
        for fd in sorted(passed):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(env)
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))  # read at start-up by a fresh Python
        import random
        import tempfile

        random.seed()
        tempfile.tempdir = None
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        # sys.path as `python -m pytest` run here with this PYTHONPATH would have it.
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [request["cwd"], *extra, *[p for p in sys.path[1:] if p not in extra]]
        _drop_if_elsewhere("labkit")
        # anyio (a pytest plugin package, imported here by FastAPI) is already imported, so pytest warns that it
        # cannot rewrite its asserts: true, and harmless — the checks' own asserts are rewritten as usual.
        sys.argv = ["pytest", *request["args"], "-W", "ignore::pytest.PytestAssertRewriteWarning"]
        import runpy

        try:
            runpy.run_module("pytest", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - the streams may be gone; the exit code is what matters
            pass
    finally:
        os._exit(code)


def _warm(root: str) -> None:
    """Import ``labkit.models`` from ``root`` and train its reference models (each ``@cache``d): every child then
    finds them trained, as a child that trained them itself would (the training is deterministic)."""
    sys.path.insert(0, root)
    try:
        from labkit.models import MODEL_NAMES, reference_model

        for name in MODEL_NAMES:
            reference_model(name)
    except Exception:  # noqa: BLE001 - a broken labkit is imported (and reported) by the child instead
        for name in [n for n in sys.modules if n == "labkit" or n.startswith("labkit.")]:
            del sys.modules[name]
    finally:
        sys.path.remove(root)


def _drop_if_elsewhere(package: str) -> None:
    """In the child: forget the server's warm ``package`` unless this child's ``sys.path`` finds that same copy."""
    module = sys.modules.get(package)
    if module is None:
        return
    for entry in sys.path:
        candidate = Path(entry or ".", package, "__init__.py")
        if candidate.is_file():
            if candidate.resolve() == Path(module.__file__ or "").resolve():
                return
            break
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _sweep(deadline: float = 5.0) -> list[tuple[int, int]]:
    """In a sandbox (its own PID namespace): kill every process but this server and the namespace's init.

    ``kill(-1)`` reaches every process this one may signal, itself and PID 1 excepted: inside the sandbox that is
    whatever a lab run started, detached or not, re-forking or not (a killed process forks no more).
    """
    me = os.getpid()
    end = time.monotonic() + deadline
    reaped = []
    while time.monotonic() < end:
        try:
            os.kill(-1, 9)
        except (ProcessLookupError, PermissionError):
            pass
        while True:  # reap our own children (the lab run); the rest go to PID 1, which reaps them
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            reaped.append((pid, _))
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others or all(_zombie(pid) for pid in others):
            break
        time.sleep(0.01)
    return reaped


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _set_limits(spec: str) -> None:
    import resource

    for item in filter(None, spec.split(",")):
        name, value = item.split("=")
        what = getattr(resource, name)
        _, hard = resource.getrlimit(what)
        limit = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(what, (limit, limit))


def serve(sock: socket.socket, sandboxed: bool = False, warm: str | None = None) -> None:
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a missing library is imported (and reported) by the child instead
            pass
    if warm:
        _warm(warm)
    _send(sock, {"ready": True, "pid": os.getpid()})
    children: dict[int, int] = {}  # pid -> request id
    swept: list[tuple[int, int]] = []  # children reaped by a sweep, to report
    while True:
        readable, _, _ = select.select([sock], [], [], 0.05)
        while children:
            if swept:
                pid, status = swept.pop()
            else:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
            if pid in children:
                if sandboxed:
                    swept += _sweep()  # nothing the run left behind sees the next one
                _send(sock, {"id": children.pop(pid), "exit": os.waitstatus_to_exitcode(status)})
        if not readable:
            continue
        request, fds = _receive(sock)
        if request is None:  # the client is gone: so are we
            return
        if "kill" in request:  # the grader is done with this run: end it, and all it started
            doomed = next((p for p, i in children.items() if i == request["kill"]), None)
            if doomed is not None:
                try:
                    os.killpg(doomed, 9)
                except (ProcessLookupError, PermissionError):
                    pass
                if sandboxed:
                    swept += _sweep()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_pytest(request, fds, sock)
        for fd in fds:
            os.close(fd)
        children[pid] = request["id"]
        _send(sock, {"id": request["id"], "pid": pid})


# --- the client ----------------------------------------------------------------------------------------


class ForkServerError(Exception):
    """The fork server could not start, or went away."""


class ForkedProcess:
    """The part of subprocess.Popen that lab_process uses, for a child of the fork server."""

    def __init__(self, server: ForkServer, request_id: int) -> None:
        self.server, self.id = server, request_id
        self.pid: int = 0
        self.returncode: int | None = None
        self.started = threading.Event()
        self.exited = threading.Event()

    def kill_all(self) -> None:
        """End this run and everything it started (in a sandbox: every process but the server)."""
        if self.exited.is_set():
            return
        if self.server.sandboxed:
            if not self.server.request_kill(self.id):
                self.server.destroy()  # the server is gone: the sandbox goes, with all in it
                self.exited.set()
            return
        try:
            os.killpg(self.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.exited.wait(0.05):
            if not self.server.alive and self.server.sandboxed:
                # The server ended (killed by the run?): its sandbox's PID 1 exits with it, and the kernel ends
                # every process in the namespace. Make sure, and call the run over.
                self.server.destroy()
                self.exited.set()
                break
            if not self.server.alive and self._ended_without_the_server():
                self.exited.set()
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("pytest (forked)", timeout or 0.0)
        return self.returncode

    def _ended_without_the_server(self) -> bool:
        """The server is gone (something killed it): the child is now ours, or init's, to watch."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)  # ours when we are its subreaper
        except ChildProcessError:
            return not os.path.exists(f"/proc/{self.pid}")
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)
            return True
        return False


class ForkServer:
    """The client side. With ``sandbox=(work, kit, limits)`` the server runs inside a bubblewrap sandbox
    (:mod:`workbook.isolation.sandbox`) whose writable folder is ``work``, started from the kit's own copy of this script.
    With ``warm=ROOT`` (outside a sandbox) it trains ``ROOT``'s reference models before it forks anything."""

    def __init__(self, sandbox: tuple[Path, Path, Limits] | None = None, warm: Path | None = None) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sandboxed = sandbox is not None
        self.cgroup = None
        try:
            if sandbox is None:
                script = Path(__file__).resolve()
                env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONSTARTUP"}}
                self.process = subprocess.Popen(
                    [sys.executable, str(script), str(child.fileno()), *([f"--warm:{warm}"] if warm else [])],
                    pass_fds=[child.fileno()],
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd="/",
                )
            else:
                from workbook.isolation import sandbox as os_sandbox

                work, kit, limits = sandbox
                python, _ = os_sandbox.python_paths()
                limit_spec = ",".join(f"{name}={value}" for name, value in os_sandbox.rlimits(limits))
                inner = [
                    python,
                    str(kit / "workbook" / "isolation" / "fork_server.py"),
                    str(child.fileno()),
                    "--sandboxed",
                    f"--limits:{limit_spec}",
                ]
                self.process, self.cgroup = os_sandbox.start(
                    work, kit, inner, pass_fds=(child.fileno(),), limits=limits
                )
        except OSError as exc:
            parent.close()
            raise ForkServerError(f"could not start: {exc}") from exc
        finally:
            child.close()
        self.sock = parent
        self.lock = threading.Lock()
        self.waiting: dict[int, ForkedProcess] = {}
        self.next_id = 0
        self.alive = True
        try:
            hello, _ = _receive(self.sock)
        except (OSError, ValueError):
            hello = None
        if not hello or not hello.get("ready"):
            self.destroy()
            raise ForkServerError("the fork server did not start")
        self.pid = hello["pid"]
        if self.cgroup is not None:
            self.cgroup.add_tree(self.process.pid)  # before any lab run: every run and its processes inherit it
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        try:
            while True:
                message, _ = _receive(self.sock)
                if message is None:
                    break
                process = self.waiting.get(message["id"])
                if process is None:
                    continue
                if "pid" in message:
                    process.pid = message["pid"]
                    process.started.set()
                elif "exit" in message:
                    process.returncode = message["exit"]
                    self.waiting.pop(message["id"], None)
                    process.exited.set()
        except OSError:
            pass
        # The server is gone. Runs it started go on (ForkedProcess.wait watches them itself); none can start.
        self.alive = False
        for process in list(self.waiting.values()):
            process.started.set()

    def spawn(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        output_fd: int,
        fds: list[int],
        fd_env: dict[str, list[int]],
    ) -> ForkedProcess:
        """Fork ``python -m pytest ARGS``; ``fd_env`` names environment variables to fill with the child's
        numbers for ``fds`` (by index), as ``"A:B"``."""
        if not self.alive:
            raise ForkServerError("the fork server is gone")
        with self.lock:
            self.next_id += 1
            process = ForkedProcess(self, self.next_id)
            self.waiting[process.id] = process
            _send(
                self.sock,
                {"id": process.id, "args": args, "cwd": str(cwd), "env": env, "fd_env": fd_env},
                [output_fd, *fds],
            )
        if not process.started.wait(30) or not process.pid:
            raise ForkServerError("the fork server did not start the run")
        return process

    def request_kill(self, request_id: int) -> bool:
        if not self.alive:
            return False
        try:
            with self.lock:
                _send(self.sock, {"kill": request_id})
            return True
        except OSError:
            return False

    def destroy(self) -> None:
        """Kill the server at once (in a sandbox: the sandbox, and with it every process inside)."""
        self.alive = False
        try:
            self.process.kill()
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        self.alive = False
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.cgroup is not None:
            self.cgroup.close()


if __name__ == "__main__":
    del sys.path[0]  # this script's folder, workbook/isolation/: its modules must not shadow anything a library imports
    options = dict(arg.split(":", 1) for arg in sys.argv[2:] if ":" in arg)
    if "--limits" in options:
        _set_limits(options["--limits"])  # before anything is imported: the lab runs inherit them
    serve(socket.socket(fileno=int(sys.argv[1])), sandboxed="--sandboxed" in sys.argv[2:], warm=options.get("--warm"))
