"""``grade``: grade a class's submissions with the instructor's checks, in a way a submission cannot game.

    python -m workbook grade SUBMISSIONS_DIR --out DIR [--jobs N]

SUBMISSIONS_DIR holds one entry per student, named after the student: a folder laid out like ``labs/``
(``alice/lab1/runners.py``), a folder with ``labs/`` inside it, or a ``.zip`` of either. Out come

* ``grades.csv`` — one row per student: a column per task (points), total, max, status, duration, and the
  hash of the checks used;
* ``feedback/NAME.json`` — every check's status, points and message, and what the grader noticed;
* ``item_analysis.csv`` (and ``.json``) — per check: pass rate, status counts, the most common failure;
* ``logs/NAME/labN.log`` — the checks' output for each lab (its head and tail);
* ``grading.json`` — the settings, the checks' hash and the plan (every check and its points).

Every submission runs in its own bubblewrap sandbox (:mod:`workbook.isolation.sandbox`), each lab in a pytest process
forked inside it (:mod:`workbook.isolation.fork_server`, :mod:`workbook.isolation.lab_process`); results come back through a signed
channel (:mod:`workbook.isolation.result_channel`). Without a sandbox, ``grade`` refuses untrusted submissions unless told
``--no-sandbox``. How a grade is made, what the sandbox prevents, what is only made visible (status ``review``)
and what is not covered: ``docs/grading-threat-model.md``.
"""

from __future__ import annotations

import argparse
import collections
import csv
import functools
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from workbook import catalog
from workbook.digests import tree_digest
from workbook.isolation import lab_process, sandbox
from workbook.isolation.fork_server import ForkServer, ForkServerError
from workbook.isolation.lab_process import MISSING, NO_RESULT, TAMPERED, LabRun, PlannedCheck
from workbook.isolation.sandbox import Limits
from workbook.paths import CACHE_DIRS, ROOT
from workbook.results import CheckResult, SubmissionStatus

LAB_DIR = re.compile(r"^lab\d+$")
KIT_NEEDS = ("conftest.py", "pyproject.toml", "workbook", "labkit", "checks")
# Not part of the kit: the code under test and its sources, the project's own tests, local state, tooling.
KIT_LEAVES_OUT = {
    "solutions",
    "labs",
    "starters",
    "tests",
    "notebooks",
    "models",
    "build",
    "bench",
    ".git",
    ".venv",
    ".workbook",
    ".ci",
    ".github",
    *CACHE_DIRS,
}
SKIP_NAMES = {*CACHE_DIRS, ".DS_Store"}
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
LAB_SLACK = 60.0  # seconds a lab's run may take beyond the sum of its checks' timeouts (start-up, teardown)
DEFAULT_SUBMISSION_TIMEOUT = 1800.0
# Worst first: a submission's status is the worst of what happened to its labs.
SUBMISSION_STATUSES = tuple(SubmissionStatus)  # worst first
EXIT_INSTRUCTOR_FILES_CHANGED = 3
UNREADABLE = "unreadable"  # a check's status when its submission could not be read
NO_SANDBOX_WARNING = (
    "WARNING: grading WITHOUT a sandbox (--no-sandbox). Each submission's code runs as you, with your files, "
    "environment and network: it can read solutions/ and any file you can, write into your checks and other "
    "submissions' runs, leave processes behind and change grades.csv. Grade only submissions you trust this way."
)


class GradingError(Exception):
    """Something the instructor must fix before grading can start (the message says what)."""


# --- snapshots ------------------------------------------------------------------------------------


def _skipped(relative: PurePosixPath) -> bool:
    return any(part in SKIP_NAMES for part in relative.parts) or relative.suffix == ".pyc"


