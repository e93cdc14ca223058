"""Run a program that starts Ray in network and PID namespaces of its own: loopback only, and nothing left over.

Ray ignores ``--node-ip-address=127.0.0.1`` on a machine with a network interface: its GCS, raylet and agents
bind every interface. In a new network namespace holding only ``lo`` they have nowhere else to go, so a
lab's Ray is reachable from that namespace alone (the program runs its HTTP client there too). The new PID
namespace makes the program its process 1: when it ends — or is killed, or ``unshare`` is — the kernel ends
every process it left behind (raylet, GCS, workers, replicas), whatever state Ray was in.

Used by lab 12's checks (``checks/lab12/conftest.py``) and notebook; needs ``unshare`` (util-linux) and
unprivileged user namespaces, which ``doctor``-style messages name when they are missing.

Inside class grading's sandbox (bubblewrap, all capabilities dropped) no namespace can be made, and none is needed:
that sandbox's network already holds only ``lo``, and its end ends every process of the run. There the program runs
as it is, in a process group of its own that is killed when it ends (:func:`already_isolated`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence

# Ray, bounded and quiet: no usage reporting; the raylet waits longer than its default 15 s for its agents,
# which a busy 2-core machine needs (seen here at a load of 18: "Timed out waiting for file ... metrics_agent_port").
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # token authentication guards a cluster others can reach; in a loopback-only namespace nobody else can, and a
    # token would be written to (and read from) ~/.ray, outside the run
    "RAY_AUTH_MODE": "disabled",
    "RAY_agent_register_timeout_ms": "120000",
    "RAY_raylet_start_wait_time_s": "120",
}


class SandboxUnavailable(RuntimeError):
    """This machine cannot make the namespaces (no ``unshare``, or user namespaces are off)."""


def already_isolated() -> bool:
    """Whether this process runs where the network holds only loopback and no user namespace can be made (class
    grading's sandbox): the isolation :func:`isolated_command` would make is there already."""
    try:
        with open("/proc/net/dev", encoding="utf-8") as table:
            interfaces = {line.split(":", 1)[0].strip() for line in table.readlines()[2:]}
    except OSError:
        return False
    if interfaces - {"lo"} or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True, check=False)
    return probe.returncode != 0


def isolated_command(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped to run as process 1 of new user, network (loopback up) and PID namespaces; ``argv`` as it
    is where that isolation exists already (:func:`already_isolated`)."""
    if already_isolated():
        return list(argv)
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise SandboxUnavailable("Ray runs in a network namespace of its own: install util-linux and iproute2")
    return [
        "unshare",
        "--user",
        "--map-root-user",
        "--net",
        "--pid",
        "--kill-child",
        "--mount-proc",
        "sh",
        "-c",
        'ip link set lo up && exec "$@"',
        "sh",
        *argv,
    ]


def run_isolated(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float, cwd: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``argv`` isolated (stdout and stderr captured, both in ``stdout``); after ``timeout`` seconds it is
    killed, with every process it started, and ``returncode`` is -9."""
    full_env = {**os.environ, **RAY_ENV, **(env or {})}
    process = subprocess.Popen(
        isolated_command(argv),
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(argv, process.returncode, output, "")
    except BaseException:
        end(process)
        output, _ = process.communicate()
        return subprocess.CompletedProcess(argv, -signal.SIGKILL, output, "")
    finally:
        _end_group(process.pid)  # what it left in its process group (Ray's daemons, when run without namespaces)


def _end_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left: the usual case, where the namespace took everything with it


def end(process: subprocess.Popen) -> None:
    """End ``unshare`` and so its namespace. ``unshare --fork`` ignores SIGTERM, so SIGKILL: ``--kill-child``
    then kills process 1 (a parent-death signal), and with it the kernel ends every process of the namespace."""
    if process.poll() is None:
        _end_group(process.pid)
    process.wait()
