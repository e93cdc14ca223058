"""Run one lab's checks in a pytest process of its own, with a wall-clock limit, and read back what happened.

``grade``, ``status`` and ``watch`` all run checks this way. The results do not come from the process's output
or exit code (anything running in it can print or exit) but from :mod:`workbook.isolation.result_channel`: signed
records in an unnamed file that the process inherits. A check the process never reported on — it crashed,
called ``os._exit``, or ran out of time — counts as failed, with a message saying why.

One process per lab: a lab whose code hangs, exits or tampers with pytest cannot touch another lab's results.
While it runs, the channel is watched: a check still running long after its own timeout (the code blocks, or
ignores pytest-timeout's signal) stops the run there, so a hang costs seconds, not the whole wall-clock limit.
``grade`` passes a :class:`~workbook.isolation.fork_server.ForkServer`, so each run is forked from a Python that has
already imported pytest and the libraries, instead of starting one.
"""

from __future__ import annotations

import collections
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbook import catalog, results
from workbook.isolation import result_channel
from workbook.isolation.fork_server import ForkServer, ForkServerError
from workbook.paths import ROOT
from workbook.results import CheckResult, Status

OUTPUT_HEAD = OUTPUT_TAIL = 32_000  # characters of a run's output kept for its log
POLL = 0.5  # seconds between two looks at a running process's channel
# A check still running this long after its own timeout (factor × timeout + grace) was not stopped by
# pytest-timeout — the code blocks or ignores the signal — and will not finish: the run is stopped there.
STALL_FACTOR, STALL_GRACE = 2.0, 10.0
# The grader ends a run itself when a check is still running 30 s past its timeout (workbook.grader.plugin's
# TIMEOUT_LAST_RESORT): look before that, so that the note names the check instead of "the process ended early".
STALL_BEFORE_LAST_RESORT = 20.0


def stall_limit(timeout: float) -> float:
    """Seconds after its start when a check with this timeout counts as stuck."""
    return min(STALL_FACTOR * timeout + STALL_GRACE, timeout + STALL_BEFORE_LAST_RESORT)


CHANNEL_LIMIT = 16 * 1024 * 1024  # bytes of the channel file read back; the plugin writes a few KB
ENV_DROPPED = (
    "WORKBOOK_TARGET",
    "PYTEST_ADDOPTS",
    "PYTEST_PLUGINS",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONHOME",
    "PYTHONINSPECT",
    result_channel.ENV_VAR,
)

# Statuses this module gives beyond the grader's (workbook.results.Status). A graded-by-instructor check (one
# that cannot grade here, e.g. Task 10.6 from a kit without solutions/lab10) is taken as it comes and, like any
# status but pass, earns nothing while its points stay in the max; `status` (a student's view) leaves it out.
BY_INSTRUCTOR, NO_RESULT, MISSING = Status.BY_INSTRUCTOR, Status.NO_RESULT, Status.MISSING
TAMPERED, REVIEW = Status.TAMPERED, Status.REVIEW


@dataclass(frozen=True)
class PlannedCheck:
    nodeid: str
    name: str
    lab: str
    task: str
    points: float
    timeout: float | None = None

    @classmethod
    def from_record(cls, record: dict) -> PlannedCheck:
        return cls(
            nodeid=record["nodeid"],
            name=record["name"],
            lab=catalog.lab_of(record["task"]),
            task=record["task"],
            points=float(record["points"]),
            timeout=record.get("timeout"),
        )


@dataclass
class LabRun:
    lab: str
    checks: list[CheckResult]
    duration: float
    returncode: int | None = None
    killed: bool = False  # stopped at the wall-clock limit
    finished: bool = False  # the pytest session reported its end
    tampered: bool = False
    notes: list[str] = field(default_factory=list)
    output: str = ""
    review: list[str] = field(default_factory=list)  # reasons for the instructor to look (status "review")

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.checks)


@dataclass
class RawRun:
    returncode: int | None
    killed: bool
    duration: float
    records: result_channel.Records
    output: str
    stalled: str | None = None  # the check that outlived its own timeout, when that is why the run was stopped
    stalled_after: float = 0.0