@dataclass(frozen=True)
class Kit:
    """The instructor's checks, grader and data, read once: every lab run gets a fresh copy of these bytes.

    ``references`` holds, for a lab whose checks use the reference solution (``SOLUTIONS`` in their code: lab 10's
    Task 10.6 runs the student's own tests against it), that lab's ``solutions/labN`` — copied into that lab's runs
    only, never into another lab's.
    """

    files: dict[str, bytes]
    references: dict[str, dict[str, bytes]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path = ROOT, labs: list[str] | None = None) -> Kit:
        """Everything in the workbook that checks may read, i.e. all but the code under test and the rest."""
        for needed in KIT_NEEDS:
            if not (root / needed).exists():
                raise GradingError(f"{root / needed} is missing: grade from the workbook's own folder")
        files: dict[str, bytes] = {}
        for path in sorted(root.iterdir()):
            if path.name in KIT_LEAVES_OUT or path.is_symlink():
                continue
            files.update(_tree_files(root, path))
        references = {}
        for lab in labs or []:
            uses_reference = any(
                name.startswith(f"checks/{lab}/") and name.endswith(".py") and b"SOLUTIONS" in data
                for name, data in files.items()
            )
            if uses_reference and (root / "solutions" / lab).is_dir():
                references[lab] = _tree_files(root, root / "solutions" / lab)
        return cls(files, references)

    @property
    def digest(self) -> str:
        return tree_digest({**self.files, **{k: v for ref in self.references.values() for k, v in ref.items()}})

    def all_files(self) -> dict[str, bytes]:
        """The kit with every graded lab's reference: what a submission's sandbox mounts read-only."""
        return {**self.files, **{k: v for ref in self.references.values() for k, v in ref.items()}}

    def write_all(self, dest: Path) -> None:
        for relative, content in self.all_files().items():
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)

    def for_lab(self, lab: str | None) -> dict[str, bytes]:
        return {**self.files, **self.references.get(lab, {})} if lab else self.files

    def write(self, dest: Path, lab: str | None = None) -> None:
        for relative, content in self.for_lab(lab).items():
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(content)

    def changes_in(self, dest: Path, labs: list[str] | None = None, lab: str | None = None) -> list[str]:
        """Files of the kit (with ``lab``'s reference) that differ or are gone in ``dest``: empty when intact.

        With ``labs``, the checks of other labs are left out: they play no part in these grades.
        """
        changed = []
        for relative, content in self.for_lab(lab).items():
            parts = relative.split("/")
            if labs is not None and parts[0] == "checks" and len(parts) > 2 and parts[1] not in labs:
                continue
            path = dest / relative
            try:
                if path.is_symlink() or path.read_bytes() != content:
                    changed.append(relative)
            except OSError:
                changed.append(relative)
        return changed

    def changes_at_home(self, root: Path, labs: list[str]) -> list[str]:
        """Files of the instructor's own workbook changed since the kit was read (other labs' checks left out)."""
        changed = self.changes_in(root, labs)
        for lab in self.references:
            changed += [name for name in self.changes_in(root, lab=lab) if name.startswith("solutions/")]
        return changed


def _tree_files(root: Path, path: Path) -> dict[str, bytes]:
    files = {}
    for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
        relative = PurePosixPath(file.relative_to(root).as_posix())
        if file.is_file() and not file.is_symlink() and not _skipped(relative):
            files[str(relative)] = file.read_bytes()
    return files


# Code under test has no business with the reference solutions.
REFERS_TO_SOLUTIONS = re.compile(rb"\bSOLUTIONS\b|solutions[/\\]lab")


# Code under test reaching into the grader, pytest or the interpreter's machinery: no lab needs any of it.
AUDIT_PATTERNS = [
    (
        re.compile(
            rb"(?<![A-Za-z0-9])_*gc\s*\.\s*(get_objects|get_referrers|get_referents)\b|\bimport\s+gc\b|"
            rb"from\s+gc\s+import|__import__\s*\(\s*[\"']gc[\"']"
        ),
        "walks the garbage collector's objects (gc)",
    ),
    (
        re.compile(
            rb"\b_pytest\b|\bpluggy\b|\bpytest\s*\.\s*(Item|Function|Session|CallInfo|TestReport)|"
            rb"\bimport\s+pytest\b|\bfrom\s+pytest\b"
        ),
        "uses pytest or its internals",
    ),
    (
        re.compile(
            rb"\bsys\s*\.\s*modules\s*(\[[^\]]*\]\s*=|\.(pop|update|setdefault|clear)\b)|"
            rb"del\s+sys\s*\.\s*modules"
        ),
        "changes sys.modules",
    ),
    (
        re.compile(rb"\b(time|asyncio|loop|_time)\s*\.\s*[A-Za-z_]+\s*=[^=]|setattr\s*\(\s*(time|asyncio)\b"),
        "assigns to a time or asyncio function",
    ),
    (
        re.compile(
            rb"__path__|sys\s*\.\s*(meta_path|path_hooks|settrace|setprofile|_getframe)|\bf_back\b|"
            rb"\bf_globals\b|\bf_locals\b"
        ),
        "plays with the import system or the interpreter's frames",
    ),
    (
        re.compile(
            rb"\bworkbook\s*\.\s*(grader|result_channel|lab_process|grading)\b|WORKBOOK_RESULT_CHANNEL|"
            rb"/proc/|os\s*\.\s*environ\b(?!\s*\.\s*get\s*\(\s*[\"'](HOME|PATH|TMPDIR))"
        ),
        "reaches into the grader, /proc or the environment",
    ),
    (
        re.compile(rb"(?<![.\w])(exec|compile)\s*\(|\bbuiltins\s*\.\s*(exec|compile)\b"),
        "runs code it builds at run time (exec or compile)",
    ),
    (
        re.compile(
            rb"os\s*\.\s*(getppid|kill|killpg)\b|"
            rb"\bsignal\s*\.\s*(signal|pthread_sigmask)\b"
        ),
        "reads other folders, or signals other processes",
    ),
]


