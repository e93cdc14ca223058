"""Running the class: each submission's labs, one after the other, in its own sandbox, with a wall-clock limit.

:func:`grade_class` is the whole run (the plan, the kit, the submissions two or more at a time, the checks of the
instructor's side, the outputs through :mod:`workbook.classgrading.reports`); :func:`grade_submission` grades one
submission's labs through :func:`workbook.isolation.lab_process.run_lab`, forked inside its sandbox
(:mod:`workbook.isolation.sandbox`) or, with ``--no-sandbox``, from one fork server of this machine.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from workbook.classgrading.cluster import Cluster
from workbook.classgrading.intake import UNREADABLE, Submission, audit, find_submissions
from workbook.classgrading.kit import GradingError, Kit, instructor_listing, listing_changes
from workbook.classgrading.reports import format_points, write_outputs
from workbook.isolation import lab_process, sandbox
from workbook.isolation.fork_server import ForkServer, ForkServerError
from workbook.isolation.lab_process import MISSING, NO_RESULT, TAMPERED, LabRun, PlannedCheck
from workbook.isolation.sandbox import Limits
from workbook.paths import ROOT
from workbook.results import CheckResult, SubmissionStatus

LAB_SLACK = 60.0  # seconds a lab's run may take beyond the sum of its checks' timeouts (start-up, teardown)
DEFAULT_SUBMISSION_TIMEOUT = 1800.0


# Worst first: a submission's status is the worst of what happened to its labs.
SUBMISSION_STATUSES = tuple(SubmissionStatus)  # worst first
EXIT_INSTRUCTOR_FILES_CHANGED = 3
NO_SANDBOX_WARNING = (
    "WARNING: grading WITHOUT a sandbox (--no-sandbox). Each submission's code runs as you, with your files, "
    "environment and network: it can read solutions/ and any file you can, write into your checks and other "
    "submissions' runs, leave processes behind and change grades.csv. Grade only submissions you trust this way."
)


@dataclass
class Settings:
    labs: list[str]
    jobs: int
    lab_timeout: float | None = None  # None: each lab's own bound, from its checks' timeouts (lab_limit)
    submission_timeout: float = DEFAULT_SUBMISSION_TIMEOUT
    check_timeout: float | None = None  # None: the grader's default, as when students check themselves
    fork_server: bool = True  # fork each run from a process with pytest and the libraries already imported
    sandbox: bool = (
        True  # every submission in its own bubblewrap sandbox (workbook.isolation.sandbox); False: --no-sandbox
    )
    limits: Limits = field(default_factory=Limits)
    ray: str | None = None  # a Ray cluster's address (or "auto"): each (submission, lab) run is a task there

    def lab_limit(self, plan: list[PlannedCheck]) -> float:
        """The wall-clock limit of one lab's run: what its checks may take by their own timeouts, plus slack.

        Hangs end much sooner: a check that outlives its timeout stops the run (lab_process's stall watch),
        and so do two checks in a row whose import of the code timed out (result_channel).
        """
        if self.lab_timeout is not None:
            return self.lab_timeout
        return sum(check.timeout or self.check_timeout or 10.0 for check in plan) + LAB_SLACK


@dataclass
class SubmissionGrade:
    submission: Submission
    labs: list[LabRun]
    duration: float
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # why the instructor should look at it (status "review")
    server_killed: bool = False  # a run killed its sandbox's fork server

    @property
    def checks(self) -> list[CheckResult]:
        return [check for run in self.labs for check in run.checks]

    @property
    def points(self) -> float:
        return sum(c.points for c in self.checks)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.checks)


def _placeholder_run(lab: str, plan: list[PlannedCheck], status: str, message: str) -> LabRun:
    checks = [
        CheckResult(
            lab=c.lab,
            task=c.task,
            name=c.name,
            nodeid=c.nodeid,
            status=status,
            points=0.0,
            max_points=c.points,
            message=message,
        )
        for c in plan
    ]
    return LabRun(lab=lab, checks=checks, duration=0.0, finished=False)


RunLab = Callable[[str, float], LabRun]  # (lab, its wall-clock limit) -> the lab's run


def grade_submission(
    submission: Submission,
    kit: Kit,
    plan: dict[str, list[PlannedCheck]],
    settings: Settings,
    work_root: Path,
    keeper: lab_process.ProcessKeeper,
    log_dir: Path | None,
    fork_server: ForkServer | None = None,
    cluster: Cluster | None = None,
) -> SubmissionGrade:
    """One submission's grade: its labs one after the other, here or (``cluster``) each as a task on a Ray cluster."""
    if submission.unreadable:
        message = f"not graded: the submission cannot be read ({submission.unreadable})"
        runs = [_placeholder_run(lab, plan[lab], UNREADABLE, message) for lab in settings.labs]
        return SubmissionGrade(
            submission, runs, 0.0, "unreadable", [*submission.notes, f"unreadable: {submission.unreadable}"]
        )
    if cluster is not None:
        killed: list[bool] = []

        def on_cluster(lab: str, wall_limit: float) -> LabRun:
            run, server_killed = cluster.run_lab(submission, lab, plan[lab], wall_limit)
            killed.append(server_killed)
            return run

        # What counts is the time its labs ran, not the time they waited in the cluster's queue.
        grade = _grade_labs(
            submission, plan, settings, log_dir, on_cluster, lambda runs: sum(run.duration for run in runs)
        )
        if any(killed):
            _note_server_killed(grade)
        return grade
    if settings.sandbox:
        box = _SubmissionSandbox(submission, kit, settings, work_root, keeper)
        try:
            grade = _grade_labs(
                submission,
                plan,
                settings,
                log_dir,
                lambda lab, limit: _run_one_lab(
                    lab, submission, kit, plan[lab], settings, limit, box.work, keeper, box
                ),
            )
            if box.server_killed:
                _note_server_killed(grade)
            return grade
        finally:
            box.close()
    return _grade_labs(
        submission,
        plan,
        settings,
        log_dir,
        lambda lab, limit: _run_one_lab(
            lab, submission, kit, plan[lab], settings, limit, work_root, keeper, fork_server
        ),
    )


def _note_server_killed(grade: SubmissionGrade) -> None:
    grade.server_killed = True
    grade.notes.append(
        "a lab run killed its sandbox's fork server (the checks' parent process): that "
        "run ended there, and the next lab ran in a new sandbox"
    )


def grade_lab_in_sandbox(
    submission: Submission, lab: str, kit: Kit, plan: list[PlannedCheck], settings: Settings, wall_limit: float
) -> tuple[LabRun, bool]:
    """One (submission, lab) run in a sandbox of its own, on this machine: the run and whether it killed the
    sandbox's fork server. What a Ray task does on a worker (:mod:`workbook.classgrading.cluster`): the same
    :func:`_run_one_lab` as local grading, so the same results."""
    sys.dont_write_bytecode = True
    keeper = lab_process.ProcessKeeper()
    work_root = Path(tempfile.mkdtemp(prefix="workbook-grading-"))
    os.chmod(work_root, 0o700)
    box = _SubmissionSandbox(submission, kit, settings, work_root, keeper)
    try:
        run = _run_one_lab(lab, submission, kit, plan, settings, wall_limit, box.work, keeper, box)
        return run, box.server_killed
    finally:
        box.close()
        shutil.rmtree(work_root, ignore_errors=True)
        keeper.reap_orphans()


class _SubmissionSandbox:
    """One submission's sandbox: its writable folder, its read-only kit, and the fork server running inside.

    Quacks like the fork server it wraps for :func:`_run_one_lab`; when the server is gone (a run killed it, and
    with it the sandbox), :meth:`server` starts a fresh sandbox for the next lab.
    """

    def __init__(
        self, submission: Submission, kit: Kit, settings: Settings, work_root: Path, keeper: lab_process.ProcessKeeper
    ) -> None:
        self.settings, self.keeper = settings, keeper
        self.work = Path(tempfile.mkdtemp(prefix=f"{submission.slug}-", dir=work_root))
        self.kit_dir = self.work / "kit"
        kit.write_all(self.kit_dir)
        self.current: ForkServer | None = None
        self.restarts = 0

    def server(self) -> ForkServer:
        if self.current is not None and self.current.alive:
            return self.current
        if self.current is not None:
            self._stop()
            self.restarts += 1
        self.current = ForkServer(sandbox=(self.work, self.kit_dir, self.settings.limits))
        return self.current

    @property
    def server_killed(self) -> bool:
        """A run killed the fork server (the checks' parent process): only this submission could have done it."""
        return bool(self.restarts or (self.current is not None and not self.current.alive))

    def _stop(self) -> None:
        if self.current is not None:
            self.current.destroy()
            self.current = None

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _grade_labs(
    submission: Submission,
    plan: dict[str, list[PlannedCheck]],
    settings: Settings,
    log_dir: Path | None,
    run_lab: RunLab,
    time_used: Callable[[list[LabRun]], float] | None = None,
) -> SubmissionGrade:
    """The submission's labs in order through ``run_lab``, within its time limit; its status from what happened.

    ``time_used`` is what counts against the limit (default: the wall-clock time since the first lab began).
    """
    start = time.perf_counter()
    runs: list[LabRun] = []
    notes = list(submission.notes) + submission.suspicious()
    review = audit(submission)
    flags: set[str] = {"review"} if review else set()
    for lab in settings.labs:
        elapsed = time_used(runs) if time_used else time.perf_counter() - start
        remaining = settings.submission_timeout - elapsed
        if lab not in submission.labs:
            runs.append(_placeholder_run(lab, plan[lab], MISSING, f"not submitted: no {lab}/ folder"))
            flags.add("incomplete")
            continue
        if remaining < 1:
            runs.append(
                _placeholder_run(
                    lab,
                    plan[lab],
                    NO_RESULT,
                    f"not run: the submission's time limit ({settings.submission_timeout:g} s) "
                    "was used up by earlier labs",
                )
            )
            flags.add("timeout")
            continue
        run = run_lab(lab, min(settings.lab_limit(plan[lab]), remaining))
        runs.append(run)
        notes.extend(run.notes)
        review.extend(run.review)
        if run.review:
            flags.add("review")
        if run.tampered:
            flags.add("tampered")
        if run.killed or any(c.status == "timeout" for c in run.checks):
            flags.add("timeout")
        elif not run.finished:
            flags.add("crashed")
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{lab}.log").write_text(run.output, encoding="utf-8")
    if not submission.labs:
        flags.add("empty")
    status = next((s for s in SUBMISSION_STATUSES if s in flags), "ok")
    notes += [f"review: {reason}" for reason in review]
    duration = time_used(runs) if time_used else time.perf_counter() - start
    return SubmissionGrade(submission, runs, round(duration, 2), status, notes, review)


def _run_one_lab(
    lab: str,
    submission: Submission,
    kit: Kit,
    plan: list[PlannedCheck],
    settings: Settings,
    wall_limit: float,
    work_root: Path,
    keeper: lab_process.ProcessKeeper,
    fork_server: ForkServer | _SubmissionSandbox | None,
) -> LabRun:
    run_dir = Path(tempfile.mkdtemp(prefix=f"{submission.slug}-{lab}-", dir=work_root))
    try:
        target = run_dir / "target"
        if isinstance(fork_server, _SubmissionSandbox):
            kit_dir = fork_server.kit_dir  # read-only inside the sandbox
        else:
            kit_dir = run_dir / "kit"
            kit.write(kit_dir, lab)
        for relative, content in submission.labs[lab].items():
            out = target / lab / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)
        run = None
        # The same run in or out of the sandbox: only where it forks from differs.
        run_lab = functools.partial(
            lab_process.run_lab,
            lab,
            target,
            kit=kit_dir,
            plan=plan,
            wall_limit=wall_limit,
            check_timeout=settings.check_timeout,
            isolated=True,
            keeper=keeper,
            scratch_root=run_dir,
        )
        if isinstance(fork_server, _SubmissionSandbox):
            for _attempt in range(2):  # a run that killed the sandbox's server cost only that run: start anew
                try:
                    run = run_lab(fork_server=fork_server.server(), sandboxed=True)
                    break
                except ForkServerError as exc:
                    error = exc
            if run is None:
                run = _placeholder_run(lab, plan, NO_RESULT, f"not run: the sandbox could not start ({error})")
                run.notes.append(f"{lab}: the sandbox could not start: {error}")
        else:
            run = run_lab(fork_server=fork_server)
        # Paths in messages as the student knows them: lab2/app.py, checks/lab2/…, not this run's folders.
        for prefix in (f"{target}{os.sep}", f"{kit_dir}{os.sep}", str(run_dir)):
            for check in run.checks:
                check.message = check.message.replace(prefix, "")
            run.output = run.output.replace(prefix, "")
        if changed := kit.changes_in(kit_dir, lab=lab):
            run.tampered = True
            run.notes.append(
                f"{lab}: the grading files of this run changed while it ran ({', '.join(changed[:5])}); "
                "with --jobs above 1 another submission may have done it: re-grade with --jobs 1"
            )
            for check in run.checks:
                if check.status == "pass":
                    check.status, check.points = TAMPERED, 0.0
                    check.message = "the checks' files were changed during this run: the result cannot be trusted"
        return run
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@dataclass
class ClassGrades:
    grades: list[SubmissionGrade]
    plan: dict[str, list[PlannedCheck]]
    kit_digest: str
    settings: Settings
    started: str
    duration: float
    instructor_files_changed: list[str] = field(default_factory=list)
    changed_while_grading: list[str] = field(default_factory=list)  # submissions graded when they changed
    server_died_while_grading: list[str] = field(default_factory=list)  # the fork server was killed meanwhile
    grades_sha256: str = ""  # of grades.csv, written last


