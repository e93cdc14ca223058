"""The operating-system sandbox ``grade`` runs every submission in: bubblewrap (``bwrap``), no root needed.

One sandbox per submission (:class:`Sandbox`): a fork server (:mod:`workbook.isolation.fork_server`) started inside
it, and each of the submission's lab runs forked from that server, one after the other. What the sandbox sees
(the system and the venv read-only, a read-only kit, one writable folder), its namespaces, its resource limits, how
runs are kept apart and what it does not cover: the threat model, ``docs/grading-threat-model.md`` ("The sandbox"
and the sections after it). Change the two together.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "apt-get install bubblewrap   (Debian/Ubuntu; Fedora: dnf install bubblewrap)"
SYSTEM_DIRS = ("/usr",)
# Of /etc, only what programs and libraries read to run: not shadow, ssh keys or other secrets the grading
# user (root, maybe) can read.
ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "protocols",
    "services",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
    "mime.types",
    "os-release",
    "debian_version",
    "fonts",
    "gai.conf",
    "xdg",
)
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 6 * 2**30  # address space per process (numpy and BLAS reserve much more than they use)
    cgroup_memory_bytes: int = 3 * 2**30  # resident memory of the whole sandbox, when a cgroup can be made
    processes: int = 4096  # tasks, threads included: lab 12 starts a Ray (hundreds of threads); 256 stopped it
    open_files: int = 1024
    file_bytes: int = 256 * 2**20
    cpu_seconds: int = 3600  # a backstop: the grader's wall-clock limits end runs much sooner

    def describe(self) -> str:
        return (
            f"{self.memory_bytes // 2**30} GB address space a process, {self.processes} processes, "
            f"{self.open_files} open files, {self.file_bytes // 2**20} MB a file, {self.cpu_seconds} s of CPU"
        )


class SandboxError(Exception):
    """The sandbox cannot be used here (the message says why and how to fix it)."""


def bwrap() -> str | None:
    return shutil.which("bwrap")


def python_paths() -> tuple[str, list[str]]:
    """The interpreter to run inside, and the folders it needs (the venv and the installation it points to)."""
    executable = os.path.realpath(sys.executable)
    venv = os.path.realpath(sys.prefix)
    base = os.path.realpath(sys.base_prefix)
    executable_in_venv = os.path.join(venv, "bin", os.path.basename(sys.executable))
    folders = sorted({venv, base, os.path.dirname(executable)}, key=len)
    # Keep only the outermost of nested folders.
    kept: list[str] = []
    for folder in folders:
        if not any(folder == k or folder.startswith(k + os.sep) for k in kept):
            kept.append(folder)
    python = executable_in_venv if os.path.exists(executable_in_venv) else executable
    return python, kept


def command(work: Path, kit: Path, inner: list[str], *, python_folders: list[str]) -> list[str]:
    """The ``bwrap`` command line for a sandbox whose writable folder is ``work`` and read-only kit ``kit``."""
    binary = bwrap()
    if binary is None:
        raise SandboxError(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    args = [
        binary,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--tmpfs",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
    ]
    for folder in SYSTEM_DIRS:
        if os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for name in ETC:
        path = os.path.join("/etc", name)
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for folder in python_folders:
        if not any(folder == d or folder.startswith(d + os.sep) for d in SYSTEM_DIRS):
            args += ["--ro-bind", folder, folder]
    args += [
        "--bind",
        str(work),
        str(work),
        "--ro-bind",
        str(kit),
        str(kit),
        "--chdir",
        str(work),
        "--clearenv",
        "--setenv",
        "PATH",
        SANDBOX_PATH,
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--setenv",
        "HOME",
        str(work),
        "--setenv",
        "TMPDIR",
        str(work),
        "--setenv",
        "PYTHONDONTWRITEBYTECODE",
        "1",
        "--",
    ]
    return args + inner


def scrubbed_environment(kit: Path, scratch: Path) -> dict[str, str]:
    """The whole environment of a lab run in the sandbox: nothing of the instructor's shell."""
    python, _ = python_paths()
    return {
        "PATH": f"{os.path.dirname(python)}:{SANDBOX_PATH}",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "PYTHONPATH": str(kit),
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0" if os.environ.get("PYTHONHASHSEED") == "0" else "random",
    }