def audit(submission: Submission) -> list[str]:
    """Where a submission's source reaches into the grader: reasons for an instructor to look (status review)."""
    found = []
    for lab, files in submission.labs.items():
        for relative, data in files.items():
            if not relative.endswith(".py") or relative.startswith("tests/"):
                continue
            for pattern, what in AUDIT_PATTERNS:
                if match := pattern.search(data):
                    line = data.count(b"\n", 0, match.start()) + 1
                    found.append(
                        f"{lab}/{relative}, line {line}: {what} "
                        f"({match.group().decode(errors='replace').strip()[:40]!r})"
                    )
    return found


@dataclass
class Submission:
    name: str  # the student, as named by the folder or zip
    slug: str  # a safe file name for the outputs
    labs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # lab -> relative path -> content
    notes: list[str] = field(default_factory=list)
    unreadable: str | None = None  # why the submission could not be read (then it has no labs)
    size: int = 0  # bytes read so far

    def suspicious(self) -> list[str]:
        """Notes on files that mention the reference solutions: worth a look by the instructor."""
        return [
            f"{lab}/{relative}: mentions {match.group().decode(errors='replace')!r} — code under test has no "
            "reason to; look at it (the checks' process can read any file on this machine)"
            for lab, files in self.labs.items()
            for relative, data in files.items()
            if relative.endswith(".py") and (match := REFERS_TO_SOLUTIONS.search(data))
        ]

    @property
    def digest(self) -> str:
        return tree_digest({f"{lab}/{rel}": data for lab, files in self.labs.items() for rel, data in files.items()})


def _safe_slug(name: str, taken: set[str]) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"
    candidate, n = slug, 2
    while candidate.lower() in taken:
        candidate, n = f"{slug}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate


MAX_FILES = 2000  # files in one submission (all of it, not only lab folders): more and it is unreadable
MAX_NAME_BYTES = 255  # one path component, as most file systems allow


class Unreadable(Exception):
    """This submission cannot be read as files: it is graded ``unreadable`` with the reason."""


def find_submissions(folder: Path, leave_out: Path | None = None) -> list[Submission]:
    """One submission per folder or ``.zip`` in ``folder`` (hidden entries are ignored), read into memory.

    A submission that cannot be read (a broken zip, names too long, a file and a folder with one name, too many
    files or bytes) is kept, marked ``unreadable`` with the reason: it never stops the others. Every submission
    gets a unique name: a second ``alice`` (``alice/`` beside ``alice.zip``) becomes ``alice-2``, and its notes
    say so.
    """
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of submissions")
    submissions: list[Submission] = []
    taken: set[str] = set()
    names: set[str] = set()
    reader: Callable[[Path, Submission], None]
    for entry in sorted(folder.iterdir(), key=lambda p: p.name.lower()):
        if entry.name.startswith(".") or leave_out is not None and entry.resolve() == leave_out.resolve():
            continue
        if entry.is_dir() and not entry.is_symlink():
            name, reader = entry.name, _read_folder
        elif entry.suffix.lower() == ".zip" and entry.is_file() and not entry.is_symlink():
            name, reader = entry.stem, _read_zip
        else:
            continue
        unique, n = name, 2
        while unique.lower() in names:
            unique, n = f"{name}-{n}", n + 1
        names.add(unique.lower())
        submission = Submission(unique, _safe_slug(unique, taken))
        if unique != name:
            submission.notes.append(
                f"{entry.name}: another submission is also named {name!r}; this one is graded as {unique!r}"
            )
        try:
            reader(entry, submission)
            _check_layout(submission)
        except Unreadable as exc:
            submission.unreadable, submission.labs = str(exc), {}
        except (
            OSError,
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            ValueError,
            RuntimeError,
            NotImplementedError,
            EOFError,
            UnicodeError,
        ) as exc:  # whatever a hostile archive or folder raises
            submission.unreadable, submission.labs = f"{entry.name} cannot be read: {exc}", {}
        submissions.append(submission)
    return submissions


def _check_layout(submission: Submission) -> None:
    """Refuse what cannot be written as files: names over 255 bytes, a file that is also a folder."""
    for lab, files in submission.labs.items():
        folders: set[str] = set()
        for relative in files:
            parts = PurePosixPath(relative).parts
            if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
                raise Unreadable(f"{lab}/{relative[:80]}…: a name longer than {MAX_NAME_BYTES} bytes")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if clash := sorted(folders & set(files)):
            raise Unreadable(f"{lab}/{clash[0]} is both a file and a folder")