def grade_class(
    submissions_dir: Path, out: Path, settings: Settings, *, root: Path = ROOT, progress=lambda line: None
) -> ClassGrades:
    started = datetime.now(UTC).isoformat(timespec="seconds")
    start = time.perf_counter()
    sys.dont_write_bytecode = True  # the grader itself adds no file to the instructor's side
    outside = (out, submissions_dir)
    listing_before = instructor_listing(root, outside)
    kit = Kit.read(root, settings.labs)
    submissions = find_submissions(submissions_dir, leave_out=out)
    if not submissions:
        raise GradingError(f"no submissions in {submissions_dir}: expected one folder (or .zip) per student")
    if settings.ray is not None and not settings.sandbox:
        raise GradingError("--ray grades in the sandbox only: every node of the cluster needs bubblewrap")
    if settings.ray is None and settings.sandbox and (why := sandbox.probe()) is not None:
        raise GradingError(
            f"no sandbox: {why}.\nSubmissions run code; without a sandbox it can read and write "
            "anything you can. Install bubblewrap, or grade anyway with --no-sandbox (trusted "
            "submissions only)."
        )
    if not settings.sandbox:
        progress(NO_SANDBOX_WARNING)
    keeper = lab_process.ProcessKeeper()
    if not settings.sandbox:
        keeper.become_subreaper()  # in a sandbox, nothing leaves it: its PID namespace ends with it
    work_root = Path(tempfile.mkdtemp(prefix="workbook-grading-"))
    os.chmod(work_root, 0o700)
    fork_server = None if settings.sandbox else _start_fork_server(settings, keeper, progress)
    cluster: Cluster | None = None
    try:
        if settings.ray is not None:
            cluster = Cluster.connect(settings.ray, kit, settings)  # checks the nodes' sandbox too
        plan_kit = work_root / "plan-kit"
        kit.write(plan_kit)
        try:
            plan = lab_process.collect_plan(plan_kit, settings.labs)
        except lab_process.PlanError as exc:
            raise GradingError(str(exc)) from None
        shutil.rmtree(plan_kit, ignore_errors=True)
        checks = sum(len(p) for p in plan.values())
        limits = ", ".join(f"{lab} {settings.lab_limit(plan[lab]):g} s" for lab in settings.labs)
        # On a cluster, Ray's scheduler decides how many runs go at once (by CPUs): the driver only waits for them.
        jobs = settings.jobs if cluster is None else min(len(submissions), 2 * cluster.cpus)
        where = (
            f"{jobs} at a time" if cluster is None else f"on the Ray cluster at {settings.ray} ({cluster.cpus} CPUs)"
        )
        progress(
            f"checks {kit.digest[:16]}: {checks} checks in {', '.join(settings.labs)}; {len(submissions)} "
            f"submissions, {where}; time limits: {limits}, "
            f"{settings.submission_timeout:g} s a submission"
        )
        grades: dict[str, SubmissionGrade] = {}
        running: set[str] = set()
        changed_while: list[str] = []
        instructor_changed: list[str] = []
        server_died_while: list[str] = []
        lock = threading.Lock()
        kit_listing = {
            k: v for k, v in listing_before.items() if not k.startswith("site-packages:") and not k.startswith("/")
        }

        def one(submission: Submission) -> None:
            with lock:
                if instructor_changed:  # the instructor's side changed: the run stops here
                    grades[submission.name] = SubmissionGrade(
                        submission,
                        [
                            _placeholder_run(lab, plan[lab], NO_RESULT, "not graded: the run stopped")
                            for lab in settings.labs
                        ],
                        0.0,
                        "not-graded",
                        ["not graded: the run stopped when files of the instructor's side changed"],
                    )
                    return
                running.add(submission.name)
            try:
                grade = grade_submission(
                    submission,
                    kit,
                    plan,
                    settings,
                    work_root,
                    keeper,
                    out / "logs" / submission.slug,
                    fork_server,
                    cluster,
                )
            except Exception as exc:  # noqa: BLE001 - one submission never stops the class
                message = f"not graded: the grader failed on this submission ({type(exc).__name__}: {exc})"
                grade = SubmissionGrade(
                    submission,
                    [_placeholder_run(lab, plan[lab], NO_RESULT, message) for lab in settings.labs],
                    0.0,
                    "crashed",
                    [*submission.notes, message],
                )
            with lock:
                if not instructor_changed and (
                    changed := [
                        *listing_changes(kit_listing, instructor_listing(root, outside, site_packages=False)),
                        *kit.changes_at_home(root, settings.labs),
                    ]
                ):
                    instructor_changed.extend(dict.fromkeys(changed))
                    changed_while.extend(sorted(running))
                if fork_server is not None and not fork_server.alive and not server_died_while:
                    # Something killed it — the checks' parent process. Grading went on without it.
                    server_died_while.extend(sorted(running))
                if grade.server_killed:  # in its own sandbox: only this submission could have done it
                    server_died_while.append(submission.name)
                running.discard(submission.name)
                grades[submission.name] = grade
                progress(
                    f"[{len(grades):>3}/{len(submissions)}] {submission.name:<24} {format_points(grade.points):>5} / "
                    f"{format_points(grade.max_points):<5} {grade.status:<10} {grade.duration:6.1f} s"
                )

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in [pool.submit(one, s) for s in submissions]:
                future.result()
    finally:
        if cluster is not None:
            cluster.close()
        if fork_server is not None:
            fork_server.close()
            keeper.active.discard(fork_server.process.pid)
        shutil.rmtree(work_root, ignore_errors=True)
        keeper.reap_orphans()
    if not instructor_changed and (changed := listing_changes(listing_before, instructor_listing(root, outside))):
        instructor_changed.extend(changed)
        changed_while.extend(["(noticed at the end of the run)"])
    result = ClassGrades(
        grades=[grades[s.name] for s in submissions],
        plan=plan,
        kit_digest=kit.digest,
        settings=settings,
        started=started,
        duration=round(time.perf_counter() - start, 1),
        instructor_files_changed=instructor_changed,
        changed_while_grading=changed_while,
        server_died_while_grading=server_died_while,
    )
    result.grades_sha256 = write_outputs(result, out)
    return result


def _start_fork_server(settings: Settings, keeper: lab_process.ProcessKeeper, progress) -> ForkServer | None:
    """The fork server (Linux only): every lab run saves the second or two of importing pytest and the libraries."""
    if not settings.fork_server or not sys.platform.startswith("linux"):
        return None
    try:
        with keeper.lock:
            server = ForkServer()
            keeper.active.add(server.process.pid)  # not an orphan to kill
        return server
    except (OSError, ForkServerError) as exc:
        progress(f"(no fork server: {exc}; each lab run starts its own Python)")
        return None
