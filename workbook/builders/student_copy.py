"""``build --student OUT``: the copy of the workbook that students get — without ``solutions/``.

What goes in: everything in the workbook's folder but what is listed below — pyproject.toml, requirements.txt,
``workbook/``, ``labkit/``, ``checks/``, ``notebooks/``, ``data/``, ``deploy/``, ``.jupyter/`` …; ``labs/`` freshly
generated from the solutions; ``starters/``, the same starters once more, untouched, for
``python -m workbook reset`` (which generates them from ``solutions/`` in the instructor's copy); and a student's
README and Makefile from ``workbook/builders/handout/`` instead of the instructor's: set-up, the labs (the table is the
instructor README's ``## Labs``), self-grading with ``make grade`` and getting unstuck; ``make lab``, ``make grade``
and ``make test`` as another name for ``make grade``.

What stays out, and why: ``solutions/``; ``tests/`` and ``.ci/`` (the project's own suite grades the solutions,
so it cannot run without them); ``CONTRIBUTING.md`` (for authors); ``models/`` (trained by the notebooks),
``.workbook/``, ``.git``, ``.venv``, build output and caches; ``workbook/builders/handout/`` (already used).
In the copy, ``pytest`` with no arguments grades every lab, since there is no ``tests/``; Task 10.6, whose checks
need the reference service, shows "graded by your instructor" and is left out of the student's max.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from workbook.builders import starters
from workbook.paths import CACHE_DIRS, ROOT

LEFT_OUT = {
    "solutions",
    "tests",
    ".ci",
    ".github",
    "CONTRIBUTING.md",
    "models",
    "labs",
    "starters",
    ".workbook",
    ".git",
    ".venv",
    "build",
    "dist",
    ".pytest_cache",
    ".ipynb_checkpoints",
    "__pycache__",
}
NEEDED = (
    "README.md",
    "Makefile",
    "pyproject.toml",
    "requirements.txt",
    "conftest.py",
    "workbook",
    "labkit",
    "checks",
    "notebooks",
)
IGNORED = shutil.ignore_patterns(*CACHE_DIRS, "*.pyc", "*.egg-info", ".DS_Store")
TESTPATHS = 'testpaths = ["tests"]'
STUDENT_TESTPATHS = 'testpaths = ["checks"]  # a student copy has no tests/: `pytest` grades every lab'
HANDOUT = Path("workbook", "builders", "handout")  # the student's README.md and Makefile, in the workbook's folder
LABS_TABLE = "<!-- labs table -->"
STARTERS_README = """\
# Untouched starters

`python -m workbook reset labN` copies these back into `labs/` (after asking, keeping a backup of your
files). Do not edit them: your work goes in `labs/`.
"""


class BuildError(Exception):
    """The student copy cannot be built; the message says why."""


def build_student(out: Path, root: Path = ROOT, force: bool = False) -> list[str]:
    """Write the student copy into ``out``; return notes for the instructor."""
    out = out.resolve()
    solutions = root / "solutions"
    if not solutions.is_dir():
        raise BuildError(f"{solutions} does not exist: build the student copy from the instructor's workbook")
    if missing := [name for name in NEEDED if not (root / name).exists()]:
        raise BuildError(f"{root} lacks {', '.join(missing)}: is it the workbook's folder?")
    top = root / out.parts[len(root.parts)] if root in out.parents else None
    if out == root or top is not None and top != out and top.exists():
        raise BuildError(f"{out} is inside one of the workbook's own folders: choose a folder outside them")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise BuildError(f"{out} is not empty: choose a new folder, or --force to replace its contents")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    for path in sorted(root.iterdir()):
        if path.name in LEFT_OUT or path.name.endswith(".egg-info") or path == out or path.is_symlink():
            continue
        if path.is_dir():
            shutil.copytree(path, out / path.name, ignore=IGNORED)
        else:
            shutil.copy2(path, out / path.name)
    write_handout(out, root)
    labs = starters.build(solutions=solutions, labs=out / "labs")
    starters.build(solutions=solutions, labs=out / "starters")
    (out / "starters" / "README.md").write_text(STARTERS_README, encoding="utf-8")
    pyproject = out / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if TESTPATHS in text:
        pyproject.write_text(text.replace(TESTPATHS, STUDENT_TESTPATHS), encoding="utf-8")
    else:
        notes.append(f"pyproject.toml has no `{TESTPATHS}` line: `pytest` alone may look for tests/ in the copy")
    if root in out.parents:
        notes.append(f"{out} is inside the workbook: keep it out of git (or build it elsewhere)")
    notes.insert(0, f"{len(labs)} starter files in labs/ and starters/; no solutions/, tests/ or .ci/")
    notes += [f"WARNING: {leak}" for leak in solution_copies(out, solutions)]
    return notes


def labs_table(readme: Path) -> str:
    """The instructor README's ``## Labs`` table (one source for both READMEs)."""
    text = readme.read_text(encoding="utf-8")
    if "\n## Labs\n" not in text:
        raise BuildError(f"{readme} has no '## Labs' section: the student README takes its table from there")
    section = text.split("\n## Labs\n", 1)[1].split("\n## ", 1)[0]
    return section.strip()


def write_handout(out: Path, root: Path) -> None:
    """The student's README (with the labs table) and Makefile, over the instructor's."""
    readme = (root / HANDOUT / "README.md").read_text(encoding="utf-8")
    (out / "README.md").write_text(readme.replace(LABS_TABLE, labs_table(root / "README.md")), encoding="utf-8")
    shutil.copy2(root / HANDOUT / "Makefile", out / "Makefile")
    shutil.rmtree(out / HANDOUT, ignore_errors=True)


def solution_copies(out: Path, solutions: Path) -> list[str]:
    """Files in ``out`` that are, byte for byte, a solution file with task code in it — answers given away."""
    answers = {}
    for lab in starters.lab_dirs(solutions):
        starter = starters.starter_files(lab)
        for relative, content in starter.items():
            solution = (lab / relative).read_bytes()
            if solution != content:  # the file has task code: the starter hides it
                answers[hashlib.sha256(solution).hexdigest()] = f"solutions/{lab.name}/{relative}"
    leaks = []
    for path in sorted(out.rglob("*")):
        if path.is_file() and (found := answers.get(hashlib.sha256(path.read_bytes()).hexdigest())):
            leaks.append(f"{path.relative_to(out)} is {found}, word for word: students can read that answer")
    return leaks