def _lab_root(paths: list[PurePosixPath]) -> PurePosixPath | None:
    """The shallowest folder that directly contains ``labN`` folders (``.``, ``labs``, ``alice/labs`` …)."""
    candidates = {
        p.parents[len(p.parts) - 1 - i] for p in paths for i, part in enumerate(p.parts[:-1]) if LAB_DIR.match(part)
    }
    return min(candidates, key=lambda c: (len(c.parts), str(c))) if candidates else None


def _add_file(submission: Submission, root: PurePosixPath, relative: PurePosixPath, read) -> None:
    inside = PurePosixPath(*relative.parts[len(root.parts) :]) if root.parts else relative
    if len(inside.parts) < 2 or not LAB_DIR.match(inside.parts[0]) or _skipped(inside):
        return
    lab, rest = inside.parts[0], PurePosixPath(*inside.parts[1:])
    data = read()
    if data is None:
        return
    if len(data) > MAX_FILE_BYTES:
        submission.notes.append(f"{inside}: larger than {MAX_FILE_BYTES // 2**20} MB, not graded")
        return
    submission.size += len(data)  # a running total: intake stays linear in the number of files
    if submission.size > MAX_SUBMISSION_BYTES:
        raise Unreadable(f"the submission is over {MAX_SUBMISSION_BYTES // 2**20} MB")
    submission.labs.setdefault(lab, {})[str(rest)] = data


def _read_folder(folder: Path, submission: Submission) -> None:
    files, links = [], []
    count = 0
    for top, dirs, names in os.walk(folder):  # never follows symbolic links to folders
        here = Path(top)
        for name in dirs + names:
            count += 1
            if count > MAX_FILES:
                raise Unreadable(f"more than {MAX_FILES} files and folders")
            path = here / name
            relative = PurePosixPath(path.relative_to(folder).as_posix())
            if path.is_symlink():
                links.append(relative)
            elif name in names and path.is_file():
                files.append(relative)
    root = _lab_root(files + links)
    for relative in links:
        submission.notes.append(f"{relative}: a symbolic link, not graded (submit the file itself)")
    if root is None:
        return
    for relative in sorted(files):
        _add_file(submission, root, relative, lambda r=relative: _read_no_follow(folder / r))