class ProcessKeeper:
    """Kills what a run leaves behind, including processes that left its process group.

    On Linux the grading process becomes a *child subreaper*: a process that a check's code detached
    (double fork, ``setsid``) is re-parented to us when its parent dies, instead of to init, so it can be
    found and killed. Elsewhere only the run's process group is killed.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active: set[int] = set()
        self.subreaper = False

    def become_subreaper(self) -> bool:
        if not sys.platform.startswith("linux"):
            return False
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_child_subreaper = 36
            self.subreaper = libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            self.subreaper = False
        return self.subreaper

    def reap_orphans(self) -> int:
        """Kill and reap our children that no run is waiting for; return how many."""
        if not self.subreaper:
            return 0
        killed = 0
        with self.lock:
            for pid in _children_of(os.getpid()):
                if pid in self.active:
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    killed += 1
                except (ProcessLookupError, ChildProcessError):
                    pass
        return killed


def _children_of(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name, in parentheses, may contain spaces: the fields we need follow the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            children.append(int(entry.name))
    return children


def child_environment(kit: Path, scratch: Path | None) -> dict[str, str]:
    """The environment of a checks process: the caller's, minus what could redirect pytest or Python."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROPPED}
    env["PYTHONPATH"] = str(kit)  # the kit's own workbook package, whatever is installed
    env.setdefault("MPLBACKEND", "Agg")
    if scratch is not None:
        # A throwaway home: what the code under test writes stays in this run's folder.
        for name in ("HOME", "TMPDIR"):
            env[name] = str(scratch)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def pytest_command(
    kit: Path,
    paths: list[str],
    target: Path,
    basetemp: Path,
    *,
    check_timeout: float | None = None,
    collect_only: bool = False,
    quiet: bool = True,
) -> list[str]:
    """pytest on the kit's checks only: its own config file and rootdir, conftest files only from inside it."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        *paths,
        "-c",
        str(kit / "pyproject.toml"),
        "--rootdir",
        str(kit),
        "--confcutdir",
        str(kit),
        "-p",
        "no:cacheprovider",
        "-p",
        "workbook.isolation.result_channel",
        "--target",
        str(target),
        "--basetemp",
        str(basetemp),
        "--color",
        "no",
    ]
    if quiet:
        command += ["-q", "--no-header"]
    if check_timeout is not None:
        command += ["--check-timeout", f"{check_timeout:g}"]
    if collect_only:
        command.append("--collect-only")
    return command


class _OutputTail:
    """Keeps the head and the tail of a stream, so a run that prints without end cannot fill memory."""

    def __init__(self, stream) -> None:
        self.head: list[str] = []
        self.head_size = 0
        self.tail: collections.deque[str] = collections.deque()
        self.tail_size = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        with stream:
            self._keep(stream)

    def _keep(self, stream) -> None:
        for chunk in iter(lambda: stream.read(4096), b""):
            text = chunk.decode("utf-8", errors="replace")
            if self.head_size < OUTPUT_HEAD:
                self.head.append(text)
                self.head_size += len(text)
                continue
            self.tail.append(text)
            self.tail_size += len(text)
            while self.tail_size > OUTPUT_TAIL and len(self.tail) > 1:
                self.tail_size -= len(self.tail[0])
                self.dropped += len(self.tail.popleft())

    def text(self) -> str:
        self.thread.join(timeout=1.0)  # a detached process may still hold the pipe: do not wait for it
        middle = f"\n[… {self.dropped} characters of output left out …]\n" if self.dropped else ""
        return "".join(self.head) + middle + "".join(self.tail)


def _start(
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    channel_fd: int,
    key_read: int,
    capture: bool,
    keeper: ProcessKeeper,
    fork_server: ForkServer | None,
):
    """Start pytest — forked from the fork server when there is one — and return (process, its output)."""
    if fork_server is not None and capture and command[1:3] == ["-m", "pytest"]:
        output_read, output_write = os.pipe()
        try:
            with keeper.lock:
                process = fork_server.spawn(
                    command[3:],
                    cwd=cwd,
                    env=env,
                    output_fd=output_write,
                    fds=[channel_fd, key_read],
                    fd_env={result_channel.ENV_VAR: [0, 1]},
                )
                if not fork_server.sandboxed:  # a sandbox's PIDs are its own, not this machine's
                    keeper.active.add(process.pid)  # if the server dies, the run becomes our child: not an orphan
            return process, os.fdopen(output_read, "rb")
        except ForkServerError:
            os.close(output_read)  # the server is gone: start this run the ordinary way
            if fork_server.sandboxed:
                raise  # never outside the sandbox: the caller starts a new one
        finally:
            os.close(output_write)
    env = {**env, result_channel.ENV_VAR: f"{channel_fd}:{key_read}"}
    with keeper.lock:
        popen = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            pass_fds=(channel_fd, key_read),
            start_new_session=True,
        )
        keeper.active.add(popen.pid)
    return popen, popen.stdout


def run_pytest(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    wall_limit: float,
    capture: bool = True,
    keeper: ProcessKeeper | None = None,
    fork_server: ForkServer | None = None,
) -> RawRun:
    """Start pytest with a fresh result channel, wait at most ``wall_limit`` seconds, read the channel."""
    key = secrets.token_bytes(result_channel.KEY_BYTES)
    key_read, key_write = os.pipe()
    os.write(key_write, key)
    os.close(key_write)
    with tempfile.TemporaryFile() as channel:  # unnamed: no path for anything to find and write to
        keeper = keeper or ProcessKeeper()
        start = time.perf_counter()
        try:
            process, stream = _start(command, cwd, env, channel.fileno(), key_read, capture, keeper, fork_server)
        finally:
            os.close(key_read)
        output = _OutputTail(stream) if capture else None
        killed, stalled, stalled_after = False, None, 0.0
        watch = _StallWatch(channel.fileno(), key)
        try:
            while True:
                try:
                    process.wait(timeout=POLL)
                    break
                except subprocess.TimeoutExpired:
                    pass
                elapsed = time.perf_counter() - start
                if elapsed >= wall_limit:
                    killed = True
                    break
                if (stuck := watch.stuck()) is not None:
                    killed, stalled, stalled_after = True, stuck[0], stuck[1]
                    break
        except KeyboardInterrupt:
            _kill_group(process)
            raise
        finally:
            _kill_group(process)  # whatever the run started and left behind in its group (or sandbox)
            process.wait()
            if not getattr(getattr(process, "server", None), "sandboxed", False):
                with keeper.lock:
                    keeper.active.discard(process.pid)
        duration = time.perf_counter() - start
        size = min(os.fstat(channel.fileno()).st_size, CHANNEL_LIMIT)
        data = os.pread(channel.fileno(), size, 0)
    records = result_channel.read_records(data, key)
    records.truncated = size == CHANNEL_LIMIT
    text = output.text() if output else ""
    keeper.reap_orphans()
    return RawRun(
        returncode=None if killed else process.returncode,
        killed=killed,
        duration=duration,
        records=records,
        output=text,
        stalled=stalled,
        stalled_after=stalled_after,
    )


class _StallWatch:
    """Reads a running process's channel: which check runs now, and is it far past its own timeout?"""

    def __init__(self, fd: int, key: bytes) -> None:
        self.fd, self.key = fd, key
        self.offset, self.pending, self.seq = 0, b"", 0  # read so far; an unfinished line; next sequence number
        self.timeouts: dict[str, float] = {}
        self.running: str | None = None
        self.since = time.perf_counter()

    def stuck(self) -> tuple[str, float] | None:
        size = min(os.fstat(self.fd).st_size, CHANNEL_LIMIT)
        if size > self.offset:  # only what was written since the last look
            data = self.pending + os.pread(self.fd, size - self.offset, self.offset)
            self.offset = size
            complete, _, self.pending = data.rpartition(b"\n")
            for record in result_channel.read_records(complete, self.key, first_seq=self.seq).records:
                self.seq = record["seq"] + 1
                if record.get("kind") == "plan":
                    self.timeouts = {c["nodeid"]: c["timeout"] for c in record["checks"] if c.get("timeout")}
                elif record.get("kind") == "start":
                    self._now_running(record["nodeid"])
                elif record.get("kind") == "result" and record["nodeid"] == self.running:
                    self._now_running(None)
        timeout = self.timeouts.get(self.running) if self.running else None
        elapsed = time.perf_counter() - self.since
        if self.running and timeout and elapsed > stall_limit(timeout):
            return self.running, elapsed
        return None

    def _now_running(self, nodeid: str | None) -> None:
        self.running, self.since = nodeid, time.perf_counter()


