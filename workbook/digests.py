"""SHA-256 digests of sets of files: the grading kit, a submission, a lab folder (to know if it changed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from workbook.paths import CACHE_DIRS

SKIPPED_PARTS = CACHE_DIRS


def tree_digest(files: dict[str, bytes]) -> str:
    """One digest for relative path -> content; the same files give the same digest on every machine."""
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode() + b"\0" + hashlib.sha256(files[relative]).digest())
    return digest.hexdigest()


def folder_files(folder: Path) -> dict[str, bytes]:
    """Relative path -> content of the files under ``folder`` (caches left out; empty if it is missing)."""
    if not folder.is_dir():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not path.name.endswith(".pyc")
        and not SKIPPED_PARTS.intersection(path.relative_to(folder).parts)
    }


def folders_digest(*folders: Path) -> str:
    return tree_digest(
        {f"{n}/{rel}": data for n, folder in enumerate(folders) for rel, data in folder_files(folder).items()}
    )