def _read_no_follow(path: Path) -> bytes | None:
    """The file's bytes, or None if it is (now) a symbolic link: copies never follow links."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_FILE_BYTES + 1)


def _read_zip(path: Path, submission: Submission) -> None:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise Unreadable(f"{path.name}: not a readable zip file") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_FILES:
            raise Unreadable(f"{path.name}: more than {MAX_FILES} files and folders")
        if sum(info.file_size for info in infos) > MAX_SUBMISSION_BYTES * 4:
            raise Unreadable(f"{path.name}: over {MAX_SUBMISSION_BYTES * 4 // 2**20} MB unpacked")
        members = []
        for info in infos:
            relative = PurePosixPath(info.filename)
            if info.is_dir() or relative.is_absolute() or ".." in relative.parts:
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                submission.notes.append(f"{relative}: a symbolic link, not graded (submit the file itself)")
                continue
            members.append((relative, info))
        root = _lab_root([relative for relative, _ in members])
        if root is None:
            return
        for relative, info in sorted(members, key=lambda m: str(m[0])):
            if info.file_size > MAX_FILE_BYTES:
                submission.notes.append(f"{relative}: larger than {MAX_FILE_BYTES // 2**20} MB, not graded")
                continue
            _add_file(submission, root, relative, lambda i=info: archive.read(i))


# --- grading one submission -----------------------------------------------------------------------


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


def grade_submission(
    submission: Submission,
    kit: Kit,
    plan: dict[str, list[PlannedCheck]],
    settings: Settings,
    work_root: Path,
    keeper: lab_process.ProcessKeeper,
    log_dir: Path | None,
    fork_server: ForkServer | None = None,
) -> SubmissionGrade:
    if submission.unreadable:
        message = f"not graded: the submission cannot be read ({submission.unreadable})"
        runs = [_placeholder_run(lab, plan[lab], UNREADABLE, message) for lab in settings.labs]
        return SubmissionGrade(
            submission, runs, 0.0, "unreadable", [*submission.notes, f"unreadable: {submission.unreadable}"]
        )
    if settings.sandbox:
        box = _SubmissionSandbox(submission, kit, settings, work_root, keeper)
        try:
            grade = _grade_labs(submission, kit, plan, settings, box.work, keeper, log_dir, box)
            if box.restarts or (box.current is not None and not box.current.alive):
                grade.server_killed = True
                grade.notes.append(
                    "a lab run killed its sandbox's fork server (the checks' parent process): that "
                    "run ended there, and the next lab ran in a new sandbox"
                )
            return grade
        finally:
            box.close()
    return _grade_labs(submission, kit, plan, settings, work_root, keeper, log_dir, fork_server)


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

    def _stop(self) -> None:
        if self.current is not None:
            self.current.destroy()
            self.current = None

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _grade_labs(
    submission: Submission,
    kit: Kit,
    plan: dict[str, list[PlannedCheck]],
    settings: Settings,
    work_root: Path,
    keeper: lab_process.ProcessKeeper,
    log_dir: Path | None,
    fork_server: ForkServer | _SubmissionSandbox | None,
) -> SubmissionGrade:
    start = time.perf_counter()
    runs: list[LabRun] = []
    notes = list(submission.notes) + submission.suspicious()
    review = audit(submission)
    flags: set[str] = {"review"} if review else set()
    for lab in settings.labs:
        elapsed = time.perf_counter() - start
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
        run = _run_one_lab(
            lab,
            submission,
            kit,
            plan[lab],
            settings,
            min(settings.lab_limit(plan[lab]), remaining),
            work_root,
            keeper,
            fork_server,
        )
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
    return SubmissionGrade(submission, runs, round(time.perf_counter() - start, 2), status, notes, review)


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


# --- the instructor's side, checked whole ---------------------------------------------------------

# models/ is what notebook 3 writes (and `make lab` users train): grading never reads it (checks train their own).
LISTING_LEAVES_OUT = {".git", ".workbook", "models", *CACHE_DIRS - {"__pycache__"}}


def instructor_listing(
    root: Path = ROOT,
    leave_out: tuple[Path, ...] = (),
    *,
    site_packages: bool = True,
) -> dict[str, str]:
    """What is on disk on the instructor's side: path -> what it is (a file's SHA-256, a link's target, a folder).

    The kit's folders (``checks/``, ``workbook/``, ``data/`` …) and root files (``conftest.py``, ``pyproject.toml`` …)
    in full; every other top-level entry by name and kind (so a new ``sitecustomize.py`` or ``conftest.py`` at the
    top shows); with ``site_packages``, the virtual environment's ``site-packages`` by path, size and time. A
    listing, not only contents: a new file is a change.
    """
    skip = {p.resolve() for p in leave_out}
    listing: dict[str, str] = {}

    def describe(path: Path, full: bool) -> str:
        if path.is_symlink():
            return "link -> " + os.readlink(path)
        if path.is_dir():
            return "folder"
        if not full:
            stat = path.stat()
            return f"file {stat.st_size} {stat.st_mtime_ns} {stat.st_mode:o}"
        return "file " + hashlib.sha256(path.read_bytes()).hexdigest()

    def walk(top: Path, prefix: str, full: bool) -> None:
        for folder, dirs, names in os.walk(top):
            here = Path(folder)
            dirs[:] = [d for d in dirs if (here / d).resolve() not in skip]
            for name in dirs + names:
                path = here / name
                relative = prefix + path.relative_to(top).as_posix()
                try:
                    listing[relative] = describe(path, full)
                except OSError as exc:
                    listing[relative] = f"unreadable {exc.errno}"

    for entry in sorted(root.iterdir()):
        if entry.name in LISTING_LEAVES_OUT or entry.resolve() in skip:
            continue
        in_kit = entry.name not in KIT_LEAVES_OUT
        listing[entry.name] = describe(entry, in_kit)
        if in_kit and entry.is_dir() and not entry.is_symlink():
            walk(entry, entry.name + "/", True)
    if site_packages:
        import sysconfig

        for key in ("purelib", "platlib"):
            folder = Path(sysconfig.get_paths()[key]).resolve()
            if f"site-packages:{folder}" not in listing and folder.is_dir():
                listing[f"site-packages:{folder}"] = "folder"
                walk(folder, f"{folder}/", False)
    return listing


def listing_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What is new, changed or gone between two listings, each with its path."""
    changes = [f"new: {path}" for path in sorted(after.keys() - before.keys())]
    changes += [f"changed: {path}" for path in sorted(before.keys() & after.keys()) if before[path] != after[path]]
    changes += [f"gone: {path}" for path in sorted(before.keys() - after.keys())]
    return changes