def _kill_group(process) -> None:
    if hasattr(process, "kill_all"):  # forked by the fork server (in a sandbox: through it)
        process.kill_all()
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def task_status(statuses: list[str]) -> str:
    """One status for a task from its checks' statuses; here every check counts (see BY_INSTRUCTOR above)."""
    return results.task_status(statuses, uncounted=())


def plan_from_records(records: list[dict]) -> list[PlannedCheck] | None:
    plans = [r for r in records if r.get("kind") == "plan"]
    if not plans:
        return None
    return [PlannedCheck.from_record(check) for check in plans[0]["checks"]]


def outcomes(lab: str, plan: list[PlannedCheck], raw: RawRun, wall_limit: float) -> LabRun:
    """Match the verified records against the plan: every planned check gets exactly one outcome."""
    records = raw.records.records
    run = LabRun(
        lab=lab,
        checks=[],
        duration=round(raw.duration, 2),
        returncode=raw.returncode,
        killed=raw.killed,
        output=raw.output,
        finished=any(r.get("kind") == "finished" for r in records),
    )
    results: dict[str, dict] = {}
    for record in records:
        if record.get("kind") == "result":
            if record["nodeid"] in results:
                run.notes.append(f"{lab}: two results for {record['nodeid']}; neither is believed")
                run.tampered = True
                results[record["nodeid"]] = {
                    **record,
                    "status": TAMPERED,
                    "message": "two results were reported for this check",
                }
            else:
                results[record["nodeid"]] = record
        elif record.get("kind") == "review":
            run.review.append(
                f"{lab}: while {record['nodeid'].split('::')[-1]} ran, the code under test changed "
                + ", ".join(record.get("changed", [])[:6])
            )
        elif record.get("kind") == "tamper":
            run.tampered = True
            run.notes.append(
                f"{lab}: the grading machinery was changed during the run: " + ", ".join(record.get("changed", [])[:8])
            )
    if raw.records.forged:
        run.tampered = True
        run.notes.append(f"{lab}: {raw.records.forged} forged line(s) in the result channel were ignored")
    if raw.records.replayed:
        run.tampered = True
        run.notes.append(f"{lab}: {raw.records.replayed} copied line(s) in the result channel were ignored")
    started = {r["nodeid"] for r in records if r.get("kind") == "start"}
    stopping = next((r["reason"] for r in records if r.get("kind") == "stopping"), None)
    if stopping:
        run.notes.append(f"{lab}: {stopping}")
    planned_ids = {check.nodeid for check in plan}
    if unknown := set(results) - planned_ids:
        run.notes.append(f"{lab}: results for {len(unknown)} check(s) that are not in the plan were ignored")
    if raw.stalled:
        run.notes.append(
            f"{lab}: stopped: {raw.stalled.split('::')[-1]} was still running {raw.stalled_after:.0f} s "
            "after it started, far past its own timeout"
        )
    elif raw.killed:
        run.notes.append(f"{lab}: stopped after {wall_limit:g} s (the wall-clock limit for a lab)")
    elif not run.finished:
        run.notes.append(
            f"{lab}: the checks' process ended early (exit code {raw.returncode}) without finishing the run"
        )
    for check in plan:
        reported = results.get(check.nodeid)
        if reported is not None:
            status = reported["status"]
            message, duration = reported.get("message", ""), float(reported.get("duration") or 0.0)
        elif raw.stalled == check.nodeid:
            status, duration = "timeout", raw.stalled_after
            message = (
                f"this check was still running {raw.stalled_after:.0f} s after it started, far past its "
                f"timeout ({check.timeout or 0:g} s): the code under test blocks or ignores the timeout, so "
                "the lab's checks were stopped here"
            )
        elif raw.killed and check.nodeid in started:
            status, duration = "timeout", 0.0
            message = (
                f"this check was running when the lab's checks were stopped after {wall_limit:g} s: "
                "something waits forever, or ignores the per-check timeout"
            )
        elif stopping and check.nodeid not in started:
            status, duration = "timeout", 0.0
            message = f"not run: {stopping}"
        else:
            status, duration = NO_RESULT, 0.0
            message = _no_result_message(check.nodeid in started, raw, wall_limit)
        run.checks.append(
            CheckResult(
                lab=check.lab,
                task=check.task,
                name=check.name,
                nodeid=check.nodeid,
                status=status,
                points=check.points if status == "pass" else 0.0,
                max_points=check.points,
                message=message,
                duration=round(duration, 3),
            )
        )
    return run


