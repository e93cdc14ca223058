"""Intake: finding the submissions in a class folder and reading each into memory before any student code runs.

One entry per student (a folder laid out like ``labs/``, a folder with ``labs/`` inside, or a ``.zip`` of either):
only ``labN/`` folders, no symbolic links, bounded in files, bytes and name lengths; a submission that breaks a
rule is :class:`Unreadable` with the reason. :func:`audit` notes what a reviewer should look at (references to
``solutions/``, to the grader's internals …).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from workbook.classgrading.kit import GradingError, skipped
from workbook.digests import tree_digest

LAB_DIR = re.compile(r"^lab\d+$")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
UNREADABLE = "unreadable"  # a check's status when its submission could not be read


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
    if len(inside.parts) < 2 or not LAB_DIR.match(inside.parts[0]) or skipped(inside):
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