# --- the whole class ------------------------------------------------------------------------------


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
    if settings.sandbox and (why := sandbox.probe()) is not None:
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
    try:
        plan_kit = work_root / "plan-kit"
        kit.write(plan_kit)
        try:
            plan = lab_process.collect_plan(plan_kit, settings.labs)
        except lab_process.PlanError as exc:
            raise GradingError(str(exc)) from None
        shutil.rmtree(plan_kit, ignore_errors=True)
        checks = sum(len(p) for p in plan.values())
        limits = ", ".join(f"{lab} {settings.lab_limit(plan[lab]):g} s" for lab in settings.labs)
        progress(
            f"checks {kit.digest[:16]}: {checks} checks in {', '.join(settings.labs)}; {len(submissions)} "
            f"submissions, {settings.jobs} at a time; time limits: {limits}, "
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
                    submission, kit, plan, settings, work_root, keeper, out / "logs" / submission.slug, fork_server
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
                    f"[{len(grades):>3}/{len(submissions)}] {submission.name:<24} {_num(grade.points):>5} / "
                    f"{_num(grade.max_points):<5} {grade.status:<10} {grade.duration:6.1f} s"
                )

        with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
            for future in [pool.submit(one, s) for s in submissions]:
                future.result()
    finally:
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


# --- outputs ----------------------------------------------------------------------------------------


def task_ids(plan: dict[str, list[PlannedCheck]]) -> list[str]:
    return sorted({c.task for checks in plan.values() for c in checks}, key=catalog.task_sort_key)