class _Cgroup:
    """A v1 or v2 cgroup limiting processes and memory, when this user may make one (else nothing)."""

    def __init__(self, limits: Limits) -> None:
        self.paths: list[Path] = []
        name = f"workbook-grade-{uuid.uuid4().hex[:12]}"
        candidates = [
            (Path("/sys/fs/cgroup/pids"), {"pids.max": limits.processes}),
            (Path("/sys/fs/cgroup/memory"), {"memory.limit_in_bytes": limits.cgroup_memory_bytes}),
        ]
        unified = Path("/sys/fs/cgroup/cgroup.subtree_control")
        if unified.exists():
            candidates = [
                (Path("/sys/fs/cgroup"), {"pids.max": limits.processes, "memory.max": limits.cgroup_memory_bytes})
            ]
        for base, settings in candidates:
            try:
                path = base / name
                path.mkdir()
            except OSError:
                continue
            try:
                for key, value in settings.items():
                    (path / key).write_text(str(value))
                self.paths.append(path)
            except OSError:
                self._remove(path)

    def add_tree(self, root_pid: int) -> None:
        """Move ``root_pid`` and its descendants (the sandbox, before any lab run) into the cgroups."""
        pids, todo = [], [root_pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                children = []
            todo += [int(child) for child in children]
        for path in self.paths:
            for pid in pids:
                try:
                    (path / "cgroup.procs").write_text(str(pid))
                except OSError:
                    pass

    def close(self) -> None:
        for path in self.paths:
            self._remove(path)
        self.paths = []

    @staticmethod
    def _remove(path: Path) -> None:
        for _ in range(50):
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                import time

                time.sleep(0.02)  # the last processes are still leaving


def rlimits(limits: Limits) -> list[tuple[str, int]]:
    """The limits the fork server sets on itself inside the sandbox, before it imports anything: every lab run
    and every process a run starts inherits them (``RLIMIT_NPROC`` only when not root, where it applies)."""
    chosen = [
        ("RLIMIT_AS", limits.memory_bytes),
        ("RLIMIT_NOFILE", limits.open_files),
        ("RLIMIT_FSIZE", limits.file_bytes),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_CPU", limits.cpu_seconds),
    ]
    if os.getuid() != 0:
        chosen.append(("RLIMIT_NPROC", limits.processes + len(os.listdir("/proc"))))
    return chosen


def start(
    work: Path,
    kit: Path,
    inner: list[str],
    *,
    pass_fds: tuple[int, ...],
    limits: Limits,
) -> tuple[subprocess.Popen, _Cgroup]:
    """Start ``inner`` (argv inside the sandbox) in a sandbox; return the ``bwrap`` process and its cgroup."""
    _, folders = python_paths()
    cgroup = _Cgroup(limits)
    try:
        process = subprocess.Popen(
            command(work, kit, inner, python_folders=folders),
            pass_fds=pass_fds,
            stdin=subprocess.DEVNULL,
            env={"PATH": SANDBOX_PATH},
            cwd="/",
        )
    except BaseException:
        cgroup.close()
        raise
    return process, cgroup


def probe(timeout: float = 20.0) -> str | None:
    """None when a sandbox works on this machine; otherwise why not (for ``grade`` and ``doctor``)."""
    if bwrap() is None:
        return f"bubblewrap (bwrap) is not installed; install it: {INSTALL_HINT}"
    import tempfile

    python, folders = python_paths()
    with tempfile.TemporaryDirectory(prefix="workbook-sandbox-probe-") as tmp:
        work, kit = Path(tmp) / "work", Path(tmp) / "kit"
        work.mkdir()
        kit.mkdir()
        script = (
            "import os, socket, sys\n"
            "assert not os.path.exists(sys.argv[1]), 'the outside is visible'\n"
            "open(os.path.join(sys.argv[2], 'w'), 'w').write('ok')\n"
            "s = socket.socket()\n"
            "try:\n    s.connect(('1.1.1.1', 53)); raise SystemExit('the network is reachable')\n"
            "except OSError:\n    pass\n"
            "assert os.getpid() < 10, 'no PID namespace'\n"
        )
        (Path(tmp) / "outside").touch()
        try:
            done = subprocess.run(
                command(
                    work, kit, [python, "-c", script, str(Path(tmp) / "outside"), str(work)], python_folders=folders
                ),
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap did not run: {exc}"
        wrote = (work / "w").exists() and (work / "w").read_text() == "ok"
        if done.returncode != 0 or not wrote:
            detail = (done.stderr or done.stdout).strip().splitlines()
            return (
                "bwrap is installed but cannot make a sandbox here: "
                + (detail[-1] if detail else f"exit code {done.returncode}")
                + " (unprivileged user namespaces may be disabled: sysctl kernel.unprivileged_userns_clone=1)"
            )
    return None
