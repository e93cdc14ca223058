"""The kit: what is copied into every grading run, and the instructor's side, checked whole.

:class:`Kit` reads the checks, the tooling, ``labkit/``, the data and the pytest configuration (``KIT_NEEDS``, never
``solutions/``, ``labs/`` or ``tests/``) into memory once, hashes it (the hash in ``grades.csv``) and writes a fresh
copy for each submission. :func:`instructor_listing` and :func:`listing_changes` notice when anything on the
instructor's side (the kit's folders in full, the other top-level names, ``site-packages``) changed while grading.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from workbook.digests import tree_digest
from workbook.paths import CACHE_DIRS, ROOT

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


class GradingError(Exception):
    """Something the instructor must fix before grading can start (the message says what)."""


def skipped(relative: PurePosixPath) -> bool:
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
        if file.is_file() and not file.is_symlink() and not skipped(relative):
            files[str(relative)] = file.read_bytes()
    return files


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