def write_outputs(result: ClassGrades, out: Path) -> str:
    """Write every output, ``grades.csv`` last; return its SHA-256."""
    out.mkdir(parents=True, exist_ok=True)
    feedback = out / "feedback"
    feedback.mkdir(exist_ok=True)
    for grade in result.grades:
        (feedback / f"{grade.submission.slug}.json").write_text(
            json.dumps(feedback_for(grade, result), indent=2, ensure_ascii=False), encoding="utf-8"
        )
    items = item_analysis(result)
    (out / "item_analysis.json").write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    _write_items_csv(items, out / "item_analysis.csv")
    (out / "grading.json").write_text(json.dumps(_run_record(result), indent=2), encoding="utf-8")
    _write_grades_csv(result, out / "grades.csv")
    return hashlib.sha256((out / "grades.csv").read_bytes()).hexdigest()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """A CSV cell no spreadsheet runs as a formula: text that starts like one gets a leading apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _num(value: float) -> str:
    return f"{value:g}"


def _write_grades_csv(result: ClassGrades, path: Path) -> None:
    tasks = task_ids(result.plan)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *tasks, "total", "max", "status", "duration_s", "checks_sha256", "review"])
        for grade in result.grades:
            per_task: collections.defaultdict[str, float] = collections.defaultdict(float)
            for check in grade.checks:
                per_task[check.task] += check.points
            writer.writerow(
                [
                    cell(grade.submission.name),
                    *(_num(per_task[t]) for t in tasks),
                    _num(grade.points),
                    _num(grade.max_points),
                    grade.status,
                    f"{grade.duration:.1f}",
                    result.kit_digest,
                    cell("; ".join(grade.review)[:2000]),
                ]
            )


def feedback_for(grade: SubmissionGrade, result: ClassGrades) -> dict:
    labs = []
    for run in grade.labs:
        info = catalog.labs().get(run.lab)
        tasks = []
        for task_id in sorted({c.task for c in run.checks}, key=catalog.task_sort_key):
            checks = [c for c in run.checks if c.task == task_id]
            task = info.tasks.get(task_id) if info else None
            tasks.append(
                {
                    "task": task_id,
                    "title": task.title if task else "",
                    "status": lab_process.task_status([c.status for c in checks]),
                    "points": sum(c.points for c in checks),
                    "max_points": sum(c.max_points for c in checks),
                }
            )
        labs.append(
            {
                "lab": run.lab,
                "title": info.title if info else "",
                "points": run.points,
                "max_points": run.max_points,
                "duration": run.duration,
                "finished": run.finished,
                "stopped_at_time_limit": run.killed,
                "tasks": tasks,
                "checks": [{k: v for k, v in c.as_dict().items() if k != "lab"} for c in run.checks],
            }
        )
    return {
        "student": grade.submission.name,
        "status": grade.status,
        "points": grade.points,
        "max_points": grade.max_points,
        "duration": grade.duration,
        "checks_sha256": result.kit_digest,
        "submission_sha256": grade.submission.digest,
        "graded_at": result.started,
        "notes": grade.notes,
        "review": grade.review,
        "unreadable": grade.submission.unreadable,
        "labs": labs,
    }


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _message_key(message: str) -> str:
    """A failure message with its numbers blanked, so '0.92 s' and '0.95 s' count as the same failure."""
    first = message.strip().splitlines()[0] if message.strip() else "(no message)"
    return NUMBER.sub("#", first)[:300]


def item_analysis(result: ClassGrades) -> list[dict]:
    by_check: dict[str, list[CheckResult]] = collections.defaultdict(list)
    for grade in result.grades:
        for check in grade.checks:
            by_check[check.nodeid].append(check)
    items = []
    for lab in result.settings.labs:
        for planned in result.plan[lab]:
            outcomes = [c for c in by_check[planned.nodeid] if c.status not in (MISSING, UNREADABLE)]
            statuses = collections.Counter(c.status for c in outcomes)
            # What went wrong for those who tried: "not started" says nothing about the check.
            tried = [c for c in outcomes if c.status not in ("pass", "not-started")]
            failed = tried or [c for c in outcomes if c.status != "pass"]
            failures = collections.Counter(_message_key(c.message) for c in failed)
            example: dict[str, str] = {}
            for c in failed:
                first_line = c.message.strip().splitlines()[0] if c.message.strip() else ""
                example.setdefault(_message_key(c.message), first_line)
            common, count = failures.most_common(1)[0] if failures else ("", 0)
            items.append(
                {
                    "lab": lab,
                    "task": planned.task,
                    "check": planned.name,
                    "nodeid": planned.nodeid,
                    "points": planned.points,
                    "submitted": len(outcomes),
                    "missing": sum(c.status in (MISSING, UNREADABLE) for c in by_check[planned.nodeid]),
                    "passed": statuses.get("pass", 0),
                    "pass_rate": round(statuses.get("pass", 0) / len(outcomes), 3) if outcomes else None,
                    "statuses": dict(sorted(statuses.items())),
                    "most_common_failure": example.get(common, ""),
                    "most_common_failure_count": count,
                }
            )
    return items


def _write_items_csv(items: list[dict], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "lab",
                "task",
                "check",
                "points",
                "submitted",
                "missing",
                "passed",
                "pass_rate",
                "statuses",
                "most_common_failure",
                "most_common_failure_count",
            ]
        )
        for item in items:
            rate = "" if item["pass_rate"] is None else f"{item['pass_rate']:.3f}"
            statuses = " ".join(f"{k}={v}" for k, v in item["statuses"].items())
            writer.writerow(
                [
                    item["lab"],
                    item["task"],
                    cell(item["check"]),
                    _num(item["points"]),
                    item["submitted"],
                    item["missing"],
                    item["passed"],
                    rate,
                    statuses,
                    cell(item["most_common_failure"]),
                    item["most_common_failure_count"],
                ]
            )


def _run_record(result: ClassGrades) -> dict:
    return {
        "started": result.started,
        "duration": result.duration,
        "checks_sha256": result.kit_digest,
        "settings": {
            "labs": result.settings.labs,
            "jobs": result.settings.jobs,
            "lab_timeouts": {lab: result.settings.lab_limit(checks) for lab, checks in result.plan.items()},
            "submission_timeout": result.settings.submission_timeout,
            "check_timeout": result.settings.check_timeout,
        },
        "python": sys.version.split()[0],
        "plan": {
            lab: [{"nodeid": c.nodeid, "task": c.task, "points": c.points} for c in checks]
            for lab, checks in result.plan.items()
        },
        "students": [
            {"student": g.submission.name, "points": g.points, "max_points": g.max_points, "status": g.status}
            for g in result.grades
        ],
        "instructor_files_changed": result.instructor_files_changed,
        "changed_while_grading": result.changed_while_grading,
        "fork_server_killed_while_grading": result.server_died_while_grading,
    }


# --- the command ----------------------------------------------------------------------------------

EPILOG = """\
Each submission is a folder (or .zip) named after the student, laid out like labs/: alice/lab1/runners.py.