def _no_result_message(started: bool, raw: RawRun, wall_limit: float) -> str:
    if raw.stalled:
        return "not run: an earlier check could not be stopped at its timeout, so the lab's checks were stopped"
    if raw.killed:
        return f"not run: the lab's checks were stopped after {wall_limit:g} s (wall-clock limit)"
    if started:
        return (
            f"no result: the checks' process ended while this check ran (exit code {raw.returncode}); "
            "the code under test called os._exit or crashed Python"
        )
    return f"no result: the checks' process ended before this check ran (exit code {raw.returncode})"


def run_lab(
    lab: str,
    target: Path,
    *,
    kit: Path = ROOT,
    plan: list[PlannedCheck] | None = None,
    wall_limit: float = 120.0,
    check_timeout: float | None = None,
    capture: bool = True,
    isolated: bool = False,
    keeper: ProcessKeeper | None = None,
    scratch_root: Path | None = None,
    fork_server: ForkServer | None = None,
    sandboxed: bool = False,
) -> LabRun:
    """Run ``checks/<lab>`` of ``kit`` against ``target`` in a new process; one outcome per planned check.

    ``plan`` is the list of checks to expect, known from a trusted collection; without it the run's own
    plan is used (fine for a student's own code, not for grading). ``isolated`` gives the process a
    throwaway home and temporary folder (inside ``scratch_root`` when given). ``sandboxed``: ``fork_server`` runs
    in a sandbox (:mod:`workbook.isolation.sandbox`) that can see ``kit``, ``target`` and ``scratch_root``; the run gets a
    scrubbed environment, nothing of the caller's.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"workbook-{lab}-", dir=scratch_root))
    if sandboxed:
        from workbook.isolation.sandbox import scrubbed_environment

        env = scrubbed_environment(kit, scratch)
    else:
        env = child_environment(kit, scratch if isolated else None)
    try:
        command = pytest_command(
            kit, [f"checks/{lab}"], target, scratch / "basetemp", check_timeout=check_timeout, quiet=capture
        )
        raw = run_pytest(
            command, cwd=kit, env=env, wall_limit=wall_limit, capture=capture, keeper=keeper, fork_server=fork_server
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run_plan = plan_from_records(raw.records.records)
    if plan is None:
        plan = [check for check in run_plan or [] if check.lab == lab]
        if run_plan is None:
            result = outcomes(lab, [], raw, wall_limit)
            result.notes.append(f"{lab}: the checks could not be collected (exit code {raw.returncode})")
            return result
    elif run_plan is not None and {c.nodeid for c in run_plan} != {c.nodeid for c in plan}:
        raw.records.records = [r for r in raw.records.records if r.get("kind") != "plan"]
        result = outcomes(lab, plan, raw, wall_limit)
        result.notes.append(f"{lab}: the run collected other checks than the plan; only planned ones count")
        return result
    return outcomes(lab, plan, raw, wall_limit)


def collect_plan(kit: Path, labs: list[str], wall_limit: float = 300.0) -> dict[str, list[PlannedCheck]]:
    """Which checks each lab has and their points, from a collection-only run (no student code involved)."""
    scratch = Path(tempfile.mkdtemp(prefix="workbook-plan-"))
    try:
        empty_target = scratch / "target"
        empty_target.mkdir()
        command = pytest_command(
            kit, [f"checks/{lab}" for lab in labs], empty_target, scratch / "basetemp", collect_only=True
        )
        raw = run_pytest(command, cwd=kit, env=child_environment(kit, scratch), wall_limit=wall_limit)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    plan = plan_from_records(raw.records.records)
    if raw.returncode != 0 or plan is None:
        raise PlanError(
            f"collecting the checks of {', '.join(labs)} failed (exit code {raw.returncode}):\n" + raw.output[-3000:]
        )
    by_lab: dict[str, list[PlannedCheck]] = {lab: [] for lab in labs}
    for check in plan:
        by_lab.setdefault(check.lab, []).append(check)
    if empty := [lab for lab, checks in by_lab.items() if not checks]:
        raise PlanError(f"no graded checks found for {', '.join(empty)}")
    return by_lab


class PlanError(Exception):
    """The checks themselves could not be collected: nothing can be graded."""