Threat model (in full: docs/grading-threat-model.md). Every submission runs in its own bubblewrap sandbox: a
read-only system, virtual environment and copy of YOUR checks; one writable folder of its own; no view of your
files, the class folder, solutions/ or other submissions; no network; none of your environment variables; its
own PID namespace (every process it starts dies with it); limits on memory, processes, files and time. So a
submission cannot change another's grade, your checks or grades.csv, read your tokens or leave processes
behind. Only lab folders are copied (no conftest.py, pytest.ini or symbolic links); only labN packages are
importable from it; results come from a signed channel, never from the output. Tampering with its OWN run
(patching the checks' objects or clocks from inside the process) is made visible: status review, reasons in
feedback/NAME.json and grades.csv; you decide. Without bubblewrap (apt-get install bubblewrap) grade refuses to
run; --no-sandbox grades as your user with your files and network: trusted submissions only.

Statuses: ok, incomplete (a lab folder is missing), crashed, timeout, tampered (forged results or changed
grading machinery), review (see above), unreadable (bad zip, too many files or bytes, names too long: the
reason is in the notes), empty, not-graded (the run stopped).

Exit codes: 0 graded (whatever the scores), 2 bad arguments or no sandbox, 3 files on YOUR side (checks/,
workbook/, root config, site-packages) changed while grading: the run stopped and names the paths."""


def add_command(commands) -> None:
    parser = commands.add_parser(
        "grade",
        help="grade a folder of student submissions (instructors)",
        description="Grade every submission in SUBMISSIONS_DIR with this workbook's checks.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "submissions",
        metavar="SUBMISSIONS_DIR",
        type=Path,
        help="one folder or .zip per student, each laid out like labs/",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="where grades.csv, feedback/, item_analysis.csv, logs/ and grading.json go",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=2 * (os.cpu_count() or 1),
        metavar="N",
        help="submissions graded at the same time (default: twice the cores, %(default)s: checks "
        "mostly wait); far more makes timing checks unreliable",
    )
    parser.add_argument(
        "--lab",
        action="append",
        dest="labs",
        metavar="LAB",
        help="grade only this lab (repeat for several); default: every lab with checks",
    )
    parser.add_argument(
        "--lab-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wall-clock limit for one lab's checks (default: the sum of its checks' timeouts + "
        f"{LAB_SLACK:g} s; a hung check stops the lab much sooner)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_SUBMISSION_TIMEOUT,
        metavar="SECONDS",
        help="wall-clock limit for one submission, all labs together (default %(default)g)",
    )
    parser.add_argument(
        "--check-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="timeout of a check that sets none itself (default: the grader's, as students see it)",
    )
    parser.add_argument(
        "--no-fork-server",
        dest="fork_server",
        action="store_false",
        help="start a new Python for every lab run instead of forking one that has pytest and the "
        "libraries imported (slower; the results are the same; only with --no-sandbox: in the "
        "sandbox the runs are always forked from a server inside it)",
    )
    parser.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="grade without the bubblewrap sandbox, as the grading user (only for submissions you "
        "trust: see the threat model below)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the results already in --out (otherwise --out must be empty or new)",
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    known = list(catalog.labs())
    labs = args.labs or known
    if unknown := [lab for lab in labs if lab not in known]:
        print(f"unknown lab(s) {', '.join(unknown)}; the workbook has {', '.join(known)}", file=sys.stderr)
        return 2
    if args.jobs < 1 or (args.lab_timeout is not None and args.lab_timeout <= 0) or args.timeout <= 0:
        print("--jobs, --lab-timeout and --timeout must be positive", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"{out} already holds results: use --force to replace them, or choose another --out", file=sys.stderr)
            return 2
        for name in ("grades.csv", "item_analysis.csv", "item_analysis.json", "grading.json"):
            (out / name).unlink(missing_ok=True)
        for name in ("feedback", "logs"):
            shutil.rmtree(out / name, ignore_errors=True)
    settings = Settings(
        labs=sorted(labs, key=lambda lab: int(lab[3:])),
        jobs=args.jobs,
        lab_timeout=args.lab_timeout,
        submission_timeout=args.timeout,
        check_timeout=args.check_timeout,
        fork_server=args.fork_server,
        sandbox=args.sandbox,
    )
    try:
        result = grade_class(args.submissions, out, settings, progress=lambda line: print(line, flush=True))
    except GradingError as exc:
        print(f"cannot grade: {exc}", file=sys.stderr)
        return 2
    statuses = collections.Counter(g.status for g in result.grades)
    print(
        f"graded {len(result.grades)} submissions in {result.duration:g} s: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    )
    print(f"results in {out}: grades.csv, feedback/, item_analysis.csv, logs/, grading.json")
    print(f"grades.csv SHA-256 {result.grades_sha256} (written last; keep it to show the file is unchanged)")
    if result.server_died_while_grading:
        print(
            "note: the fork server (the checks' parent process) was killed while grading "
            f"{', '.join(result.server_died_while_grading)}; the rest was graded without it. Look at their code."
        )
    if result.instructor_files_changed:
        print(
            "\nWARNING: files of YOUR workbook or virtual environment changed on disk while grading (the run "
            "stopped there): "
            + ", ".join(result.instructor_files_changed[:10])
            + f"\nSubmissions being graded when it was noticed: {', '.join(result.changed_while_grading)}."
            "\nThe grades used the snapshot taken at the start. Restore your files (git checkout -- checks "
            "workbook) and re-grade those submissions with --jobs 1 to find the one responsible.",
            file=sys.stderr,
        )
        return EXIT_INSTRUCTOR_FILES_CHANGED
    return 0
